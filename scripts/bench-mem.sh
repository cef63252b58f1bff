#!/usr/bin/env bash
# bench-mem.sh - memory under many connections (issue 9 item 3), measured
# on the real binary: RSS (/proc/PID/status VmRSS) of build/agentmeter
#   1. idle, after start;
#   2. while MEM_CONNECTIONS keep-alive connections stay open, each after one
#      ~4 MiB OTLP/HTTP protobuf export (1 trace whose 4 chat spans carry a
#      1 MiB gen_ai.input.messages each: large bodies, little trace state);
#   3. 30 s after they closed;
#   4. while MEM_IDLE_CONNECTIONS connections stay open after one small
#      export each (per connection: (RSS - RSS before) / connections).
# Budgets: open <= idle + 128 MiB, after close <= idle + 32 MiB, idle
# connections <= 4 KiB each. Prints the figures and PASS/FAIL per budget;
# exits 1 when one fails. Not part of test.sh (minutes, GiB of traffic);
# tests/reliability/memory.test.mjs is the short, bounded form.
# Usage: scripts/bench-mem.sh [--no-build]
# Env: MEM_CONNECTIONS (4000), MEM_IDLE_CONNECTIONS (10000), MEM_WORKERS (2),
#      MEM_BIN (build/agentmeter), MEM_AFTER_S (30), MEM_LIMIT (limits.memory, unset).
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
[[ "${1:-}" == --no-build ]] && build=0
conns=${MEM_CONNECTIONS:-4000}
idle_conns=${MEM_IDLE_CONNECTIONS:-10000}
workers=${MEM_WORKERS:-2}
bin=${MEM_BIN:-build/agentmeter}
after_s=${MEM_AFTER_S:-30}
client=build/tests/bench/am_bench_client

if ((build)); then
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DAM_SANITIZE=OFF -DAM_TESTS=ON >/dev/null
    cmake --build build -j2 --target agentmeter am_bench_client
fi
# Both ends need a descriptor per connection.
ulimit -n "$(ulimit -Hn)"
need=$((idle_conns > conns ? idle_conns : conns))
if (($(ulimit -n) < need + 100)); then
    echo "bench-mem: ulimit -n $(ulimit -n) is too low for $need connections" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/agentmeter-bench-mem.XXXXXX")
pid=
cpid=
cleanup() {
    for p in $cpid $pid; do
        if kill -0 "$p" 2>/dev/null; then
            kill "$p"
            wait "$p" 2>/dev/null || true
        fi
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

rss_kib() {
    awk '$1 == "VmRSS:" {print $2}' "/proc/$pid/status"
}

start_collector() {
    cat >"$tmp/agentmeter.yaml" <<YAML
workers: $workers
receivers:
  otlp:
    http:
      endpoint: 127.0.0.1:0
      read_timeout: 10m
      max_connections: 20000
    grpc:
      endpoint: 127.0.0.1:0
exporters:
  prometheus:
    endpoint: 127.0.0.1:0
YAML
    if [[ -n "${MEM_LIMIT:-}" ]]; then
        printf 'limits:\n  memory: %s\n' "$MEM_LIMIT" >>"$tmp/agentmeter.yaml"
    fi
    "$bin" --config "$tmp/agentmeter.yaml" 2>"$tmp/agentmeter.log" &
    pid=$!
    local deadline=$((SECONDS + 15)) line=
    until line=$(grep -m1 -E 'Prometheus on .*\(port [0-9]+\)' "$tmp/agentmeter.log" 2>/dev/null); do
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS > deadline)); then
            cat "$tmp/agentmeter.log" >&2
            exit 1
        fi
        sleep 0.05
    done
    http_port=$(sed -E 's/.*OTLP\/HTTP on [^ ]+ \(port ([0-9]+)\).*/\1/' <<<"$line")
}

# hold N ARGS...: run the client in hold mode (pid in cpid); returns once its
# first line (every connection has had its answer) is in client.out. The client then holds the
# connections for the -w seconds given and closes them.
hold() {
    : >"$tmp/client.out"
    "$client" -p "$http_port" -H "$@" >"$tmp/client.out" 2>"$tmp/client.err" &
    cpid=$!
    until [[ -s "$tmp/client.out" ]]; do
        if ! kill -0 "$cpid" 2>/dev/null; then
            cat "$tmp/client.err" >&2
            exit 1
        fi
        sleep 0.1
    done
}

# verdict NAME VALUE LIMIT: sets v to PASS or FAIL (recorded in failures).
verdict() {
    v=PASS
    if (($2 > $3)); then
        v=FAIL
        failures+=("$1")
    fi
}

failures=()
start_collector
sleep 1
idle=$(rss_kib)
echo "agentmeter memory benchmark: workers=$workers, idle RSS $((idle / 1024)) MiB"

hold "$conns" -c 8 -t 1 -a 1048576 -w 5
r=$(head -1 "$tmp/client.out")
open=$(rss_kib)
echo "$conns connections after one ~4 MiB export each: $r"
wait "$cpid"
sleep "$after_s"
after=$(rss_kib)
peak=$(awk '$1 == "VmHWM:" {print $2}' "/proc/$pid/status")
d_open=$((open - idle))
d_after=$((after - idle))
verdict open "$d_open" $((128 * 1024))
echo "  RSS while open:        $((open / 1024)) MiB = idle + $((d_open / 1024)) MiB" \
    "(budget idle + 128 MiB): $v"
verdict after "$d_after" $((32 * 1024))
echo "  RSS ${after_s}s after close:  $((after / 1024)) MiB = idle + $((d_after / 1024)) MiB" \
    "(budget idle + 32 MiB): $v"
echo "  peak RSS (VmHWM):      $((peak / 1024)) MiB"

before=$(rss_kib)
hold "$idle_conns" -c 8 -t 1 -w 5
r=$(head -1 "$tmp/client.out")
sleep 1
held=$(rss_kib)
per=$(((held - before) * 1024 / idle_conns))
echo "$idle_conns idle connections after one small export each: $r"
verdict idle "$per" 4096
echo "  RSS $((before / 1024)) -> $((held / 1024)) MiB: $per bytes per connection" \
    "(budget 4096): $v"
wait "$cpid"
cpid=

if ((${#failures[@]})); then
    echo "bench-mem: FAILED: ${failures[*]}" >&2
    exit 1
fi
echo "bench-mem: every budget met"
