#!/usr/bin/env bash
# profile-ingest.sh - instructions per span of the whole ingest path,
# counted by callgrind (deterministic, unlike wall clock on a shared
# machine): build/agentmeter runs under valgrind --tool=callgrind with
# collection on only inside the connection handler (read, HTTP/1.1 or h2,
# gRPC framing, inflate, decode, classify, trace assembly, derive, series,
# response), and am_bench_client sends its 512-span GenAI batches with new
# trace ids on one connection. Prints, per encoding, instructions per span
# and the bare protobuf wire walk's (bench_decode over the client's batch,
# also under callgrind), and leaves callgrind.out.<enc> in OUT for
# callgrind_annotate.
# Usage: scripts/profile-ingest.sh [OUT]   (default: build/profile)
# Env: PROFILE_MODES ("pb gzip json grpc"), PROFILE_SECONDS (20),
#      PROFILE_SHAPE (whole), PROFILE_BIN (build/agentmeter).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-build/profile}
modes=${PROFILE_MODES:-pb gzip json grpc}
secs=${PROFILE_SECONDS:-20}
shape=${PROFILE_SHAPE:-whole}
bin=${PROFILE_BIN:-build/agentmeter}
client=build/tests/bench/am_bench_client
decode=build/tests/bench/bench_decode
mkdir -p "$out"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/agentmeter-profile.XXXXXX")
pid=
cleanup() {
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# Total instructions (Ir) of a callgrind output file.
total_ir() {
    awk '/^(summary|totals):/ {print $2; exit}' "$1"
}

# The wire walk: Ir per span of bench_decode's 20 walks over the client's
# batch.
walk_ir() {
    "$client" -D "$tmp/batch.pb" 2>/dev/null
    local n
    n=$(valgrind --tool=callgrind --callgrind-out-file="$tmp/walk.out" \
        --collect-atstart=no --toggle-collect='am_otlp_pb_wire_walk' \
        "$decode" 20 "$tmp/batch.pb" 2>/dev/null | sed -nE 's/^batch: ([0-9]+) spans.*/\1/p')
    awk -v ir="$(total_ir "$tmp/walk.out")" -v n="$n" 'BEGIN {printf "%.1f", ir / (20 * n)}'
}

start() {
    cat >"$tmp/agentmeter.yaml" <<YAML
workers: 1
receivers:
  otlp:
    http:
      endpoint: 127.0.0.1:0
    grpc:
      endpoint: 127.0.0.1:0
exporters:
  prometheus:
    endpoint: 127.0.0.1:0
YAML
    valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out.$1" \
        --collect-atstart=no --toggle-collect='on_conn' \
        "$bin" --config "$tmp/agentmeter.yaml" 2>"$tmp/agentmeter.log" &
    pid=$!
    local deadline=$((SECONDS + 120)) line=
    until line=$(grep -m1 -E 'Prometheus on .*\(port [0-9]+\)' "$tmp/agentmeter.log" 2>/dev/null); do
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS > deadline)); then
            echo "profile: agentmeter did not start:" >&2
            cat "$tmp/agentmeter.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    http_port=$(sed -E 's/.*OTLP\/HTTP on [^ ]+ \(port ([0-9]+)\).*/\1/' <<<"$line")
    grpc_port=$(sed -E 's/.*OTLP\/gRPC on [^ ]+ \(port ([0-9]+)\).*/\1/' <<<"$line")
}

walk=$(walk_ir)
printf "%-5s %8s %12s %10s %8s\n" enc spans "Ir" "Ir/span" "/walk"
for mode in $modes; do
    start "$mode"
    port=$http_port
    if [[ $mode == grpc ]]; then
        port=$grpc_port
    fi
    res=$("$client" -c 1 -d "$secs" -p "$port" -e "$mode" -S "$shape" 2>/dev/null)
    spans=$(sed -nE 's/.*"spans": ([0-9]+).*/\1/p' <<<"$res")
    kill -INT "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
    ir=$(total_ir "$out/callgrind.out.$mode")
    awk -v m="$mode" -v s="$spans" -v ir="$ir" -v w="$walk" 'BEGIN {
        ws = w; ps = s > 0 ? ir / s : 0
        printf "%-5s %8d %12d %10.0f %8.2f\n", m, s, ir, ps, (ps > 0 ? ws / ps : 0) }'
done
echo "wire walk: $walk Ir/span (/walk = walk Ir per span / ingest Ir per span)"
