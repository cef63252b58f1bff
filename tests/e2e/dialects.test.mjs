// dialects.test.mjs - SPEC.md 3.1: the same agent run written in each
// dialect (OTel GenAI current and older names, OpenLLMetry, OpenInference,
// the Vercel AI SDK) must give the same metrics. Each run is one trace of an
// agent span, a chat call (1200/300 tokens, 0.8 s) and a tool call (0.3 s),
// posted children first in separate OTLP/JSON requests; only agent_name
// differs between dialects. (The Vercel AI SDK has no agent span: its spans
// carry the agent as ai.telemetry.functionId, so it is compared on the
// inference and tool metrics.)

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { request, startCollector, waitFor } from './lib.mjs';

const S = (v) => ({ stringValue: v });
const I = (v) => ({ intValue: String(v) });

const DIALECTS = {
  otel: {
    agent: (a) => ({ 'gen_ai.operation.name': S('invoke_agent'), 'gen_ai.agent.name': S(a) }),
    chat: () => ({
      'gen_ai.operation.name': S('chat'),
      'gen_ai.provider.name': S('openai'),
      'gen_ai.request.model': S('gpt-4o'),
      'gen_ai.usage.input_tokens': I(1200),
      'gen_ai.usage.output_tokens': I(300),
    }),
    tool: () => ({ 'gen_ai.operation.name': S('execute_tool'), 'gen_ai.tool.name': S('search') }),
  },
  older: {
    agent: (a) => ({ 'gen_ai.operation.name': S('invoke_agent'), 'gen_ai.agent.name': S(a) }),
    chat: () => ({
      'gen_ai.operation.name': S('chat'),
      'gen_ai.system': S('openai'),
      'gen_ai.request.model': S('gpt-4o'),
      'gen_ai.usage.prompt_tokens': I(1200),
      'gen_ai.usage.completion_tokens': I(300),
    }),
    tool: () => ({ 'gen_ai.operation.name': S('execute_tool'), 'gen_ai.tool.name': S('search') }),
  },
  openllmetry: {
    agent: (a) => ({ 'traceloop.span.kind': S('agent'), 'traceloop.entity.name': S(a) }),
    chat: () => ({
      'llm.request.type': S('chat'),
      'gen_ai.system': S('openai'),
      'gen_ai.request.model': S('gpt-4o'),
      'gen_ai.usage.prompt_tokens': I(1200),
      'gen_ai.usage.completion_tokens': I(300),
    }),
    tool: () => ({ 'traceloop.span.kind': S('tool'), 'traceloop.entity.name': S('search') }),
  },
  openinference: {
    agent: (a) => ({ 'openinference.span.kind': S('AGENT'), 'agent.name': S(a) }),
    chat: () => ({
      'openinference.span.kind': S('LLM'),
      'llm.provider': S('openai'),
      'llm.model_name': S('gpt-4o'),
      'llm.token_count.prompt': I(1200),
      'llm.token_count.completion': I(300),
    }),
    tool: () => ({ 'openinference.span.kind': S('TOOL'), 'tool.name': S('search') }),
  },
  vercel: {
    agent: null,
    chat: (a) => ({
      'ai.operationId': S('ai.generateText.doGenerate'),
      'ai.telemetry.functionId': S(a),
      'ai.model.provider': S('openai.chat'),
      'ai.model.id': S('gpt-4o'),
      'ai.usage.promptTokens': I(1200),
      'ai.usage.completionTokens': I(300),
    }),
    tool: (a) => ({
      'ai.operationId': S('ai.toolCall'),
      'ai.telemetry.functionId': S(a),
      'ai.toolCall.name': S('search'),
    }),
  },
};

const hex = (n, w) => n.toString(16).padStart(w, '0');
const T0 = 1700000000000000000n;
const ns = (ms) => String(T0 + BigInt(ms) * 1000000n);

function span(traceId, id, parent, name, startMs, endMs, attrs) {
  return {
    traceId,
    spanId: hex(id, 16),
    ...(parent ? { parentSpanId: hex(parent, 16) } : {}),
    name,
    startTimeUnixNano: ns(startMs),
    endTimeUnixNano: ns(endMs),
    attributes: Object.entries(attrs).map(([key, value]) => ({ key, value })),
    status: {},
  };
}

function body(spans) {
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: S('dialect-svc') }] },
        scopeSpans: [{ spans }],
      },
    ],
  });
}

