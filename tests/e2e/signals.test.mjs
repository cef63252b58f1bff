// signals.test.mjs - SPEC.md 3 "Streaming latency", "Agent graph" and
// "Sampling" with the real OpenTelemetry JS SDK: time to first token from
// the semconv attribute, the Vercel AI SDK attribute and an OpenInference
// first-chunk event; agent -> sub-agent / tool / model edges; and a trace
// under a hand-set W3C tracestate `ot=th:c` (1-in-4 sampling) whose counts,
// tokens and cost are scaled by 4, plus a span carrying its own multiplier.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { context, createTraceState, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

import { promtoolCheck, startCollector, waitFor } from './lib.mjs';

for (const k of Object.keys(process.env)) {
  if (k.startsWith('OTEL_')) {
    delete process.env[k];
  }
}

const EXTRA = `processors:
  genai:
    trace_wait: 1s
    sampling:
      multiplier_attribute: sample.rate
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

function span(tracer, parentCtx, name, attributes, base, startMs, endMs, status) {
  const s = tracer.startSpan(name, { startTime: at(base, startMs), attributes }, parentCtx);
  if (status) {
    s.setStatus(status);
  }
  return { s, end: () => s.end(at(base, endMs)) };
}

const agentAttrs = (name) => ({ 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': name });

// writer streams three answers: semconv attribute, Vercel doStream, and an
// OpenInference LLM span whose first chunk is an event 80 ms in.
function emitStreaming(tracer, base) {
  const root = span(tracer, context.active(), 'invoke_agent writer', agentAttrs('writer'), base, 0, 5000);
  const ctx = trace.setSpan(context.active(), root.s);
  span(tracer, ctx, 'chat gpt-4o', {
    'gen_ai.operation.name': 'chat',
    'gen_ai.request.model': 'gpt-4o',
    'gen_ai.usage.input_tokens': 100,
    'gen_ai.usage.output_tokens': 11,
    'gen_ai.response.time_to_first_chunk': 0.25,
  }, base, 0, 1250).end();
  span(tracer, ctx, 'ai.streamText.doStream', {
    'ai.operationId': 'ai.streamText.doStream',
    'ai.model.id': 'gpt-4o-mini',
    'ai.usage.outputTokens': 3,
    'ai.response.msToFirstChunk': 150,
  }, base, 1300, 1450).end();
  const llm = span(tracer, ctx, 'ChatCompletion', {
    'openinference.span.kind': 'LLM',
    'llm.model_name': 'claude-3-5-haiku',
  }, base, 2000, 2500);
  llm.s.addEvent('First Token Stream Event', at(base, 2080));
  llm.end();
  root.end();
}

// triage hands over to billing (a sub-agent span under it), which calls a
// tool (that fails) and a model. Children end first, so they arrive first.
function emitGraph(tracer, base) {
  const triage = span(tracer, context.active(), 'invoke_agent triage', agentAttrs('triage'), base, 0, 4000);
  const tctx = trace.setSpan(context.active(), triage.s);
  const billing = span(tracer, tctx, 'invoke_agent billing', agentAttrs('billing'), base, 1000, 3000);
  const bctx = trace.setSpan(context.active(), billing.s);
  span(tracer, bctx, 'execute_tool refund', { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'refund' },
    base, 1100, 1200, { code: SpanStatusCode.ERROR }).end();
  span(tracer, bctx, 'chat gpt-4o', { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o' },
    base, 1200, 2000).end();
  billing.end();
  triage.end();
}

// A trace whose remote parent carries ot=th:c (sampling probability 1/4):
// every span of it stands for 4. And one chat span with sample.rate = 10.
function emitSampled(tracer, base) {
  const parent = trace.setSpanContext(context.active(), {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
    traceState: createTraceState('ot=th:c,vendor=x'),
  });
  const root = span(tracer, parent, 'invoke_agent sampled', agentAttrs('sampled'), base, 0, 2000);
  const ctx = trace.setSpan(parent, root.s);
  span(tracer, ctx, 'chat gpt-4o', {
    'gen_ai.operation.name': 'chat',
    'gen_ai.request.model': 'gpt-4o',
    'gen_ai.usage.input_tokens': 1000,
    'gen_ai.usage.output_tokens': 100,
  }, base, 0, 1000).end();
  span(tracer, ctx, 'execute_tool lookup', { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'lookup' },
    base, 1000, 1500).end();
  root.end();

  span(tracer, context.active(), 'chat gpt-4o', {
    'gen_ai.operation.name': 'chat',
    'gen_ai.agent.name': 'tail',
    'gen_ai.request.model': 'gpt-4o',
    'gen_ai.usage.output_tokens': 7,
    'sample.rate': 10,
  }, base, 0, 500).end();
}

test('streaming latency, agent graph and sampling-adjusted counts', async () => {
  const c = await startCollector({ extra: EXTRA });
  try {
    const base = Math.floor(Date.now() / 1000) - 60;
    const p = provider(c.httpPort, 'signals-svc');
    const tracer = p.getTracer('e2e');
    emitStreaming(tracer, base);
    emitGraph(tracer, base);
    emitSampled(tracer, base);
    await p.forceFlush();

    // Agent -> agent edges and per-request histograms come when the trace
    // has been quiet for trace_wait.
    const done = await waitFor(
      async () => {
        const r = await c.scrape();
        return r.m.get('agent_graph_calls_total',
          { caller: 'triage', callee: 'billing', callee_kind: 'agent', status: 'success' }) === 1 &&
          r.m.get('agent_request_tokens_count', { agent_name: 'sampled' }) === 4
          ? r
          : undefined;
      },
      { timeoutMs: 20000, interval: 100 },
    );
    assert.ok(done, `edges never came:\n${(await c.scrape()).text}\n${c.output}`);
    const m = done.m;
    const W = { agent_name: 'writer' };
    const cost = (1000 * 2.5 + 100 * 10) / 1e6;
    const want = [
      // streaming
      ['gen_ai_time_to_first_token_seconds_count', { ...W, model_id: 'gpt-4o' }, 1],
      ['gen_ai_time_to_first_token_seconds_sum', { ...W, model_id: 'gpt-4o' }, 0.25],
      ['gen_ai_time_to_first_token_seconds_bucket', { ...W, model_id: 'gpt-4o', le: '0.1' }, 0],
      ['gen_ai_time_to_first_token_seconds_bucket', { ...W, model_id: 'gpt-4o', le: '0.25' }, 1],
      ['gen_ai_time_per_output_token_seconds_sum', { ...W, model_id: 'gpt-4o' }, 0.1],
      ['gen_ai_time_per_output_token_seconds_bucket', { ...W, model_id: 'gpt-4o', le: '0.1' }, 1],
      ['gen_ai_time_per_output_token_seconds_bucket', { ...W, model_id: 'gpt-4o', le: '0.075' }, 0],
      ['gen_ai_time_to_first_token_seconds_sum', { ...W, model_id: 'gpt-4o-mini' }, 0.15],
      ['gen_ai_time_per_output_token_seconds_sum', { ...W, model_id: 'gpt-4o-mini' }, 0],
      ['gen_ai_time_to_first_token_seconds_sum', { ...W, model_id: 'claude-3-5-haiku' }, 0.08],
      ['gen_ai_time_to_first_token_seconds_bucket', { ...W, model_id: 'claude-3-5-haiku', le: '0.08' }, 1],
      ['gen_ai_time_to_first_token_seconds_bucket', { ...W, model_id: 'claude-3-5-haiku', le: '0.06' }, 0],
      // agent graph
      ['agent_graph_calls_total', { caller: 'triage', callee: 'billing', callee_kind: 'agent', status: 'success' }, 1],
      ['agent_graph_call_duration_seconds_sum', { caller: 'triage', callee: 'billing' }, 2],
      ['agent_graph_call_duration_seconds_bucket', { caller: 'triage', callee: 'billing', le: '2' }, 1],
      ['agent_graph_calls_total', { caller: 'billing', callee: 'refund', callee_kind: 'tool', status: 'error' }, 1],
      ['agent_graph_calls_total', { caller: 'billing', callee: 'gpt-4o', callee_kind: 'model', status: 'success' }, 1],
      ['agent_graph_calls_total', { caller: 'writer', callee: 'gpt-4o-mini', callee_kind: 'model', status: 'success' }, 1],
      // sampling: ot=th:c is 1-in-4
      ['agent_requests_total', { agent_name: 'sampled', status: 'success' }, 4],
      ['agent_request_duration_seconds_count', { agent_name: 'sampled' }, 4],
      ['agent_request_duration_seconds_sum', { agent_name: 'sampled' }, 8],
      ['model_inference_calls_total', { agent_name: 'sampled', model_id: 'gpt-4o' }, 4],
      ['model_inference_duration_seconds_count', { agent_name: 'sampled', model_id: 'gpt-4o' }, 4],
      ['agent_token_usage_total', { agent_name: 'sampled', model_id: 'gpt-4o', token_type: 'input' }, 4000],
      ['agent_token_usage_total', { agent_name: 'sampled', model_id: 'gpt-4o', token_type: 'output' }, 400],
      ['agent_estimated_cost_dollars_total', { agent_name: 'sampled', model_id: 'gpt-4o' }, cost * 4],
      ['agent_tool_calls_total', { agent_name: 'sampled', tool_name: 'lookup', status: 'success' }, 4],
      ['agent_graph_calls_total', { caller: 'sampled', callee: 'lookup', callee_kind: 'tool', status: 'success' }, 4],
      // per-request histograms: one interaction of 1100 tokens, counted 4 times
      ['agent_request_tokens_count', { agent_name: 'sampled' }, 4],
      ['agent_request_tokens_sum', { agent_name: 'sampled' }, 4400],
      ['agent_request_tokens_bucket', { agent_name: 'sampled', le: '2000' }, 4],
      // the multiplier attribute
      ['model_inference_calls_total', { agent_name: 'tail', model_id: 'gpt-4o' }, 10],
      ['agent_token_usage_total', { agent_name: 'tail', model_id: 'gpt-4o', token_type: 'output' }, 70],
      ['agentmeter_spans_adjusted_total', { source: 'threshold' }, 3],
      ['agentmeter_spans_adjusted_total', { source: 'attribute' }, 1],
      // unsampled spans are counted once
      ['model_inference_calls_total', { agent_name: 'billing', model_id: 'gpt-4o' }, 1],
    ];
    for (const [name, labels, v] of want) {
      assert.equal(m.get(name, labels), v, `${name} ${JSON.stringify(labels)}\n${done.text}`);
    }
    const lint = promtoolCheck(done.text);
    assert.equal(lint.status, 0, `promtool: ${lint.stdout}${lint.stderr}`);
  } finally {
    const exit = await c.stop();
    assert.equal(exit.code, 0, `collector exit ${JSON.stringify(exit)}:\n${c.output}`);
  }
});

// processors.genai.dimensions: environment from the resource on every span
// family, tenant from the invoke_agent span's attribute on three families;
// the tool and chat spans below it carry no tenant and inherit the agent's.
test('dimensions: resource and agent-level labels, defaults, per-metric lists', async () => {
  const extra = `processors:
  genai:
    trace_wait: 1s
    dimensions:
      - { attribute: deployment.environment, label: environment }
      - attribute: tenant.id
        default: none
        metrics: [agent_requests_total, agent_estimated_cost_dollars_total, agent_tool_calls_total]
