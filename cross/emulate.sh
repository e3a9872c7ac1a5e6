#!/usr/bin/env bash
# Cargo's runner for the emulated test binaries (cross/build.sh test): runs one test binary
# under qemu-user with a time limit, so that a hang fails in minutes with evidence instead of
# eating CI's 90.
#
# qemu-user has a known hazard: a child forked from a multi-threaded emulated process can stay
# a copy of its parent and never reach exec (seen twice here, in tests that start the daemon;
# never on real hardware or natively). A binary that times out is shown with its process tree
# and run once more; a second timeout, or any failure, is the binary's result.
#
# Usage (as CARGO_TARGET_<T>_RUNNER): cross/emulate.sh QEMU [QEMU ARGS] -- BINARY [ARGS...]
set -u
qemu=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do qemu+=("$1"); shift; done
shift # --
limit=${OCSERV_AGENT_EMULATED_LIMIT:-900}
for attempt in 1 2; do
    timeout -k 10 "$limit" "${qemu[@]}" "$@"
    rc=$?
    [ "$rc" = 124 ] || [ "$rc" = 137 ] || exit "$rc"
    echo "emulate.sh: $(basename "$1") hung for ${limit}s under ${qemu[0]} (attempt $attempt); processes:" >&2
    ps -eo pid,ppid,etimes,args --forest | grep -E "qemu|ocserv|python" | grep -v grep >&2 || true
done
echo "emulate.sh: $(basename "$1") hung twice; failing" >&2
exit 124
