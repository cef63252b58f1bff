// remote_write.test.mjs - SPEC.md 5 against real receivers: a workload from
// the real OpenTelemetry JS SDK goes into build/agentmeter, which pushes to
// Prometheus 2.42 (--web.enable-remote-write-receiver) and VictoriaMetrics
// (/api/v1/write); each receiver's HTTP API must then hold exactly the values
// /metrics shows. Then an outage: the receiver is down, the collector is
// killed with SIGKILL while its queue holds the trace's samples, the receiver
// comes up, the collector restarts on the same queue, and the samples arrive.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { context, SpanStatusCode, trace } from '@opentelemetry/api';
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
  tmp = mkdtempSync(path.join(os.tmpdir(), 'agentmeter-rw-'));
});
after(() => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
    }
  }
  rmSync(tmp, { recursive: true, force: true });
});

// Start a receiver process we own; resolves once `readyPath` answers 200.
async function startReceiver(bin, args, port, readyPath) {
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => {
    err = (err + d).slice(-8192);
  });
  children.push(child);
  const ok = await waitFor(
    async () => (await request(port, { path: readyPath })).status === 200,
    { timeoutMs: 30000, interval: 100 },
  );
  assert.ok(ok, `${bin} did not become ready on ${port}:\n${err}`);
  return child;
}

async function startPrometheus(port) {
  const dir = mkdtempSync(path.join(tmp, 'prom-'));
  const cfg = path.join(dir, 'prometheus.yml');
  writeFileSync(cfg, 'global:\n  scrape_interval: 1m\n');
  return startReceiver(
    'prometheus',
    [
      `--config.file=${cfg}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-remote-write-receiver',
      '--enable-feature=exemplar-storage',
    ],
    port,
    '/-/ready',
  );
}

async function startVictoriaMetrics(port) {
  const dir = mkdtempSync(path.join(tmp, 'vm-'));
  return startReceiver(
    'victoria-metrics',
    [
      `-httpListenAddr=127.0.0.1:${port}`,
      `-storageDataPath=${dir}`,
      '-retentionPeriod=100y',
      '-search.disableCache',
      '-search.latencyOffset=0s',
    ],
    port,
    '/health',
  );
}

// The agent trace: invoke_agent 2.5 s, one chat call 0.5 s with 1200/300
// tokens of a priced model, one tool call 0.3 s. Exported span by span.
async function exportAgentTrace(httpPort) {
  const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${httpPort}/v1/traces` });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'rw-service' }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('rw-e2e');
  const base = Math.floor(Date.now() / 1000) - 60;
  const agent = tracer.startSpan('invoke_agent rw-bot', {
    startTime: [base, 0],
    attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'rw-bot' },
  });
  const ctx = trace.setSpan(context.active(), agent);
  const chat = tracer.startSpan(
    'chat gpt-4o',
    {
      startTime: [base, 100000000],
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.agent.name': 'rw-bot',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.usage.input_tokens': 1200,
        'gen_ai.usage.output_tokens': 300,
      },
    },
    ctx,
  );
  chat.end([base, 600000000]);
  const tool = tracer.startSpan(
    'execute_tool lookup',
    {
      startTime: [base, 700000000],
      attributes: {
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.agent.name': 'rw-bot',
        'gen_ai.tool.name': 'lookup',
      },
    },
    ctx,
  );
  tool.setStatus({ code: SpanStatusCode.OK });
  tool.end([base, 1000000000]);
  agent.end([base + 2, 500000000]);
  await provider.forceFlush();
  await provider.shutdown();
}

const PRICING = `pricing:
  builtin: false
  models:
    gpt-4o: { input: 2.5, output: 10 }
`;