pricing:
  builtin: false
  models:
    gpt-4o: { input: 2.5, output: 10 }
`;
  const c = await startCollector({ extra });
  try {
    const base = Math.floor(Date.now() / 1000) - 60;
    const prod = new BasicTracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'shop', 'deployment.environment': 'prod' }),
      spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `http://127.0.0.1:${c.httpPort}/v1/traces` }))],
    });
    const tp = prod.getTracer('e2e');
    const root = span(tp, context.active(), 'invoke_agent seller', { ...agentAttrs('seller'), 'tenant.id': 'acme' }, base, 0, 3000);
    const ctx = trace.setSpan(context.active(), root.s);
    span(tp, ctx, 'chat gpt-4o', {
      'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o',
      'gen_ai.usage.input_tokens': 1000, 'gen_ai.usage.output_tokens': 100,
    }, base, 0, 1000).end();
    root.end(); // the agent first: its children find it at once
    span(tp, ctx, 'execute_tool quote', { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'quote' },
      base, 1000, 1500).end();
    await prod.forceFlush();

    const staging = provider(c.httpPort, 'shop');
    const ts = staging.getTracer('e2e');
    span(ts, context.active(), 'invoke_agent seller', agentAttrs('seller'), base, 0, 1000).end();
    await staging.forceFlush();

    const done = await waitFor(async () => {
      const r = await c.scrape();
      return r.m.get('agent_request_tokens_count', { agent_name: 'seller', environment: 'prod' }) === 1 ? r : undefined;
    }, { timeoutMs: 15000, interval: 100 });
    assert.ok(done, `no per-request metrics:\n${(await c.scrape()).text}\n${c.output}`);
    const m = done.m;
    const cost = (1000 * 2.5 + 100 * 10) / 1e6;
    const want = [
      ['agent_requests_total', { agent_name: 'seller', status: 'success', environment: 'prod', tenant_id: 'acme' }, 1],
      ['agent_requests_total', { agent_name: 'seller', status: 'success', environment: '', tenant_id: 'none' }, 1],
      ['agent_estimated_cost_dollars_total', { agent_name: 'seller', model_id: 'gpt-4o', environment: 'prod', tenant_id: 'acme' }, cost],
      ['agent_tool_calls_total', { agent_name: 'seller', tool_name: 'quote', status: 'success', environment: 'prod', tenant_id: 'acme' }, 1],
      ['model_inference_calls_total', { agent_name: 'seller', model_id: 'gpt-4o', environment: 'prod' }, 1],
      ['agent_token_usage_total', { agent_name: 'seller', model_id: 'gpt-4o', token_type: 'input', environment: 'prod' }, 1000],
      ['agent_request_tokens_sum', { agent_name: 'seller', environment: 'prod' }, 1100],
      ['agent_graph_calls_total', { caller: 'seller', callee: 'quote', callee_kind: 'tool', status: 'success', environment: 'prod' }, 1],
    ];
    for (const [name, labels, v] of want) {
      assert.equal(m.get(name, labels), v, `${name} ${JSON.stringify(labels)}\n${done.text}`);
    }
    assert.match(done.text, /^# HELP agent_requests_total /m);
    const lint = promtoolCheck(done.text);
    assert.equal(lint.status, 0, `promtool: ${lint.stdout}${lint.stderr}`);
  } finally {
    const exit = await c.stop();
    assert.equal(exit.code, 0, `collector exit ${JSON.stringify(exit)}:\n${c.output}`);
  }
});

