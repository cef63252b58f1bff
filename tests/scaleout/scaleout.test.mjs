// scaleout.test.mjs - issue 14's topologies (deploy/scale-out/) on loopback.
// Four topologies get the same traffic at once:
//   single  one agentmeter: the reference;
//   trace   three replicas behind the load-balancing exporter with
//           routing_key traceID (splitter.mjs stands in for the OpenTelemetry
//           Collector, which cannot be installed here);
//   service three replicas, routing_key service;
//   ha      two replicas, every request to both (the collector's fan-out).
// Every agentmeter remote-writes to one real Prometheus (remote-write
// receiver) and one real VictoriaMetrics, with external_labels
// { topology, replica }. Asserted exactly, in both receivers, with the
// queries the shipped recording rules use:
//   - every span-level family: sum without (replica, instance) over the trace
//     and the service shards equals the single instance;
//   - with service routing, the conversation families too;
//   - with trace-id routing the conversation families equal what the ring
//     predicts (every replica finishes its own fragment of a conversation),
//     and the error against the single instance is printed;
//   - the HA pair: max without (replica) equals the single instance, for
//     every family;
//   - one trace-routed replica (t1) never reaches its receivers (a gate
//     answers 503) while it takes phase 1, is killed with SIGKILL, restarted
//     on the same queue directories, and then delivers every sample it had
//     queued: both receivers hold, at the kill time, exactly what its
//     /metrics showed before the kill, and its queue drains to zero.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { freePort, request, startCollector, waitFor } from '../e2e/lib.mjs';
import { fields, HashRing, route, startSplitter } from './splitter.mjs';
import { PRICING, workload } from './workload.mjs';

let tmp;
const procs = [];
const servers = [];
const collectors = [];
before(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'agentmeter-scaleout-'));
});
after(async () => {
  for (const c of collectors) {
    await c.stop();
  }
  for (const s of servers) {
    await s.close();
  }
  for (const p of procs) {
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
    }
  }
  rmSync(tmp, { recursive: true, force: true });
});

// --- receivers ---

async function startReceiver(bin, args, port, readyPath) {
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => {
    err = (err + d).slice(-8192);
  });
  procs.push(child);
  const ok = await waitFor(async () => (await request(port, { path: readyPath })).status === 200, {
    timeoutMs: 30000,
    interval: 100,
  });
  assert.ok(ok, `${bin} did not become ready on ${port}:\n${err}`);
}

async function startPrometheus(port) {
  const dir = mkdtempSync(path.join(tmp, 'prom-'));
  writeFileSync(path.join(dir, 'prometheus.yml'), 'global:\n  scrape_interval: 1m\n');
  await startReceiver(
    'prometheus',
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-remote-write-receiver',
    ],
    port,
    '/-/ready',
  );
}

async function startVictoriaMetrics(port) {
  await startReceiver(
    'victoria-metrics',
    [
      `-httpListenAddr=127.0.0.1:${port}`,
      `-storageDataPath=${mkdtempSync(path.join(tmp, 'vm-'))}`,
      '-retentionPeriod=100y',
      '-search.disableCache',
      '-search.latencyOffset=0s',
    ],
    port,
    '/health',
  );
}

// A receiver outage for one replica: forwards POSTs to `port` while open,
// answers 503 while closed.
function startGate(port) {
  const gate = { open: false };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (!gate.open) {
        res.writeHead(503);
        res.end();
        return;
      }
      const fwd = http.request(
        { host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers, agent: false },
        (up) => {
          res.writeHead(up.statusCode, up.headers);
          up.pipe(res);
        },
      );
      fwd.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      fwd.end(Buffer.concat(chunks));
    });
  });
  servers.push({ close: () => new Promise((r) => server.close(r)) });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      gate.port = server.address().port;
      resolve(gate);
    }),
  );
}

