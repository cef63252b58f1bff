#!/bin/sh
# regen-golden.sh - rewrite the golden files of the given unit tests (default:
# every unit test) by running them with AM_REGEN_GOLDEN=1, then show the diff
# for review (STYLE.md 5.9). Usage: scripts/regen-golden.sh [build-dir] [ctest-regex]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$root/build"}
regex=${2:-'^unit\.'}
if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug
fi
cmake --build "$build" -j2
(cd "$build" && AM_REGEN_GOLDEN=1 ctest -R "$regex" --output-on-failure)
git -C "$root" --no-pager diff --stat -- tests/data
