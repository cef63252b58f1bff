// errors.test.mjs - every OTLP/HTTP error row of SPEC.md 1 that this
// version covers, sent as raw HTTP/1.1 over one socket: status code,
// google.rpc.Status body, no derived metric changed, the process survives,
// and the keep-alive connection still serves a valid request afterwards.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';

import { startCollector, waitFor } from './lib.mjs';
import { agentRequest, decodeStatus } from './pb.mjs';

const MAX_BODY = 1024 * 1024; // max_request_body_size: 1MiB in lib.mjs

// A minimal HTTP/1.1 client on one socket: send a request, read one
// response (Content-Length, chunked, or until close).
class RawConn {
  constructor(port) {
    this.port = port;
    this.buf = Buffer.alloc(0);
    this.closed = false;
    this.error = null;
    this.waiter = null;
  }

  open() {
    return new Promise((resolve, reject) => {
      this.sock = net.connect(this.port, '127.0.0.1', resolve);
      this.sock.once('error', reject);
      this.sock.on('data', (d) => {
        this.buf = Buffer.concat([this.buf, d]);
        this.wake();
      });
      this.sock.on('error', (e) => {
        this.error = e;
        this.wake();
      });
      this.sock.on('close', () => {
        this.closed = true;
        this.wake();
      });
    });
  }

  wake() {
    const w = this.waiter;
    this.waiter = null;
    if (w) {
      w();
    }
  }

