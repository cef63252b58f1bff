// http1_smuggling.test.mjs - HTTP/1.1 framing attacks on the OTLP/HTTP
// listener: request smuggling shapes (CL+TE, TE+CL, conflicting or
// malformed Content-Length, unsupported or repeated Transfer-Encoding, bad
// chunk sizes, bare LF, obs-fold), malformed heads and oversized heads.
// Each row is sent on a fresh connection followed by a valid export of a
// row-specific agent (the "smuggled" request). Exact invariants: exactly one
// response with the row's status and google.rpc.Status message, the
// connection closed, the smuggled export never executed (derived metrics
// unchanged), the rejection counted, the collector alive, RSS bounded.

import assert from 'node:assert/strict';
import { before, after, describe, test } from 'node:test';

import { agentRequest, decodeStatus } from '../e2e/pb.mjs';
import { assertUnchanged, baseline, httpStatuses, rawExchange, rssOf, startCollector } from './rlib.mjs';

const post = (hdrs, body = '') =>
  Buffer.from(`POST /v1/traces HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-protobuf\r\n${hdrs}\r\n${body}`, 'latin1');
const TE = 'Transfer-Encoding: chunked\r\n';

// [name, request bytes, status, google.rpc.Status message]
const ROWS = [
  ['CL then TE', post('Content-Length: 4\r\n' + TE, '0\r\n\r\n'), 400, 'both Content-Length and Transfer-Encoding'],
  ['TE then CL', post(TE + 'Content-Length: 4\r\n', '0\r\n\r\n'), 400, 'both Content-Length and Transfer-Encoding'],
  ['two different Content-Lengths', post('Content-Length: 0\r\nContent-Length: 5\r\n'), 400, 'conflicting Content-Length values'],
  ['Content-Length list', post('Content-Length: 0, 0\r\n'), 400, 'bad Content-Length'],
  ['Content-Length +0', post('Content-Length: +0\r\n'), 400, 'bad Content-Length'],
  ['Content-Length -1', post('Content-Length: -1\r\n'), 400, 'bad Content-Length'],
  ['Content-Length 10^23', post('Content-Length: 99999999999999999999999\r\n'), 400, 'Content-Length overflow'],
  ['space before colon (CL)', post('Content-Length : 0\r\n'), 400, 'bad header name'],
  ['space before colon (TE)', post('Transfer-Encoding : chunked\r\n', '0\r\n\r\n'), 400, 'bad header name'],
  ['TE chunked twice', post(TE + TE, '0\r\n\r\n'), 400, 'unsupported Transfer-Encoding'],
  ['TE gzip, chunked', post('Transfer-Encoding: gzip, chunked\r\n', '0\r\n\r\n'), 400, 'unsupported Transfer-Encoding'],
  ['TE chunked, gzip', post('Transfer-Encoding: chunked, gzip\r\n', '0\r\n\r\n'), 400, 'unsupported Transfer-Encoding'],
  ['TE identity', post('Transfer-Encoding: identity\r\n'), 400, 'unsupported Transfer-Encoding'],
  ['TE xchunked', post('Transfer-Encoding: xchunked\r\n', '0\r\n\r\n'), 400, 'unsupported Transfer-Encoding'],
  ['chunk size zz', post(TE, 'zz\r\n\r\n0\r\n\r\n'), 400, 'bad chunk size'],
  ['chunk size -1', post(TE, '-1\r\n\r\n0\r\n\r\n'), 400, 'bad chunk size'],
  ['chunk size 0x1', post(TE, '0x1\r\nx\r\n0\r\n\r\n'), 400, 'bad chunk size'],
  ['chunk size with leading space', post(TE, ' 1\r\nx\r\n0\r\n\r\n'), 400, 'bad chunk size'],
  ['chunk size 2^64+1', post(TE, '10000000000000001\r\nx\r\n0\r\n\r\n'), 400, 'chunk size overflow'],
  ['chunk longer than its size', post(TE, '1\r\nxy\r\n0\r\n\r\n'), 400, 'missing CRLF after chunk data'],
  ['chunk lines with bare LF', post(TE, '1\nx\n0\n\n'), 400, 'bare LF line ending'],
  ['head with bare LF', Buffer.from('POST /v1/traces HTTP/1.1\nHost: a\nContent-Length: 0\n\n'), 400, 'bare LF line ending'],
  ['obs-fold', post('X-A: a\r\n b\r\nContent-Length: 0\r\n'), 400, 'obs-fold header continuation'],
  ['NUL in a header value', post('X-A: a\x00b\r\nContent-Length: 0\r\n'), 400, 'bad byte in header value'],
  ['no Host (HTTP/1.1)', Buffer.from('POST /v1/traces HTTP/1.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n'), 400, 'missing Host header (required in HTTP/1.1)'],
  ['two Hosts', post('Host: b\r\nContent-Length: 0\r\n'), 400, 'more than one Host header'],
  ['two Hosts (HTTP/1.0)', Buffer.from('POST /v1/traces HTTP/1.0\r\nHost: a\r\nhost: a\r\nContent-Length: 0\r\n\r\n'), 400, 'more than one Host header'],
  ['HTTP/0.9 request line', Buffer.from('GET /\r\n\r\n'), 400, 'bad request target'],
  ['HTTP/2.0 in a request line', Buffer.from('POST /v1/traces HTTP/2.0\r\nHost: a\r\nContent-Length: 0\r\n\r\n'), 400, 'unsupported HTTP version'],
  ['TLS ClientHello on the cleartext port', Buffer.from('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n', 'latin1'), 400, 'bad request method'],
  ['70,000-byte request target', Buffer.from(`POST /${'a'.repeat(70000)} HTTP/1.1\r\nHost: a\r\n\r\n`), 431, 'request head too large'],
  ['70,000-byte header', post(`X-Big: ${'a'.repeat(70000)}\r\nContent-Length: 0\r\n`), 431, 'request head too large'],
  ['500 header fields', post(`${'X-A: a\r\n'.repeat(500)}Content-Length: 0\r\n`), 431, 'too many header fields'],
];

