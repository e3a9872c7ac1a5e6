#!/usr/bin/env bash
# Chaos: faults injected for real between the daemon and a grpcio portal in two network
# namespaces (iptables DROP and REJECT, a NAT mapping that expires, the portal killed, slow or
# flapping, a full outbox tmpfs, the daemon killed mid-burst), with the real daemon and hook. Prints the fault matrix; exits 1 when a number is off
# (see tests/chaos/chaos.py for what is counted and the pass criteria).
#
# Needs root (namespaces, iptables). Installs iptables itself when missing. Usage:
#   tests/chaos/run.sh [path/to/ocserv-agent]   (default: builds target/debug/ocserv-agent)
set -euo pipefail
cd "$(dirname "$0")/../.."

[ "$(id -u)" = 0 ] || { echo "chaos: must run as root (network namespaces, iptables)" >&2; exit 1; }
if ! command -v iptables >/dev/null; then
	echo "chaos: installing iptables"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iptables >/dev/null
fi
if [ $# -ge 1 ]; then
	bin=$(realpath "$1")
else
	cargo build -q
	bin=$PWD/target/debug/ocserv-agent
fi
python=$(tests/python-env.sh)
work=$(mktemp -d /tmp/ocserv-chaos.XXXXXX)
trap 'rc=$?; if [ $rc -ne 0 ]; then echo "---- chaos failed; agent log:" >&2; tail -n 30 "$work/agent.log" >&2; fi; rm -rf "$work"; exit $rc' EXIT
"$python" tests/chaos/chaos.py "$bin" "$python" "$work"
