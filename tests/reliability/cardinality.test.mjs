// cardinality.test.mjs - a cardinality flood: TOOLS distinct
// gen_ai.tool.name values (short 20,000; long 1,000,000) against
// max_series_per_metric CAP. Exact invariants: each tool family keeps CAP
// real series plus the one "__overflow__" series; nothing is lost (the sum
// over series is TOOLS); what overflowed is counted in
// agentmeter_series_overflow_total; RSS grows by a bounded amount once the
// cap is reached.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';

import { encodeRequest } from '../e2e/pb.mjs';
import { pick, request, rssOf, startCollector, waitFor } from './rlib.mjs';

const CAP = pick(1000, 10000);
const TOOLS = pick(20000, 1000000);
const PER_REQUEST = 1000;
const OVER = '__overflow__';

function toolRequest(first, n) {
  const startNs = BigInt(Date.now() - 60000) * 1000000n;
  const spans = [];
  for (let i = first; i < first + n; i++) {
    spans.push({
      traceId: randomBytes(16),
      spanId: randomBytes(8),
      name: 'execute_tool',
      startNs,
      endNs: startNs + 250000000n,
      attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.agent.name': 'flood-agent', 'gen_ai.tool.name': `tool-${i}` },
    });
  }
  return encodeRequest('cardinality-svc', spans);
}

async function send(c, first, n) {
  const r = await request(c.httpPort, {
    method: 'POST',
    path: '/v1/traces',
    headers: { 'Content-Type': 'application/x-protobuf' },
    body: toolRequest(first, n),
  });
  assert.equal(r.status, 200, `request at tool ${first}: ${r.status}`);
}

test(`cardinality flood: ${TOOLS} tool names, max_series_per_metric ${CAP}`, async () => {
  const c = await startCollector({ extra: `processors:\n  genai:\n    max_series_per_metric: ${CAP}\n` });
  try {
    // Fill to the cap, then measure RSS, then flood.
    for (let first = 0; first < CAP; first += PER_REQUEST) {
      await send(c, first, Math.min(PER_REQUEST, CAP - first));
    }
    const rssAtCap = rssOf(c.child.pid);
    for (let first = CAP; first < TOOLS; first += PER_REQUEST) {
      await send(c, first, Math.min(PER_REQUEST, TOOLS - first));
    }
    const m = await waitFor(async () => {
      const s = (await c.scrape()).m;
      return s.sum('agent_tool_calls_total') === TOOLS ? s : undefined;
    }, { timeoutMs: 20000 });
    assert.ok(m, 'agent_tool_calls_total never summed to the number of spans sent');
    const rssAfter = rssOf(c.child.pid);

    const calls = m.series('agent_tool_calls_total');
    const real = calls.filter((s) => s.labels.tool_name !== OVER);
    const over = calls.filter((s) => s.labels.tool_name === OVER);
    assert.equal(real.length, CAP, 'real agent_tool_calls_total series');
    assert.ok(real.every((s) => s.value === 1 && s.labels.agent_name === 'flood-agent' && s.labels.status === 'success'));
    assert.equal(over.length, 1, 'one overflow series');
    assert.deepEqual(over[0].labels, { agent_name: OVER, tool_name: OVER, status: OVER });
    assert.equal(over[0].value, TOOLS - CAP, 'overflow series value');

    const counts = m.series('agent_tool_call_duration_seconds_count');
    assert.equal(counts.length, CAP + 1, 'duration histogram series (cap + overflow)');
    assert.equal(m.sum('agent_tool_call_duration_seconds_count'), TOOLS);
    assert.equal(m.get('agent_tool_call_duration_seconds_count', { agent_name: OVER, tool_name: OVER }), TOOLS - CAP);

    assert.equal(m.get('agentmeter_series_overflow_total', { metric: 'agent_tool_calls_total' }), TOOLS - CAP);
    assert.equal(m.get('agentmeter_series_overflow_total', { metric: 'agent_tool_call_duration_seconds' }), TOOLS - CAP);
    const active = m.get('agentmeter_series_active', { metric: 'agent_tool_calls_total' });
    assert.ok(active === CAP || active === CAP + 1, `agentmeter_series_active ${active}`);
    assert.equal(m.get('agentmeter_spans_accepted_total', { protocol: 'http/protobuf' }), TOOLS);

    // Past the cap nothing new is kept per name: RSS may move by allocator
    // noise and the request buffers, not by TOOLS - CAP series.
    const growth = rssAfter - rssAtCap;
    assert.ok(growth < 32 * 1024 * 1024, `RSS grew ${growth} bytes after the cap (${rssAtCap} -> ${rssAfter})`);
  } finally {
    await c.stop();
  }
});
