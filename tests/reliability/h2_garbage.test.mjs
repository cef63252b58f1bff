// h2_garbage.test.mjs - HTTP/2 and gRPC garbage against both h2 listeners
// (gRPC port, and prior-knowledge h2c on the OTLP/HTTP port): malformed
// frames, bad SETTINGS, HPACK garbage, flow-control overflow, CONTINUATION
// floods; then malformed gRPC messages over well-formed streams. Exact
// invariants: connection errors get a GOAWAY with the RFC 9113 error code
// and a close, stream errors an RST_STREAM (both counted as protocol_error),
// ignorable frames nothing; each gRPC row its grpc-status and message; no
// derived metric changes; the collector stays alive with bounded RSS.

import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { before, after, describe, test } from 'node:test';

import { agentRequest } from '../e2e/pb.mjs';
import { H2, H2_PREFACE, assertUnchanged, baseline, goawayCode, grpcCall, grpcFrame, h2frame, h2parse, hpackLiteral, rawExchange, rssOf, startCollector } from './rlib.mjs';

const E = { PROTOCOL: 1, FLOW_CONTROL: 3, FRAME_SIZE: 6, COMPRESSION: 9 };
const S = h2frame(H2.SETTINGS, 0, 0);
const hdrs = (extra = Buffer.alloc(0)) =>
  Buffer.concat([
    Buffer.from([0x83, 0x86]), // :method POST, :scheme http (static table)
    hpackLiteral(':path', '/opentelemetry.proto.collector.trace.v1.TraceService/Export'),
    hpackLiteral(':authority', 'a'),
    hpackLiteral('content-type', 'application/grpc'),
    hpackLiteral('te', 'trailers'),
    extra,
  ]);
const setting = (id, v) => {
  const b = Buffer.alloc(6);
  b.writeUInt16BE(id, 0);
  b.writeUInt32BE(v >>> 0, 2);
  return b;
};
const P = (...frames) => [H2_PREFACE, ...frames];

