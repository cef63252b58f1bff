// shutdown.test.mjs - graceful shutdown (DESIGN.md 3) under load with a real
// receiver: clients keep exporting over keep-alive HTTP/1.1 while the
// collector gets SIGTERM. It stops accepting, answers the requests already
// started (Connection: close), flushes, queues a final snapshot and drains
// remote_write into VictoriaMetrics before exiting 0. Every export a client
// saw acknowledged (200) is counted there; none that it saw fail is.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { freePort, request, startCollector, waitFor } from './lib.mjs';

let tmp;
let vm;
before(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'agentmeter-shutdown-'));
});
after(() => {
  if (vm && vm.exitCode === null && vm.signalCode === null) {
    vm.kill('SIGKILL');
  }
  rmSync(tmp, { recursive: true, force: true });
});

async function startVictoriaMetrics(port) {
  const child = spawn(
    'victoria-metrics',
    [
      `-httpListenAddr=127.0.0.1:${port}`,
      `-storageDataPath=${path.join(tmp, 'vm')}`,
      '-retentionPeriod=100y',
      '-search.disableCache',
      '-search.latencyOffset=0s',
    ],
    { stdio: ['ignore', 'ignore', 'ignore'] },
  );
  const ok = await waitFor(async () => (await request(port, { path: '/health' })).status === 200, {
    timeoutMs: 30000,
    interval: 100,
  });
  assert.ok(ok, 'victoria-metrics did not become ready');
  return child;
}

// One top-level invoke_agent span of agent "drain" per request: each one the
// collector acknowledges adds exactly 1 to agent_requests_total.
function exportBody(n) {
  const id = (v, w) => v.toString(16).padStart(w, '0');
  const now = BigInt(Date.now()) * 1000000n;
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'drain-svc' } }] },
        scopeSpans: [
          {
            spans: [
              {
                traceId: id(0x5000000 + n, 32),
                spanId: id(0x6000000 + n, 16),
                name: 'invoke_agent drain',
                startTimeUnixNano: String(now - 2000000n),
                endTimeUnixNano: String(now),
                attributes: [
                  { key: 'gen_ai.operation.name', value: { stringValue: 'invoke_agent' } },
                  { key: 'gen_ai.agent.name', value: { stringValue: 'drain' } },
                ],
              },
            ],
          },
        ],
      },
    ],
  });
}

function post(agent, port, body) {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/traces',
        agent,
        headers: { 'Content-Type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
        res.on('error', () => resolve(0));
      },
    );
    req.setTimeout(15000, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

test('SIGTERM under load: acknowledged exports are all counted, failed ones never', async () => {
  const vmPort = await freePort();
  vm = await startVictoriaMetrics(vmPort);
  const url = `http://127.0.0.1:${vmPort}/api/v1/write`;
  const c = await startCollector({
    extra:
      `  remote_write:\n    - url: ${url}\n      send_interval: 1s\n` +
      `      queue: { dir: ${path.join(tmp, 'q')}, min_backoff: 30ms, max_backoff: 300ms }\n` +
      'shutdown_timeout: 10s\n',
  });
  let seq = 0;
  let acked = 0;
  let failed = 0;
  let stop = false;
  const clients = [];
  for (let i = 0; i < 8; i++) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    clients.push(
      (async () => {
        while (!stop) {
          const status = await post(agent, c.httpPort, exportBody(seq++));
          if (status === 200) {
            acked++;
          } else {
            failed++;
            await new Promise((r) => setTimeout(r, 5));
          }
        }
        agent.destroy();
      })(),
    );
  }
  try {
    // Load runs, then SIGTERM lands in the middle of it.
    assert.ok(await waitFor(() => acked >= 200, { timeoutMs: 20000 }), `only ${acked} acked`);
    c.child.kill('SIGTERM');
    const exited = await waitFor(() => c.exited, { timeoutMs: 30000, interval: 20 });
    stop = true;
    await Promise.all(clients);
    assert.ok(exited, `collector did not exit:\n${c.output}`);
    assert.equal(exited.code, 0, `exit ${JSON.stringify(exited)}\n${c.output}`);
    assert.match(c.output, /received SIGTERM/);
    // Everything acknowledged reached the receiver through the final snapshot.
    const sel = 'agent_requests_total{agent_name="drain"}';
    let last;
    await waitFor(
      async () => {
        const r = await request(vmPort, { path: `/api/v1/export?match[]=${encodeURIComponent(sel)}` });
        const lines = r.body.toString('utf8').split('\n').filter((l) => l !== '');
        if (lines.length !== 1) {
          return false;
        }
        const v = JSON.parse(lines[0]).values;
        last = v[v.length - 1];
        return last === acked;
      },
      { timeoutMs: 20000, interval: 200 },
    );
    assert.equal(last, acked, `receiver has ${last}, clients saw ${acked} acknowledged (${failed} failed)\n${c.output}`);
    assert.ok(failed > 0, 'no request failed after SIGTERM: the load did not outlive the shutdown');
  } finally {
    stop = true;
    await Promise.all(clients);
    await c.stop();
  }
});