// Exact values the trace gives on /metrics (and so in every receiver).
const EXPECTED = [
  ['agent_requests_total', { agent_name: 'rw-bot', status: 'success' }, 1],
  ['agent_request_duration_seconds_bucket', { agent_name: 'rw-bot', le: '3' }, 1],
  ['agent_request_duration_seconds_bucket', { agent_name: 'rw-bot', le: '2' }, 0],
  ['agent_request_duration_seconds_sum', { agent_name: 'rw-bot' }, 2.5],
  ['model_inference_calls_total', { agent_name: 'rw-bot', model_id: 'gpt-4o' }, 1],
  [
    'agent_token_usage_total',
    { agent_name: 'rw-bot', model_id: 'gpt-4o', token_type: 'input' },
    1200,
  ],
  ['agent_estimated_cost_dollars_total', { agent_name: 'rw-bot', model_id: 'gpt-4o' }, 0.006],
  [
    'agent_tool_calls_total',
    { agent_name: 'rw-bot', tool_name: 'lookup', status: 'success' },
    1,
  ],
  ['agent_tool_call_duration_seconds_bucket', { agent_name: 'rw-bot', tool_name: 'lookup', le: '0.5' }, 1],
];

function selector(name, labels) {
  const l = Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return `${name}{${l.join(',')}}`;
}

async function getJson(port, p) {
  const r = await request(port, { path: p });
  assert.equal(r.status, 200, `GET ${p}: ${r.status} ${r.body}`);
  return JSON.parse(r.body.toString('utf8'));
}

// Latest value of one series in Prometheus (instant query), or undefined.
async function promValue(port, sel) {
  const j = await getJson(port, `/api/v1/query?query=${encodeURIComponent(sel)}`);
  const r = j.data.result;
  return r.length === 1 ? Number(r[0].value[1]) : undefined;
}

// Last raw sample of one series in VictoriaMetrics (/api/v1/export), or undefined.
async function vmValue(port, sel) {
  const r = await request(port, { path: `/api/v1/export?match[]=${encodeURIComponent(sel)}` });
  assert.equal(r.status, 200);
  const lines = r.body.toString('utf8').split('\n').filter((l) => l !== '');
  if (lines.length !== 1) {
    return undefined;
  }
  const vals = JSON.parse(lines[0]).values;
  return vals[vals.length - 1];
}

// Every raw sample of one series in VictoriaMetrics: { values, timestamps }
// (empty when absent).
async function vmSamples(port, sel) {
  const r = await request(port, { path: `/api/v1/export?match[]=${encodeURIComponent(sel)}` });
  assert.equal(r.status, 200);
  const lines = r.body.toString('utf8').split('\n').filter((l) => l !== '');
  if (lines.length !== 1) {
    return { values: [], timestamps: [] };
  }
  const j = JSON.parse(lines[0]);
  return { values: j.values, timestamps: j.timestamps };
}

// Poll read() until it gives `want` (0 included) or 30 s pass; returns the last value read.
async function settle(read, want) {
  let last;
  await waitFor(
    async () => {
      last = await read();
      return last === want;
    },
    { timeoutMs: 30000, interval: 200 },
  );
  return last;
}

const rwEntry = (url, qdir, extra = '') =>
  `    - url: ${url}
      send_interval: 1s
      timeout: 5s
      queue: { dir: ${qdir}, min_backoff: 30ms, max_backoff: 300ms }
${extra}`;

