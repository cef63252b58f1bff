// memory.test.mjs - bounded memory under many connections with large
// bodies, and the limits.memory soft limit (issue 9 item 3).
//  1. CONNS keep-alive connections (short 200; long 2,000) each send one
//     ~1 MiB export and stay open: RSS stays within idle + OPEN_BOUND while
//     they are open (what a connection keeps between requests is capped;
//     freed bodies go back to the system), and within idle + AFTER_BOUND
//     once they closed; every span is derived.
//  2. limits.memory set (by SIGHUP) just above the running RSS; bodies held
//     half-sent push RSS over it: a new export gets 503 + Retry-After, a gRPC
//     call UNAVAILABLE, both counted in
//     agentmeter_requests_refused_total{reason="memory_limit"}; once those
//     connections are gone, exports are served again.
// The sanitizer build runs with ASan's quarantine off (freed memory held
// back from reuse would otherwise be the RSS measured).

import assert from 'node:assert/strict';
import { writeFileSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';

import { encodeRequest } from '../e2e/pb.mjs';
import { grpcCall, pick, request, rssOf, startCollector, waitFor } from './rlib.mjs';

process.env.ASAN_OPTIONS = [process.env.ASAN_OPTIONS, 'quarantine_size_mb=0', 'allocator_release_to_os_interval_ms=100']
  .filter(Boolean)
  .join(':');

const MIB = 1024 * 1024;
const BODY = MIB - 1024; /* the e2e config's max_request_body_size is 1 MiB */
const CONNS = pick(200, 2000);
const OPEN_BOUND = 16 * MIB;
const AFTER_BOUND = 12 * MIB;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function id(n, bytes, salt) {
  const b = Buffer.alloc(bytes);
  b.writeUInt32BE(salt, 0);
  b.writeUInt32BE(n, bytes - 4);
  return b;
}

// One chat span of its own agent carrying a `pad`-byte prompt.
function bigExport(n, pad) {
  const startNs = BigInt(Date.now() - 60000) * 1000000n;
  return encodeRequest('mem-svc', [
    {
      traceId: id(n, 16, 0x3e3),
      spanId: id(n, 8, 0x5),
      name: 'chat',
      kind: 3,
      startNs,
      endNs: startNs + 250000000n,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.agent.name': 'mem-agent',
        'gen_ai.request.model': 'gpt-4o-mini',
        'gen_ai.input.messages': 'x'.repeat(pad),
      },
    },
  ]);
}

function head(port, len) {
  return `POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/x-protobuf\r\nContent-Length: ${len}\r\n\r\n`;
}

function connect(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

// Send one export on socket s and resolve the status of its answer.
function exportOn(s, port, body) {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (d) => {
      got = Buffer.concat([got, d]);
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) {
        return;
      }
      const text = got.subarray(0, end).toString('latin1');
      const len = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? 0);
      if (got.length >= end + 4 + len) {
        s.off('data', onData);
        resolve(Number(text.split(' ')[1]));
      }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write(head(port, body.length));
    s.write(body);
  });
}

async function connectionsActive(c) {
  return (await c.scrape()).m.get('agentmeter_connections_active', { listener: 'otlp_http' });
}

