#!/usr/bin/env bash
# bench.sh - ingest benchmark (DESIGN.md 5), on demand, not part of test.sh.
# Builds Release, then for workers=1 and workers=2: starts build/agentmeter
# on free loopback ports, drives it with am_bench_client (512-span GenAI
# batches over keep-alive connections) at max load, then at half that rate
# for latency, and reads the collector's CPU time and memory from /proc.
# Prints spans per collector CPU-second, p50/p99, idle and peak RSS, the
# 2-worker/1-worker throughput ratio, and bench_decode output if built.
# Env: BENCH_SECONDS (default 10), BENCH_CONNECTIONS (default 4).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${BENCH_SECONDS:-10}
conns=${BENCH_CONNECTIONS:-4}
client=build/tests/bench/am_bench_client

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DAM_SANITIZE=OFF -DAM_TESTS=ON >/dev/null
cmake --build build -j2 --target agentmeter am_bench_client
# bench_decode (the otlp decode micro-benchmark) is optional.
cmake --build build -j2 --target bench_decode >/dev/null 2>&1 || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/agentmeter-bench.XXXXXX")
pid=
cleanup() {
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 - <<'PY' 2>/dev/null || node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# JSON field of the client's one-line output.
field() {
    sed -nE "s/.*\"$2\": ([0-9.]+).*/\1/p" <<<"$1"
}

# utime + stime of $pid in clock ticks (/proc/PID/stat fields 14 and 15,
# counted after the parenthesised command name).
cpu_ticks() {
    local rest
    rest=$(sed -E 's/^.*\) //' "/proc/$pid/stat")
    awk '{print $12 + $13}' <<<"$rest"
}

status_kib() {
    awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"
}

start_collector() {
    local workers=$1
    http_port=$(free_port)
    prom_port=$(free_port)
    grpc_port=$(free_port)
    cat >"$tmp/agentmeter.yaml" <<YAML
workers: $workers
receivers:
  otlp:
    http:
      endpoint: 127.0.0.1:$http_port
    grpc:
      endpoint: 127.0.0.1:$grpc_port
exporters:
  prometheus:
    endpoint: 127.0.0.1:$prom_port
YAML
    build/agentmeter --config "$tmp/agentmeter.yaml" 2>"$tmp/agentmeter.log" &
    pid=$!
    local deadline=$((SECONDS + 15))
    until curl -fsS "http://127.0.0.1:$prom_port/-/ready" >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS > deadline)); then
            echo "bench: agentmeter did not become ready:" >&2
            cat "$tmp/agentmeter.log" >&2
            exit 1
        fi
        sleep 0.05
    done
}

stop_collector() {
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
}

hz=$(getconf CLK_TCK)
declare -A sps
for workers in 1 2; do
    start_collector "$workers"
    idle_kib=$(status_kib VmRSS)
    c0=$(cpu_ticks)
    max=$("$client" -c "$conns" -d "$secs" -p "$http_port" 2>/dev/null)
    c1=$(cpu_ticks)
    spans=$(field "$max" spans)
    errors=$(field "$max" errors)
    rps=$(field "$max" requests_per_second)
    cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN {printf "%.3f", (b - a) / hz}')
    per_cpu=$(awk -v s="$spans" -v c="$cpu" 'BEGIN {printf "%.0f", (c > 0 ? s / c : 0)}')
    sps[$workers]=$(field "$max" spans_per_second)
    half=$(awk -v r="$rps" 'BEGIN {printf "%.1f", r / 2}')
    lat=$("$client" -c "$conns" -d "$secs" -p "$http_port" -r "$half" 2>/dev/null)
    peak_kib=$(status_kib VmHWM)
    stop_collector
    echo "workers=$workers"
    echo "  max load:        $max"
    echo "  collector CPU:   ${cpu} s for $spans spans -> $per_cpu spans per CPU-second (errors: $errors)"
    echo "  half load:       $lat"
    echo "  latency at ${half} req/s: p50 $(field "$lat" p50_ms) ms, p99 $(field "$lat" p99_ms) ms"
    awk -v i="$idle_kib" -v p="$peak_kib" \
        'BEGIN {printf "  RSS:             idle %.1f MiB, peak (VmHWM) %.1f MiB\n", i / 1024, p / 1024}'
done
awk -v a="${sps[1]}" -v b="${sps[2]}" \
    'BEGIN {printf "scaling: 2 workers / 1 worker throughput = %.2f\n", (a > 0 ? b / a : 0)}'
echo "(client and collector share the machine's cores; the ratio is a lower bound)"

if [[ -x build/tests/bench/bench_decode ]]; then
    echo
    echo "decode micro-benchmark (build/tests/bench/bench_decode):"
    build/tests/bench/bench_decode
fi