async function postRun(c, name, d, n) {
  const agent = `agent-${name}`;
  const traceId = hex(0xd1a1ec7 + n, 32);
  const root = 0x100 + n * 16;
  const parent = d.agent ? root : 0;
  const reqs = [
    [span(traceId, root + 1, parent, 'chat gpt-4o', 100, 900, { ...d.chat(agent) })],
    [span(traceId, root + 2, parent, 'search', 1000, 1300, { ...d.tool(agent) })],
  ];
  if (d.agent) {
    reqs.push([span(traceId, root, 0, `agent ${agent}`, 0, 2000, d.agent(agent))]);
  }
  for (const spans of reqs) {
    const r = await request(c.httpPort, {
      method: 'POST',
      path: '/v1/traces',
      headers: { 'Content-Type': 'application/json' },
      body: body(spans),
    });
    assert.equal(r.status, 200, r.body.toString());
  }
}

// Every sample of an agent, keyed with agent_name removed.
function ofAgent(m, agent, families) {
  const out = {};
  for (const s of m.list) {
    if (s.labels.agent_name !== agent || !families.some((f) => s.name.startsWith(f))) {
      continue;
    }
    const { agent_name: _drop, ...rest } = s.labels;
    out[`${s.name}${JSON.stringify(rest)}`] = s.value;
  }
  return out;
}

const INFERENCE_AND_TOOLS = [
  'model_inference_',
  'agent_token_usage_total',
  'agent_estimated_cost_dollars_total',
  'agent_tool_call',
];
const AGENT = ['agent_requests_total', 'agent_request_'];

test('the same run in every dialect gives the same metrics', async () => {
  const c = await startCollector({
    extra: `processors:
  genai:
    trace_wait: 1s
pricing:
  builtin: false
  models:
    gpt-4o: { input: 2.5, output: 10 }
`,
  });
  try {
    let n = 0;
    for (const [name, d] of Object.entries(DIALECTS)) {
      await postRun(c, name, d, n++);
    }
    const names = Object.keys(DIALECTS);
    const done = await waitFor(
      async () => {
        const r = await c.scrape();
        const ok = names.every((k) => r.m.get('agent_tool_calls_total', { agent_name: `agent-${k}`, tool_name: 'search', status: 'success' }) === 1);
        const sums = names
          .filter((k) => DIALECTS[k].agent)
          .every((k) => r.m.get('agent_request_tool_calls_count', { agent_name: `agent-${k}` }) === 1);
        return ok && sums ? r : undefined;
      },
      { timeoutMs: 15000, interval: 100 },
    );
    assert.ok(done, `not every dialect was derived:\n${(await c.scrape()).text}`);
    const m = done.m;
    const ref = ofAgent(m, 'agent-otel', INFERENCE_AND_TOOLS);
    assert.equal(ref['model_inference_calls_total{"model_id":"gpt-4o"}'], 1);
    assert.equal(ref['agent_token_usage_total{"model_id":"gpt-4o","token_type":"input"}'], 1200);
    assert.equal(ref['agent_token_usage_total{"model_id":"gpt-4o","token_type":"output"}'], 300);
    assert.equal(ref['agent_estimated_cost_dollars_total{"model_id":"gpt-4o"}'], 0.006);
    assert.equal(ref['model_inference_duration_seconds_sum{"model_id":"gpt-4o"}'], 0.8);
    assert.equal(ref['agent_tool_call_duration_seconds_sum{"tool_name":"search"}'], 0.3);
    for (const k of names) {
      assert.deepEqual(ofAgent(m, `agent-${k}`, INFERENCE_AND_TOOLS), ref, `dialect ${k}`);
    }
    const refAgent = ofAgent(m, 'agent-otel', AGENT);
    assert.equal(refAgent['agent_requests_total{"status":"success"}'], 1);
    assert.equal(refAgent['agent_request_duration_seconds_sum{}'], 2);
    assert.equal(refAgent['agent_request_tokens_sum{}'], 1500);
    assert.equal(refAgent['agent_request_inference_calls_sum{}'], 1);
    for (const k of names.filter((x) => DIALECTS[x].agent)) {
      assert.deepEqual(ofAgent(m, `agent-${k}`, AGENT), refAgent, `dialect ${k}`);
    }
    // Nothing fell back to the service name.
    assert.equal(m.sum('model_inference_calls_total', { agent_name: 'dialect-svc' }), 0);
  } finally {
    await c.stop();
  }
});