describe('HTTP/1.1 smuggling and malformed framing', () => {
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

  ROWS.forEach(([name, bytes, status, message], i) => {
    test(`${name} -> ${status} "${message}", closed, nothing smuggled`, async () => {
      const smuggled = agentRequest(`smuggled-${i}`, 500);
      const tail = Buffer.concat([
        Buffer.from(`POST /v1/traces HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-protobuf\r\nContent-Length: ${smuggled.length}\r\n\r\n`),
        smuggled,
      ]);
      const r = await rawExchange(c.httpPort, [bytes, tail], { timeoutMs: 3000 });
      assert.deepEqual(httpStatuses(r.data), [status], `responses: ${r.data.toString('latin1').slice(0, 200)}`);
      assert.ok(r.closed, 'the connection stays open after a framing error');
      const body = r.data.subarray(r.data.indexOf('\r\n\r\n') + 4);
      const st = decodeStatus(body);
      assert.equal(st.message, message);
      assert.equal(st.code, status === 431 ? 8 : 3);
    });
  });

  test('no derived metric changed, every rejection counted, RSS bounded', async () => {
    const m = await assertUnchanged(c, snapshot, 'after the smuggling rows');
    const n400 = ROWS.filter((r) => r[2] === 400).length;
    const n431 = ROWS.filter((r) => r[2] === 431).length;
    assert.equal(m.get('agentmeter_receiver_requests_total', { protocol: 'http', code: '400' }), n400);
    assert.equal(m.get('agentmeter_receiver_requests_total', { protocol: 'http', code: '431' }), n431);
    assert.equal(m.get('agentmeter_connections_rejected_total', { listener: 'otlp_http', reason: 'bad_request' }), n400);
    assert.equal(m.sum('agentmeter_spans_accepted_total'), 1);
    const growth = rssOf(c.child.pid) - rss0;
    assert.ok(growth < 16 * 1024 * 1024, `RSS grew ${growth} bytes`);
  });
});
