#!/usr/bin/env bash
# run.sh [agentmeter args...] - install missing build dependencies, build
# Release in build/, and run the collector in the foreground. With no
# arguments it uses the built-in defaults (OTLP/HTTP on :4318, metrics on
# :9464); pass --config deploy/agentmeter.yaml or any other agentmeter flag.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target agentmeter
exec build/agentmeter "$@"