test(`memory: ${CONNS} keep-alive connections after a 1 MiB export each`, async (t) => {
  const c = await startCollector({ http: '      read_timeout: 5m\n' });
  const socks = [];
  try {
    await sleep(500);
    const idle = rssOf(c.child.pid);
    for (let i = 0; i < CONNS; i++) {
      socks.push(await connect(c.httpPort));
    }
    for (let i = 0; i < CONNS; i += 16) {
      const batch = socks.slice(i, i + 16).map((s, k) => exportOn(s, c.httpPort, bigExport(i + k, BODY)));
      assert.deepEqual(new Set(await Promise.all(batch)), new Set([200]));
    }
    const derived = await waitFor(async () => {
      const v = (await c.scrape()).m.get('model_inference_calls_total', { agent_name: 'mem-agent', model_id: 'gpt-4o-mini' });
      return v === CONNS ? v : undefined;
    });
    assert.equal(derived, CONNS, 'every span derived');
    // Freed bodies go back to the system within a few housekeeping ticks.
    let open = 0;
    await waitFor(() => (open = rssOf(c.child.pid)) - idle <= OPEN_BOUND, { timeoutMs: 5000, interval: 200 });
    assert.ok(open - idle <= OPEN_BOUND, `RSS ${open} with ${CONNS} connections open, idle ${idle}: +${((open - idle) / MIB).toFixed(1)} MiB`);
    assert.equal(await connectionsActive(c), CONNS);
    t.diagnostic(`idle ${(idle / MIB).toFixed(1)} MiB, open +${((open - idle) / MIB).toFixed(1)} MiB`);
    for (const s of socks) {
      s.destroy();
    }
    await waitFor(async () => (await connectionsActive(c)) === 0);
    let after = 0;
    await waitFor(() => (after = rssOf(c.child.pid)) - idle <= AFTER_BOUND, { timeoutMs: 5000, interval: 200 });
    t.diagnostic(`after close +${((after - idle) / MIB).toFixed(1)} MiB`);
    assert.ok(after - idle <= AFTER_BOUND, `RSS ${after} after close, idle ${idle}: +${((after - idle) / MIB).toFixed(1)} MiB`);
  } finally {
    for (const s of socks) {
      s.destroy();
    }
    await c.stop();
  }
});

test('memory: limits.memory refuses new exports while RSS is above it, then serves again', async () => {
  const c = await startCollector({ http: '      read_timeout: 5m\n', extra: 'limits:\n  memory: 0\n' });
  const held = [];
  try {
    await sleep(300);
    // The limit: 24 MiB above what the collector uses now, applied by SIGHUP.
    const limitMiB = Math.ceil(rssOf(c.child.pid) / MIB) + 24;
    const cfg = readFileSync(c.configPath, 'utf8').replace('  memory: 0\n', `  memory: ${limitMiB}MiB\n`);
    writeFileSync(c.configPath, cfg);
    c.child.kill('SIGHUP');
    await waitFor(() => c.output.includes('reloaded'));
    const small = bigExport(1, 10);
    let r = await request(c.httpPort, { method: 'POST', path: '/v1/traces', headers: { 'Content-Type': 'application/x-protobuf' }, body: small });
    assert.equal(r.status, 200, 'under the limit');
    // 64 bodies of 1 MiB, each sent but its last byte: 64 MiB held.
    const body = bigExport(2, BODY);
    for (let i = 0; i < 64; i++) {
      const s = await connect(c.httpPort);
      s.on('error', () => {});
      s.write(head(c.httpPort, body.length));
      s.write(body.subarray(0, body.length - 1));
      held.push(s);
    }
    await waitFor(() => rssOf(c.child.pid) > limitMiB * MIB, { timeoutMs: 10000, interval: 50 });
    assert.ok(rssOf(c.child.pid) > limitMiB * MIB, 'held bodies push RSS over the limit');
    r = await waitFor(async () => {
      const x = await request(c.httpPort, { method: 'POST', path: '/v1/traces', headers: { 'Content-Type': 'application/x-protobuf' }, body: small });
      return x.status === 503 ? x : undefined;
    });
    assert.equal(r.status, 503, 'over the limit');
    assert.equal(r.headers['retry-after'], '1');
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(small.length, 1);
    const g = await grpcCall(c.grpcPort, Buffer.concat([prefix, small]));
    assert.equal(g.grpcStatus, 14, 'gRPC UNAVAILABLE over the limit');
    const m = (await c.scrape()).m;
    assert.ok(m.get('agentmeter_requests_refused_total', { listener: 'otlp_http', reason: 'memory_limit' }) >= 1);
    assert.equal(m.get('agentmeter_requests_refused_total', { listener: 'otlp_grpc', reason: 'memory_limit' }), 1);
    for (const s of held) {
      s.destroy();
    }
    r = await waitFor(async () => {
      const x = await request(c.httpPort, { method: 'POST', path: '/v1/traces', headers: { 'Content-Type': 'application/x-protobuf' }, body: small });
      return x.status === 200 ? x : undefined;
    }, { timeoutMs: 10000, interval: 100 });
    assert.equal(r?.status, 200, 'served again once RSS is back under the limit');
  } finally {
    for (const s of held) {
      s.destroy();
    }
    await c.stop();
  }
});
