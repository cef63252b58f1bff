// flood.test.mjs - a flood of traces whose roots never come (SPEC.md 3,
// DESIGN.md 4): pending state stays within max_pending_spans, what the cap
// turns away is counted and falls back to service.name, and the process
// memory stays bounded.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { request, startCollector, waitFor } from './lib.mjs';

const CAP = 5000;
const REQUESTS = 60;
const PER_REQUEST = 500;

const hex = (n, w) => n.toString(16).padStart(w, '0');

// PER_REQUEST chat spans, each in its own trace, each with a parent that is
// never exported and no agent name of its own: every one must wait.
function orphans(r) {
  const spans = [];
  for (let i = 0; i < PER_REQUEST; i++) {
    const n = r * PER_REQUEST + i;
    spans.push({
      traceId: hex(0xf100d000000 + n, 32),
      spanId: hex(0x5000000 + n, 16),
      parentSpanId: hex(0x7000000 + n, 16),
      name: 'chat',
      startTimeUnixNano: '1700000000000000000',
      endTimeUnixNano: '1700000000250000000',
      attributes: [
        { key: 'gen_ai.operation.name', value: { stringValue: 'chat' } },
        { key: 'gen_ai.request.model', value: { stringValue: 'gpt-4o-mini' } },
        { key: 'gen_ai.usage.input_tokens', value: { intValue: '10' } },
      ],
    });
  }
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'flood-svc' } }] },
        scopeSpans: [{ spans }],
      },
    ],
  });
}

test('rootless traces: pending spans capped, evictions counted, memory bounded', async () => {
  const c = await startCollector({
    extra: `processors:\n  genai:\n    trace_wait: 1h\n    max_pending_spans: ${CAP}\n`,
  });
  try {
    for (let r = 0; r < REQUESTS; r++) {
      const res = await request(c.httpPort, {
        method: 'POST',
        path: '/v1/traces',
        headers: { 'Content-Type': 'application/json' },
        body: orphans(r),
      });
      assert.equal(res.status, 200);
    }
    // The housekeeping tick (1 s) publishes the pending gauges.
    const m = await waitFor(async () => {
      const s = (await c.scrape()).m;
      return s.get('agentmeter_spans_pending') !== undefined ? s : undefined;
    });
    assert.ok(m, 'agentmeter_spans_pending never published');
    const total = REQUESTS * PER_REQUEST;
    const pending = m.get('agentmeter_spans_pending');
    assert.ok(pending !== undefined && pending <= CAP, `pending ${pending} > cap ${CAP}`);
    const evicted = m.sum('agentmeter_trace_spans_evicted_total');
    assert.equal(evicted + pending, total, `evicted ${evicted} + pending ${pending} != ${total}`);
    // Evicted spans are derived with the fallback agent, never lost.
    assert.equal(m.get('model_inference_calls_total', { agent_name: 'flood-svc', model_id: 'gpt-4o-mini' }), evicted);
    assert.equal(m.get('agentmeter_spans_accepted_total', { protocol: 'http/json' }), total);
    const rss = m.get('process_resident_memory_bytes');
    assert.ok(rss < 96 * 1024 * 1024, `RSS ${rss} bytes`);
  } finally {
    await c.stop();
  }
});
