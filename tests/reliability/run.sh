#!/usr/bin/env bash
# run.sh - the reliability suite: each tests/reliability/*.test.mjs starts
# the real collector on loopback and attacks it (floods, slow and idle
# clients, hostile HTTP/1.1, HTTP/2, gRPC, protobuf, JSON and gzip input),
# asserting exact invariants: answers, caps, counters, unchanged derived
# metrics, bounded RSS. One file per test; this runner takes them all.
#
# Usage: tests/reliability/run.sh [BINARY]   (default build/agentmeter)
#   RELIABILITY_LONG=1   the long forms (10^6-sized floods, 10,000 idle
#                        connections; minutes) instead of the short ones
#   RELIABILITY_ONLY=x   run only tests/reliability/x.test.mjs
# The helpers come from tests/e2e/lib.mjs and pb.mjs (node built-ins only).
# Prints "N passed, N failed" last; exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bin=${1:-build/agentmeter}
[[ $bin = /* ]] || bin=$root/$bin
tap=$(mktemp "${TMPDIR:-/tmp}/agentmeter-reliability.XXXXXX")
trap 'rm -f "$tap"' EXIT

if [[ ! -x $bin ]]; then
    echo "reliability: $bin is not an executable" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
files=(tests/reliability/*.test.mjs)
if [[ -n "${RELIABILITY_ONLY:-}" ]]; then
    files=("tests/reliability/$RELIABILITY_ONLY.test.mjs")
fi
# Many idle connections need descriptors on both ends.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

rc=0
timeout=120000
[[ "${RELIABILITY_LONG:-0}" == 1 ]] && timeout=1800000
AGENTMETER_BIN="$bin" node --test --test-concurrency=1 --test-timeout="$timeout" \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" "${files[@]}" || rc=$?
p=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$tap" | tail -1)
f=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$tap" | tail -1)
c=$(sed -nE 's/^# cancelled ([0-9]+)$/\1/p' "$tap" | tail -1)
p=${p:-0}
f=$((${f:-0} + ${c:-0}))
if [[ $rc -ne 0 && $f -eq 0 ]]; then
    f=1 # the runner itself failed (no TAP summary): count it
fi
echo "$p passed, $f failed"
[[ $rc -eq 0 && $f -eq 0 ]]
