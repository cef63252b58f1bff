// assembly.test.mjs - SPEC.md 3 with the real OpenTelemetry JS SDK: spans
// exported one per request, children before parents (SimpleSpanProcessor
// exports each span as it ends), must be attributed to their invoke_agent
// ancestor through intermediate spans; per-interaction sums, a conversation
// of two turns that escalates to a human, an evaluation carried as a span
// event, and a trace whose root never comes (falls back to service.name).

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

import { freePort, promtoolCheck, request, startCollector, waitFor } from './lib.mjs';

const OPENMETRICS = 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5';

// The OpenMetrics exposition, checked by the prometheus_client reference
// parser (promtool 2.42 lints only text 0.0.4).
async function checkOpenMetrics(promPort) {
  const r = await request(promPort, { path: '/metrics', headers: { Accept: OPENMETRICS } });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  const text = r.body.toString('utf8');
  assert.ok(text.endsWith('# EOF\n'));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agentmeter-om-'));
  try {
    const file = path.join(dir, 'metrics.om');
    writeFileSync(file, text);
    const p = spawnSync('/usr/bin/python3', ['../../scripts/check-openmetrics.py', file], { encoding: 'utf8' });
    assert.equal(p.status, 0, `OpenMetrics parser: ${p.stdout}${p.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return text;
}

// A real Prometheus scrapes the collector (it negotiates OpenMetrics) with
// exemplar storage on; resolves the exemplars it stored for `query`.
async function prometheusExemplars(promPort, query) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agentmeter-prom-'));
  const cfg = path.join(dir, 'prometheus.yml');
  writeFileSync(
    cfg,
    `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: agentmeter\n    static_configs:\n      - targets: ['127.0.0.1:${promPort}']\n`,
  );
  const child = spawn(
    'prometheus',
    [`--config.file=${cfg}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`, '--enable-feature=exemplar-storage'],
    { stdio: 'ignore' },
  );
  try {
    const found = await waitFor(
      async () => {
        const now = Date.now() / 1000;
        const r = await request(port, {
          path: `/api/v1/query_exemplars?query=${encodeURIComponent(query)}&start=${now - 600}&end=${now + 60}`,
        });
        if (r.status !== 200) {
          return undefined;
        }
        const data = JSON.parse(r.body.toString('utf8')).data;
        return data.length > 0 ? data : undefined;
      },
      { timeoutMs: 30000, interval: 250 },
    );
    return found;
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const k of Object.keys(process.env)) {
  if (k.startsWith('OTEL_')) {
    delete process.env[k];
  }
}

const EXTRA = `processors:
  genai:
    trace_wait: 1s
    conversation_idle_timeout: 2s
pricing:
  builtin: false
  models:
    gpt-4o: { input: 2.5, output: 10 }
`;

const at = (base, ms) => [base + Math.floor(ms / 1000), (ms % 1000) * 1e6];

function provider(httpPort, service) {
  const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${httpPort}/v1/traces` });
  return new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: service }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
}

function child(tracer, parent, name, attributes, base, startMs, endMs, status) {
  const s = tracer.startSpan(
    name,
    { startTime: at(base, startMs), attributes },
    trace.setSpan(context.active(), parent),
  );
  if (status) {
    s.setStatus(status);
  }
  return s;
}

// Turn 1: planner -> chat (1000/200 tokens, 1 s), search tool (0.5 s), and
// an HTTP span with no GenAI attributes whose child is a chat call
// (500/100 tokens, 0.5 s). None of the children names its agent.
// Turn 2: planner -> escalate_to_human. Both turns share conversation conv-1.
// The evaluation rides on turn 1 as a span event.
async function emitConversation(tracer, base) {
  const root1 = tracer.startSpan('invoke_agent planner', {
    startTime: at(base, 0),
    attributes: {
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'planner',
      'gen_ai.conversation.id': 'conv-1',
    },
  });
  const chatAttrs = (input, output) => ({
    'gen_ai.operation.name': 'chat',
    'gen_ai.request.model': 'gpt-4o',
    'gen_ai.usage.input_tokens': input,
    'gen_ai.usage.output_tokens': output,
  });
  const http = child(tracer, root1, 'GET /inventory', { 'http.request.method': 'GET' }, base, 1600, 2300);
  child(tracer, http, 'chat gpt-4o', chatAttrs(500, 100), base, 1700, 2200).end(at(base, 2200));
  http.end(at(base, 2300));
  child(tracer, root1, 'execute_tool search', { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'search' }, base, 1000, 1500, { code: SpanStatusCode.OK }).end(at(base, 1500));
  child(tracer, root1, 'chat gpt-4o', chatAttrs(1000, 200), base, 0, 1000).end(at(base, 1000));
  root1.addEvent('gen_ai.evaluation.result', {
    'gen_ai.evaluation.name': 'Relevance',
    'gen_ai.evaluation.score.value': 0.8,
    'gen_ai.evaluation.score.label': 'pass',
  });
  root1.end(at(base, 3000));

  const root2 = tracer.startSpan('invoke_agent planner', {
    startTime: at(base, 10000),
    attributes: {
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'planner',
      'gen_ai.conversation.id': 'conv-1',
    },
  });
  child(tracer, root2, 'execute_tool escalate_to_human', { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'escalate_to_human' }, base, 10100, 10400).end(at(base, 10400));
  root2.end(at(base, 11000));
}