// Instant query (Prometheus and VictoriaMetrics speak the same API):
// Map(canonical labels without `drop` -> value). Several series collapsing
// on one key is an error (the caller meant to aggregate).
async function query(port, q, time, drop = []) {
  let p = `/api/v1/query?query=${encodeURIComponent(q)}`;
  if (time !== undefined) {
    p += `&time=${time}`;
  }
  const r = await request(port, { path: p });
  assert.equal(r.status, 200, `${q}: ${r.status} ${r.body}`);
  const out = new Map();
  for (const s of JSON.parse(r.body.toString('utf8')).data.result) {
    const names = Object.keys(s.metric).filter((k) => !drop.includes(k)).sort();
    const key = names.map((k) => `${k}=${JSON.stringify(s.metric[k])}`).join(',');
    assert.ok(!out.has(key), `${q}: two series for {${key}}`);
    out.set(key, Number(s.value[1]));
  }
  return out;
}

// VictoriaMetrics keeps about 12 significant decimal digits of a sample
// (its storage turns floats into scaled integers): a value that needs more
// (a mean such as 2/3, a percentage such as 100/3) compares within 1e-11
// relative there; every other value, and everything in Prometheus, exactly.
// The counters and histograms here are dyadic with few digits, so they are
// compared exactly in both.
function vmEqual(a, b) {
  if (a === b) {
    return true;
  }
  const digits = String(b).replace(/^-?0*\.?0*/, '').replace(/e.*$/, '').replace('.', '').length;
  return a !== undefined && digits > 12 && Math.abs(a - b) <= 1e-11 * Math.abs(b);
}

// Differences between two Maps of series (empty array when equal).
function diff(got, want, max = 8, eq = (a, b) => a === b) {
  const d = [];
  for (const [k, v] of want) {
    if (!eq(got.get(k), v)) {
      d.push(`{${k}}: got ${got.get(k)}, want ${v}`);
    }
  }
  for (const [k, v] of got) {
    if (!want.has(k)) {
      d.push(`{${k}}: got ${v}, want no series`);
    }
  }
  return d.slice(0, max);
}

const addInto = (acc, m) => {
  for (const [k, v] of m) {
    acc.set(k, (acc.get(k) || 0) + v);
  }
  return acc;
};

// --- the topology ---

const CONV = [
  'agent_conversation_turns_bucket',
  'agent_conversation_turns_sum',
  'agent_conversation_turns_count',
  'agent_conversations_total',
];
const AGENT_SERIES = '__name__=~"agent_.+|model_.+|gen_ai_.+"';
// Gauges computed over a window per replica: exact only where one replica
// holds all of an agent's data (service routing, HA).
const WINDOWED = ['agent_quality_score', 'agent_escalation_rate'];

const rwEntry = (url, qdir) =>
  `    - url: ${url}
      send_interval: 1s
      timeout: 5s
      queue: { dir: ${qdir}, min_backoff: 50ms, max_backoff: 500ms }
`;

function instanceConfig(topology, replica, promUrl, vmUrl) {
  return (
    '  remote_write:\n' +
    rwEntry(promUrl, path.join(tmp, `q-${replica}-prom`)) +
    rwEntry(vmUrl, path.join(tmp, `q-${replica}-vm`)) +
    `external_labels: { topology: ${topology}, replica: ${replica} }\n` +
    'processors:\n  genai:\n    trace_wait: 1s\n    conversation_idle_timeout: 5s\n' +
    PRICING
  );
}

// Names given to the ring: what a static resolver or a headless Service
// would list. Each maps to a replica's current OTLP/HTTP port.
const ringName = (i) => `agentmeter-${i}.agentmeter-headless:4318`;

async function scrapeSelf(c) {
  const m = (await c.scrape()).m;
  return {
    m,
    accepted: m.sum('agentmeter_spans_accepted_total'),
    idle:
      m.get('agentmeter_traces_pending') === 0 &&
      m.get('agentmeter_spans_pending') === 0 &&
      m.get('agentmeter_spans_waiting') === 0 &&
      m.get('agentmeter_conversations_open') === 0,
  };
}

