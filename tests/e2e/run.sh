#!/usr/bin/env bash
# End to end with the real thing: Debian's ocserv and openconnect in two network namespaces,
# ocserv's connect/disconnect script set to our sh wrapper (rootfs/usr/libexec/ocserv-agent/hook),
# our daemon deciding through the grpcio fake portal (tests/interop/fake_portal.py).
#
# Shows: an allowed user gets a working tunnel; a denied user is rejected (openconnect exit 2);
# the disconnect reaches the portal as ReportDisconnect with byte counts; with the portal
# stopped, fail_mode stale lets the recently allowed user back in and fail_mode close denies.
#
# Needs root (namespaces, tun). Installs its apt packages itself when missing. Usage:
#   tests/e2e/run.sh [path/to/ocserv-agent]   (default: builds target/debug/ocserv-agent)
# The ocserv under test: OCSERV_PREFIX=DIR runs DIR/sbin/ocserv with DIR/bin/occtl and
# DIR/bin/ocpasswd (a build of another version); default Debian's, from PATH. Expectations that
# depend on the version (TERMINATE from 1.4.2) follow `ocserv --version`.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

[ "$(id -u)" = 0 ] || { echo "e2e: must run as root (network namespaces, tun)" >&2; exit 1; }
[ -c /dev/net/tun ] || { echo "e2e: /dev/net/tun is missing" >&2; exit 1; }

if [ -n "${OCSERV_PREFIX:-}" ]; then
	ocserv_bin=$OCSERV_PREFIX/sbin/ocserv occtl_bin=$OCSERV_PREFIX/bin/occtl
	ocpasswd_bin=$OCSERV_PREFIX/bin/ocpasswd
	for b in "$ocserv_bin" "$occtl_bin" "$ocpasswd_bin"; do
		[ -x "$b" ] || { echo "e2e: $b is missing (OCSERV_PREFIX)" >&2; exit 1; }
	done
fi
tests/need.sh ocserv:ocserv openconnect:openconnect certtool:gnutls-bin ocpasswd:ocserv ip:iproute2 ping:iputils-ping
ocserv_bin=${ocserv_bin:-$(command -v ocserv)} occtl_bin=${occtl_bin:-$(command -v occtl)}
ocpasswd_bin=${ocpasswd_bin:-$(command -v ocpasswd)}
ocserv_version=$("$ocserv_bin" --version 2>&1 | grep -o '[0-9]\+\.[0-9]\+\.[0-9]\+' | head -n1)
[ -n "$ocserv_version" ] || { echo "e2e: cannot tell the version of $ocserv_bin" >&2; exit 1; }
# version_at_least X.Y.Z: the ocserv under test is that version or newer.
version_at_least() { [ "$(printf '%s\n%s\n' "$1" "$ocserv_version" | sort -V | head -n1)" = "$1" ]; }
echo "e2e: ocserv $ocserv_version ($ocserv_bin)"

