#!/usr/bin/env bash
# test.sh - the whole test suite, as CI runs it (.ci/run execs this):
#   1. install missing Debian packages (scripts/install-deps.sh --test);
#   2. gcc Release in build/: build everything, ctest (unit + fuzz replays);
#   3. clang Debug + ASan/UBSan in build-asan/: build, ctest;
#   4. tests/e2e: npm ci, node --test against build/agentmeter, then the same
#      suite against build-asan/agentmeter;
#   4b. tests/reliability/run.sh (short form): floods, slow clients, hostile
#       input against build/agentmeter and build-asan/agentmeter;
#   4c. tests/scaleout: replicas behind a load-balancing splitter into real
#       Prometheus and VictoriaMetrics (against build/agentmeter, ~40 s);
#   4d. tests/ops/run.sh: the operator's kit in deploy/ (promtool, live Prometheus);
#   4e. the .deb (cmake --build build --target package), inspected by
#       tests/package/check.sh (dpkg-deb, scratch root, maintainer scripts, lintian);
#   4e. scripts/bench.sh --quick: the benchmark's count checker on build/agentmeter;
#   5. scripts/checksrc.sh.
# Stops at the first failing stage (KEEP_GOING=1 runs them all), prints
# "N passed, N failed" over ctest and node tests, exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${JOBS:-2}

passed=0
failed=0
status=0
logdir=$(mktemp -d "${TMPDIR:-/tmp}/agentmeter-test.XXXXXX")
trap 'rm -rf "$logdir"' EXIT

failed_stages=()

