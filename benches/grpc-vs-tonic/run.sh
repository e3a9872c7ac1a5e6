#!/bin/sh
# Unary requests/s and p50/p99 latency over mutual TLS, ocserv-agent's gRPC server against a
# minimal tonic server from the same protos, with the same tonic client as the load; then the
# stripped size of each server. Usage: benches/grpc-vs-tonic/run.sh [SECONDS]
# Numbers go into README.md by hand, with the machine they came from.
#
# With two or more CPUs the servers are pinned to CPU 0 and the load to CPU 1, so the client
# does not steal the server's CPU, and a router's single core is what both servers get.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${1:-10}
work=$(mktemp -d)
trap 'kill $agent $tonic 2>/dev/null; rm -rf "$work"' EXIT

(cd "$root" && cargo build --release -q)
(cd "$here" && cargo build --release -q)
sh "$root/tests/gen-certs.sh" "$work/pki" >/dev/null

cat >"$work/config" <<CONF
config agent 'main'
	option socket '$work/agent.sock'
	option log_level warn
config grpc 'grpc'
	option enabled 1
	option listen '127.0.0.1:50711'
	option ca '$work/pki/ca.pem'
	option cert '$work/pki/server.pem'
	option key '$work/pki/server.key'
CONF
server_cpu="" load_cpu=""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	server_cpu="taskset -c 0" load_cpu="taskset -c 1"
fi
$server_cpu "$root/target/release/ocserv-agent" run -c "$work/config" 2>"$work/agent.log" &
agent=$!
$server_cpu "$here/target/release/tonic-agent" 127.0.0.1:50712 "$work/pki" &
tonic=$!
sleep 1

# CPU time (user + system, clock ticks) a process has used so far.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

for server in "ocserv-agent 127.0.0.1:50711 $agent" "tonic 127.0.0.1:50712 $tonic"; do
	set -- $server
	for c in 1 50; do
		printf '%-13s ' "$1"
		before=$(cpu "$3")
		line=$($load_cpu "$here/target/release/load" "$2" "$work/pki" "$c" "$seconds")
		used=$(( $(cpu "$3") - before ))
		calls=$(echo "$line" | awk '{print $3}')
		echo "$line, server CPU $(awk "BEGIN {printf \"%.1f\", $used / $hz / $seconds * 100}")%" \
			"= $(awk "BEGIN {printf \"%.1f\", $used / $hz * 1e6 / $calls}") us/call"
	done
	printf '%-13s RSS after load: %s kB\n' "$1" "$(awk '/VmRSS/ {print $2}' /proc/$3/status)"
done
printf 'stripped size: ocserv-agent %s B (whole agent), tonic-agent %s B (HealthCheck only)\n' \
	"$(stat -c %s "$root/target/release/ocserv-agent")" \
	"$(stat -c %s "$here/target/release/tonic-agent")"
