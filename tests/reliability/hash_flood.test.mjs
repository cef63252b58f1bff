// hash_flood.test.mjs - hash flooding through gen_ai.tool.name (issue 9).
// NAMES adversarial names (all agent_tool_calls_total label sets with one
// 64-bit hash under the old unseeded label hash; see oldhash.mjs) and NAMES
// random names of the same length go to the real binary, each name in two
// execute_tool spans. Exact invariants: one series per name in each family,
// each with value 2, nothing routed to overflow, every span accepted.
//
// A release binary cannot be handed keys that collide in its hash: the seed
// is random per process and never output, and the fixed-seed hook exists
// only in test builds (tests/unit/test_hashflood.c makes colliding keys
// there). So the adversarial set here is the one that was known to hurt.
// The cost per span of both sets is measured by scripts/bench-flood.sh, not
// here: timings on a shared machine are not assertions.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';

import { encodeRequest } from '../e2e/pb.mjs';
import { collidingToolNames, oldToolCallsHash, randomToolNames } from './oldhash.mjs';
import { pick, request, startCollector, waitFor } from './rlib.mjs';

const NAMES = pick(5000, 8192);
const PER_REQUEST = 500;
const ADV = 'adv-agent';
const RND = 'rnd-agent';

function toolRequest(agent, names) {
  const startNs = BigInt(Date.now() - 60000) * 1000000n;
  const spans = names.map((name) => ({
    traceId: randomBytes(16),
    spanId: randomBytes(8),
    name: 'execute_tool',
    startNs,
    endNs: startNs + 125000000n,
    attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.agent.name': agent, 'gen_ai.tool.name': name },
  }));
  return encodeRequest('hash-flood-svc', spans);
}

async function sendAll(c, agent, names) {
  for (let i = 0; i < names.length; i += PER_REQUEST) {
    const r = await request(c.httpPort, {
      method: 'POST',
      path: '/v1/traces',
      headers: { 'Content-Type': 'application/x-protobuf' },
      body: toolRequest(agent, names.slice(i, i + PER_REQUEST)),
    });
    assert.equal(r.status, 200, `${agent} request at ${i}: ${r.status}`);
  }
}

function checkAgent(m, agent, names) {
  const calls = m.series('agent_tool_calls_total').filter((s) => s.labels.agent_name === agent);
  assert.equal(calls.length, names.length, `${agent}: agent_tool_calls_total series`);
  assert.ok(calls.every((s) => s.value === 2 && s.labels.status === 'success'), `${agent}: every series is 2`);
  const want = new Set(names);
  const got = new Set(calls.map((s) => s.labels.tool_name));
  assert.equal(got.size, names.length, `${agent}: distinct tool_name values`);
  assert.ok([...got].every((t) => want.has(t)), `${agent}: every tool_name is one that was sent`);
  const counts = m
    .series('agent_tool_call_duration_seconds_count')
    .filter((s) => s.labels.agent_name === agent);
  assert.equal(counts.length, names.length, `${agent}: duration histogram series`);
  assert.ok(counts.every((s) => s.value === 2), `${agent}: every histogram count is 2`);
}

test(`hash flood: ${NAMES} tool names colliding in the old label hash vs ${NAMES} random`, async () => {
  const adv = collidingToolNames(ADV, NAMES);
  const rnd = randomToolNames(NAMES);
  // The set is what it claims: distinct names, one old hash.
  assert.equal(new Set(adv).size, NAMES);
  assert.equal(new Set(adv.map((t) => oldToolCallsHash(ADV, t))).size, 1);

  // One bucket bound for the tool histogram keeps /metrics small (each of its
  // 2 * NAMES series is 4 lines, not 19).
  const c = await startCollector({
    extra: `processors:\n  genai:\n    max_series_per_metric: 20000\n    buckets:\n      agent_tool_call_duration_seconds: [1]\n`,
  });
  try {
    for (let round = 0; round < 2; round++) {
      await sendAll(c, ADV, adv);
      await sendAll(c, RND, rnd);
    }
    const total = 4 * NAMES;
    const m = await waitFor(async () => {
      const s = (await c.scrape()).m;
      return s.sum('agent_tool_calls_total') === total ? s : undefined;
    }, { timeoutMs: 20000 });
    assert.ok(m, 'agent_tool_calls_total never summed to the number of spans sent');
    checkAgent(m, ADV, adv);
    checkAgent(m, RND, rnd);
    assert.equal(m.get('agentmeter_spans_accepted_total', { protocol: 'http/protobuf' }), total);
    const over = m.get('agentmeter_series_overflow_total', { metric: 'agent_tool_calls_total' });
    assert.ok(over === undefined || over === 0, `overflow ${over}`);
  } finally {
    await c.stop();
  }
});