// [name, bytes after connect, expected GOAWAY code]
const CONN_ERRORS = [
  ['DATA on stream 0', P(S, h2frame(H2.DATA, 0, 0, Buffer.from('abc'))), E.PROTOCOL],
  ['HEADERS on stream 0', P(S, h2frame(H2.HEADERS, 4, 0, hdrs())), E.PROTOCOL],
  ['HEADERS on an even stream', P(S, h2frame(H2.HEADERS, 4, 2, hdrs())), E.PROTOCOL],
  ['HPACK index 2^28', P(S, h2frame(H2.HEADERS, 5, 1, Buffer.from([0xff, 0xff, 0xff, 0x0f]))), E.COMPRESSION],
  ['HPACK integer overflow', P(S, h2frame(H2.HEADERS, 5, 1, Buffer.from([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]))), E.COMPRESSION],
  ['20,000-byte frame (max 16,384)', P(S, h2frame(H2.DATA, 0, 1, Buffer.alloc(20000))), E.FRAME_SIZE],
  ['SETTINGS of 7 bytes', P(h2frame(H2.SETTINGS, 0, 0, Buffer.alloc(7))), E.FRAME_SIZE],
  ['SETTINGS_ENABLE_PUSH 2', P(h2frame(H2.SETTINGS, 0, 0, setting(2, 2))), E.PROTOCOL],
  ['SETTINGS_INITIAL_WINDOW_SIZE 2^31', P(h2frame(H2.SETTINGS, 0, 0, setting(4, 0x80000000))), E.FLOW_CONTROL],
  ['SETTINGS_MAX_FRAME_SIZE 100', P(h2frame(H2.SETTINGS, 0, 0, setting(5, 100))), E.PROTOCOL],
  ['SETTINGS ACK with a payload', P(S, h2frame(H2.SETTINGS, 1, 0, Buffer.alloc(6))), E.FRAME_SIZE],
  ['WINDOW_UPDATE of 0', P(S, h2frame(H2.WINDOW_UPDATE, 0, 0, Buffer.alloc(4))), E.PROTOCOL],
  ['connection window past 2^31-1', P(S, h2frame(H2.WINDOW_UPDATE, 0, 0, Buffer.from([0x7f, 0xff, 0xff, 0xff])), h2frame(H2.WINDOW_UPDATE, 0, 0, Buffer.from([0x7f, 0xff, 0xff, 0xff]))), E.FLOW_CONTROL],
  ['CONTINUATION without HEADERS', P(S, h2frame(H2.CONTINUATION, 4, 1, hdrs())), E.PROTOCOL],
  ['CONTINUATION flood (40 KB of headers)', P(S, h2frame(H2.HEADERS, 0, 1, hdrs()), ...Array.from({ length: 400 }, () => h2frame(H2.CONTINUATION, 0, 1, hpackLiteral('x-flood', 'a'.repeat(100))))), E.PROTOCOL],
  ['PUSH_PROMISE from the client', P(S, h2frame(H2.PUSH_PROMISE, 4, 1, Buffer.concat([Buffer.from([0, 0, 0, 2]), hdrs()]))), E.PROTOCOL],
  ['PING of 9 bytes', P(S, h2frame(H2.PING, 0, 0, Buffer.alloc(9))), E.FRAME_SIZE],
  ['RST_STREAM on an idle stream', P(S, h2frame(H2.RST_STREAM, 0, 1, Buffer.alloc(4))), E.PROTOCOL],
  ['PRIORITY on itself', P(S, h2frame(H2.PRIORITY, 0, 1, Buffer.from([0, 0, 0, 1, 16]))), E.PROTOCOL],
  ['DATA on an idle stream', P(S, h2frame(H2.DATA, 1, 5, Buffer.from('abc'))), E.PROTOCOL],
  ['padding longer than the frame', P(S, h2frame(H2.HEADERS, 0x0c, 1, Buffer.concat([Buffer.from([200]), hdrs()]))), E.PROTOCOL],
];

// [name, bytes, the RST_STREAM code on stream 1 or null for "nothing"]
const STREAM_ROWS = [
  ['uppercase header name', P(S, h2frame(H2.HEADERS, 5, 1, hdrs(hpackLiteral('X-Up', 'a')))), E.PROTOCOL],
  ['connection-specific header', P(S, h2frame(H2.HEADERS, 5, 1, hdrs(hpackLiteral('connection', 'close')))), E.PROTOCOL],
  ['unknown frame type 0xfa (ignored)', P(S, h2frame(0xfa, 0, 0, Buffer.from('zz'))), null],
];

describe('HTTP/2 frame garbage', () => {
  let c;
  let snapshot;
  let rss0;
  before(async () => {
    c = await startCollector();
    snapshot = await baseline(c);
    rss0 = rssOf(c.child.pid);
  });
  after(async () => {
    await c?.stop();
  });

  for (const port of ['grpcPort', 'httpPort']) {
    for (const [name, chunks, code] of CONN_ERRORS) {
      test(`${port}: ${name} -> GOAWAY ${code}, closed`, async () => {
        const r = await rawExchange(c[port], chunks, { timeoutMs: 3000 });
        assert.equal(goawayCode(r.data), code);
        assert.ok(r.closed, 'connection left open');
      });
    }
    for (const [name, chunks, code] of STREAM_ROWS) {
      test(`${port}: ${name} -> ${code === null ? 'ignored' : `RST_STREAM ${code}`}, connection kept`, async () => {
        const r = await rawExchange(c[port], chunks, { timeoutMs: 700 });
        assert.equal(r.closed, false, 'the connection was closed');
        assert.equal(goawayCode(r.data), undefined);
        const rst = h2parse(r.data).filter((f) => f.type === H2.RST_STREAM);
        assert.deepEqual(rst.map((f) => [f.stream, f.payload.readUInt32BE(0)]), code === null ? [] : [[1, code]]);
      });
    }
  }

  test('no derived metric changed; protocol errors counted; RSS bounded', async () => {
    const m = await assertUnchanged(c, snapshot, 'after the frame garbage');
    // Every GOAWAY and every malformed-request RST_STREAM counts once.
    const n = CONN_ERRORS.length + STREAM_ROWS.filter((r) => r[2] !== null).length;
    for (const listener of ['otlp_grpc', 'otlp_http']) {
      assert.equal(m.get('agentmeter_connections_rejected_total', { listener, reason: 'protocol_error' }), n, listener);
    }
    const growth = rssOf(c.child.pid) - rss0;
    assert.ok(growth < 16 * 1024 * 1024, `RSS grew ${growth} bytes`);
  });
});