summary() {
    if [[ ${#failed_stages[@]} -gt 0 ]]; then
        echo "failed stages: ${failed_stages[*]}"
    fi
    echo "$passed passed, $failed failed"
}

# stage_failed MSG: record a failure; stop here unless KEEP_GOING=1.
stage_failed() {
    echo "test.sh: FAILED: $1" >&2
    failed_stages+=("[$1]")
    status=1
    if [[ "${KEEP_GOING:-0}" != 1 ]]; then
        summary
        exit 1
    fi
}

step() {
    echo
    echo "==== $* ($(date +%T))"
}

# run_ctest DIR: run ctest there and add its counts to the totals.
run_ctest() {
    local dir=$1 log="$logdir/ctest.$(basename "$1").log" rc=0
    (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 300) 2>&1 | tee "$log" ||
        rc=$?
    local line p=0 f=0 total
    line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1 || true)
    if [[ -n "$line" ]]; then
        f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
        total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
        p=$((total - f))
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    if [[ $rc -ne 0 || $f -ne 0 ]]; then
        stage_failed "ctest in $dir ($f failed)"
    fi
}

# build DIR CC TYPE [cmake args...]: configure and build every target.
build() {
    local dir=$1 cc=$2 type=$3
    shift 3
    if ! cmake -S . -B "$dir" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE="$type" -DAM_TESTS=ON \
        "$@"; then
        stage_failed "cmake configure of $dir"
        return 1
    fi
    if ! cmake --build "$dir" -j"$jobs"; then
        stage_failed "build in $dir ($cc $type)"
        return 1
    fi
}

step "dependencies"
if ! scripts/install-deps.sh --test; then
    stage_failed "missing dependencies (see above)"
fi

step "gcc Release build (build/)"
if build build gcc Release -DAM_SANITIZE=OFF; then
    step "ctest: gcc Release"
    run_ctest build
fi

step "clang Debug ASan+UBSan build (build-asan/)"
if build build-asan clang Debug -DAM_SANITIZE=ON; then
    step "ctest: clang ASan+UBSan"
    run_ctest build-asan
fi

# run_e2e BIN LABEL: the node suite against one collector binary.
run_e2e() {
    local bin=$1 label=$2 tap="$logdir/e2e.$2.tap" rc=0 p f c
    step "end-to-end against $bin ($label, node $(node --version))"
    (cd tests/e2e && AGENTMETER_BIN="$root/$bin" node --test \
        --test-concurrency=1 --test-timeout=120000 \
        --test-reporter=spec --test-reporter-destination=stdout \
        --test-reporter=tap --test-reporter-destination="$tap" \
        ./*.test.mjs) || rc=$?
    p=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$tap" | tail -1)
    f=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$tap" | tail -1)
    c=$(sed -nE 's/^# cancelled ([0-9]+)$/\1/p' "$tap" | tail -1)
    p=${p:-0}
    f=$((${f:-0} + ${c:-0}))
    if [[ $rc -ne 0 && $f -eq 0 ]]; then
        f=1 # the runner itself failed (no TAP summary): count it
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    if [[ $rc -ne 0 ]]; then
        stage_failed "end-to-end tests against $bin ($f failed)"
    fi
}

step "end-to-end setup (npm ci in tests/e2e)"
if [[ ! -x build/agentmeter ]]; then
    stage_failed "build/agentmeter was not built"
elif ! (cd tests/e2e && npm ci --no-audit --no-fund); then
    stage_failed "npm ci in tests/e2e"
else
    run_e2e build/agentmeter "gcc Release"
    # The same suite under ASan+UBSan: real traffic through the sanitized
    # collector (a report aborts it; leaks make its SIGTERM exit non-zero).
    if [[ -x build-asan/agentmeter ]]; then
        run_e2e build-asan/agentmeter "clang ASan+UBSan"
    fi
fi

# run_reliability BIN LABEL: tests/reliability against one collector binary.
run_reliability() {
    local bin=$1 label=$2 log="$logdir/reliability.$2.log" rc=0 line
    step "reliability against $bin ($label)"
    tests/reliability/run.sh "$bin" 2>&1 | tee "$log" || rc=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1 || true)
    passed=$((passed + $(sed -E 's/^([0-9]+) passed.*/\1/' <<<"${line:-0 passed}")))
    failed=$((failed + $(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"${line:-x 1 failed}")))
    if [[ $rc -ne 0 ]]; then
        stage_failed "reliability tests against $bin"
    fi
}

if [[ -x build/agentmeter ]]; then
    run_reliability build/agentmeter gcc
fi
if [[ -x build-asan/agentmeter ]]; then
    run_reliability build-asan/agentmeter asan
fi

# The scale-out topologies (deploy/scale-out/) on loopback: once, against
# the Release binary (nine collectors plus two receivers; bounded).
step "scale-out (tests/scaleout) against build/agentmeter"
if [[ ! -x build/agentmeter ]]; then
    stage_failed "build/agentmeter was not built"
else
    rc=0
    tap="$logdir/scaleout.tap"
    (cd tests/scaleout && AGENTMETER_BIN="$root/build/agentmeter" node --test \
        --test-concurrency=1 --test-timeout=180000 \
        --test-reporter=spec --test-reporter-destination=stdout \
        --test-reporter=tap --test-reporter-destination="$tap" \
        ./*.test.mjs) || rc=$?
    p=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$tap" | tail -1)
    f=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$tap" | tail -1)
    c=$(sed -nE 's/^# cancelled ([0-9]+)$/\1/p' "$tap" | tail -1)
    f=$((${f:-0} + ${c:-0}))
    if [[ $rc -ne 0 && $f -eq 0 ]]; then
        f=1
    fi
    passed=$((passed + ${p:-0}))
    failed=$((failed + f))
    if [[ $rc -ne 0 ]]; then
        stage_failed "scale-out tests ($f failed)"
    fi
fi

step "ops kit (tests/ops/run.sh: promtool, dashboard, systemd, deploy lint, live Prometheus)"
rc=0
tests/ops/run.sh build 2>&1 | tee "$logdir/ops.log" || rc=$?
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$logdir/ops.log" | tail -1 || true)
passed=$((passed + $(sed -E 's/^([0-9]+) passed.*/\1/' <<<"${line:-0 passed}")))
failed=$((failed + $(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"${line:-x 1 failed}")))
if [[ $rc -ne 0 ]]; then
    stage_failed "ops kit tests"
fi

step "benchmark self-test (scripts/bench.sh --quick: derived counts equal the spans sent)"
if nice scripts/bench.sh --quick --no-build; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
    stage_failed "scripts/bench.sh --quick"
fi

step "Debian package (cmake --build build --target package; tests/package/check.sh)"
rc=0
if cmake --build build --target package 2>&1 | tail -5; then
    tests/package/check.sh build 2>&1 | tee "$logdir/package.log" || rc=$?
else
    rc=1
    echo "0 passed, 1 failed" >"$logdir/package.log"
fi
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$logdir/package.log" | tail -1 || true)
passed=$((passed + $(sed -E 's/^([0-9]+) passed.*/\1/' <<<"${line:-0 passed}")))
failed=$((failed + $(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"${line:-x 1 failed}")))
if [[ $rc -ne 0 ]]; then
    stage_failed "Debian package"
fi

step "clang ThreadSanitizer build (build-tsan/)"
if build build-tsan clang Debug -DAM_SANITIZE=OFF -DAM_TSAN=ON; then
    step "ctest: clang TSan"
    # unit.memlimit measures what free() hands back to the system, which
    # TSan's own allocator does differently (not a race); fmt_python checks
    # a pure formatter the other builds already cover.
    ( cd build-tsan && ctest --output-on-failure -j"$jobs" --timeout 300 \
        -E '^(unit\.memlimit|unit\.fmt_python|fuzz\..*)$' ) 2>&1 | tee "$logdir/ctest.tsan.log" ||
        true
    tsan_line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' \
        "$logdir/ctest.tsan.log" | tail -1 || true)
    tsan_f=$(sed -nE 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/p' <<<"$tsan_line")
    tsan_t=$(sed -nE 's/.* failed out of ([0-9]+).*/\1/p' <<<"$tsan_line")
    passed=$((passed + ${tsan_t:-0} - ${tsan_f:-0}))
    failed=$((failed + ${tsan_f:-1}))
    if [[ -z "$tsan_line" || ${tsan_f:-1} -ne 0 ]] ||
        grep -q 'WARNING: ThreadSanitizer' "$logdir/ctest.tsan.log"; then
        stage_failed "ctest in build-tsan (ThreadSanitizer)"
    fi
    step "end-to-end against build-tsan/agentmeter (concurrency subset)"
    rc=0
    (cd tests/e2e && TSAN_OPTIONS=halt_on_error=1 AGENTMETER_E2E_WORKERS=2 AGENTMETER_BIN="$root/build-tsan/agentmeter" node --test \
        --test-concurrency=1 --test-timeout=180000 \
        --test-reporter=spec --test-reporter-destination=stdout \
        --test-reporter=tap --test-reporter-destination="$logdir/e2e.tsan.tap" \
        ./shutdown.test.mjs ./reload.test.mjs ./remote_write.test.mjs ./transport.test.mjs) || rc=$?
    p=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$logdir/e2e.tsan.tap" | tail -1)
    f=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$logdir/e2e.tsan.tap" | tail -1)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [[ $rc -ne 0 ]]; then
        [[ ${f:-0} -gt 0 ]] || failed=$((failed + 1))
        stage_failed "end-to-end tests against build-tsan/agentmeter"
    fi
fi

step "checksrc"
if ! scripts/checksrc.sh; then
    stage_failed "scripts/checksrc.sh"
fi

echo
summary
exit $status