describe('remote_write to real receivers', () => {
  test('Prometheus and VictoriaMetrics hold exactly what /metrics shows', async () => {
    const promPort = await freePort();
    const vmPort = await freePort();
    await startPrometheus(promPort);
    await startVictoriaMetrics(vmPort);
    const c = await startCollector({
      extra:
        '  remote_write:\n' +
        rwEntry(
          `http://127.0.0.1:${promPort}/api/v1/write`,
          path.join(tmp, 'q-prom'),
          '      headers: { X-Scope-OrgID: team-a }\n',
        ) +
        rwEntry(`http://127.0.0.1:${vmPort}/api/v1/write`, path.join(tmp, 'q-vm')) +
        'external_labels: { cluster: e2e }\n' +
        PRICING,
    });
    try {
      await exportAgentTrace(c.httpPort);
      const s = await waitFor(async () => {
        const r = await c.scrape();
        return r.m.get('agent_requests_total', { agent_name: 'rw-bot', status: 'success' }) === 1
          ? r
          : undefined;
      });
      assert.ok(s, `trace never reached /metrics:\n${c.output}`);
      for (const [name, labels, want] of EXPECTED) {
        assert.equal(s.m.get(name, labels), want, `/metrics ${selector(name, labels)}`);
        const sel = selector(name, { ...labels, cluster: 'e2e' });
        assert.equal(await settle(() => promValue(promPort, sel), want), want, `Prometheus ${sel}`);
        assert.equal(await settle(() => vmValue(vmPort, sel), want), want, `VictoriaMetrics ${sel}`);
      }
      // Exemplars travel too: the counter's links to the invoke_agent span.
      const ex = await waitFor(async () => {
        const now = Date.now() / 1000;
        const q = encodeURIComponent('agent_requests_total{agent_name="rw-bot"}');
        const j = await getJson(promPort, `/api/v1/query_exemplars?query=${q}&start=${now - 600}&end=${now + 60}`);
        return j.data.length > 0 ? j.data[0].exemplars[0] : undefined;
      }, { timeoutMs: 20000, interval: 200 });
      assert.ok(ex, 'no exemplar reached Prometheus');
      assert.match(ex.labels.trace_id, /^[0-9a-f]{32}$/);
      assert.match(ex.labels.span_id, /^[0-9a-f]{16}$/);
      assert.equal(Number(ex.value), 1);
      // The collector's own account: samples sent to both, nothing dropped.
      const self = (await c.scrape()).m;
      for (const port of [promPort, vmPort]) {
        const url = `http://127.0.0.1:${port}/api/v1/write`;
        assert.ok(self.get('agentmeter_remote_write_samples_sent_total', { url }) > 0, url);
        assert.equal(
          self.get('agentmeter_remote_write_samples_dropped_total', { url, reason: 'queue_full' }),
          0,
        );
        assert.ok(self.get('agentmeter_remote_write_last_send_timestamp_seconds', { url }) > 0);
      }
    } finally {
      const exit = await c.stop();
      assert.equal(exit.code, 0, `collector exit: ${JSON.stringify(exit)}\n${c.output}`);
    }
  });

  test('receiver outage plus kill -9 of the collector loses no queued sample', async () => {
    const promPort = await freePort();
    const url = `http://127.0.0.1:${promPort}/api/v1/write`;
    const extra =
      '  remote_write:\n' + rwEntry(url, path.join(tmp, 'q-outage')) + 'external_labels: { cluster: e2e }\n' + PRICING;
    const c1 = await startCollector({ extra });
    let c2;
    try {
      await exportAgentTrace(c1.httpPort);
      // The receiver is down: snapshots pile up in the queue and are retried.
      const queued = await waitFor(
        async () => {
          const m = (await c1.scrape()).m;
          const seen =
            m.get('agent_requests_total', { agent_name: 'rw-bot', status: 'success' }) === 1;
          return seen && m.get('agentmeter_remote_write_queue_length', { url }) >= 3 ? m : undefined;
        },
        { timeoutMs: 15000, interval: 100 },
      );
      assert.ok(queued, `queue never filled:\n${c1.output}`);
      assert.ok(queued.get('agentmeter_remote_write_samples_retried_total', { url }) > 0);
      assert.equal(queued.get('agentmeter_remote_write_samples_sent_total', { url }), 0);
      c1.child.kill('SIGKILL');
      await waitFor(() => !c1.alive(), { timeoutMs: 5000 });

      await startPrometheus(promPort);
      c2 = await startCollector({ extra });
      // c2 has seen no span: every agent sample Prometheus gets came off the queue.
      for (const [name, labels, want] of EXPECTED) {
        const sel = selector(name, { ...labels, cluster: 'e2e' });
        assert.equal(await settle(() => promValue(promPort, sel), want), want, `${sel} after restart`);
      }
      const m2 = (await c2.scrape()).m;
      assert.equal(m2.get('agent_requests_total', { agent_name: 'rw-bot', status: 'success' }), undefined);
      assert.ok(m2.get('agentmeter_remote_write_samples_sent_total', { url }) > 0);
    } finally {
      await c1.stop();
      if (c2) {
        await c2.stop();
      }
    }
  });

  test('remote_write-only: self-metrics arrive and advance with no scraper', async () => {
    const vmPort = await freePort();
    await startVictoriaMetrics(vmPort);
    const url = `http://127.0.0.1:${vmPort}/api/v1/write`;
    const c = await startCollector({
      extra:
        '  remote_write:\n' +
        rwEntry(url, path.join(tmp, 'q-self')) +
        'external_labels: { cluster: self }\n' +
        PRICING,
    });
    // Never GET /metrics here: only the remote_write snapshots collect.
    const sel = (name, labels = {}) => selector(name, { ...labels, cluster: 'self' });
    const want = [
      sel('process_cpu_seconds_total'),
      sel('process_resident_memory_bytes'),
      sel('process_start_time_seconds'),
      sel('agentmeter_build_info'),
      sel('agentmeter_connections_active', { listener: 'otlp_http' }),
      sel('agentmeter_remote_write_samples_sent_total', { url }),
      sel('agentmeter_remote_write_queue_length', { url }),
    ];
    try {
      await exportAgentTrace(c.httpPort);
      const accepted = sel('agentmeter_connections_accepted_total', { listener: 'otlp_http' });
      const first = await waitFor(
        async () => {
          const a = await vmSamples(vmPort, accepted);
          return a.values.length > 0 && a.values[a.values.length - 1] >= 1 ? a : undefined;
        },
        { timeoutMs: 30000, interval: 200 },
      );
      assert.ok(first, `connections never reached the receiver:\n${c.output}`);
      for (const s of want) {
        const got = await waitFor(async () => ((await vmSamples(vmPort, s)).values.length > 0 ? true : undefined), {
          timeoutMs: 20000,
          interval: 200,
        });
        assert.ok(got, `${s} never reached the receiver`);
      }
      const sent0 = await vmSamples(vmPort, want[5]);
      const rss0 = await vmSamples(vmPort, want[1]);
      const acc0 = first.values[first.values.length - 1];
      // More traffic: new connections; and later snapshots carry later values.
      await exportAgentTrace(c.httpPort);
      const advanced = await waitFor(
        async () => {
          const sent = await vmSamples(vmPort, want[5]);
          const rss = await vmSamples(vmPort, want[1]);
          const acc = await vmSamples(vmPort, accepted);
          const last = (x) => x.values[x.values.length - 1];
          return last(sent) > last(sent0) &&
            rss.timestamps.length > rss0.timestamps.length &&
            rss.timestamps[rss.timestamps.length - 1] > rss0.timestamps[rss0.timestamps.length - 1] &&
            last(acc) > acc0
            ? { sent: last(sent), acc: last(acc) }
            : undefined;
        },
        { timeoutMs: 30000, interval: 250 },
      );
      assert.ok(advanced, `self-metrics did not advance at the receiver:\n${c.output}`);
      const start = await vmSamples(vmPort, want[2]);
      const startS = start.values[start.values.length - 1];
      assert.ok(Math.abs(startS - Date.now() / 1000) < 120, `process_start_time_seconds ${startS}`);
    } finally {
      const exit = await c.stop();
      assert.equal(exit.code, 0, `collector exit: ${JSON.stringify(exit)}\n${c.output}`);
    }
  });
});
