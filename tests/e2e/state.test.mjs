// state.test.mjs - SPEC.md 3 "Shutdown": open conversations are written to
// processors.genai.state_dir at SIGTERM and restored at the next start, so a
// restart neither loses nor splits them.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { request, startCollector, waitFor } from './lib.mjs';

let dir;
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'agentmeter-state-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const hex = (n, w) => n.toString(16).padStart(w, '0');

// One top-level invoke_agent span: a turn of conversation `conv`.
function turn(n, conv) {
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'state-svc' } }] },
        scopeSpans: [
          {
            spans: [
              {
                traceId: hex(0x57a7e000 + n, 32),
                spanId: hex(0x57a7e000 + n, 16),
                name: 'invoke_agent keeper',
                startTimeUnixNano: '1700000000000000000',
                endTimeUnixNano: '1700000001000000000',
                attributes: [
                  { key: 'gen_ai.operation.name', value: { stringValue: 'invoke_agent' } },
                  { key: 'gen_ai.agent.name', value: { stringValue: 'keeper' } },
                  { key: 'gen_ai.conversation.id', value: { stringValue: conv } },
                ],
              },
            ],
          },
        ],
      },
    ],
  });
}

async function post(c, n, conv) {
  const r = await request(c.httpPort, {
    method: 'POST',
    path: '/v1/traces',
    headers: { 'Content-Type': 'application/json' },
    body: turn(n, conv),
  });
  assert.equal(r.status, 200);
}

const config = (stateDir) => `processors:
  genai:
    trace_wait: 1s
    conversation_idle_timeout: 3s
${stateDir ? `    state_dir: ${stateDir}\n` : ''}`;

const finished = (m, outcome = 'resolved') => m.get('agent_conversations_total', { agent_name: 'keeper', outcome });

test('a conversation open at SIGTERM continues after the restart', async () => {
  const stateDir = path.join(dir, 'state');
  const c1 = await startCollector({ extra: config(stateDir) });
  await post(c1, 1, 'conv-keep');
  await post(c1, 2, 'conv-keep');
  // Both turns have been taken (their traces went quiet) before the stop.
  assert.ok(await waitFor(async () => (await c1.scrape()).m.get('agent_requests_total', { agent_name: 'keeper', status: 'success' }) === 2));
  const e1 = await c1.stop();
  assert.equal(e1.code, 0, c1.output);

  const c2 = await startCollector({ extra: config(stateDir) });
  try {
    assert.match(c2.output, /restored 1 open conversation/);
    await post(c2, 3, 'conv-keep');
    const m = await waitFor(
      async () => {
        const s = (await c2.scrape()).m;
        return finished(s) === 1 ? s : undefined;
      },
      { timeoutMs: 15000, interval: 100 },
    );
    assert.ok(m, `conversation never finished:\n${c2.output}`);
    // One conversation of three turns, not two conversations.
    assert.equal(m.get('agent_conversation_turns_count', { agent_name: 'keeper' }), 1);
    assert.equal(m.get('agent_conversation_turns_sum', { agent_name: 'keeper' }), 3);
  } finally {
    await c2.stop();
  }
});
