#!/usr/bin/env bash
# run.sh - the operator's kit tests (deploy/, tools/loadgen):
#   configs and rules through promtool (check config, check rules, test
#   rules), every alert unit-tested firing and not firing, every dashboard
#   and rule expression parsed, the dashboard's structure, the systemd unit
#   (systemd-analyze verify and security), the Dockerfile, compose file and
#   Kubernetes manifests (structure), the example configs (--check-config),
#   and live: agentmeter fed by agentmeter-loadgen, scraped (and
#   remote-written to) by a real Prometheus that evaluates the rules, and
#   every recording-rule and panel expression queried for data.
# Usage: tests/ops/run.sh [BUILD_DIR]   (default build/; LIVE_SECONDS=30)
# Prints "N passed, N failed" last; exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=${1:-build}
[[ $build = /* ]] || build=$root/$build
live_seconds=${LIVE_SECONDS:-30}
passed=0
failed=0
skipped=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agentmeter-ops.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

pass() { passed=$((passed + 1)); echo "  ok    $*"; }
fail() { failed=$((failed + 1)); echo "  FAIL  $*"; }
skip() { skipped=$((skipped + 1)); echo "  skip  $*"; }
# check NAME CMD...: run CMD quietly; pass or fail, showing output on failure.
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name"; sed 's/^/        /' <<<"$out" | tail -40; fi
}
# count_node OUT: fold checks.mjs output lines into the totals.
count_node() {
    local out=$1
    passed=$((passed + $(grep -c '^ok ' <<<"$out")))
    failed=$((failed + $(grep -c '^FAIL ' <<<"$out")))
    skipped=$((skipped + $(grep -c '^\(SKIP\|PENDING\) ' <<<"$out")))
    grep -E '^(FAIL|SKIP|PENDING)' <<<"$out" | sed 's/^/        /'
}

rules=(deploy/prometheus/rules/agentmeter.rules.yml deploy/prometheus/rules/agentmeter.alerts.yml)
dash=deploy/grafana/dashboards/agentmeter.json

echo "== prometheus configs and rules"
check "promtool check config deploy/prometheus/prometheus.yml" \
    promtool check config deploy/prometheus/prometheus.yml
check "promtool check config deploy/prometheus/prometheus-remote-write.yml" \
    promtool check config deploy/prometheus/prometheus-remote-write.yml
mkdir -p "$tmp/demo" && cp deploy/docker/prometheus-demo.yml "$tmp/demo/" &&
    ln -s "$root/deploy/prometheus/rules" "$tmp/demo/rules"
check "promtool check config deploy/docker/prometheus-demo.yml" \
    promtool check config "$tmp/demo/prometheus-demo.yml"
check "promtool check rules deploy/prometheus/rules/*.yml" \
    promtool check rules deploy/prometheus/rules/*.yml
check "promtool test rules deploy/prometheus/tests/*.test.yml" \
    bash -c 'cd deploy/prometheus/tests && promtool test rules *.test.yml'
# Every alert has a test where it fires and one where it does not.
untested=$(awk '
    FNR == 1 { file = FILENAME }
    file ~ /rules\// && /^ *- alert:/ { alerts[$3] = 1 }
    file ~ /tests\// && /^ *alertname:/ { cur = $2 }
    file ~ /tests\// && /^ *exp_alerts: *\[\]/ { quiet[cur] = 1; next }
    file ~ /tests\// && /^ *exp_alerts: *$/ { fires[cur] = 1 }
    END { for (a in alerts) { if (!(a in fires)) print a " never fires"; if (!(a in quiet)) print a " never stays quiet" } }
' deploy/prometheus/rules/*.alerts.yml deploy/prometheus/tests/*.test.yml)
n_alerts=$(cat deploy/prometheus/rules/*.alerts.yml | grep -c '^ *- alert:')
if [[ -z "$untested" ]]; then pass "all $n_alerts alerts tested firing and not firing"; else fail "alert tests: $untested"; fi

echo "== dashboard"
out=$(node tests/ops/checks.mjs dashboard "$dash")
count_node "$out"
node tests/ops/checks.mjs exprs "$dash" "${rules[@]}" deploy/prometheus/rules/agentmeter.remote-write.alerts.yml >"$tmp/every.yml"
check "promtool parses every expression ($(grep -c 'record: expr_' "$tmp/every.yml") from dashboard and rules)" \
    promtool check rules "$tmp/every.yml"
for f in deploy/grafana/provisioning/*/*.yml; do
    check "provisioning $f has apiVersion 1" grep -q '^apiVersion: 1$' "$f"
done

echo "== example configs"
for f in deploy/agentmeter.yaml deploy/docker/agentmeter-demo.yaml; do
    check "agentmeter --check-config $f" "$build/agentmeter" --check-config "$f"
done
awk '/^  agentmeter.yaml: \|/ { on = 1; next } on && /^    / { print substr($0, 5); next } on { exit }' \
    deploy/kubernetes/configmap.yaml >"$tmp/k8s.yaml"
check "agentmeter --check-config (deploy/kubernetes/configmap.yaml)" \
    env POD_NAME=agentmeter-0 "$build/agentmeter" --check-config "$tmp/k8s.yaml"

echo "== systemd unit"
if command -v systemd-analyze >/dev/null; then
    sed "s#/usr/local/bin/agentmeter#$build/agentmeter#g" deploy/systemd/agentmeter.service \
        >"$tmp/agentmeter.service"
    check "systemd-analyze verify deploy/systemd/agentmeter.service" \
        systemd-analyze verify "$tmp/agentmeter.service"
    for key in DynamicUser=yes NoNewPrivileges=yes StateDirectory= ProtectSystem=strict; do
        check "unit sets $key" grep -q "^$key" deploy/systemd/agentmeter.service
    done
    exposure=$(systemd-analyze security --offline=true "$tmp/agentmeter.service" 2>/dev/null |
        sed -nE 's/.*Overall exposure level for [^:]*: ([0-9.]+).*/\1/p')
    if [[ -n "$exposure" ]] && awk -v e="$exposure" 'BEGIN { exit !(e < 2.0) }'; then
        pass "systemd-analyze security exposure $exposure < 2.0"
    else
        fail "systemd-analyze security exposure '${exposure:-unknown}' (want < 2.0)"
    fi
else
    skip "systemd-analyze not installed (Debian package systemd)"
fi

echo "== Dockerfile, compose, Kubernetes (structure only: no daemon or cluster here)"
check "Dockerfile lint" python3 tests/ops/lint_deploy.py dockerfile deploy/docker/Dockerfile
if python3 -c 'import yaml' 2>/dev/null; then
    check "compose.yaml structure" python3 tests/ops/lint_deploy.py compose deploy/docker/compose.yaml
    check "kubernetes manifests structure" python3 tests/ops/lint_deploy.py k8s deploy/kubernetes
else
    skip "compose and Kubernetes structure: python3 yaml module missing (Debian python3-yaml)"
fi
if command -v kubectl >/dev/null; then
    check "kubectl kustomize deploy/kubernetes" kubectl kustomize deploy/kubernetes
else
    skip "kubectl not installed"
fi

echo "== scale-out kit (deploy/scale-out: collector configs, store configs, rules, sharded manifests)"
check "promtool check rules deploy/scale-out/prometheus/*.rules.yml" \
    promtool check rules deploy/scale-out/prometheus/*.rules.yml
check "promtool test rules deploy/scale-out/prometheus/*.test.yml" \
    bash -c 'cd deploy/scale-out/prometheus && promtool test rules *.test.yml'
for f in deploy/scale-out/agentmeter-replica.yaml deploy/scale-out/remote-write/*.yaml; do
    check "agentmeter --check-config $f" env REPLICA=agentmeter-0 "$build/agentmeter" --check-config "$f"
done
awk '/^  agentmeter.yaml: \|/ { on = 1; next } on && /^    / { print substr($0, 5); next } on { exit }' \
    deploy/scale-out/kubernetes/configmap.yaml >"$tmp/k8s-sharded.yaml"
check "agentmeter --check-config (deploy/scale-out/kubernetes/configmap.yaml)" \
    env REPLICA=agentmeter-0 "$build/agentmeter" --check-config "$tmp/k8s-sharded.yaml"
for f in deploy/scale-out/otelcol/*.yaml; do
    check "collector config structure $f" python3 tests/ops/lint_deploy.py otelcol "$f"
done
check "dashboard aggregates replica and instance away" \
    python3 tests/ops/lint_deploy.py dashboard-replicas "$dash"
if python3 -c 'import yaml' 2>/dev/null; then
    check "sharded Kubernetes manifests structure" python3 tests/ops/lint_deploy.py k8s deploy/scale-out/kubernetes
else
    skip "sharded Kubernetes structure: python3 yaml module missing (Debian python3-yaml)"
fi
if command -v kubectl >/dev/null; then
    check "kubectl kustomize deploy/scale-out/kubernetes" kubectl kustomize deploy/scale-out/kubernetes
else
    skip "kubectl not installed"
fi

echo "== live: agentmeter + agentmeter-loadgen + Prometheus (${live_seconds}s of traffic)"
free_port() { node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_http() { # URL SECONDS
    for _ in $(seq 1 $(($2 * 10))); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
    return 1
}
live() {
    local otlp grpc metrics prom
    otlp=$(free_port) grpc=$(free_port) metrics=$(free_port) prom=$(free_port)
    for b in agentmeter agentmeter-loadgen; do
        [[ -x "$build/$b" ]] || { fail "$build/$b not built"; return; }
    done
    command -v prometheus >/dev/null || { skip "live: prometheus not installed"; return; }
    # agentmeter: short conversation idle time so conversations finish during
    # the run; remote_write into the same Prometheus (its receiver).
    cat >"$tmp/agentmeter.yaml" <<YAML
workers: 1
receivers:
  otlp:
    http: { endpoint: 127.0.0.1:$otlp }
    grpc: { endpoint: 127.0.0.1:$grpc }
processors:
  genai:
    trace_wait: 1s
    conversation_idle_timeout: 3s
exporters:
  prometheus: { endpoint: 127.0.0.1:$metrics }
  remote_write:
    - url: http://127.0.0.1:$prom/api/v1/write
      send_interval: 2s
      queue: { dir: $tmp/wal }
external_labels: { source: remote_write, replica: ops-test }
log: { level: warn }
YAML
    # Prometheus: the shipped scrape layout (job ai-agents, target labels)
    # and rule files, at a 1s scrape and evaluation interval.
    sed -e 's/scrape_interval: 15s/scrape_interval: 1s/' -e 's/evaluation_interval: 15s/evaluation_interval: 1s/' \
        -e "s#\"agentmeter:9464\"#\"127.0.0.1:$metrics\"#" -e "s#rules/#$root/deploy/prometheus/rules/#" \
        -e '/job_name: agent-canary/,$d' deploy/prometheus/prometheus.yml >"$tmp/prometheus.yml"
    check "live: generated prometheus.yml is valid" promtool check config "$tmp/prometheus.yml"
    "$build/agentmeter" --config "$tmp/agentmeter.yaml" >"$tmp/agentmeter.log" 2>&1 &
    pids+=($!)
    prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
        --web.listen-address=127.0.0.1:"$prom" --web.enable-remote-write-receiver \
        --enable-feature=exemplar-storage >"$tmp/prometheus.log" 2>&1 &
    pids+=($!)
    if ! wait_http "http://127.0.0.1:$metrics/-/ready" 10 || ! wait_http "http://127.0.0.1:$prom/-/ready" 30; then
        fail "live: agentmeter or Prometheus did not start"
        tail -5 "$tmp/agentmeter.log" "$tmp/prometheus.log"
        return
    fi
    pass "live: agentmeter and Prometheus up"
    # One span ending before it starts (rejected) and one undecodable body
    # (400), so the self-health panels have something to show.
    local now=$(($(date +%s) * 1000000000))
    curl -fs -o /dev/null -H 'Content-Type: application/json' "http://127.0.0.1:$otlp/v1/traces" \
        --data "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0102030405060708\",\"name\":\"invoke_agent x\",\"startTimeUnixNano\":\"$now\",\"endTimeUnixNano\":\"$((now - 1000))\",\"attributes\":[{\"key\":\"gen_ai.operation.name\",\"value\":{\"stringValue\":\"invoke_agent\"}}]}]}]}]}"
    curl -s -o /dev/null -H 'Content-Type: application/x-protobuf' --data-binary 'not protobuf' \
        "http://127.0.0.1:$otlp/v1/traces"
    local lg
    if lg=$("$build/agentmeter-loadgen" --endpoint "http://127.0.0.1:$otlp" --rate 20 \
        --duration "$live_seconds" --inject 0.03 --quiet --seed 42); then
        pass "live: agentmeter-loadgen $lg"
    else
        fail "live: agentmeter-loadgen $lg"
    fi
    sleep 6 # conversations finish (3s idle), last scrape, rule evaluation, remote_write
    local out
    out=$(node tests/ops/checks.mjs live "http://127.0.0.1:$prom" "$dash" "${rules[@]}")
    count_node "$out"
    if curl -fs "http://127.0.0.1:$prom/api/v1/query" --data-urlencode \
        'query=count(agent_requests_total{source="remote_write"})' | grep -q '"value"'; then
        pass "live: agentmeter's remote_write reached Prometheus"
    else
        fail "live: no remote-written series in Prometheus"
    fi
}
live

echo
echo "$passed passed, $failed failed ($skipped skipped or pending)"
[[ $failed -eq 0 ]]
