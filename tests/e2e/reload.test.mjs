// reload.test.mjs - SIGHUP (SPEC.md 4): a new price applies to spans that
// arrive after the reload, every series and pending state survives, and a
// bad file is rejected with a log line while the running config stays.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';

import { request, startCollector, waitFor } from './lib.mjs';

const PRICED = (input) => `pricing:
  builtin: false
  models:
    gpt-4o: { input: ${input}, output: 0 }
`;

// One OTLP/JSON chat span of the agent "reloader" with 1,000,000 input
// tokens, so its cost is exactly the configured input price.
function chatSpan(i) {
  const id = (n, w) => n.toString(16).padStart(w, '0');
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'reload-svc' } }] },
        scopeSpans: [
          {
            spans: [
              {
                traceId: id(0xabc000 + i, 32),
                spanId: id(0xdef000 + i, 16),
                name: 'chat',
                startTimeUnixNano: '1700000000000000000',
                endTimeUnixNano: '1700000000100000000',
                attributes: [
                  { key: 'gen_ai.operation.name', value: { stringValue: 'chat' } },
                  { key: 'gen_ai.agent.name', value: { stringValue: 'reloader' } },
                  { key: 'gen_ai.request.model', value: { stringValue: 'gpt-4o' } },
                  { key: 'gen_ai.usage.input_tokens', value: { intValue: '1000000' } },
                ],
              },
            ],
          },
        ],
      },
    ],
  });
}

async function post(c, i) {
  const r = await request(c.httpPort, {
    method: 'POST',
    path: '/v1/traces',
    headers: { 'Content-Type': 'application/json' },
    body: chatSpan(i),
  });
  assert.equal(r.status, 200, r.body.toString());
}

const cost = async (c) =>
  (await c.scrape()).m.get('agent_estimated_cost_dollars_total', {
    agent_name: 'reloader',
    model_id: 'gpt-4o',
  });

test('SIGHUP: new prices apply, series survive, a bad file is refused', async () => {
  const c = await startCollector({ extra: PRICED(2) });
  try {
    await post(c, 1);
    assert.equal(await cost(c), 2);

    const base = readFileSync(c.configPath, 'utf8');
    // New buckets: agent_request_duration_seconds has no series yet and takes
    // them; model_inference_duration_seconds has series and keeps its own.
    const buckets = `processors:
  genai:
    buckets:
      agent_request_duration_seconds: [0.1, 7]
      model_inference_duration_seconds: [42]
`;
    writeFileSync(c.configPath, base.replace('input: 2,', 'input: 5,') + buckets);
    c.child.kill('SIGHUP');
    assert.ok(await waitFor(() => /reloaded/.test(c.output)), `no reload logged:\n${c.output}`);
    await post(c, 2);
    assert.equal(await cost(c), 7, 'the old cost is kept and the new price applies');
    let m = (await c.scrape()).m;
    assert.equal(m.get('model_inference_calls_total', { agent_name: 'reloader', model_id: 'gpt-4o' }), 2);
    assert.match(c.output, /model_inference_duration_seconds already has series/);
    assert.equal(m.get('model_inference_duration_seconds_bucket', { agent_name: 'reloader', model_id: 'gpt-4o', le: '0.2' }), 2);
    assert.equal(m.get('model_inference_duration_seconds_bucket', { agent_name: 'reloader', model_id: 'gpt-4o', le: '42' }), undefined);
    const agent = JSON.parse(chatSpan(9));
    const sp = agent.resourceSpans[0].scopeSpans[0].spans[0];
    sp.endTimeUnixNano = '1700000005000000000';
    sp.attributes = [
      { key: 'gen_ai.operation.name', value: { stringValue: 'invoke_agent' } },
      { key: 'gen_ai.agent.name', value: { stringValue: 'reloader' } },
    ];
    const r = await request(c.httpPort, {
      method: 'POST',
      path: '/v1/traces',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(agent),
    });
    assert.equal(r.status, 200);
    m = (await c.scrape()).m;
    assert.equal(m.get('agent_request_duration_seconds_bucket', { agent_name: 'reloader', le: '0.1' }), 0);
    assert.equal(m.get('agent_request_duration_seconds_bucket', { agent_name: 'reloader', le: '7' }), 1);
    assert.equal(m.get('agent_request_duration_seconds_bucket', { agent_name: 'reloader', le: '0.5' }), undefined);

    writeFileSync(c.configPath, `${base}\nnot_a_key: 1\n`);
    c.child.kill('SIGHUP');
    assert.ok(
      await waitFor(() => /reload rejected, keeping the running config: .*not_a_key/.test(c.output)),
      `no rejection logged:\n${c.output}`,
    );
    await post(c, 3);
    assert.equal(await cost(c), 12, 'the running price (5) stays after a rejected reload');
    assert.ok(c.alive());
  } finally {
    const exit = await c.stop();
    assert.equal(exit.code, 0, c.output);
  }
});