describe('scale-out: sharded, service-routed and HA replicas into Prometheus and VictoriaMetrics', () => {
  test('the load-balancing ring matches the exporter (its own test vectors)', () => {
    assert.deepEqual(
      new HashRing(['endpoint-1'], 5).items.map((i) => i.pos),
      [1401, 4175, 14133, 17836, 21667],
    );
    const ring = new HashRing(['endpoint-2', 'endpoint-1']);
    assert.equal(ring.endpointFor(Buffer.from([1, 2, 0, 0])), 'endpoint-1');
    assert.equal(ring.endpointFor(Buffer.from([128, 128, 0, 0])), 'endpoint-2');
    assert.equal(ring.endpointFor('ad-service-7'), 'endpoint-1');
    assert.equal(ring.endpointFor('get-recommendations-1'), 'endpoint-2');
    // A request splits into per-trace batches: every span goes to exactly
    // one replica, and every batch of a trace to the same one.
    const w = workload(1);
    const ring3 = new HashRing([ringName(0), ringName(1), ringName(2)]);
    let spans = 0;
    const home = new Map();
    for (const req of w.requests) {
      for (const [ep, body] of route(ring3, req, 'traceID')) {
        for (const rs of fields(body)) {
          for (const ss of fields(rs.value).filter((f) => f.num === 2)) {
            for (const sp of fields(ss.value).filter((f) => f.num === 2)) {
              const tid = fields(sp.value).find((f) => f.num === 1).value.toString('hex');
              assert.equal(home.get(tid) ?? ep, ep, `trace ${tid} stays on one replica`);
              home.set(tid, ep);
              spans++;
            }
          }
        }
      }
    }
    assert.equal(spans, w.spans);
    assert.equal(new Set(home.values()).size, 3, 'the traces spread over all three replicas');
  });

  test('totals over replicas equal one instance; HA max equals it; a killed replica loses nothing queued', async () => {
    const promPort = await freePort();
    const vmPort = await freePort();
    await Promise.all([startPrometheus(promPort), startVictoriaMetrics(vmPort)]);
    const promUrl = `http://127.0.0.1:${promPort}/api/v1/write`;
    const vmUrl = `http://127.0.0.1:${vmPort}/api/v1/write`;
    const gateProm = await startGate(promPort);
    const gateVm = await startGate(vmPort);
    const eqFor = (port) => (port === vmPort ? vmEqual : undefined);
    const gateUrl = (gate) => `http://127.0.0.1:${gate.port}/api/v1/write`;

    const start = async (topology, replica, gated = false) => {
      const c = await startCollector({
        extra: gated
          ? instanceConfig(topology, replica, gateUrl(gateProm), gateUrl(gateVm))
          : instanceConfig(topology, replica, promUrl, vmUrl),
      });
      collectors.push(c);
      return c;
    };
    const single = await start('single', 's0');
    const shards = { trace: [], service: [], ha: [] };
    for (let i = 0; i < 3; i++) {
      shards.trace.push(await start('trace', `t${i}`, i === 1));
      shards.service.push(await start('service', `v${i}`));
    }
    shards.ha.push(await start('ha', 'h0'), await start('ha', 'h1'));
    const splitters = {};
    for (const [topology, key] of [['trace', 'traceID'], ['service', 'service'], ['ha', 'fanout']]) {
      const targets = new Map(shards[topology].map((c, i) => [ringName(i), c.httpPort]));
      splitters[topology] = await startSplitter({ targets, routingKey: key });
      servers.push(splitters[topology]);
    }
    const doors = [single.httpPort, ...Object.values(splitters).map((s) => s.port)];

    let sent = 0;
    let killedAccepted = 0; // spans the killed t1 had counted (its counter restarts at 0)
    const send = async (w) => {
      for (const body of w.requests) {
        const headers = { 'Content-Type': 'application/x-protobuf' };
        const codes = await Promise.all(
          doors.map(async (port) => (await request(port, { method: 'POST', path: '/v1/traces', headers, body })).status),
        );
        assert.deepEqual(codes, doors.map(() => 200), 'every front door took the request');
      }
      sent += w.spans;
    };
    // Every instance has taken its share and finished every trace and conversation.
    const quiet = async () => {
      const ok = await waitFor(
        async () => {
          const s = await scrapeSelf(single);
          if (!s.idle || s.accepted !== sent) {
            return false;
          }
          for (const [topology, list] of Object.entries(shards)) {
            const all = await Promise.all(list.map(scrapeSelf));
            const total = all.reduce((a, x) => a + x.accepted, topology === 'trace' ? killedAccepted : 0);
            if (!all.every((x) => x.idle) || total !== (topology === 'ha' ? 2 * sent : sent)) {
              return false;
            }
          }
          return true;
        },
        { timeoutMs: 20000, interval: 200 },
      );
      assert.ok(ok, 'instances did not take every span and go idle');
    };

    // Phase 1, with t1 cut off from both receivers.
    const w1 = workload(1);
    await send(w1);
    await quiet();
    const t1 = shards.trace[1];
    const before1 = await scrapeSelf(t1);
    const want1 = new Map(
      before1.m.list
        .filter((s) => /^(agent_|model_|gen_ai_)/.test(s.name))
        .map((s) => [s.name + JSON.stringify(Object.entries(s.labels).filter(([, v]) => v !== '').sort()), s.value]),
    );
    assert.ok(want1.size > 20, `t1 holds ${want1.size} agent series`);
    // (remote_write drops empty label values, as Prometheus does.)
    // Its queues grow past the snapshot that holds phase 1 in full.
    const qlen = (m) => m.get('agentmeter_remote_write_queue_length', { url: gateUrl(gateProm) });
    const q0 = qlen(before1.m);
    const grew = await waitFor(async () => qlen((await t1.scrape()).m) >= q0 + 2, { timeoutMs: 10000, interval: 100 });
    assert.ok(grew, 'queue did not grow');
    const early = await query(promPort, 'count({replica="t1"})');
    assert.equal(early.size, 0, 'nothing of t1 reached Prometheus before the kill');

    killedAccepted = before1.accepted;
    t1.child.kill('SIGKILL');
    assert.ok(await waitFor(() => !t1.alive(), { timeoutMs: 5000 }));
    const killTs = Date.now() / 1000;
    await t1.stop();
    const t1b = await start('trace', 't1', true);
    shards.trace[1] = t1b;
    splitters.trace.setTarget(ringName(1), t1b.httpPort);
    gateProm.open = true;
    gateVm.open = true;

    // The queued samples arrive: at the kill time both receivers hold t1's last /metrics.
    for (const port of [promPort, vmPort]) {
      const missing = async () =>
        diff(await fetchSeries(port, `{replica="t1",${AGENT_SERIES}}`, killTs), want1, 8, eqFor(port));
      const got = await waitFor(async () => (await missing()).length === 0, { timeoutMs: 20000, interval: 250 });
      const name = port === promPort ? 'Prometheus' : 'VictoriaMetrics';
      assert.ok(got, `${name} lacks t1's queued samples: ${(await missing()).join('; ')}`);
    }
    const drained = await waitFor(async () => {
      const m = (await t1b.scrape()).m;
      const q = m.series('agentmeter_remote_write_queue_length');
      return q.length === 2 && q.every((s) => s.value === 0) && m.sum('agentmeter_remote_write_samples_sent_total') > 0 ? m : undefined;
    }, { timeoutMs: 20000, interval: 200 });
    assert.ok(drained, 'the restarted replica did not drain its queue');
    assert.equal(drained.sum('agentmeter_remote_write_samples_dropped_total'), 0);

    // Phase 2 through the restarted replica.
    const w2 = workload(2);
    await send(w2);
    await quiet();

    const singleList = (await scrapeSelf(single)).m.list;
    const names = [...new Set(singleList.map((s) => s.name).filter((n) => /^(agent_|model_|gen_ai_)/.test(n)))];
    assert.ok(names.length >= 30, `single shows ${names.length} agent families`);
    // Trace-routed totals across the kill: what the replicas hold now, only
    // samples written after the kill (the old t1's series keep answering an
    // instant query until they go stale), plus t1's counters as they stood
    // when it was killed (a restarted replica starts from zero: a counter
    // reset, which rate() and increase() take care of in the rules).
    const traceTotal = async (port, n) => {
      const sel = `${n}{topology="trace"}`;
      return addInto(
        await query(port, `sum without (replica, instance) (${sel} and timestamp(${sel}) > ${killTs})`, undefined, DROP),
        await query(port, `${n}{topology="trace",replica="t1"}`, killTs, DROP),
      );
    };
    const DROP = ['__name__', 'topology', 'replica', 'instance']; // aggregation drops the name too
    for (const [label, port] of [['Prometheus', promPort], ['VictoriaMetrics', vmPort]]) {
      // Wait for the last snapshot of every instance, then compare.
      const traces = [...w1.conversations, ...w2.conversations].reduce((a, c) => a + c.turns.length, 0);
      const settled = await waitFor(async () => {
        const s = await fetchSeries(port, '{topology="single",__name__="agent_requests_total"}');
        const t = await fetchSeries(port, '{topology="ha",replica="h1",__name__="agent_requests_total"}');
        return diff(t, s).length === 0 && [...s.values()].reduce((a, b) => a + b, 0) === traces;
      }, { timeoutMs: 20000, interval: 250 });
      assert.ok(settled, `${label}: the last snapshots never arrived`);
      await waitFor(async () => {
        for (const n of names) {
          const a = await query(port, `sum without (replica, instance) (${n}{topology="service"})`, undefined, DROP);
          const b = await query(port, `${n}{topology="single"}`, undefined, DROP);
          if (diff(a, b, 8, eqFor(port)).length) {
            return false;
          }
        }
        return true;
      }, { timeoutMs: 10000, interval: 500 });
      const report = { label, families: 0, series: 0 };
      for (const n of names) {
        const want = await query(port, `${n}{topology="single"}`, undefined, DROP);
        assert.ok(want.size > 0, `${label}: ${n} of the single instance`);
        const service = await query(port, `sum without (replica, instance) (${n}{topology="service"})`, undefined, DROP);
        assert.deepEqual(diff(service, want, 8, eqFor(port)), [], `${label}: service routing, ${n}`);
        const ha = await query(port, `max without (replica) (${n}{topology="ha"})`, undefined, DROP);
        assert.deepEqual(diff(ha, want, 8, eqFor(port)), [], `${label}: HA pair max, ${n}`);
        if (CONV.includes(n) || WINDOWED.includes(n)) {
          continue;
        }
        const trace = await traceTotal(port, n);
        assert.deepEqual(diff(trace, want, 8, eqFor(port)), [], `${label}: trace-id routing, ${n}`);
        report.families++;
        report.series += want.size;
      }
      assert.ok(report.families >= 25);
      console.log(
        `# ${label}: ${report.families} span-level families (${report.series} series) exact under ` +
          `trace-id routing across a kill -9; ${names.length} families exact under service routing and the HA max`,
      );
    }

    // Trace-id routing splits conversations: each replica finishes its own
    // fragment. The ring predicts each fragment; the receivers must hold them.
    const ring = splitters.trace.ring;
    const predicted = { turns: new Map(), conv: new Map() };
    let fragments = 0;
    let trueConv = 0;
    let trueEsc = 0;
    let fragEsc = 0;
    for (const c of [...w1.conversations, ...w2.conversations]) {
      trueConv++;
      trueEsc += c.turns.some((t) => t.escalated) ? 1 : 0;
      const byReplica = new Map();
      for (const t of c.turns) {
        const ep = ring.endpointFor(Buffer.from(t.traceId, 'hex'));
        byReplica.set(ep, [...(byReplica.get(ep) || []), t]);
      }
      for (const turns of byReplica.values()) {
        fragments++;
        const outcome = turns.some((t) => t.escalated) ? 'escalated' : 'resolved';
        fragEsc += outcome === 'escalated' ? 1 : 0;
        const k = `agent_name=${JSON.stringify(c.agent)},outcome=${JSON.stringify(outcome)}`;
        predicted.conv.set(k, (predicted.conv.get(k) || 0) + 1);
        const a = JSON.stringify(c.agent);
        predicted.turns.set(a, [...(predicted.turns.get(a) || []), turns.length]);
      }
    }
    // The reference counts every conversation once (no idle gap split one).
    const single1 = (await scrapeSelf(single)).m;
    assert.equal(single1.sum('agent_conversations_total'), trueConv, 'the single instance counts every conversation once');
    assert.equal(single1.sum('agent_conversations_total', { outcome: 'escalated' }), trueEsc);
    for (const port of [promPort, vmPort]) {
      const conv = await traceTotal(port, 'agent_conversations_total');
      assert.deepEqual(diff(conv, predicted.conv), [], 'trace routing: conversations as the ring predicts');
      const count = await traceTotal(port, 'agent_conversation_turns_count');
      const sum = await traceTotal(port, 'agent_conversation_turns_sum');
      const wantCount = new Map([...predicted.turns].map(([a, l]) => [`agent_name=${a}`, l.length]));
      const wantSum = new Map([...predicted.turns].map(([a, l]) => [`agent_name=${a}`, l.reduce((x, y) => x + y, 0)]));
      assert.deepEqual(diff(count, wantCount), [], 'trace routing: turn-histogram count = fragments');
      assert.deepEqual(diff(sum, wantSum), [], 'trace routing: turn-histogram sum = every turn, once');
    }
    assert.ok(fragments > trueConv, 'the workload splits conversations under trace-id routing');
    const turns = [...w1.conversations, ...w2.conversations].reduce((a, c) => a + c.turns.length, 0);
    console.log(
      `# trace-id routing, conversation error: ${trueConv} conversations counted as ${fragments} ` +
        `(x${(fragments / trueConv).toFixed(2)}); mean turns ${(turns / fragments).toFixed(2)} instead of ${(turns / trueConv).toFixed(2)}; ` +
        `escalated ${fragEsc}/${fragments} = ${((100 * fragEsc) / fragments).toFixed(1)}% instead of ${trueEsc}/${trueConv} = ${((100 * trueEsc) / trueConv).toFixed(1)}%; ` +
        'turn-histogram _sum exact',
    );
    const share = [...splitters.trace.counts.values()];
    assert.ok(share.every((n) => n > 0), `every trace replica got requests: ${share}`);
  });
});

// Every series of a selector at `time`: Map(name + sorted labels without
// topology/replica/instance -> value), keyed like the /metrics map above.
async function fetchSeries(port, sel, time) {
  let p = `/api/v1/query?query=${encodeURIComponent(sel)}`;
  if (time !== undefined) {
    p += `&time=${time}`;
  }
  const r = await request(port, { path: p });
  assert.equal(r.status, 200);
  const out = new Map();
  for (const s of JSON.parse(r.body.toString('utf8')).data.result) {
    const labels = { ...s.metric };
    for (const k of ['__name__', 'topology', 'replica', 'instance']) {
      delete labels[k];
    }
    out.set(s.metric.__name__ + JSON.stringify(Object.entries(labels).sort()), Number(s.value[1]));
  }
  return out;
}
