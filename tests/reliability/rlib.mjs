// rlib.mjs - helpers shared by the reliability tests (tests/reliability/
// *.test.mjs): raw TCP exchanges, HTTP/2 frames, the derived-metric
// snapshot that hostile input must leave unchanged, the collector's RSS, and
// the short/long switch. The collector itself is started with
// ../e2e/lib.mjs's startCollector (real binary, loopback, free ports).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';

import { request, scrape, waitFor } from '../e2e/lib.mjs';
import { agentRequest } from '../e2e/pb.mjs';

export { request, scrape, startCollector, waitFor } from '../e2e/lib.mjs';

// RELIABILITY_LONG=1 selects the long forms (minutes, 10^6-sized floods);
// the default is the short form scripts/test.sh runs.
export const LONG = process.env.RELIABILITY_LONG === '1';
export const pick = (short, long) => (LONG ? long : short);

// Resident set size of a process, bytes (VmRSS in /proc/PID/status).
export function rssOf(pid) {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

// Derived (non-self) samples keyed by name and labels: hostile input must
// leave this map exactly as it was.
export function derived(m) {
  const out = {};
  for (const s of m.list) {
    if (/^(agent_|model_|gen_ai_)/.test(s.name)) {
      out[JSON.stringify([s.name, s.labels])] = s.value;
    }
  }
  return out;
}

// Assert the collector is alive, answers /metrics, and its derived samples
// equal `before` (from derived()).
export async function assertUnchanged(c, before, what) {
  assert.ok(c.alive(), `${what}: collector died: ${JSON.stringify(c.exited)}\n${c.output}`);
  const s = await c.scrape();
  assert.equal(s.status, 200, `${what}: /metrics answered ${s.status}`);
  assert.deepEqual(derived(s.m), before, `${what}: a derived metric changed`);
  return s.m;
}

// Export one valid invoke_agent span of `agent` and wait until /metrics
// shows it; resolves the derived snapshot then (the baseline hostile input
// must leave unchanged).
export async function baseline(c, agent = 'baseline-bot') {
  const r = await request(c.httpPort, {
    method: 'POST',
    path: '/v1/traces',
    headers: { 'Content-Type': 'application/x-protobuf' },
    body: agentRequest(agent, 500),
  });
  assert.equal(r.status, 200, 'baseline export');
  const m = await waitFor(async () => {
    const s = (await scrape(c.promPort)).m;
    return s.get('agent_requests_total', { agent_name: agent, status: 'success' }) === 1 ? s : undefined;
  });
  assert.ok(m, 'the baseline export never showed up in /metrics');
  return derived(m);
}

// Send `chunks` (Buffers, or {delayMs} pauses) on a fresh connection and
// collect what comes back until the server closes or `timeoutMs` passes.
// Resolves { data: Buffer, closed: bool, ms: time until close or timeout }.
export function rawExchange(port, chunks, { timeoutMs = 5000, endAfterSend = false } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const sock = net.connect(port, '127.0.0.1');
    const got = [];
    let done = false;
    const finish = (closed) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        sock.destroy();
        resolve({ data: Buffer.concat(got), closed, ms: Date.now() - t0 });
      }
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on('data', (d) => got.push(d));
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('error', (e) => (e.code === 'ECONNRESET' ? finish(true) : reject(e)));
    sock.on('connect', async () => {
      for (const c of chunks) {
        if (done) {
          return;
        }
        if (Buffer.isBuffer(c) || typeof c === 'string') {
          sock.write(c);
        } else if (c.delayMs) {
          await new Promise((r) => setTimeout(r, c.delayMs));
        }
      }
      if (endAfterSend && !done) {
        sock.end();
      }
    });
  });
}

// Status codes of every HTTP/1.x response head in `buf`, in order.
export function httpStatuses(buf) {
  const s = buf.toString('latin1');
  return [...s.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
}

// --- HTTP/2 frames (RFC 9113 4.1) ---

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const H2 = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 };

export function h2frame(type, flags, stream, payload = Buffer.alloc(0), lengthOverride) {
  const h = Buffer.alloc(9);
  const len = lengthOverride ?? payload.length;
  h.writeUIntBE(len, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream >>> 0, 5);
  return Buffer.concat([h, payload]);
}

// Every frame the server sent in `buf` (after its own preface-less start):
// [{type, flags, stream, payload}]; a truncated tail is ignored.
export function h2parse(buf) {
  const out = [];
  let p = 0;
  while (p + 9 <= buf.length) {
    const len = buf.readUIntBE(p, 3);
    if (p + 9 + len > buf.length) {
      break;
    }
    out.push({ type: buf[p + 3], flags: buf[p + 4], stream: buf.readUInt32BE(p + 5) & 0x7fffffff, payload: buf.subarray(p + 9, p + 9 + len) });
    p += 9 + len;
  }
  return out;
}

// The GOAWAY error code the server sent, or undefined.
export function goawayCode(buf) {
  const g = h2parse(buf).find((f) => f.type === H2.GOAWAY);
  return g ? g.payload.readUInt32BE(4) : undefined;
}

// A literal-without-indexing HPACK header with a new name (RFC 7541 6.2.2),
// names and values under 127 bytes, no Huffman.
export function hpackLiteral(name, value) {
  const n = Buffer.from(name, 'latin1');
  const v = Buffer.from(value, 'latin1');
  return Buffer.concat([Buffer.from([0x00, n.length]), n, Buffer.from([v.length]), v]);
}

// One gRPC call over h2c with node's http2 client. `body` is sent as is
// (already framed, or deliberately not). Resolves { status, grpcStatus,
// grpcMessage, headers, rstCode }.
export function grpcCall(port, body, { path = '/opentelemetry.proto.collector.trace.v1.TraceService/Export', headers = {}, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    const out = { status: undefined, grpcStatus: undefined, grpcMessage: undefined, headers: {}, rstCode: undefined };
    const timer = setTimeout(() => {
      client.destroy();
      reject(new Error(`gRPC call timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    client.on('error', () => {});
    const req = client.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    const take = (h) => {
      Object.assign(out.headers, h);
      if (h[':status'] !== undefined) {
        out.status = h[':status'];
      }
      if (h['grpc-status'] !== undefined) {
        out.grpcStatus = Number(h['grpc-status']);
        out.grpcMessage = h['grpc-message'];
      }
    };
    req.on('response', take);
    req.on('trailers', take);
    req.on('data', () => {});
    req.on('error', () => {});
    req.on('close', () => {
      clearTimeout(timer);
      out.rstCode = req.rstCode;
      client.close();
      resolve(out);
    });
    req.end(body);
  });
}

// gRPC length-prefixed message (compressed flag 0 unless given).
export function grpcFrame(msg, compressed = 0) {
  const h = Buffer.alloc(5);
  h[0] = compressed;
  h.writeUInt32BE(msg.length, 1);
  return Buffer.concat([h, msg]);
}
