// idle.test.mjs - processors.genai.series_idle_timeout (SPEC.md 4, 5): one
// span from the real OpenTelemetry JS SDK makes agent_requests_total appear
// on /metrics and in Prometheus 2.42 (remote_write receiver); 2 s without an
// update and the series is gone from /metrics, counted in
// agentmeter_series_expired_total, and the stale marker it got makes it
// vanish from Prometheus' instant queries while a range query still shows
// the earlier sample. Self-metrics never expire.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

import { freePort, request, startCollector, waitFor } from './lib.mjs';

for (const k of Object.keys(process.env)) {
  if (k.startsWith('OTEL_')) {
    delete process.env[k];
  }
}

let tmp;
const children = [];
before(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'agentmeter-idle-'));
});
after(() => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
    }
  }
  rmSync(tmp, { recursive: true, force: true });
});

async function startPrometheus(port) {
  const dir = mkdtempSync(path.join(tmp, 'prom-'));
  const cfg = path.join(dir, 'prometheus.yml');
  writeFileSync(cfg, 'global:\n  scrape_interval: 1m\n');
  const child = spawn(
    'prometheus',
    [
      `--config.file=${cfg}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-remote-write-receiver',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr.on('data', (d) => {
    err = (err + d).slice(-8192);
  });
  children.push(child);
  const ok = await waitFor(
    async () => (await request(port, { path: '/-/ready' })).status === 200,
    { timeoutMs: 30000, interval: 100 },
  );
  assert.ok(ok, `prometheus did not become ready on ${port}:\n${err}`);
}

async function promQuery(port, p) {
  const r = await request(port, { path: p });
  assert.equal(r.status, 200, `GET ${p}: ${r.status} ${r.body}`);
  return JSON.parse(r.body.toString('utf8')).data.result;
}

async function sendOneSpan(httpPort) {
  const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${httpPort}/v1/traces` });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'idle-service' }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const span = provider.getTracer('idle-e2e').startSpan('invoke_agent idle-bot', {
    attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'idle-bot' },
  });
  span.end();
  await provider.forceFlush();
  await provider.shutdown();
}

const LABELS = { agent_name: 'idle-bot', status: 'success' };
const SEL = 'agent_requests_total{agent_name="idle-bot",status="success",cluster="e2e"}';

describe('series_idle_timeout', () => {
  test('an idle series leaves /metrics and gets a stale marker in Prometheus', async () => {
    const promPort = await freePort();
    await startPrometheus(promPort);
    const url = `http://127.0.0.1:${promPort}/api/v1/write`;
    const c = await startCollector({
      extra: `  remote_write:
    - url: ${url}
      send_interval: 1s
      queue: { dir: ${path.join(tmp, 'q')}, min_backoff: 30ms, max_backoff: 300ms }
external_labels: { cluster: e2e }
processors:
  genai:
    series_idle_timeout: 2s
`,
    });
    try {
      const start = Date.now();
      await sendOneSpan(c.httpPort);
      const sent = Date.now();
      const seen = await waitFor(async () => (await c.scrape()).m.get('agent_requests_total', LABELS) === 1, {
        timeoutMs: 10000,
      });
      assert.ok(seen, `the span never reached /metrics:\n${c.output}`);

      // Idle for 2 s: gone from /metrics, counted once.
      const gone = await waitFor(
        async () => {
          const m = (await c.scrape()).m;
          return m.get('agent_requests_total', LABELS) === undefined ? m : undefined;
        },
        { timeoutMs: 10000, interval: 50 },
      );
      const goneAt = Date.now();
      assert.ok(gone, `the idle series never left /metrics:\n${c.output}`);
      assert.ok(goneAt - start >= 2000, `expired after ${goneAt - start} ms, before 2 s`);
      assert.ok(goneAt - sent <= 6000, `expired only after ${goneAt - sent} ms`);
      assert.equal(gone.get('agentmeter_series_expired_total', { metric: 'agent_requests_total' }), 1);
      assert.equal(gone.get('agentmeter_series_active', { metric: 'agent_requests_total' }), undefined);
      // self-metrics stay
      assert.ok(gone.sum('agentmeter_spans_accepted_total') >= 1);
      assert.equal(gone.series('agentmeter_build_info').length, 1);
      assert.equal(gone.series('process_start_time_seconds').length, 1);

      // In Prometheus: the samples sent before expiry are there (a range
      // query skips stale markers), yet an instant query finds nothing --
      // within its 5 min lookback only the stale marker can hide them.
      const instant = `/api/v1/query?query=${encodeURIComponent(SEL)}`;
      const ranged = `/api/v1/query?query=${encodeURIComponent(`${SEL}[10m]`)}`;
      let range;
      const stale = await waitFor(
        async () => {
          range = await promQuery(promPort, ranged);
          return range.length === 1 && (await promQuery(promPort, instant)).length === 0;
        },
        { timeoutMs: 20000, interval: 100 },
      );
      assert.ok(stale, `range ${JSON.stringify(range)}; instant still answers?\n${c.output}`);
      assert.ok(range[0].values.length >= 1);
      assert.ok(range[0].values.every(([, v]) => v === '1'), JSON.stringify(range[0].values));
      // and it stays gone on /metrics
      assert.equal((await c.scrape()).m.get('agent_requests_total', LABELS), undefined);
      const self = (await c.scrape()).m;
      assert.equal(self.get('agentmeter_remote_write_samples_failed_total', { url }), 0);
    } finally {
      const exit = await c.stop();
      assert.equal(exit.code, 0, `collector exit: ${JSON.stringify(exit)}\n${c.output}`);
    }
  });
});
