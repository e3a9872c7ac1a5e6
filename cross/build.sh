#!/usr/bin/env bash
# Static router builds and emulated test runs, from Debian packages only.
#
#   cross/build.sh            install what is missing, build, check, test (what .ci/run calls)
#   cross/build.sh build [TARGET...]  release binaries, ELF checks and the size table only
#   cross/build.sh test       the emulated test runs only
#   cross/build.sh host-static  a static x86_64 musl release binary (for benches/hook.rs)
#
# Route (shared/spec/cross-build.md): Debian's rustc-web with its std sources builds std for the
# target (-Z build-std, unlocked by RUSTC_BOOTSTRAP=1 inside this script only); zig, through
# cargo-zigbuild, links against its own musl. rustup's toolchain, used for host builds, is left
# alone. Outputs go to $OCSERV_AGENT_CROSS_DIR (default /var/cache/ocserv-agent-cross), outside
# the clone, so a later run on the same machine reuses what it can; nothing there is needed that
# this script cannot rebuild.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

WORK=${OCSERV_AGENT_CROSS_DIR:-/var/cache/ocserv-agent-cross}
ZIG_VENV=${OCSERV_AGENT_ZIG_VENV:-/opt/ocserv-agent-zig}
ZIGLANG_VERSION=0.17.1
CARGO_ZIGBUILD_VERSION=0.24.1

# Release builds for every router family we ship; emulated tests on one little-endian 32-bit
# target and the big-endian one (the other little-endian MIPS adds build time, not coverage;
# so does aarch64, whose 64-bit little-endian code is the host's own shape).
RELEASE_TARGETS=(armv7-unknown-linux-musleabihf mipsel-unknown-linux-musl mips-unknown-linux-musl
    aarch64-unknown-linux-musl)
TEST_TARGETS=(armv7-unknown-linux-musleabihf mips-unknown-linux-musl)
BUDGET_FILE=$SRC/cross/size-budget
# std is rebuilt for each target. `optimize_for_size` makes std pick its smaller
# implementations (formatting, sorting, ...): armv7 1,706,608 -> 1,497,624 bytes (-12%).
# The emulated tests use the same std, so what ships is what was tested.
BUILD_STD=(-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size)
# Release builds only: no file:line:column in panic messages (a panic still says what went
# wrong) and derived Debug printing only type and variant names (nothing the agent prints to
# users or the portal comes from a derived Debug). armv7: -41 KB and -28 KB (numbers in
# cross/size-budget). The emulated tests are built without them, for their failure messages.
RELEASE_RUSTFLAGS="-Zlocation-detail=none -Zfmt-debug=shallow"

say() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }
die() { printf 'cross/build.sh: %s\n' "$*" >&2; exit 1; }

install_tools() {
    local need=()
    [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] || need+=(rustc-web cargo-web)
    [ -d /usr/lib/rustlib/src/rust/library ] || need+=(rust-web-src)
    command -v qemu-mips-static >/dev/null || need+=(qemu-user-static)
    command -v file >/dev/null || need+=(file)
    python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
    if [ ${#need[@]} -gt 0 ]; then
        say "apt-get install ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    if ! "$ZIG_VENV/bin/cargo-zigbuild" --version 2>/dev/null | grep -q "$CARGO_ZIGBUILD_VERSION" \
        || ! "$ZIG_VENV/bin/python" -c "import ziglang" 2>/dev/null; then
        say "pip install ziglang==$ZIGLANG_VERSION cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
        python3 -m venv "$ZIG_VENV"
        "$ZIG_VENV/bin/pip" install -q "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
    fi
}

# Debian's compiler for everything cross; cargo-zigbuild spawns `cargo`, so a private bin dir
# puts Debian's cargo, rustc and rustdoc first on PATH for this script only.
use_debian_toolchain() {
    mkdir -p "$WORK/bin"
    for tool in cargo rustc rustdoc; do
        ln -sf "/usr/bin/$tool" "$WORK/bin/$tool"
    done
    export PATH="$WORK/bin:$ZIG_VENV/bin:$PATH"
    export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
    export RUSTC_BOOTSTRAP=1
    # One target directory per source tree: cargo records dependencies by absolute path, so a
    # tree at another path would find the first tree's build "fresh" and run its tests, which
    # point at the first tree's files (seen with a CI clone beside the working tree).
    export CARGO_TARGET_DIR="$WORK/target-$(printf '%s' "$SRC" | cksum | cut -d' ' -f1)"
    export CARGO_TERM_COLOR=never
    local version src_version
    version=$(rustc --version | awk '{print $2}')
    src_version=$(dpkg-query -W -f='${Version}' rust-web-src 2>/dev/null | sed 's/+.*//')
    case "$src_version" in
        "$version"*) ;;
        *) die "rustc $version and rust-web-src $src_version differ; build-std needs matching sources" ;;
    esac
    echo "rustc $version (Debian), std sources $src_version, $(cargo-zigbuild --version)"
}

# `TARGET_TRIPLE` as cargo spells it in environment variable names.
env_name() { echo "$1" | tr 'a-z-' 'A-Z_'; }