describe('gRPC garbage', () => {
  let c;
  let snapshot;
  const good = agentRequest('grpc-garbage', 500);
  // [name, body, extra headers, path, grpc-status, grpc-message]
  const ROWS = [
    ['length prefix longer than the message', Buffer.concat([Buffer.from([0, 0, 0, 1, 0]), good.subarray(0, 10)]), {}, undefined, 3, 'message shorter than its length prefix'],
    ['length prefix 2^32-1', Buffer.concat([Buffer.from([0, 0xff, 0xff, 0xff, 0xff]), good]), {}, undefined, 8, 'message exceeds max_request_body_size'],
    ['compressed flag without grpc-encoding', grpcFrame(zlib.gzipSync(good), 1), {}, undefined, 3, 'compressed message without grpc-encoding'],
    ['message flag 2', grpcFrame(good, 2), {}, undefined, 3, 'bad message flag'],
    ['undecodable protobuf', grpcFrame(Buffer.from([0xff, 0xff, 0xff])), {}, undefined, 3, 'wire: truncated varint'],
    ['two messages', Buffer.concat([grpcFrame(good), grpcFrame(good)]), {}, undefined, 3, 'data after the message: want one message'],
    ['no message', Buffer.alloc(0), {}, undefined, 3, 'empty request: want one message'],
    ['3-byte prefix', Buffer.from([0, 0, 0]), {}, undefined, 3, 'truncated message prefix'],
    ['corrupt gzip', grpcFrame(Buffer.from('notgzip'), 1), { 'grpc-encoding': 'gzip' }, undefined, 3, 'gzip: corrupt stream'],
    ['grpc-encoding br', grpcFrame(good, 1), { 'grpc-encoding': 'br' }, undefined, 3, 'unsupported grpc-encoding: use gzip or identity'],
    ['gzip bomb 64 MiB (1000:1)', grpcFrame(zlib.gzipSync(Buffer.alloc(64 << 20)), 1), { 'grpc-encoding': 'gzip' }, undefined, 8, 'inflated message exceeds max_request_body_size'],
    ['unknown method', grpcFrame(good), {}, '/x.Y/Z', 12, 'not found'],
  ];
  before(async () => {
    c = await startCollector();
    snapshot = await baseline(c);
  });
  after(async () => {
    await c?.stop();
  });
  for (const [name, body, headers, path, code, message] of ROWS) {
    test(`${name} -> grpc-status ${code}`, async () => {
      const r = await grpcCall(c.grpcPort, body, { headers, path });
      assert.equal(r.status, 200);
      assert.equal(r.grpcStatus, code);
      assert.equal(r.grpcMessage, message);
    });
  }
  test('content-type text/plain -> HTTP 415', async () => {
    const r = await grpcCall(c.grpcPort, grpcFrame(good), { headers: { 'content-type': 'text/plain' } });
    assert.equal(r.status, 415);
  });
  test('no derived metric changed; a valid call still works', async () => {
    await assertUnchanged(c, snapshot, 'after the gRPC garbage');
    const r = await grpcCall(c.grpcPort, grpcFrame(good));
    assert.equal(r.grpcStatus, 0);
  });
});
