// frameworks.test.mjs - real agent frameworks (frameworks.mjs) against the
// fake OpenAI server, exporting through the real OTel JS SDK OTLP/protobuf
// exporter (one request per span, as SimpleSpanProcessor sends them) to
// agentmeter, with no rule configured: the built-in table must give exact
// metrics from the fake server's known answers.
//
// Order matters: the OpenInference openai instrumentation patches the
// openai client class for the whole process, which @langchain/openai also
// uses, so it runs last.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';

import { startFakeOpenAI } from './fake_openai.mjs';
import * as fw from './frameworks.mjs';
import { startCollector, waitFor } from './lib.mjs';

// USD per 1M tokens: gpt-4o-mini in 0.15 / out 0.6.
const PRICES = `pricing:
  builtin: false
  models:
    gpt-4o-mini: { input: 0.15, output: 0.6 }
    text-embedding-3-small: { input: 0.02, output: 0 }
`;

let fake;
let c;

before(async () => {
  fake = await startFakeOpenAI();
  c = await startCollector({
    extra: `processors:
  genai:
    trace_wait: 1s
    conversation_idle_timeout: 1s
${PRICES}`,
  });
});

after(async () => {
  await c?.stop();
  await fake?.close();
});

async function run(driver, service) {
  const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${c.httpPort}/v1/traces` });
  const provider = fw.makeProvider(exporter, service);
  await driver(provider, fake);
  await provider.forceFlush();
  await provider.shutdown();
}

async function until(pred, what) {
  const r = await waitFor(
    async () => {
      const s = await c.scrape();
      return pred(s.m) ? s : undefined;
    },
    { timeoutMs: 15000, interval: 100 },
  );
  assert.ok(r, `${what} never happened:\n${(await c.scrape()).text}\n${c.output}`);
  return r.m;
}

// The agent-level metrics both agent frameworks must produce for the same
// interaction: two chat calls (100/20 then 150/30 tokens) and one tool call.
function assertAgentRun(m, agent) {
  const a = { agent_name: agent };
  const mm = { ...a, model_id: fw.MODEL };
  assert.equal(m.get('agent_requests_total', { ...a, status: 'success' }), 1);
  assert.equal(m.get('model_inference_calls_total', mm), 2);
  assert.equal(m.get('agent_token_usage_total', { ...mm, token_type: 'input' }), 250);
  assert.equal(m.get('agent_token_usage_total', { ...mm, token_type: 'output' }), 50);
  // (250 x 0.15 + 50 x 0.6) / 1e6
  assert.equal(m.get('agent_estimated_cost_dollars_total', mm), 0.0000675);
  assert.equal(m.get('agent_tool_calls_total', { ...a, tool_name: 'get_weather', status: 'success' }), 1);
  assert.equal(m.get('agent_request_tokens_sum', a), 300);
  assert.equal(m.get('agent_request_inference_calls_sum', a), 2);
  assert.equal(m.get('agent_request_tool_calls_sum', a), 1);
}

test('Vercel AI SDK 6: generateText with functionId is one agent request', async () => {
  await run(fw.vercelAI6, 'vercel6-svc');
  const agent = fw.AGENT;
  const m = await until(
    (x) => x.get('agent_request_inference_calls_count', { agent_name: agent }) === 1,
    'the ai.generateText agent request',
  );
  assertAgentRun(m, agent);
  assert.equal(fake.calls.filter((x) => x.path === '/v1/chat/completions').length, 2);
  // Nothing fell back to the service name.
  assert.equal(m.get('model_inference_calls_total', { agent_name: 'vercel6-svc', model_id: fw.MODEL }), undefined);
});

test('LangGraph via OpenInference LangChain: the named graph is the agent, thread id the conversation', async () => {
  const agent = 'lg-agent';
  await run((p, f) => fw.langgraph(p, f, agent), 'langgraph-svc');
  const m = await until(
    (x) => x.get('agent_conversations_total', { agent_name: agent, outcome: 'resolved' }) === 1,
    'the LangGraph conversation',
  );
  assertAgentRun(m, agent);
  assert.equal(m.get('agent_conversation_turns_count', { agent_name: agent }), 1);
  assert.equal(m.get('agent_conversation_turns_sum', { agent_name: agent }), 1);
  assert.equal(m.get('model_inference_calls_total', { agent_name: 'langgraph-svc', model_id: fw.MODEL }), undefined);
});

test('OpenInference openai: an embeddings span names its model', async () => {
  await run(fw.openinferenceOpenAI, 'oi-svc');
  const a = { agent_name: 'oi-svc' };
  const m = await until(
    (x) => x.get('model_inference_calls_total', { ...a, model_id: fw.MODEL }) === 1,
    'the OpenInference chat call',
  );
  assert.equal(m.get('model_inference_calls_total', { ...a, model_id: fw.EMBED_MODEL }), 1);
  assert.equal(m.get('model_inference_calls_total', { ...a, model_id: 'unknown' }), undefined);
  assert.equal(m.get('agent_token_usage_total', { ...a, model_id: fw.MODEL, token_type: 'input' }), 100);
  assert.equal(m.get('agent_token_usage_total', { ...a, model_id: fw.MODEL, token_type: 'output' }), 20);
});