# Flags every musl target needs: a static binary (MIPS musl links dynamically unless told), zig's
# own libc, and on 32-bit MIPS the y2038 time ABI, without which rustix arms timerfds with the
# wrong struct and every async-io timer hangs. armv7 is built as Thumb-2: every ARMv7-A core
# OpenWrt ships runs it, and it is 26% smaller (numbers in cross/size-budget); the emulated
# tests run the same code. rustc calls the feature unstable (a warning) and accepts it.
configure_target() {
    local t=$1 flags="-C target-feature=+crt-static -C link-self-contained=no"
    case "$t" in
        mips*) flags+=" --cfg fix_y2038" ;;
        armv7-*) flags+=" -C target-feature=+thumb-mode" ;;
    esac
    flags+=" ${2:-}"
    export "CARGO_TARGET_$(env_name "$t")_RUSTFLAGS=$flags"
}

runner() {
    case "$1" in
        armv7-*) echo "qemu-arm-static -cpu cortex-a7" ;;
        mipsel-*) echo "qemu-mipsel-static -cpu 24Kc" ;;
        mips-*) echo "qemu-mips-static -cpu 24Kc" ;;
        aarch64-*) echo "qemu-aarch64-static -cpu cortex-a53" ;;
        *) die "no emulator for $1" ;;
    esac
}

# What `file` must say about each target's binary.
expected_elf() {
    case "$1" in
        armv7-*) echo "ELF 32-bit LSB.*ARM, EABI5" ;;
        mipsel-*) echo "ELF 32-bit LSB.*MIPS" ;;
        mips-*) echo "ELF 32-bit MSB.*MIPS" ;;
        aarch64-*) echo "ELF 64-bit LSB.*ARM aarch64" ;;
    esac
}

build_all() {
    local table="" failed=0
    [ $# -gt 0 ] && RELEASE_TARGETS=("$@")
    for t in "${RELEASE_TARGETS[@]}"; do
        say "release build for $t"
        configure_target "$t" "$RELEASE_RUSTFLAGS"
        cargo-zigbuild zigbuild --release --locked --target "$t" "${BUILD_STD[@]}"
        local bin="$CARGO_TARGET_DIR/$t/release/ocserv-agent" info
        info=$(file -b "$bin")
        echo "$info"
        if ! grep -Eq "$(expected_elf "$t")" <<<"$info"; then
            echo "FAIL: $t: expected $(expected_elf "$t")" >&2
            failed=1
        fi
        if ! grep -Eq "statically linked|static-pie linked" <<<"$info" || grep -q "interpreter" <<<"$info"; then
            echo "FAIL: $t: not a static binary" >&2
            failed=1
        fi
        table+=$(printf '%-34s %10s bytes\n' "$t" "$(stat -c %s "$bin")")$'\n'
    done
    say "stripped release sizes (binaries in $CARGO_TARGET_DIR/<target>/release)"
    printf '%s' "$table"
    check_budget "$table" || failed=1
    [ "$failed" = 0 ] || die "release checks failed"
}

# cross/size-budget holds "TARGET BYTES" lines; a binary above its budget fails the run.
check_budget() {
    local table=$1 ok=0
    while read -r t limit; do
        case "$t" in ''|'#'*) continue ;; esac
        local size
        size=$(awk -v t="$t" '$1 == t { print $2 }' <<<"$table")
        [ -n "$size" ] || continue
        if [ "$size" -gt "$limit" ]; then
            echo "FAIL: $t is $size bytes, over its budget of $limit (cross/size-budget)" >&2
            ok=1
        else
            echo "$t: $size of $limit budget bytes ($(( size * 100 / limit ))%)"
        fi
    done <"$BUDGET_FILE"
    return $ok
}

test_all() {
    # The grpcio peer runs natively and talks to the emulated daemon over loopback.
    OCSERV_AGENT_PYTHON=$("$SRC/tests/python-env.sh")
    export OCSERV_AGENT_PYTHON
    for t in "${TEST_TARGETS[@]}"; do
        say "tests under $(runner "$t") for $t"
        configure_target "$t"
        # Each test binary bounded in time (cross/emulate.sh); the daemon and hook the tests
        # start run under the bare emulator, so that killing them kills them.
        export "CARGO_TARGET_$(env_name "$t")_RUNNER=$SRC/cross/emulate.sh $(runner "$t") --"
        OCSERV_AGENT_TEST_RUNNER=$(runner "$t") \
            cargo-zigbuild test --locked --target "$t" "${BUILD_STD[@]}"
    done
}

# A static x86_64 musl build, made the way the router builds are: what the hook benchmark
# measures as "the router binary, on this machine" (OCSERV_AGENT_BENCH_BIN).
build_host_static() {
    local t=x86_64-unknown-linux-musl
    say "static release build for $t"
    configure_target "$t" "$RELEASE_RUSTFLAGS"
    cargo-zigbuild zigbuild --release --locked --target "$t" "${BUILD_STD[@]}"
    echo "$CARGO_TARGET_DIR/$t/release/ocserv-agent"
}

install_tools
use_debian_toolchain
case "${1:-all}" in
    build) shift; build_all "$@" ;;
    test) test_all ;;
    all) build_all; test_all ;;
    host-static) build_host_static ;;
    *) die "usage: cross/build.sh [build|test|host-static]" ;;
esac
say "cross builds done"
