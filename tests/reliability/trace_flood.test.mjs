// trace_flood.test.mjs - a trace flood: SPANS inference spans (short
// 30,000; long 2,000,000), each in its own trace, each waiting for a parent
// that never arrives, against max_pending_spans CAP. Exact invariants:
// pending stays at the cap (less the eviction slack), every span is either
// pending or evicted (counted), an evicted span is derived with the
// service.name fallback (never lost), and RSS grows by a bounded amount
// once the cap is reached.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { encodeRequest } from '../e2e/pb.mjs';
import { pick, request, rssOf, startCollector, waitFor } from './rlib.mjs';

const CAP = pick(5000, 100000);
const SPANS = pick(30000, 2000000);
const PER_REQUEST = 1000;

function id(n, bytes, salt) {
  const b = Buffer.alloc(bytes);
  b.writeUInt32BE(salt, 0);
  b.writeUInt32BE(n, bytes - 4);
  return b;
}

function orphanRequest(first, n) {
  const startNs = BigInt(Date.now() - 60000) * 1000000n;
  const spans = [];
  for (let i = first; i < first + n; i++) {
    spans.push({
      traceId: id(i, 16, 0xf100d),
      spanId: id(i, 8, 0x5),
      parentSpanId: id(i, 8, 0x7),
      name: 'chat',
      kind: 3,
      startNs,
      endNs: startNs + 250000000n,
      attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o-mini', 'gen_ai.usage.input_tokens': 10 },
    });
  }
  return encodeRequest('flood-svc', spans);
}

async function send(c, first, n) {
  const r = await request(c.httpPort, {
    method: 'POST',
    path: '/v1/traces',
    headers: { 'Content-Type': 'application/x-protobuf' },
    body: orphanRequest(first, n),
  });
  assert.equal(r.status, 200, `request at span ${first}: ${r.status}`);
}

test(`trace flood: ${SPANS} spans whose ancestors never arrive, max_pending_spans ${CAP}`, async () => {
  const c = await startCollector({ extra: `processors:\n  genai:\n    trace_wait: 1h\n    max_pending_spans: ${CAP}\n` });
  try {
    for (let first = 0; first < CAP; first += PER_REQUEST) {
      await send(c, first, Math.min(PER_REQUEST, CAP - first));
    }
    const rssAtCap = rssOf(c.child.pid);
    for (let first = CAP; first < SPANS; first += PER_REQUEST) {
      await send(c, first, Math.min(PER_REQUEST, SPANS - first));
    }
    // The housekeeping tick publishes the pending gauges.
    const m = await waitFor(async () => {
      const s = (await c.scrape()).m;
      const pending = s.get('agentmeter_spans_pending');
      return pending !== undefined && pending + s.sum('agentmeter_trace_spans_evicted_total') === SPANS ? s : undefined;
    }, { timeoutMs: 20000 });
    const last = m ?? (await c.scrape()).m;
    // Past the cap, trace_buf evicts the quietest traces down to the cap
    // less a slack of min(cap / 64, 64) spans, so a flood evicts in batches:
    // pending stays within [CAP - slack, CAP].
    const slack = Math.min(Math.floor(CAP / 64), 64);
    const pending = last.get('agentmeter_spans_pending');
    assert.ok(pending <= CAP && pending >= CAP - slack, `pending spans ${pending}, cap ${CAP}`);
    const evicted = last.sum('agentmeter_trace_spans_evicted_total');
    assert.equal(evicted, SPANS - pending, 'evicted spans');
    assert.equal(last.get('agentmeter_spans_accepted_total', { protocol: 'http/protobuf' }), SPANS);
    // Evicted spans are derived with the fallback agent; pending ones not yet.
    assert.equal(last.get('model_inference_calls_total', { agent_name: 'flood-svc', model_id: 'gpt-4o-mini' }), evicted);
    assert.equal(last.get('agent_token_usage_total', { agent_name: 'flood-svc', model_id: 'gpt-4o-mini', token_type: 'input' }), 10 * evicted);
    const growth = rssOf(c.child.pid) - rssAtCap;
    assert.ok(growth < 32 * 1024 * 1024, `RSS grew ${growth} bytes after the cap`);
  } finally {
    await c.stop();
  }
});
