#!/usr/bin/env bash
# bench.sh - ingest benchmark (DESIGN.md 5) on real traffic: every request
# carries new trace and span ids. For each worker count, shape and encoding
# it starts build/agentmeter on free loopback ports and drives it with
# am_bench_client (512-span GenAI batches, keep-alive), at max load, then at
# half that rate for latency. Shapes: "whole" (every trace in one request)
# and "split" (children first without their agent, the invoke_agent root in
# a later request BENCH_LAG seconds after). Encodings: pb (OTLP/HTTP
# protobuf), gzip (the same, gzip), json (OTLP/JSON), grpc (OTLP/gRPC h2c).
# Reports spans per collector CPU-second, spans/s, p50/p99, peak RSS, peak
# pending spans, evictions, spans attributed by fallback, and the fraction
# of the protobuf wire walk (bench_decode over the client's own batch,
# measured in the same run). CHECKS that agent_requests_total,
# model_inference_calls_total and agent_tool_calls_total sum to the spans
# the collector answered 200 for, and exits 1 when any run does not.
# Usage: scripts/bench.sh [--quick] [--no-build]
#   --quick: 1 worker, 1 s per run, trace_wait 2s, plus one run that repeats
#            one body (the same ids) which the checker must report as a
#            mismatch: a self-test of the checker, run by scripts/test.sh;
#            figures are not meaningful.
# Env: BENCH_SECONDS (10), BENCH_CONNECTIONS (4), BENCH_WORKERS ("1 2"),
#      BENCH_SHAPES ("whole split"), BENCH_MODES ("pb gzip json grpc"),
#      BENCH_LAG (2), BENCH_BIN (build/agentmeter), BENCH_TRACE_WAIT (10s).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
build=1
for arg in "$@"; do
    case $arg in
    --quick) quick=1 ;;
    --no-build) build=0 ;;
    *)
        echo "usage: scripts/bench.sh [--quick] [--no-build]" >&2
        exit 2
        ;;
    esac
done

if ((quick)); then
    secs=${BENCH_SECONDS:-1}
    workers_list=${BENCH_WORKERS:-1}
    lag=${BENCH_LAG:-0.5}
    trace_wait=${BENCH_TRACE_WAIT:-2s}
else
    secs=${BENCH_SECONDS:-10}
    workers_list=${BENCH_WORKERS:-1 2}
    lag=${BENCH_LAG:-2}
    trace_wait=${BENCH_TRACE_WAIT:-10s}
fi
conns=${BENCH_CONNECTIONS:-4}
shapes=${BENCH_SHAPES:-whole split}
modes=${BENCH_MODES:-pb gzip json grpc}
bin=${BENCH_BIN:-build/agentmeter}
client=build/tests/bench/am_bench_client
decode=build/tests/bench/bench_decode

if ((build)); then
    scripts/install-deps.sh
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DAM_SANITIZE=OFF -DAM_TESTS=ON >/dev/null
    cmake --build build -j2 --target agentmeter am_bench_client bench_decode
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/agentmeter-bench.XXXXXX")
pid=
sampler=
cleanup() {
    if [[ -n "$sampler" ]]; then
        kill "$sampler" 2>/dev/null || true
    fi
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# JSON field of the client's one-line output.
field() {
    sed -nE "s/.*\"$2\": \[?([0-9.]+).*/\1/p" <<<"$1"
}

# utime + stime of $pid in clock ticks (/proc/PID/stat fields 14 and 15).
cpu_ticks() {
    local rest
    rest=$(sed -E 's/^.*\) //' "/proc/$pid/stat")
    awk '{print $12 + $13}' <<<"$rest"
}

status_kib() {
    awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"
}

scrape() {
    curl -fsS "http://127.0.0.1:$prom_port/metrics"
}

# Sum of every sample of metric $1 (optionally only lines matching $2).
msum() {
    awk -v m="$1" -v f="${2:-}" 'index($0, m "{") == 1 || $1 == m {
        if (f == "" || index($0, f) > 0) s += $NF } END {printf "%.0f\n", s}' "$3"
}

