// big_trace.test.mjs - one trace of SPANS spans (short 30,000; long
// 300,000 with max_spans_per_trace raised to fit) arriving children first
// in requests of 1,000: chats under 100 intermediate HTTP spans under an
// invoke_agent root that comes last. With the default max_pending_spans
// (1,000,000 over all trace shards) every chat must get the root's agent:
// exact inference calls and tokens for planner, one interaction whose sums
// hold every chat, nothing evicted, nothing fallen back, nothing waiting.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { encodeRequest } from '../e2e/pb.mjs';
import { LONG, pick, request, startCollector, waitFor } from './rlib.mjs';

const SPANS = pick(30000, 300000);
const MID = 100;
const CHATS = SPANS - MID - 1;
const PER_REQUEST = 1000;
const TRACE = Buffer.from('b16b16b16b16b16b16b16b16b16b16b1', 'hex');

function spanId(n) {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(0xb1, 0);
  b.writeUInt32BE(n + 1, 4);
  return b;
}

// Span k in arrival order: chats first, then the intermediates, then the root.
function span(k, startNs) {
  const root = SPANS - 1;
  const s = { traceId: TRACE, spanId: spanId(k), startNs, endNs: startNs + 1000000n, kind: 1 };
  if (k < CHATS) {
    return {
      ...s,
      parentSpanId: spanId(CHATS + (k % MID)),
      name: 'chat gpt-4o-mini',
      kind: 3,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.request.model': 'gpt-4o-mini',
        'gen_ai.usage.input_tokens': 10,
        'gen_ai.usage.output_tokens': 2,
      },
    };
  }
  if (k < root) {
    return { ...s, parentSpanId: spanId(root), name: 'GET /tool', attributes: { 'http.request.method': 'GET' } };
  }
  return {
    ...s,
    name: 'invoke_agent planner',
    attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'planner' },
  };
}

test(`one trace of ${SPANS} spans, children first: every span attributed`, async () => {
  const extra = LONG ? 'processors:\n  genai:\n    max_spans_per_trace: 400000\n' : '';
  const c = await startCollector({ extra });
  try {
    const startNs = BigInt(Date.now() - 60000) * 1000000n;
    for (let first = 0; first < SPANS; first += PER_REQUEST) {
      const spans = [];
      for (let k = first; k < Math.min(first + PER_REQUEST, SPANS); k++) {
        spans.push(span(k, startNs));
      }
      const r = await request(c.httpPort, {
        method: 'POST',
        path: '/v1/traces',
        headers: { 'Content-Type': 'application/x-protobuf' },
        body: encodeRequest('big-svc', spans),
      });
      assert.equal(r.status, 200, `request at span ${first}: ${r.status}`);
    }
    // The root's request finished the trace at once: its interaction is
    // observed without waiting for trace_wait.
    const m = await waitFor(async () => {
      const s = (await c.scrape()).m;
      return s.get('agent_request_inference_calls_count', { agent_name: 'planner' }) === 1 ? s : undefined;
    }, { timeoutMs: 20000 });
    assert.ok(m, `the interaction was never observed:\n${c.output}`);
    const P = { agent_name: 'planner', model_id: 'gpt-4o-mini' };
    assert.equal(m.get('model_inference_calls_total', P), CHATS);
    assert.equal(m.get('agent_token_usage_total', { ...P, token_type: 'input' }), 10 * CHATS);
    assert.equal(m.get('agent_token_usage_total', { ...P, token_type: 'output' }), 2 * CHATS);
    assert.equal(m.sum('agent_requests_total', { agent_name: 'planner' }), 1);
    assert.equal(m.get('agent_request_inference_calls_sum', { agent_name: 'planner' }), CHATS);
    assert.equal(m.get('agent_request_tokens_sum', { agent_name: 'planner' }), 12 * CHATS);
    assert.equal(m.get('model_inference_calls_total', { agent_name: 'big-svc', model_id: 'gpt-4o-mini' }), undefined);
    assert.equal(m.sum('agentmeter_agent_fallback_total'), 0);
    assert.equal(m.sum('agentmeter_trace_spans_evicted_total'), 0);
    assert.equal(m.sum('agentmeter_spans_late_total'), 0);
    assert.equal(m.get('agentmeter_spans_accepted_total', { protocol: 'http/protobuf' }), SPANS);
  } finally {
    await c.stop();
  }
});
