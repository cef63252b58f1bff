#!/bin/sh
# regen-golden.sh - rewrite the golden files of the given unit tests (default:
# every unit test) by running them with AM_REGEN_GOLDEN=1, then show the diff
# for review (STYLE.md 5.9); tests/data/expo/store.om is also checked with the
# OpenMetrics reference parser when python3-prometheus-client is installed. Usage: scripts/regen-golden.sh [build-dir] [ctest-regex]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$root/build"}
regex=${2:-'^unit\.'}
if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug
fi
cmake --build "$build" -j2
(cd "$build" && AM_REGEN_GOLDEN=1 ctest -R "$regex" --output-on-failure)
# The OpenMetrics golden must still parse with the reference parser.
if /usr/bin/python3 -c 'import prometheus_client.openmetrics.parser' 2>/dev/null; then
    /usr/bin/python3 "$root/scripts/check-openmetrics.py" "$root/tests/data/expo/store.om"
fi
git -C "$root" --no-pager diff --stat -- tests/data