start_collector() {
    local workers=$1
    cat >"$tmp/agentmeter.yaml" <<YAML
workers: $workers
receivers:
  otlp:
    http:
      endpoint: 127.0.0.1:0
    grpc:
      endpoint: 127.0.0.1:0
processors:
  genai:
    trace_wait: $trace_wait
exporters:
  prometheus:
    endpoint: 127.0.0.1:0
YAML
    "$bin" --config "$tmp/agentmeter.yaml" 2>"$tmp/agentmeter.log" &
    pid=$!
    local deadline=$((SECONDS + 30)) line=
    # Ports bound to 0: the startup line says which ones the kernel chose.
    until line=$(grep -m1 -E 'Prometheus on .*\(port [0-9]+\)' "$tmp/agentmeter.log" 2>/dev/null); do
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS > deadline)); then
            echo "bench: agentmeter did not start:" >&2
            cat "$tmp/agentmeter.log" >&2
            exit 1
        fi
        sleep 0.02
    done
    http_port=$(sed -E 's/.*OTLP\/HTTP on [^ ]+ \(port ([0-9]+)\).*/\1/' <<<"$line")
    grpc_port=$(sed -E 's/.*OTLP\/gRPC on [^ ]+ \(port ([0-9]+)\).*/\1/' <<<"$line")
    prom_port=$(sed -E 's/.*Prometheus on [^ ]+ \(port ([0-9]+)\).*/\1/' <<<"$line")
    until curl -fsS "http://127.0.0.1:$prom_port/-/ready" >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS > deadline)); then
            echo "bench: agentmeter did not become ready:" >&2
            cat "$tmp/agentmeter.log" >&2
            exit 1
        fi
        sleep 0.02
    done
}

stop_collector() {
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    sampler=
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
}

# Highest agentmeter_spans_pending seen, sampled twice a second.
start_sampler() {
    echo 0 >"$tmp/pending_max"
    (
        max=0
        while true; do
            v=$(curl -fsS "http://127.0.0.1:$prom_port/metrics" 2>/dev/null |
                awk '$1 == "agentmeter_spans_pending" {printf "%.0f", $2}')
            if [[ -n "$v" ]] && ((v > max)); then
                max=$v
                echo "$max" >"$tmp/pending_max"
            fi
            sleep 0.5
        done
    ) &
    sampler=$!
}

# The ceiling: the bare protobuf wire walk over the client's own batch.
walk_ceiling() {
    "$client" -D "$tmp/batch.pb" 2>/dev/null
    "$decode" 200 "$tmp/batch.pb" | awk '$1 == "walk_spans_per_cpu_second" {print $2}'
}

# Poll /metrics until the derived counters equal what was answered 200, or
# the deadline (trace_wait + 5 s) passes. Sets check_msg; returns 1 on a
# mismatch.
check_counts() {
    local agents=$1 chats=$2 tools=$3 spans=$4 got_a got_c got_t got_s
    local wait_s=${trace_wait%s}
    local deadline=$((SECONDS + ${wait_s%.*} + 5))
    while true; do
        scrape >"$tmp/metrics" || true
        got_a=$(msum agent_requests_total "" "$tmp/metrics")
        got_c=$(msum model_inference_calls_total "" "$tmp/metrics")
        got_t=$(msum agent_tool_calls_total "" "$tmp/metrics")
        got_s=$(msum agentmeter_spans_accepted_total "" "$tmp/metrics")
        if [[ "$got_a $got_c $got_t $got_s" == "$agents $chats $tools $spans" ]]; then
            check_msg="ok ($spans spans: $agents agent, $chats chat, $tools tool)"
            return 0
        fi
        if ((SECONDS > deadline)); then
            check_msg="MISMATCH sent/derived: agent $agents/$got_a chat $chats/$got_c"
            check_msg+=" tool $tools/$got_t accepted $spans/$got_s"
            return 1
        fi
        sleep 0.2
    done
}

