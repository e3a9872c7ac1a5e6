#!/usr/bin/env bash
# Chaos: faults injected for real between the daemon and a grpcio portal in two network
# namespaces (iptables DROP and REJECT, a NAT mapping that expires, the portal killed, slow or
# flapping, a full outbox tmpfs, the daemon killed mid-burst) and in ocserv (the real one, hung
# and restarted under live openconnect sessions), with the real daemon and hook. Prints the
# fault matrix; exits 1 when a number is off (see tests/chaos/chaos.py for what is counted and
# the pass criteria).
#
# Needs root (namespaces, iptables, tun). Installs iptables, ocserv and openconnect itself when
# missing. OCSERV_PREFIX=DIR runs the ocserv under DIR (tests/e2e/build-ocserv.sh). Usage:
#   tests/chaos/run.sh [path/to/ocserv-agent]   (default: builds target/debug/ocserv-agent)
# CHAOS_ONLY=drop,nat,rst,kill,slow,flap,disk,ocserv,crash runs only those faults; CHAOS_KEEP=1
# keeps the work directory (logs, the portal's record).
set -euo pipefail
cd "$(dirname "$0")/../.."

[ "$(id -u)" = 0 ] || { echo "chaos: must run as root (network namespaces, iptables)" >&2; exit 1; }
tests/need.sh iptables:iptables ocserv:ocserv ocpasswd:ocserv openconnect:openconnect ip:iproute2
if [ $# -ge 1 ]; then
	bin=$(realpath "$1")
else
	cargo build -q
	bin=$PWD/target/debug/ocserv-agent
fi
python=$(tests/python-env.sh)
work=$(mktemp -d /tmp/ocserv-chaos.XXXXXX)
trap 'rc=$?; if [ $rc -ne 0 ]; then for f in agent.log ocserv/ocserv.log; do [ -f "$work/$f" ] && { echo "---- chaos failed; $f:" >&2; tail -n 30 "$work/$f" >&2; }; done; fi; [ -n "${CHAOS_KEEP:-}" ] || rm -rf "$work"; exit $rc' EXIT
"$python" tests/chaos/chaos.py "$bin" "$python" "$work"
# A fleet of 30 daemons against one portal that goes away for 30 s: when it returns, no second
# of the first ten brings it over 3x the steady rate of calls (the full 100 daemons away for a
# minute: tests/chaos/fleet.py BIN PYTHON WORKDIR; figures in README).
"$python" tests/chaos/fleet.py "$bin" "$python" "$work/fleet" 30 30 20
