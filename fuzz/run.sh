#!/usr/bin/env bash
# Builds the fuzz targets and runs each one, stopping at the first crash.
#
#   fuzz/run.sh [-t SECONDS | -n RUNS] [TARGET...]     (default: -t 30, every target)
#
# libFuzzer is driven through cargo with the flags `cargo fuzz build -s none` passes (coverage
# instrumentation, comparison tracing, debug assertions and overflow checks, `--cfg fuzzing`),
# so a fresh machine needs neither cargo-fuzz nor a nightly toolchain. The seed corpus in
# fuzz/corpus is read, never written; what a run learns goes to target/fuzz/corpus, a crash to
# target/fuzz/artifacts. Each run's last lines (executions, coverage, features) are printed;
# -n runs also go to target/fuzz/stats.tsv for README's table.
set -euo pipefail
cd "$(dirname "$0")"

limit=(-max_total_time=30)
case "${1:-}" in
    -t) limit=(-max_total_time="$2"); shift 2 ;;
    -n) limit=(-runs="$2"); shift 2 ;;
esac
all=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v ocserv-agent-fuzz)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<< "$(echo $all)"

triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# --target keeps these flags off build scripts and proc macros, as cargo fuzz does.
cargo build --release --locked --target "$triple" --bins

out=../target/fuzz
mkdir -p "$out"
for t in "${targets[@]}"; do
    mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
    log="$out/$t.log"
    echo "== $t (${limit[*]})"
    if ! "target/$triple/release/$t" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" \
        "$out/corpus/$t" "corpus/$t" > "$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz target $t failed; the input is in $out/artifacts/$t/" >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
    echo "$t: $runs executions, cov $cov, ft $ft"
    if [ "${limit[0]#-runs}" != "${limit[0]}" ]; then
        printf '%s\t%s\t%s\t%s\n' "$t" "$runs" "$cov" "$ft" >> "$out/stats.tsv"
    fi
done