# run_one WORKERS SHAPE MODE: one measured run; prints its line.
run_one() {
    local workers=$1 shape=$2 mode=$3 taskc=() tasks=()
    if [[ $workers == 1 ]] && command -v taskset >/dev/null; then
        taskc=(taskset -c 1)
        tasks=(taskset -c 0)
    fi
    start_collector "$workers"
    if ((${#tasks[@]})); then
        taskset -pc 0 "$pid" >/dev/null
    fi
    start_sampler
    local port=$http_port
    if [[ $mode == grpc ]]; then
        port=$grpc_port
    fi
    local args=(-c "$conns" -d "$secs" -p "$port" -e "$mode" -S "$shape" -l "$lag")
    local c0 c1 max lat rps half
    c0=$(cpu_ticks)
    max=$("${taskc[@]}" "$client" "${args[@]}" 2>/dev/null)
    c1=$(cpu_ticks)
    rps=$(field "$max" requests_per_second)
    half=$(awk -v r="$rps" 'BEGIN {printf "%.1f", r / 2}')
    lat=$("${taskc[@]}" "$client" "${args[@]}" -r "$half" 2>/dev/null)
    local sum_a sum_c sum_t sum_s errors
    sum_a=$(($(field "$max" agent_spans) + $(field "$lat" agent_spans)))
    sum_c=$(($(field "$max" chat_spans) + $(field "$lat" chat_spans)))
    sum_t=$(($(field "$max" tool_spans) + $(field "$lat" tool_spans)))
    sum_s=$(($(field "$max" spans) + $(field "$lat" spans)))
    errors=$(($(field "$max" errors) + $(field "$lat" errors)))
    local ok=1
    check_counts "$sum_a" "$sum_c" "$sum_t" "$sum_s" || ok=0
    local peak_kib evicted fallback pending
    peak_kib=$(status_kib VmHWM)
    evicted=$(msum agentmeter_trace_spans_evicted_total "" "$tmp/metrics")
    fallback=$(msum model_inference_calls_total 'agent_name="agent-gateway"' "$tmp/metrics")
    fallback=$((fallback + $(msum agent_tool_calls_total 'agent_name="agent-gateway"' \
        "$tmp/metrics")))
    pending=$(cat "$tmp/pending_max")
    stop_collector
    local spans cpu
    spans=$(field "$max" spans)
    sps_of["$workers $shape $mode"]=$(field "$max" spans_per_second)
    cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN {printf "%.3f", (b - a) / hz}')
    awk -v w="$workers" -v sh="$shape" -v m="$mode" -v s="$spans" -v c="$cpu" \
        -v sps="$(field "$max" spans_per_second)" -v p50="$(field "$lat" p50_ms)" \
        -v p99="$(field "$lat" p99_ms)" -v hr="$half" -v rss="$peak_kib" -v pend="$pending" \
        -v ev="$evicted" -v fb="$fallback" -v walk="$walk" -v err="$errors" 'BEGIN {
        pc = c > 0 ? s / c : 0
        printf "%-2s %-5s %-4s %10.0f %6.2f %10.0f %7.2f %7.2f %8.1f %9d %9d %8d %5d  ", \
            w, sh, m, pc, (walk > 0 ? pc / walk : 0), sps, p50, p99, rss / 1024, pend, ev, \
            fb, err
    }'
    echo "$check_msg"
    if ((!ok)); then
        failures+=("workers=$workers $shape $mode: $check_msg")
        if [[ $shape != repeat ]]; then
            cat "$tmp/agentmeter.log" >&2
        fi
    fi
    if ((errors > 0)); then
        failures+=("workers=$workers $shape $mode: $errors requests not answered 200/OK")
    fi
}

hz=$(getconf CLK_TCK)
failures=()
declare -A sps_of
walk=$(walk_ceiling)
echo "agentmeter ingest benchmark: new trace ids on every request; $conns connections, ${secs}s"
echo "per run, root lag ${lag}s (split), trace_wait $trace_wait; wire-walk ceiling $walk spans/CPU-s"
echo "(latency at half the max rate; fallback = spans attributed to service.name)"
printf "%-2s %-5s %-4s %10s %6s %10s %7s %7s %8s %9s %9s %8s %5s  %s\n" w shape enc \
    "spans/CPUs" "/walk" "spans/s" "p50 ms" "p99 ms" "RSS MiB" "pending" "evicted" \
    "fallback" "errs" "check"
for workers in $workers_list; do
    for shape in $shapes; do
        for mode in $modes; do
            run_one "$workers" "$shape" "$mode"
        done
    done
done
# The checker's own test (--quick): a client that repeats one body (the same
# ids every time) must fail the check, since re-sent spans are not counted.
if ((quick)); then
    saved=("${failures[@]}")
    echo "checker self-test: the same body repeated (must be reported as a mismatch)"
    run_one 1 repeat pb
    if ((${#failures[@]} == ${#saved[@]})) || [[ "${failures[-1]}" != *MISMATCH* ]]; then
        saved+=("checker self-test: repeated ids were not reported as a mismatch")
    fi
    failures=("${saved[@]}")
fi
for shape in $shapes; do
    for mode in $modes; do
        one=${sps_of["1 $shape $mode"]:-}
        two=${sps_of["2 $shape $mode"]:-}
        if [[ -n "$one" && -n "$two" ]]; then
            awk -v s="$shape" -v m="$mode" -v a="$one" -v b="$two" 'BEGIN {
                printf "scaling %s %s: 2 workers / 1 worker spans/s = %.2f\n", s, m, (a > 0 ? b / a : 0) }'
        fi
    done
done
walk2=$(walk_ceiling)
echo "wire-walk ceiling at the end: $walk2 spans/CPU-s (start: $walk)"
if ((${#failures[@]})); then
    printf 'bench: FAILED: %s\n' "${failures[@]}" >&2
    exit 1
fi
echo "bench: every run's derived counts equal the spans sent"
