#!/usr/bin/env bash
# fuzz.sh - run one libFuzzer target with ASan+UBSan for a bounded time.
#
#   scripts/fuzz.sh TARGET SECONDS     e.g. scripts/fuzz.sh otlp_pb 600
#   scripts/fuzz.sh --list             the targets (tests/fuzz/fuzz_<target>.c)
#
# Builds build-fuzz/ (clang, -DAM_FUZZ=ON: -fsanitize=fuzzer,address,undefined)
# if needed, then fuzzes with tests/fuzz/dict/TARGET.dict, starting from the
# committed corpus tests/fuzz/corpus/TARGET/ and growing a working corpus in
# build-fuzz/corpus/TARGET/ (kept between runs). Crash, leak and timeout
# inputs land in build-fuzz/crashes/TARGET/. The last lines of the log give
# libFuzzer's final cov:/ft: and stat::number_of_executed_units.
#
# Environment:
#   FUZZ_BUILD=dir     build directory (default build-fuzz)
#   FUZZ_JOBS=n        parallel build jobs (default 2)
#   FUZZ_MERGE=1       after the run, minimize the working corpus into the
#                      committed one (libFuzzer -merge=1: only inputs that add
#                      coverage are copied into tests/fuzz/corpus/TARGET/)
#   FUZZ_ARGS="..."    extra libFuzzer flags (e.g. -max_len=65536)
# Exits non-zero when libFuzzer found a crash, leak or timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [[ "${1:-}" == --list ]]; then
    for f in tests/fuzz/fuzz_*.c; do
        f=${f##*/fuzz_}
        echo "${f%.c}"
    done
    exit 0
fi
if [[ $# -ne 2 || ! "$2" =~ ^[0-9]+$ ]]; then
    echo "usage: scripts/fuzz.sh TARGET SECONDS | --list" >&2
    exit 2
fi
target=$1
seconds=$2
if [[ ! -f tests/fuzz/fuzz_$target.c ]]; then
    echo "fuzz.sh: no target '$target' (see scripts/fuzz.sh --list)" >&2
    exit 2
fi

bdir=${FUZZ_BUILD:-build-fuzz}
if [[ ! -f "$bdir/CMakeCache.txt" ]]; then
    cmake -S . -B "$bdir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DAM_FUZZ=ON -DAM_TESTS=ON >/dev/null
fi
cmake --build "$bdir" -j"${FUZZ_JOBS:-2}" --target "fuzz_$target" >/dev/null

bin="$root/$bdir/tests/fuzz_$target"
seed="$root/tests/fuzz/corpus/$target"
work="$root/$bdir/corpus/$target"
crashes="$root/$bdir/crashes/$target"
log="$root/$bdir/fuzz-$target.log"
mkdir -p "$work" "$crashes" "$seed"
dict=()
if [[ -f tests/fuzz/dict/$target.dict ]]; then
    dict=(-dict="$root/tests/fuzz/dict/$target.dict")
fi

# Leaks are reported (detect_leaks); a UBSan report aborts like an ASan one.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

rc=0
# shellcheck disable=SC2086
(cd "$crashes" && "$bin" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$crashes/" ${FUZZ_ARGS:-} "$work" "$seed") \
    >"$log" 2>&1 || rc=$?

if [[ "${FUZZ_MERGE:-0}" == 1 ]]; then
    "$bin" -merge=1 "${dict[@]}" "$seed" "$work" >>"$log" 2>&1
fi

echo "fuzz.sh: $target ${seconds}s, log $log"
grep -E '^#[0-9]+[[:space:]]+DONE|^stat::number_of_executed_units|^stat::peak_rss_mb|^Done [0-9]+ runs' \
    "$log" || true
if [[ $rc -ne 0 ]]; then
    echo "fuzz.sh: $target FAILED (rc $rc); inputs in $crashes:" >&2
    ls "$crashes" >&2 || true
    grep -E 'ERROR: |runtime error|SUMMARY' "$log" | head -5 >&2 || true
fi
exit $rc
