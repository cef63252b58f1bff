#!/usr/bin/env bash
# bench-flood.sh - hash-flooding benchmark (issue 9), on demand, not part of
# test.sh. Builds Release, then runs tests/bench/flood.mjs: the collector's
# CPU per span for 5,000 gen_ai.tool.name values that collided in the old
# label hash against 5,000 random names (target: ratio <= 1.5).
# Env: FLOOD_NAMES (default 5000), FLOOD_ROUNDS (default 20),
#      FLOOD_BASE=path/to/agentmeter  also measure another build (before/after).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DAM_SANITIZE=OFF -DAM_TESTS=ON >/dev/null
cmake --build build -j2 --target agentmeter

names=${FLOOD_NAMES:-5000}
rounds=${FLOOD_ROUNDS:-20}
if [[ -n "${FLOOD_BASE:-}" ]]; then
    node tests/bench/flood.mjs "$FLOOD_BASE" "$names" "$rounds"
fi
node tests/bench/flood.mjs build/agentmeter "$names" "$rounds"