// A chat span whose parent is never exported: after trace_wait it falls
// back to its service.name.
function emitOrphan(tracer, base) {
  const ghost = tracer.startSpan('invoke_agent ghost', { startTime: at(base, 0) });
  child(tracer, ghost, 'chat gpt-4o', { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o' }, base, 0, 400).end(at(base, 400));
  // ghost is never ended, so never exported.
}

test('children before parents: attribution, per-request sums, conversation, escalation, quality', async () => {
  const c = await startCollector({ extra: EXTRA });
  try {
    const base = Math.floor(Date.now() / 1000) - 120;
    const p1 = provider(c.httpPort, 'planner-svc');
    await emitConversation(p1.getTracer('e2e'), base);
    await p1.forceFlush();
    const p2 = provider(c.httpPort, 'orphan-svc');
    emitOrphan(p2.getTracer('e2e'), base);
    await p2.forceFlush();

    // The conversation finishes 2 s after its last turn arrived.
    const done = await waitFor(
      async () => {
        const r = await c.scrape();
        return r.m.get('agent_conversations_total', { agent_name: 'planner', outcome: 'escalated' }) === 1 &&
          r.m.get('model_inference_calls_total', { agent_name: 'orphan-svc', model_id: 'gpt-4o' }) === 1
          ? r
          : undefined;
      },
      { timeoutMs: 20000, interval: 100 },
    );
    assert.ok(done, `conversation never finished:\n${(await c.scrape()).text}\n${c.output}`);
    const m = done.m;
    const P = { agent_name: 'planner' };
    // Cost per span is (input x price + output x price) / 1e6, summed as
    // doubles: 0.0045 + 0.00225 is 0.006749999999999999, not 0.00675.
    const cost = 4500 / 1e6 + 2250 / 1e6;
    const want = [
      ['agent_requests_total', { ...P, status: 'success' }, 2],
      ['model_inference_calls_total', { ...P, model_id: 'gpt-4o' }, 2],
      ['agent_token_usage_total', { ...P, model_id: 'gpt-4o', token_type: 'input' }, 1500],
      ['agent_token_usage_total', { ...P, model_id: 'gpt-4o', token_type: 'output' }, 300],
      ['agent_estimated_cost_dollars_total', { ...P, model_id: 'gpt-4o' }, cost],
      ['agent_tool_calls_total', { ...P, tool_name: 'search', status: 'success' }, 1],
      ['agent_tool_calls_total', { ...P, tool_name: 'escalate_to_human', status: 'success' }, 1],
      ['agent_request_duration_seconds_sum', P, 4],
      ['agent_request_inference_calls_sum', P, 2],
      ['agent_request_inference_calls_count', P, 2],
      ['agent_request_inference_calls_bucket', { ...P, le: '2' }, 2],
      ['agent_request_tool_calls_sum', P, 2],
      ['agent_request_tool_calls_bucket', { ...P, le: '1' }, 2],
      ['agent_request_tokens_sum', P, 1800],
      ['agent_request_tokens_bucket', { ...P, le: '2000' }, 2],
      ['agent_request_cost_dollars_sum', P, cost],
      ['agent_request_cost_dollars_bucket', { ...P, le: '0.005' }, 1],
      ['agent_request_cost_dollars_bucket', { ...P, le: '0.01' }, 2],
      ['agent_conversation_turns_bucket', { ...P, le: '1' }, 0],
      ['agent_conversation_turns_bucket', { ...P, le: '2' }, 1],
      ['agent_conversation_turns_sum', P, 2],
      ['agent_conversations_total', { ...P, outcome: 'escalated' }, 1],
      ['agent_escalation_rate', P, 100],
      ['agent_quality_score', { ...P, metric_type: 'relevance' }, 0.8],
      ['agent_evaluation_score_count', { ...P, metric_type: 'relevance' }, 1],
      ['agent_evaluation_score_bucket', { ...P, metric_type: 'relevance', le: '0.8' }, 1],
      ['agent_evaluation_score_bucket', { ...P, metric_type: 'relevance', le: '0.7' }, 0],
      ['agent_evaluation_labels_total', { ...P, metric_type: 'relevance', label: 'pass' }, 1],
      ['model_inference_calls_total', { agent_name: 'orphan-svc', model_id: 'gpt-4o' }, 1],
    ];
    for (const [name, labels, v] of want) {
      assert.equal(m.get(name, labels), v, `${name} ${JSON.stringify(labels)}\n${done.text}`);
    }
    assert.equal(m.get('agent_conversations_total', { ...P, outcome: 'resolved' }), undefined);
    // No span of the planner's traces fell back to its service name.
    assert.equal(m.get('model_inference_calls_total', { agent_name: 'planner-svc', model_id: 'gpt-4o' }), undefined);
    const lint = promtoolCheck(done.text);
    assert.equal(lint.status, 0, `promtool: ${lint.stdout}${lint.stderr}`);
    const om = await checkOpenMetrics(c.promPort);
    assert.match(om, /^agent_requests_total\{agent_name="planner",status="success"\} 2 # \{trace_id="[0-9a-f]{32}",span_id="[0-9a-f]{16}"\} 1 \d+\.\d{3}$/m);
    const ex = await prometheusExemplars(c.promPort, 'agent_request_duration_seconds_bucket{agent_name="planner"}');
    assert.ok(ex, 'Prometheus stored no exemplar for agent_request_duration_seconds_bucket');
    const e = ex[0].exemplars[0];
    assert.match(e.labels.trace_id, /^[0-9a-f]{32}$/);
    assert.match(e.labels.span_id, /^[0-9a-f]{16}$/);
  } finally {
    const exit = await c.stop();
    assert.equal(exit.code, 0, `collector exit ${JSON.stringify(exit)}:\n${c.output}`);
  }
});