  more(timeoutMs) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for a response')), timeoutMs);
      this.waiter = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  // Write a request; write errors (the server may answer early and close)
  // are ignored so the response can still be read.
  send({ method = 'POST', path = '/v1/traces', headers = {}, body = Buffer.alloc(0) }) {
    const h = { Host: `127.0.0.1:${this.port}`, 'Content-Length': String(body.length), ...headers };
    const head = [`${method} ${path} HTTP/1.1`, ...Object.entries(h).map(([k, v]) => `${k}: ${v}`)];
    this.sock.write(Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`), body]), () => {});
  }

  async response(timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.tryParse();
      if (r) {
        return r;
      }
      if (this.closed || this.error) {
        throw new Error(`connection closed before a full response (${this.error || 'eof'}); got ${JSON.stringify(this.buf.toString('latin1').slice(0, 200))}`);
      }
      await this.more(Math.max(1, deadline - Date.now()));
    }
  }

  tryParse() {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) {
      return null;
    }
    const lines = this.buf.subarray(0, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (!m) {
      throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
    }
    const headers = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    let rest = this.buf.subarray(end + 4);
    let body;
    if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (rest.length < n) {
        return null;
      }
      body = rest.subarray(0, n);
      rest = rest.subarray(n);
    } else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
      const parts = [];
      let pos = 0;
      for (;;) {
        const le = rest.indexOf('\r\n', pos);
        if (le < 0) {
          return null;
        }
        const size = parseInt(rest.subarray(pos, le).toString('latin1'), 16);
        if (rest.length < le + 2 + size + 2) {
          return null;
        }
        parts.push(rest.subarray(le + 2, le + 2 + size));
        pos = le + 2 + size + 2;
        if (size === 0) {
          break;
        }
      }
      body = Buffer.concat(parts);
      rest = rest.subarray(pos);
    } else {
      if (!this.closed) {
        return null;
      }
      body = rest;
      rest = Buffer.alloc(0);
    }
    this.buf = rest;
    return { status: Number(m[1]), headers, body };
  }

  close() {
    this.sock.destroy();
  }
}

// Decode an error body as google.rpc.Status in the response's encoding.
function status(r) {
  const ct = (r.headers['content-type'] || '').split(';')[0].trim();
  if (ct === 'application/json') {
    const j = JSON.parse(r.body.toString('utf8'));
    return { code: j.code, message: j.message || '' };
  }
  assert.equal(ct, 'application/x-protobuf', `error body Content-Type ${ct}`);
  return decodeStatus(r.body);
}

// google.rpc.Code per HTTP status (net/status.c).
const RPC_CODE = { 400: 3, 404: 12, 405: 12, 413: 8, 415: 12 };

function assertError(r, code, what) {
  assert.equal(r.status, code, `${what}: status ${r.status}, body ${r.body.toString('latin1').slice(0, 200)}`);
  const s = status(r);
  assert.equal(s.code, RPC_CODE[code], `${what}: google.rpc.Status code`);
  return s;
}

const PB = { 'Content-Type': 'application/x-protobuf' };
const JSON_CT = { 'Content-Type': 'application/json' };

// Derived (non-self) samples, for the "errors change nothing" check.
function derived(m) {
  const out = {};
  for (const s of m.list) {
    if (/^(agent_|model_|gen_ai_)/.test(s.name)) {
      out[JSON.stringify([s.name, s.labels])] = s.value;
    }
  }
  return out;
}

describe('OTLP/HTTP error responses (SPEC.md 1)', () => {
  let c;
  let baselineSeen;
  let snapshot; // derived samples right before the error rows
  let conn;

  before(async () => {
    c = await startCollector();
    const first = new RawConn(c.httpPort);
    await first.open();
    first.send({ headers: PB, body: agentRequest('baseline-bot', 1500) });
    let r;
    try {
      r = await first.response();
    } catch (e) {
      await waitFor(() => !c.alive(), { timeoutMs: 1000 });
      throw new Error(`${e.message}\ncollector ${c.alive() ? 'alive' : `exited ${JSON.stringify(c.exited)}`}, its output:\n${c.output}`);
    }
    first.close();
    assert.equal(r.status, 200, `baseline request: ${r.status}\n${c.output}`);
    const seen = (s) => s.m && s.m.get('agent_requests_total', { agent_name: 'baseline-bot', status: 'success' }) === 1;
    const got = (await waitFor(async () => {
      const s = await c.scrape();
      return seen(s) ? s : undefined;
    })) ?? (await c.scrape());
    baselineSeen = seen(got);
    // One connection carries every error row below and then a valid request.
    conn = new RawConn(c.httpPort);
    await conn.open();
  });

  after(async () => {
    if (conn) {
      conn.close();
    }
    if (c) {
      await c.stop();
    }
  });

  test('a valid request shows up in /metrics', () => {
    assert.ok(baselineSeen, 'agent_requests_total{agent_name="baseline-bot",status="success"} is not 1');
  });

  test('a valid request answers 200 with an ExportTraceServiceResponse', async () => {
    conn.send({ headers: PB, body: agentRequest('valid-bot', 1500) });
    const r = await conn.response();
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/x-protobuf');
    // An empty ExportTraceServiceResponse is zero bytes; anything else must
    // at least be well-formed protobuf (partial_success = 1).
    assert.doesNotThrow(() => decodeStatus(r.body));
  });

  test('snapshot of the derived metrics before the error rows', async () => {
    const s = await c.scrape();
    assert.equal(s.status, 200);
    snapshot = derived(s.m);
    assert.ok(Object.keys(snapshot).length > 0, 'no derived series after two valid requests');
  });

  test('undecodable protobuf -> 400 + Status naming the problem', async () => {
    // field 1 (resource_spans), length 16, but only 2 bytes follow
    conn.send({ headers: PB, body: Buffer.from([0x0a, 0x10, 0x01, 0x02]) });
    const s = assertError(await conn.response(), 400, 'bad protobuf');
    assert.ok(s.message.length > 0, 'Status.message is empty');
    assert.match(s.message, /proto|decod|truncat|invalid|malformed|length|field|wire|eof|end/i);
  });

  test('undecodable JSON -> 400', async () => {
    conn.send({ headers: JSON_CT, body: Buffer.from('{"resourceSpans": [{"scopeSpans": [') });
    const s = assertError(await conn.response(), 400, 'bad JSON');
    assert.ok(s.message.length > 0, 'Status.message is empty');
  });

  test('bad gzip -> 400', async () => {
    conn.send({ headers: { ...PB, 'Content-Encoding': 'gzip' }, body: Buffer.from('this is not gzip at all') });
    const s = assertError(await conn.response(), 400, 'bad gzip');
    assert.ok(s.message.length > 0, 'Status.message is empty');
  });

  test('Content-Type text/plain -> 415', async () => {
    conn.send({ headers: { 'Content-Type': 'text/plain' }, body: agentRequest('nobody') });
    assertError(await conn.response(), 415, 'text/plain');
  });

  test('Content-Encoding br -> 415', async () => {
    conn.send({ headers: { ...PB, 'Content-Encoding': 'br' }, body: agentRequest('nobody') });
    assertError(await conn.response(), 415, 'br');
  });

  test('GET /v1/traces -> 405', async () => {
    conn.send({ method: 'GET', headers: {} });
    const r = await conn.response();
    assertError(r, 405, 'GET /v1/traces');
    if (r.headers.allow !== undefined) {
      assert.match(r.headers.allow, /POST/);
    }
  });

  test('POST /v1/nope -> 404', async () => {
    conn.send({ path: '/v1/nope', headers: PB, body: agentRequest('nobody') });
    assertError(await conn.response(), 404, 'POST /v1/nope');
  });

  test('body over max_request_body_size -> 413', async () => {
    const big = new RawConn(c.httpPort);
    await big.open();
    try {
      big.send({ headers: PB, body: Buffer.alloc(MAX_BODY + 1, 0) });
      assertError(await big.response(), 413, 'oversized body');
    } finally {
      big.close();
    }
  });

  test('small gzip body inflating past max_request_body_size -> 413', async () => {
    const bomb = gzipSync(Buffer.alloc(2 * MAX_BODY, 0));
    assert.ok(bomb.length < 16384, `gzip bomb is ${bomb.length} bytes`);
    const b = new RawConn(c.httpPort);
    await b.open();
    try {
      b.send({ headers: { ...PB, 'Content-Encoding': 'gzip' }, body: bomb });
      assertError(await b.response(), 413, 'gzip bomb');
    } finally {
      b.close();
    }
  });

  test('errors changed no derived metric; the collector is alive', async () => {
    const s = await c.scrape();
    assert.equal(s.status, 200);
    const now = derived(s.m);
    for (const [k, v] of Object.entries(snapshot)) {
      assert.equal(now[k], v, `derived sample ${k} changed`);
    }
    for (const k of Object.keys(now)) {
      assert.ok(k in snapshot, `new derived series after the errors: ${k}`);
    }
    assert.ok(c.alive(), `collector exited: ${JSON.stringify(c.exited)}\n${c.output}`);
  });

  test('the same keep-alive connection still serves a valid request', async () => {
    assert.ok(!conn.closed, 'the server closed the connection after an error');
    conn.send({ headers: PB, body: agentRequest('keepalive-bot', 700) });
    const r = await conn.response();
    assert.equal(r.status, 200);
    const got = await waitFor(async () => {
      const s = await c.scrape();
      return s.m.get('agent_requests_total', { agent_name: 'keepalive-bot', status: 'success' }) === 1;
    });
    assert.ok(got, 'agent_requests_total{agent_name="keepalive-bot"} is not 1');
  });

  test('receiver self-metrics count the errors by code', async () => {
    const s = await c.scrape();
    const by = (code) => s.m.sum('agentmeter_receiver_requests_total', { code });
    assert.equal(by('400'), 3);
    assert.equal(by('413'), 2);
    assert.equal(by('415'), 2);
    assert.equal(by('404'), 1);
    assert.equal(by('405'), 1);
  });
  test('SIGTERM stops the collector with exit 0', async () => {
    conn.close();
    const e = await c.stop();
    assert.deepEqual({ code: e.code, signal: e.signal }, { code: 0, signal: null }, c.output);
  });
});