// processors.genai.filters: a health-check agent and a probe model call are
// excluded (no metric, counted as filtered), yet the chat span below the
// excluded agent still finds it as its agent.
test('filters: excluded spans change no metric and still link their trace', async () => {
  const extra = `processors:
  genai:
    trace_wait: 1s
    filters:
      exclude:
        - { attributes: { healthcheck: true } }
        - { span_name: "chat probe*" }
`;
  const c = await startCollector({ extra });
  try {
    const base = Math.floor(Date.now() / 1000) - 60;
    const p = provider(c.httpPort, 'filters-svc');
    const tr = p.getTracer('e2e');
    const hc = span(tr, context.active(), 'invoke_agent health', { ...agentAttrs('health'), healthcheck: true }, base, 0, 1000);
    span(tr, trace.setSpan(context.active(), hc.s), 'chat gpt-4o', { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o' },
      base, 0, 500).end();
    hc.end();
    const root = span(tr, context.active(), 'invoke_agent worker', agentAttrs('worker'), base, 0, 2000);
    const ctx = trace.setSpan(context.active(), root.s);
    span(tr, ctx, 'chat gpt-4o', { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o' }, base, 0, 500).end();
    span(tr, ctx, 'chat probe', { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o' }, base, 500, 600).end();
    root.end();
    await p.forceFlush();

    const done = await waitFor(async () => {
      const r = await c.scrape();
      return r.m.get('agent_request_inference_calls_count', { agent_name: 'worker' }) === 1 ? r : undefined;
    }, { timeoutMs: 15000, interval: 100 });
    assert.ok(done, `no per-request metrics:\n${(await c.scrape()).text}\n${c.output}`);
    const m = done.m;
    const want = [
      ['agent_requests_total', { agent_name: 'health', status: 'success' }, undefined],
      ['agent_request_inference_calls_count', { agent_name: 'health' }, undefined],
      ['model_inference_calls_total', { agent_name: 'health', model_id: 'gpt-4o' }, 1],
      ['model_inference_calls_total', { agent_name: 'filters-svc', model_id: 'gpt-4o' }, undefined],
      ['agent_requests_total', { agent_name: 'worker', status: 'success' }, 1],
      ['model_inference_calls_total', { agent_name: 'worker', model_id: 'gpt-4o' }, 1],
      ['agent_request_inference_calls_sum', { agent_name: 'worker' }, 1],
      ['agentmeter_spans_filtered_total', { reason: 'exclude' }, 2],
      ['agentmeter_spans_accepted_total', { protocol: 'http/protobuf' }, 5],
    ];
    for (const [name, labels, v] of want) {
      assert.equal(m.get(name, labels), v, `${name} ${JSON.stringify(labels)}\n${done.text}`);
    }
  } finally {
    const exit = await c.stop();
    assert.equal(exit.code, 0, `collector exit ${JSON.stringify(exit)}:\n${c.output}`);
  }
});