if [ $# -ge 1 ]; then
	bin=$(realpath "$1")
else
	cargo build -q
	bin=$root/target/debug/ocserv-agent
fi
python=$(tests/python-env.sh)

work=$(mktemp -d /tmp/ocserv-e2e.XXXXXX)
chmod 755 "$work" # ocserv's workers run as nobody and reach sockets in here
srv=oa-e2e-srv-$$
cli=oa-e2e-cli-$$
pids=()

cleanup() {
	local rc=$?
	if [ -n "${E2E_PAUSE:-}" ]; then echo "e2e: paused; work dir $work" >&2; sleep "$E2E_PAUSE"; fi
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 1
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	ip netns del "$srv" 2>/dev/null || true
	ip netns del "$cli" 2>/dev/null || true
	if [ $rc -ne 0 ]; then
		echo "---- e2e failed; logs:" >&2
		for f in "$work"/*.log; do echo "== $f" >&2; tail -n 40 "$f" >&2; done
	fi
	rm -rf "$work"
	exit $rc
}
trap cleanup EXIT

step() { printf 'e2e: %s\n' "$*"; }
fail() { echo "e2e: FAIL: $*" >&2; exit 1; }

# ---- network: srv (10.199.0.1) <-veth-> cli (10.199.0.2)
ip netns add "$srv"
ip netns add "$cli"
ip link add "oa$$s" type veth peer name "oa$$c"
ip link set "oa$$s" netns "$srv"
ip link set "oa$$c" netns "$cli"
ip -n "$srv" addr add 10.199.0.1/24 dev "oa$$s"
ip -n "$cli" addr add 10.199.0.2/24 dev "oa$$c"
for ns in "$srv" "$cli"; do
	ip -n "$ns" link set lo up
done
ip -n "$srv" link set "oa$$s" up
ip -n "$cli" link set "oa$$c" up

# ---- the fake portal (mTLS on 127.0.0.1 of the server's namespace: the daemon runs there,
# beside ocserv, as on a router; only there does it see the sessions' tun devices)
tests/gen-certs.sh "$work/pki" >/dev/null
events=$work/events.jsonl
mkdir -p "$work/verdicts" # scripted CheckPolicy answers: a file per user (fake_portal.py)
verdict() { echo "$2" >"$work/verdicts/$1"; } # verdict USER allow|deny|...
start_portal() { # [port]
	local fifo=$work/portal.in
	rm -f "$fifo"; mkfifo "$fifo"
	ip netns exec "$srv" env FAKE_PORTAL_VERDICTS="$work/verdicts" \
		"$python" tests/interop/fake_portal.py "$work/pki" proto "${1:-0}" "$events" \
		<"$fifo" >"$work/portal.out" 2>>"$work/portal.log" &
	portal_pid=$!
	pids+=("$portal_pid")
	exec {portal_fd}>"$fifo" # keeps the portal's stdin open
	for _ in $(seq 100); do
		grep -q '^listening' "$work/portal.out" 2>/dev/null && break
		sleep 0.1
	done
	portal_port=$(sed -n 's/^listening //p' "$work/portal.out")
	[ -n "$portal_port" ] || fail "the fake portal did not start"
}
stop_portal() {
	kill "$portal_pid"
	wait "$portal_pid" 2>/dev/null || true
	exec {portal_fd}>&-
}
start_portal

# ---- our daemon
conf=$work/agent.conf
# write_conf fail_mode [replace_oldest for carol's one-session rule]; $grpc_extra (a line for
# the grpc section) and $control (enables the dial-out stream) are added when set; $cache_ttl
# (default 1s) is how long a portal allow is cached.
grpc_extra= control= cache_ttl=
write_conf() {
	cat >"$conf" <<-EOF
	config agent 'main'
		option socket '$work/agent.sock'
		option hook_timeout 5s
		option log_level debug
		option id '${control:+scripted-}e2e'
	config control 'control'
		option enabled ${control:-0}
		option address '127.0.0.1:$portal_port'
		option server_name 'localhost'
		option heartbeat_interval 1s
	config portal 'portal'
		option enabled 1
		option address '127.0.0.1:$portal_port'
		option server_name 'localhost'
		option ca '$work/pki/ca.pem'
		option cert '$work/pki/client.pem'
		option key '$work/pki/client.key'
		option validate_interval 1s
		option timeout 2s
	config resilience 'resilience'
		option fail_mode $1
		option environment development
		option cache_ttl ${cache_ttl:-1s}
		option cache_deny_ttl 1s
		option cache_stale_ttl 1h
	config outbox 'outbox'
		option dir '$work/outbox'
		option retry_max 1s
	config metrics 'metrics'
		option listen '127.0.0.1:0'
	config grpc 'grpc'
		option enabled 1
		option listen '127.0.0.1:0'
		option ca '$work/pki/ca.pem'
		option cert '$work/pki/server.pem'
		option key '$work/pki/server.key'
		$grpc_extra
	config rule 'carol'
		option action allow
		list user 'carol'
		option max_sessions 1
		option replace_oldest ${2:-0}
	config rule 'erin'
		option action allow
		list user 'erin'
		option max_sessions 2
		option replace_oldest 1
	config ocserv 'ocserv'
		option config '$work/ocserv.conf'
		option per_user_dir '$work/config-per-user'
		option per_group_dir '$work/config-per-group'
		option local_conf '$work/ocserv.conf.local'
		option init_script '$work/init.d-ocserv'
		option backup_dir '$work/backup'
	EOF
}
write_conf stale
mkdir -p "$work/config-per-user" "$work/config-per-group"
ip netns exec "$srv" "$bin" run -c "$conf" 2>"$work/agent.log" &
daemon_pid=$!
pids+=("$daemon_pid")
for _ in $(seq 100); do "$bin" status -c "$conf" >/dev/null 2>&1 && break; sleep 0.1; done
"$bin" status -c "$conf" >/dev/null || fail "the daemon did not start"

# ---- ocserv, with our wrapper as its script
sed -e "s#/usr/sbin/ocserv-agent#$bin#" -e "s#/etc/config/ocserv-agent#$conf#" \
	rootfs/usr/libexec/ocserv-agent/hook >"$work/hook"
chmod 755 "$work/hook"
certtool --generate-privkey --outfile "$work/server.key" 2>/dev/null
cat >"$work/server.tmpl" <<-EOF
	cn = "e2e"
	expiration_days = 2
	signing_key
	encryption_key
	tls_www_server
EOF
certtool --generate-self-signed --load-privkey "$work/server.key" --template "$work/server.tmpl" \
	--outfile "$work/server.pem" 2>/dev/null
pin=$(certtool -i --infile "$work/server.pem" | grep -o 'pin-sha256:[^ ]*' | head -n1)
for u in alice bob carol revoked dave erin; do printf 'pw\npw\n' | "$ocpasswd_bin" -c "$work/passwd" -g staff "$u"; done
# As on OpenWrt: ocserv reads a config rendered from its own settings plus ocserv.conf.local,
# where first boot put the hook's lines (rootfs/etc/uci-defaults/90-ocserv-agent); the stand-in
# init script re-renders it on 'reload', as /etc/init.d/ocserv does.
printf 'connect-script = %s\ndisconnect-script = %s\n' "$work/hook" "$work/hook" >"$work/ocserv.conf.local"
cat >"$work/init.d-ocserv" <<-EOF
	#!/bin/sh
	[ "\$1" = reload ] || exit 1
	cat "$work/ocserv.conf.base" "$work/ocserv.conf.local" >"$work/ocserv.conf.new" &&
		mv "$work/ocserv.conf.new" "$work/ocserv.conf"
EOF
chmod 755 "$work/init.d-ocserv"
# The ocserv.conf both e2e and the chaos ocserv fault start from (tests/e2e/ocserv.conf.in).
sed -e "s|@DIR@|$work|g" -e "s|@PKI@|$work|g" -e 's|@PORT@|44443|g' \
	-e 's|@MAX_CLIENTS@|16|g' -e 's|@NETWORK@|192.168.77.0|g' \
	"$root/tests/e2e/ocserv.conf.in" >"$work/ocserv.conf.base"
echo "config-per-user = $work/config-per-user/" >>"$work/ocserv.conf.base"
"$work/init.d-ocserv" reload
ip netns exec "$srv" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	"$ocserv_bin" -f -d 3 -c "$work/ocserv.conf" >"$work/ocserv.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do
	ip netns exec "$srv" sh -c 'exec 3<>/dev/tcp/10.199.0.1/44443' 2>/dev/null && break
	sleep 0.1
done

# ---- the client: a stub script that only brings the tun up (never vpnc-script)
cat >"$work/vpn-stub" <<-'EOF'
	#!/bin/sh
	if [ "$reason" = connect ]; then
		ip link set dev "$TUNDEV" up
		ip addr add "$INTERNAL_IP4_ADDRESS/32" dev "$TUNDEV"
		ip route add 192.168.77.0/24 dev "$TUNDEV"
	fi
	exit 0
EOF
chmod 755 "$work/vpn-stub"
# login USER: starts openconnect (in the foreground of a background job: its --background
# mode loses the stub's exit status to EINTR here); sets $rc to 0 once the tunnel has its
# address, or to openconnect's exit code if it gives up first; $client_pid is its pid.
logins=0
login() {
	rc=
	logins=$((logins + 1))
	local tun="vpn$logins-$1" # its own tun: a user may have two sessions at once
	printf 'pw\n' | ip netns exec "$cli" openconnect --protocol=anyconnect --user="$1" \
		--passwd-on-stdin --non-inter --servercert "$pin" --no-dtls --script "$work/vpn-stub" --interface "$tun" \
		https://10.199.0.1:44443/ >>"$work/openconnect.log" 2>&1 &
	client_pid=$!
	pids+=("$client_pid")
	for _ in $(seq 300); do
		if ! kill -0 "$client_pid" 2>/dev/null; then
			rc=0
			wait "$client_pid" || rc=$?
			return 0
		fi
		if ip -n "$cli" -4 addr show dev "$tun" 2>/dev/null | grep -q 'inet '; then
			rc=0
			return 0
		fi
		sleep 0.1
	done
	rc=timeout
}
# logout PID: ends that openconnect's session the way a user does, and waits for it to go
logout() {
	kill -INT "$1" 2>/dev/null || return 0 # already gone
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	fail "openconnect $1 did not exit"
}
# wait_gone PID MESSAGE: waits up to 10 s for that openconnect to exit; fails with MESSAGE if not
wait_gone() {
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	fail "$2"
}
# reload_agent: SIGHUP, then waits until the daemon counts one more reload
reload_agent() {
	local reloads
	reloads=$("$bin" status --json -c "$conf" | sed -n 's/.*"reloads":\([0-9]*\).*/\1/p')
	kill -HUP "$daemon_pid"
	for _ in $(seq 50); do
		"$bin" status --json -c "$conf" | grep -q "\"reloads\":$((reloads + 1))," && return 0
		sleep 0.1
	done
	fail "the daemon did not reload: $(tail -3 "$work/agent.log")"
}
# wait_event PATTERN: waits up to 15 s for a report matching PATTERN in the portal's record
wait_event() {
	for _ in $(seq 150); do grep -q "$1" "$events" 2>/dev/null && return 0; sleep 0.1; done
	fail "no report matching $1 in: $(cat "$events" 2>/dev/null)"
}

step "allowed user alice gets a tunnel"
login alice
[ "$rc" = 0 ] || fail "alice: openconnect exit $rc, want 0"
alice=$client_pid
ip netns exec "$cli" ping -c 3 -i 0.2 -W 2 192.168.77.1 >>"$work/openconnect.log" \
	|| fail "no traffic through alice's tunnel"
wait_event '"kind": "connect", "username": "alice"'

step "HealthCheck tier 3 over mTLS: ocserv's process, control socket and STATUS, config dirs"
grpc_addr=$(sed -n 's/.*grpc: serving agent.v1 on \([0-9.:]*\).*/\1/p' "$work/agent.log" | head -n1)
[ -n "$grpc_addr" ] || fail "the daemon did not log its gRPC address"
agent_call() { ip netns exec "$srv" "$python" tests/interop/agent_call.py "$grpc_addr" "$work/pki" proto "$@"; }
agent_call health 3 >"$work/health.out" || fail "tier 3 unhealthy: $(cat "$work/health.out")"
grep -q 'active_sessions: 1' "$work/health.out" || fail "tier 3 did not see alice's session: $(cat "$work/health.out")"

step "ocserv-agent occtl prints what occtl prints (same server, same moment)"
occtl_both() { # ARGS...: runs occtl and ours in the server's namespace, into occtl.* / ours.*
	ip netns exec "$srv" "$occtl_bin" -s "$work/occtl.sock" "$@" >"$work/occtl.out" 2>&1 && theirs=0 || theirs=$?
	ip netns exec "$srv" "$bin" occtl -s "$work/occtl.sock" "$@" >"$work/ours.out" 2>&1 && ours=0 || ours=$?
	[ "$theirs" = "$ours" ] || fail "occtl $*: exit $theirs, ours $ours"
}
for what in users status "user alice"; do
	# shellcheck disable=SC2086 # the words are meant to split
	occtl_both --json show $what
	python3 tests/e2e/compare_occtl.py "$work/occtl.out" "$work/ours.out" \
		|| fail "occtl --json show $what differs"
done
# form FILE: occtl's text with the numbers that move between two runs a moment apart (counters,
# rates, intervals, a minute that turns) as N and runs of spaces as one; the words stay.
form() { sed -E '/RX|TX|[Cc]onnected at|Session started at/{s/[0-9]+(\.[0-9]+)?/N/g;s/ +/ /g}' "$1"; }
occtl_both show user alice
diff <(form "$work/occtl.out") <(form "$work/ours.out") || fail "occtl show user alice differs"
occtl_both show users
diff <(cut -c1-54 "$work/occtl.out") <(cut -c1-54 "$work/ours.out") || fail "occtl show users differs"
occtl_both show status # every number may move between the two runs; the words may not
diff <(sed -E 's/[0-9]+(\.[0-9]+)?/N/g;s/ +/ /g' "$work/occtl.out") \
	<(sed -E 's/[0-9]+(\.[0-9]+)?/N/g;s/ +/ /g' "$work/ours.out") || fail "occtl show status differs"
occtl_both show user nobody
[ "$ours" = 2 ] || fail "show user nobody: exit $ours, want 2"
alice_id=$(ip netns exec "$srv" "$occtl_bin" -s "$work/occtl.sock" --json show user alice | sed -n 's/.*"ID":  *\([0-9]*\).*/\1/p' | head -n1)
[ -n "$alice_id" ] || fail "no ID for alice"
occtl_both show id "$alice_id"
diff <(form "$work/occtl.out") <(form "$work/ours.out") || fail "occtl show id $alice_id differs"
# Bans are off here (max-ban-score = 0): both print an empty list, in text and JSON.
occtl_both show ip bans
diff "$work/occtl.out" "$work/ours.out" || fail "occtl show ip bans differs"
occtl_both --json show ip bans
python3 tests/e2e/compare_occtl.py "$work/occtl.out" "$work/ours.out" || fail "occtl --json show ip bans differs"
# ExecuteCommand over gRPC runs the same code: occtl's table, occtl's exit code, no shell.
agent_call exec show users >"$work/exec.out" || fail "ExecuteCommand show users: $(cat "$work/exec.out")"
ip netns exec "$srv" "$occtl_bin" -s "$work/occtl.sock" show users >"$work/occtl.out"
diff <(cut -c1-54 "$work/occtl.out") <(cut -c1-54 "$work/exec.out") || fail "ExecuteCommand show users differs"
agent_call exec show user nobody >"$work/exec.out" && rc=0 || rc=$?
[ "$rc" = 2 ] || fail "ExecuteCommand show user nobody: exit $rc, want 2"
agent_call exec disconnect user 'alice;reboot' >"$work/exec.out" && rc=0 || rc=$?
grep -q 'error INVALID_ARGUMENT' "$work/exec.out" || fail "injection not refused: $(cat "$work/exec.out")"

step "GetActiveSessions over gRPC lists alice's live session with its counters"
agent_call sessions alice >"$work/sessions.out" || fail "GetActiveSessions failed"
grep -q '^total=1$' "$work/sessions.out" || fail "want 1 session: $(cat "$work/sessions.out")"
alice_id=$(sed -n 's/^session id=\([0-9]*\) user=alice vpn_ip=192.168.77.[0-9]* .* in=[1-9][0-9]* out=[1-9][0-9]*$/\1/p' "$work/sessions.out")
[ -n "$alice_id" ] || fail "no session with addresses and counters: $(cat "$work/sessions.out")"

step "denied user bob is rejected (openconnect exit 2)"
login bob
[ "$rc" = 2 ] || fail "bob: openconnect exit $rc, want 2"
grep -q 'denied (portal): denied by the portal: not today' "$work/ocserv.log" \
	|| fail "ocserv did not log the hook's reason for bob"

step "alice's disconnect reaches the portal with byte counts"
logout "$alice"
wait_event '"kind": "disconnect", "username": "alice"'
line=$(grep '"kind": "disconnect", "username": "alice"' "$events")
received=$(printf '%s' "$line" | sed -n 's/.*"bytes_received": \([0-9]*\).*/\1/p')
sent=$(printf '%s' "$line" | sed -n 's/.*"bytes_sent": \([0-9]*\).*/\1/p')
[ "${received:-0}" -gt 0 ] && [ "${sent:-0}" -gt 0 ] || fail "byte counts missing: $line"
step "  ReportDisconnect: bytes_received=$received bytes_sent=$sent"
[ "$(grep -c '"kind": "connect", "username": "bob"' "$events")" = 0 ] || fail "bob was reported"

step "portal stopped: fail_mode stale lets alice back in"
stop_portal
sleep 1.2 # past cache_ttl: only a stale decision remains
login alice
[ "$rc" = 0 ] || fail "alice (stale): openconnect exit $rc, want 0"
alice=$client_pid
grep -q 'allowed by the portal (stale' "$work/agent.log" || fail "the daemon did not log a stale allow"
logout "$alice"

step "portal stopped: fail_mode close denies alice"
write_conf close
kill -HUP "$daemon_pid"
for _ in $(seq 50); do "$bin" status --json -c "$conf" | grep -q '"fail_mode":"close"' && break; sleep 0.1; done
login alice
[ "$rc" = 2 ] || fail "alice (fail-close): openconnect exit $rc, want 2"

step "events queued while the portal was down arrive once it is back"
start_portal "$portal_port"
for _ in $(seq 150); do
	"$bin" status --json -c "$conf" | grep -q '"outbox_depth":0' && break
	sleep 0.1
done
"$bin" status --json -c "$conf" | grep -q '"outbox_depth":0' || fail "the outbox did not drain"
[ "$(grep -c '"username": "alice"' "$events")" = 4 ] \
	|| fail "want 2 connects + 2 disconnects of alice, got: $(cat "$events")"
step "DisconnectUser over gRPC ends alice's live session (and the portal hears of it)"
login alice
[ "$rc" = 0 ] || fail "alice: openconnect exit $rc, want 0"
alice=$client_pid
agent_call sessions alice >"$work/sessions.out" || fail "GetActiveSessions failed"
old_id=$(sed -n 's/^session id=\([0-9]*\) user=alice .*/\1/p' "$work/sessions.out" | head -n1)
[ -n "$old_id" ] || fail "alice's session is not listed: $(cat "$work/sessions.out")"
agent_call disconnect alice newest >"$work/disconnect.out" \
	|| fail "DisconnectUser failed: $(cat "$work/disconnect.out")"
grep -q 'disconnected=1' "$work/disconnect.out" || fail "$(cat "$work/disconnect.out")"
# Before 1.4.2 ocserv has no TERMINATE: the reply says so (openconnect may come back with its
# cookie, as a new session with a new ID). From 1.4.2 the session is terminated, no note.
if version_at_least 1.4.2; then
	grep -q 'no TERMINATE' "$work/disconnect.out" && fail "a fallback note on $ocserv_version: $(cat "$work/disconnect.out")"
else
	grep -q 'no TERMINATE' "$work/disconnect.out" || fail "no fallback note: $(cat "$work/disconnect.out")"
fi
gone=
for _ in $(seq 100); do
	agent_call sessions alice >"$work/sessions.out"
	grep -q "^session id=$old_id " "$work/sessions.out" || { gone=1; break; }
	sleep 0.1
done
[ -n "$gone" ] || fail "session $old_id still listed after DisconnectUser"
wait_event "\"kind\": \"disconnect\", \"username\": \"alice\", \"session_id\": \"$old_id\""
logout "$alice"

step "after DisconnectUser the user's next login is put to the portal, which now denies"
cache_ttl=10m
write_conf close
reload_agent
verdict dave allow
login dave
[ "$rc" = 0 ] || fail "dave: openconnect exit $rc, want 0"
dave=$client_pid
verdict dave deny # the allow stays cached for 10 minutes unless revoked
agent_call disconnect dave all >"$work/disconnect.out" || fail "$(cat "$work/disconnect.out")"
grep -q 'disconnected=1' "$work/disconnect.out" || fail "$(cat "$work/disconnect.out")"
logout "$dave"
login dave
[ "$rc" = 2 ] || fail "dave after DisconnectUser: openconnect exit $rc, want 2 (a cached allow admitted him)"
grep -q "connect of 'dave' (session [0-9]*) from 10.199.0.2: denied (portal): denied by the portal: scripted deny" \
	"$work/agent.log" || fail "dave was not put to the portal: $(grep dave "$work/agent.log" | tail -3)"

step "max_sessions counts ocserv's live sessions; replace_oldest ends the oldest instead"
login carol
[ "$rc" = 0 ] || fail "carol: openconnect exit $rc, want 0"
carol_first=$client_pid
login carol
[ "$rc" = 2 ] || fail "carol's second session: openconnect exit $rc, want 2 (max_sessions 1)"
grep -q "user has 1 session(s) in ocserv; rule 'carol' allows 1" "$work/agent.log" \
	|| fail "the daemon did not count carol's session in ocserv"
write_conf close 1
reload_agent
login carol
[ "$rc" = 0 ] || fail "carol with replace_oldest: openconnect exit $rc, want 0"
carol_second=$client_pid
grep -q "replace_oldest: ended session [0-9]* of 'carol'" "$work/agent.log" \
	|| fail "the daemon did not end carol's oldest session"
wait_gone "$carol_first" "carol's first openconnect still runs"
logout "$carol_second"

step "replace_oldest goes by when a session started, not by its last reconnect"
login erin
[ "$rc" = 0 ] || fail "erin: openconnect exit $rc, want 0"
erin_first=$client_pid
sleep 1.1 # the second session starts a second later: the order is in whole seconds
login erin
[ "$rc" = 0 ] || fail "erin's second session: openconnect exit $rc, want 0"
erin_second=$client_pid
if version_at_least 1.4.1; then
	# The first session reconnects (SIGUSR2: openconnect drops its connection and comes back with
	# its cookie): ocserv keeps its start and moves its conn_time past the second's.
	sleep 1.1
	kill -USR2 "$erin_first"
	reconnected=
	for _ in $(seq 100); do
		ip netns exec "$srv" "$occtl_bin" -s "$work/occtl.sock" --json show user erin >"$work/erin.json" 2>/dev/null
		if python3 - "$work/erin.json" <<-'EOF'
			import json, sys
			users = json.load(open(sys.argv[1]))
			sys.exit(not (len(users) == 2 and any(u["raw_connected_at"] > u["raw_session_started_at"] for u in users)))
		EOF
		then reconnected=1; break; fi
		sleep 0.1
	done
	[ -n "$reconnected" ] || fail "erin's first session did not reconnect: $(cat "$work/erin.json")"
	step "  the first session reconnected: it now has the later conn_time"
	occtl_both --json show user erin
	python3 tests/e2e/compare_occtl.py "$work/occtl.out" "$work/ours.out" \
		|| fail "occtl --json show user erin differs after a reconnect"
	occtl_both show user erin
	diff <(form "$work/occtl.out") <(form "$work/ours.out") || fail "occtl show user erin differs after a reconnect"
fi
login erin
[ "$rc" = 0 ] || fail "erin's third session: openconnect exit $rc, want 0"
erin_third=$client_pid
grep -q "replace_oldest: ended session [0-9]* of 'erin'" "$work/agent.log" \
	|| fail "the daemon did not end one of erin's sessions"
wait_gone "$erin_first" "erin's first session (started first) still runs"
kill -0 "$erin_second" 2>/dev/null || fail "erin's second session was ended instead of the first"
logout "$erin_second"
logout "$erin_third"

step "UpdateUserRoutes writes alice's file; ocserv applies it; reload_if_connected reconnects"
agent_call routes alice keep 10.50.0.0/16 >"$work/routes.out" || fail "$(cat "$work/routes.out")"
grep -qx 'route = 10.50.0.0/16' "$work/config-per-user/alice" \
	|| fail "alice's file: $(cat "$work/config-per-user/alice")"
login alice
[ "$rc" = 0 ] || fail "alice: openconnect exit $rc, want 0"
alice=$client_pid
ip netns exec "$srv" "$occtl_bin" -s "$work/occtl.sock" show user alice >"$work/occtl.out"
grep -q 'Routes: 10.50.0.0/255.255.0.0' "$work/occtl.out" \
	|| fail "ocserv did not apply the route: $(cat "$work/occtl.out")"
agent_call routes alice reload 10.60.0.0/16 >"$work/routes.out" || fail "$(cat "$work/routes.out")"
grep -q 'reconnected=True' "$work/routes.out" || fail "$(cat "$work/routes.out")"
ls "$work/backup"/alice.* >/dev/null || fail "no backup of alice's previous file"
wait_gone "$alice" "alice was not disconnected to pick up the new routes"

step "UpdateConfig: the Go agent's JSON for carol, ocserv applies it; the main fragment reloads ocserv"
agent_call config user carol '{"routes": ["10.70.0.0/16"], "custom_directives": {"idle-timeout": "900"}}' \
	>"$work/config.out" || fail "$(cat "$work/config.out")"
grep -qx 'route = 10.70.0.0/16' "$work/config-per-user/carol" || fail "carol's file: $(cat "$work/config-per-user/carol")"
login carol
[ "$rc" = 0 ] || fail "carol: openconnect exit $rc, want 0"
carol=$client_pid
ip netns exec "$srv" "$occtl_bin" -s "$work/occtl.sock" show user carol >"$work/occtl.out"
grep -q 'Routes: 10.70.0.0/255.255.0.0' "$work/occtl.out" || fail "ocserv did not apply carol's route: $(cat "$work/occtl.out")"
logout "$carol"
agent_call config user carol '{"custom_directives": {"connect-script": "/bin/sh"}}' >"$work/config.out" \
	&& fail "a connect-script was accepted: $(cat "$work/config.out")"
grep -q "connect-script' may not be set" "$work/config.out" || fail "$(cat "$work/config.out")"
grep -qx 'route = 10.70.0.0/16' "$work/config-per-user/carol" || fail "a refused update changed carol's file"
agent_call config main '' 'max-same-clients = 4' >"$work/config.out" || fail "main: $(cat "$work/config.out")"
grep -qx 'max-same-clients = 4' "$work/ocserv.conf.local" || fail "no fragment: $(cat "$work/config.out")"
for _ in $(seq 50); do grep -q "reloading configuration" "$work/ocserv.log" && break; sleep 0.1; done
grep -q "reloading configuration" "$work/ocserv.log" || fail "ocserv logged no reload after the main fragment was written"
grep -qx "connect-script = $work/hook" "$work/ocserv.conf.local" || fail "the hook lines are gone: $(cat "$work/ocserv.conf.local")"
grep -qx "connect-script = $work/hook" "$work/ocserv.conf" || fail "not rendered: $(cat "$work/ocserv.conf")"
grep -qx 'max-same-clients = 4' "$work/ocserv.conf" || fail "the init script did not render the fragment"

step "UpdateConfig follows the running ocserv: cgroup is gone from 1.5.0, ban-time new in 1.4.1"
agent_call config user carol 'cgroup = cpu:vpn' validate >"$work/config.out" && ok=1 || ok=
if version_at_least 1.5.0; then
	[ -z "$ok" ] || fail "cgroup accepted for ocserv $ocserv_version: $(cat "$work/config.out")"
	grep -q "'cgroup' is not for the running ocserv $ocserv_version: ocserv 1.5.0 dropped it" "$work/config.out" \
		|| fail "$(cat "$work/config.out")"
else
	[ -n "$ok" ] || fail "cgroup refused for ocserv $ocserv_version: $(cat "$work/config.out")"
	grep -q "checked against ocserv $ocserv_version" "$work/config.out" || fail "$(cat "$work/config.out")"
fi
agent_call config main '' 'ban-time = 600' validate >"$work/config.out" && ok=1 || ok=
if version_at_least 1.4.1; then
	[ -n "$ok" ] || fail "ban-time refused for ocserv $ocserv_version: $(cat "$work/config.out")"
else
	[ -z "$ok" ] || fail "ban-time accepted for ocserv $ocserv_version: $(cat "$work/config.out")"
	grep -q "use min-reauth-time, which every version reads" "$work/config.out" || fail "$(cat "$work/config.out")"
fi
agent_call config main '' 'min-reauth-time = 600' validate >"$work/config.out" \
	|| fail "min-reauth-time refused: $(cat "$work/config.out")"

step "after UpdateConfig MAIN the hook still runs on the next connect"
asked=$(grep -c "connect of 'bob'" "$work/agent.log" || true)
login bob
[ "$rc" = 2 ] || fail "bob after UpdateConfig MAIN: openconnect exit $rc, want 2"
[ "$(grep -c "connect of 'bob'" "$work/agent.log")" -gt "$asked" ] || fail "the hook did not ask the agent about bob"

step "ValidateSession: the portal revokes a live session; the agent ends it in ocserv"
verdict revoked allow
login revoked
revoked=$client_pid
ended=
for _ in $(seq 100); do
	ended=$(sed -n "s/.*validate: ended session \([0-9]*\) of 'revoked': account revoked.*/\1/p" "$work/agent.log" | head -n1)
	[ -n "$ended" ] && break
	sleep 0.1
done
[ -n "$ended" ] || fail "the agent did not end revoked's session: $(grep validate "$work/agent.log" | tail -5)"
verdict revoked deny # revoked's allow was cached for 10 minutes; the sweep revoked it
agent_call sessions revoked >"$work/sessions.out"
grep -q "^session id=$ended " "$work/sessions.out" && fail "session $ended still listed"
logout "$revoked"
step "after the sweep the user's next login is put to the portal, which now denies"
login revoked
[ "$rc" = 2 ] || fail "revoked after the sweep: openconnect exit $rc, want 2"
grep -q "connect of 'revoked' (session [0-9]*) from 10.199.0.2: denied (portal): denied by the portal: scripted deny" \
	"$work/agent.log" || fail "revoked was not put to the portal: $(grep "'revoked'" "$work/agent.log" | tail -3)"

step "ocserv-agent occtl show events: the sessions, then occtl's line for each connect and disconnect"
ip netns exec "$srv" "$bin" occtl -s "$work/occtl.sock" show events >"$work/events.out" 2>&1 &
events_pid=$!
pids+=("$events_pid")
for _ in $(seq 50); do grep -q 'Press CTRL+C to quit' "$work/events.out" && break; sleep 0.1; done
login carol
[ "$rc" = 0 ] || fail "carol: openconnect exit $rc, want 0"
logout "$client_pid"
for _ in $(seq 100); do grep -q "disconnect user 'carol'" "$work/events.out" && break; sleep 0.1; done
kill -INT "$events_pid" 2>/dev/null || true
grep -Eq "^default: connected user 'carol' \([0-9]+\) from 10\.199\.0\.2 with IP [0-9.]+$" "$work/events.out" \
	|| fail "no connect line: $(cat "$work/events.out")"
grep -Eq "^default: disconnect user 'carol' \([0-9]+\) from 10\.199\.0\.2 with IP [0-9.]+ \(reason: user disconnected, time: +[0-9]+s\)$" "$work/events.out" \
	|| fail "no disconnect line: $(cat "$work/events.out")"

step "a mutating RPC from a client certificate not on grpc.allowed_client is PERMISSION_DENIED"
grpc_extra="list allowed_client 'someone.else.example'"
write_conf close 1
reload_agent
agent_call disconnect carol all >"$work/denied.out" && fail "DisconnectUser ran: $(cat "$work/denied.out")"
grep -q '^error PERMISSION_DENIED' "$work/denied.out" || fail "$(cat "$work/denied.out")"
agent_call config user carol 'mtu = 1400' >"$work/denied.out" && fail "UpdateConfig ran"
grep -q '^error PERMISSION_DENIED' "$work/denied.out" || fail "$(cat "$work/denied.out")"
grpc_extra=

step "the dial-out control stream: heartbeats with ocserv's state, a command run on the real ocserv"
control=1
write_conf close 1
reload_agent
for _ in $(seq 150); do grep -q '"request_id": "cmd-1"' "$events" && break; sleep 0.1; done
grep '"request_id": "cmd-1"' "$events" | grep -q '"success": "true"' \
	|| fail "show status over the control stream: $(grep cmd-1 "$events")"
grep '"request_id": "cmd-1"' "$events" | grep -q 'Status: online' || fail "$(grep cmd-1 "$events")"
grep '"kind": "heartbeat"' "$events" | grep -q "\"status\": 1, .*\"ocserv_running\": true, \"ocserv_version\": \"$ocserv_version\"" \
	|| fail "no HEALTHY heartbeat with ocserv $ocserv_version running: $(grep heartbeat "$events" | tail -2)"
control=
write_conf close 1
reload_agent

"$bin" status -c "$conf"
step "passed"
