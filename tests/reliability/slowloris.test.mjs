// slowloris.test.mjs - slow and idle clients (SPEC.md 1: "headers or body
// not complete in read_timeout: connection closed"). With read_timeout 1s
// on the OTLP/HTTP listener: IDLE connections that never send a byte
// (short 200; long 10,000), SLOW_HEAD connections that trickle a header
// byte every 200 ms, SLOW_BODY connections that trickle a declared body.
// Exact invariants: every one is closed by the server between read_timeout
// and read_timeout + 2 s after it started; the mid-request ones are counted
// in agentmeter_connections_rejected_total{reason="read_timeout"} exactly,
// the idle ones in {reason="idle_timeout"} exactly (the good client's
// connections are Connection: close, so not among them);
// connections_active returns to 0; meanwhile another client's exports all
// answer 200 promptly and are all counted.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { agentRequest } from '../e2e/pb.mjs';
import { pick, request, startCollector, waitFor } from './rlib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const TIMEOUT_MS = 1000;
const IDLE = pick(200, 10000);
const SLOW_HEAD = 20;
const SLOW_BODY = 10;

// Open a connection that behaves per `kind` and resolve when the server
// closes it: { kind, ms, msConnected } (ms from starting to connect, and
// from the connect event, to the server's FIN or reset).
// `connected` resolves once the TCP handshake is done.
function attacker(port, kind) {
  let onConnect;
  const connected = new Promise((r) => {
    onConnect = r;
  });
  const closed = new Promise((resolve, reject) => {
    // From before connect: the server's accept (where its clock starts) can
    // only come later, so a correct server never closes before TIMEOUT_MS.
    const t0 = Date.now();
    const sock = net.connect(port, '127.0.0.1');
    let t1 = 0;
    let tick = null;
    const done = () => {
      clearInterval(tick);
      sock.destroy();
      resolve({ kind, ms: Date.now() - t0, msConnected: Date.now() - (t1 || t0) });
    };
    sock.on('connect', () => {
      t1 = Date.now();
      onConnect();
      if (kind === 'head') {
        const head = Buffer.from('POST /v1/traces HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-protobuf\r\nX-Slow: ', 'latin1');
        let i = 0;
        tick = setInterval(() => sock.write(Buffer.from([i < head.length ? head[i++] : 0x61])), 200);
      } else if (kind === 'body') {
        sock.write('POST /v1/traces HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\n');
        tick = setInterval(() => sock.write(Buffer.from([0x0a])), 200);
      }
    });
    sock.on('data', () => {});
    sock.on('end', done);
    sock.on('close', done);
    sock.on('error', (e) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? done() : reject(e)));
  });
  return { connected, closed };
}

// The idle connections live in a child process (idle_holder.mjs): 10,000
// sockets closing at once would stall this process's event loop past
// read_timeout, and the server would rightly close the good client's
// connection as idle before its request was written.
function idleHolder(port, count) {
  const child = spawn(process.execPath, [path.join(here, 'idle_holder.mjs'), String(port), String(count)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  const lines = async (n) => {
    while (out.split('\n').length <= n) {
      if (child.exitCode !== null) {
        throw new Error(`idle_holder exited ${child.exitCode}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return out.split('\n');
  };
  return {
    connected: lines(1),
    closed: lines(2).then((l) => JSON.parse(l[1]).map(([ms, msConnected]) => ({ kind: 'idle', ms, msConnected }))),
    kill: () => child.kill(),
  };
}

test(`slowloris and ${IDLE} idle connections: closed after read_timeout, counted, ingest unaffected`, async () => {
  const c = await startCollector({ http: `      read_timeout: 1s\n      max_connections: ${IDLE + 1000}\n` });
  let idle;
  try {
    idle = idleHolder(c.httpPort, IDLE);
    const attackers = [];
    for (let i = 0; i < SLOW_HEAD; i++) {
      attackers.push(attacker(c.httpPort, 'head'));
    }
    for (let i = 0; i < SLOW_BODY; i++) {
      attackers.push(attacker(c.httpPort, 'body'));
    }
    // Another client exports while they are held open (once they are all
    // established: a burst of 10,000 SYNs overflows any accept backlog, and
    // that is the kernel's queue, not the collector's).
    await Promise.all([idle.connected, ...attackers.map((a) => a.connected)]);
    const GOOD = 20;
    const latencies = [];
    for (let i = 0; i < GOOD; i++) {
      const t = Date.now();
      const r = await request(c.httpPort, {
        method: 'POST',
        path: '/v1/traces',
        headers: { 'Content-Type': 'application/x-protobuf' },
        body: agentRequest('good-bot', 500),
      });
      latencies.push(Date.now() - t);
      assert.equal(r.status, 200, `good export ${i}`);
      await new Promise((res) => setTimeout(res, 50));
    }
    const closed = [...(await idle.closed), ...(await Promise.all(attackers.map((a) => a.closed)))];
    assert.equal(closed.length, IDLE + SLOW_HEAD + SLOW_BODY);
    for (const a of closed) {
      assert.ok(a.ms >= TIMEOUT_MS, `${a.kind} connection closed after ${a.ms} ms`);
      assert.ok(a.msConnected < TIMEOUT_MS + pick(2000, 5000), `${a.kind} connection closed ${a.msConnected} ms after connect`);
    }
    assert.ok(Math.max(...latencies) < TIMEOUT_MS, `good exports took up to ${Math.max(...latencies)} ms`);

    const m = await waitFor(async () => {
      const s = (await c.scrape()).m;
      return s.get('agentmeter_connections_active', { listener: 'otlp_http' }) === 0 ? s : undefined;
    });
    assert.ok(m, 'connections_active never returned to 0');
    const L = { listener: 'otlp_http' };
    assert.equal(m.get('agentmeter_connections_rejected_total', { ...L, reason: 'read_timeout' }), SLOW_HEAD + SLOW_BODY);
    assert.equal(m.get('agentmeter_connections_rejected_total', { ...L, reason: 'idle_timeout' }), IDLE);
    assert.equal(m.get('agentmeter_connections_accepted_total', L), IDLE + SLOW_HEAD + SLOW_BODY + GOOD);
    assert.equal(m.get('agentmeter_connections_rejected_total', { ...L, reason: 'max_connections' }), 0);
    assert.equal(m.get('agent_requests_total', { agent_name: 'good-bot', status: 'success' }), GOOD);
    assert.equal(m.get('agentmeter_spans_accepted_total', { protocol: 'http/protobuf' }), GOOD);
  } finally {
    idle?.kill();
    await c.stop();
  }
});
