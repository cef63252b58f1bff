// bad_input.test.mjs - SPEC.md 1's bad-input table over OTLP/HTTP, both as
// HTTP/1.1 and as HTTP/2 (h2c prior knowledge), plus hostile payloads:
// protobuf with huge declared lengths, AnyValue and JSON nested 10^5 deep,
// gzip bombs (1000:1) and gzip inside gzip. Exact invariants: each row gets
// its status and google.rpc.Status message; no derived metric changes;
// the collector stays alive and its RSS bounded. Invalid UTF-8 is the one
// accepted input: the span counts under a repaired label value (U+FFFD),
// counted in agentmeter_label_values_truncated_total{reason="invalid_utf8"}.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { before, after, describe, test } from 'node:test';

import { agentRequest, decodeStatus, encodeRequest, pbBytes, pbString } from '../e2e/pb.mjs';
import { assertUnchanged, derived, request, rssOf, startCollector, waitFor } from './rlib.mjs';

const TOKEN = 'reliability-token';
const AUTH = { Authorization: `Bearer ${TOKEN}` };
const PB = { 'Content-Type': 'application/x-protobuf', ...AUTH };
const JSON_CT = { 'Content-Type': 'application/json', ...AUTH };
const GZ = { ...PB, 'Content-Encoding': 'gzip' };
const MAX = 1024 * 1024; // max_request_body_size in ../e2e/lib.mjs's config

function varint(n) {
  const out = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) {
      b |= 0x80;
    }
    out.push(b);
  } while (v);
  return Buffer.from(out);
}

// A field 1 (length-delimited) declaring `n` bytes, followed by three.
const declared = (n) => Buffer.concat([Buffer.from([0x0a]), varint(n), Buffer.from('abc')]);

// One span whose attribute "deep" holds an AnyValue nested `depth` times
// (arrays when `kind` is 5, key-value lists when 6). Built from the inside
// out as prefixes, so 10^5 levels cost linear time.
function deepAny(depth, kind) {
  const leaf = pbString(1, 'leaf');
  let len = leaf.length;
  const pre = [];
  const wrap = (tag) => {
    const p = Buffer.concat([Buffer.from([tag]), varint(len)]);
    len += p.length;
    return p;
  };
  for (let i = 0; i < depth; i++) {
    if (kind === 5) {
      const inner = wrap(0x0a); // ArrayValue.values
      pre.push(inner, wrap(0x2a)); // AnyValue.array_value
    } else {
      const value = wrap(0x12); // KeyValue.value
      const key = Buffer.from([0x0a, 1, 0x6b]); // KeyValue.key "k"
      len += key.length;
      const kv = wrap(0x0a); // KeyValueList.values
      // (pushed inside out; reversed below)
      pre.push(value, key, kv, wrap(0x32)); // AnyValue.kvlist_value
    }
  }
  const any = Buffer.concat([...pre.reverse(), leaf]);
  const span = Buffer.concat([pbBytes(1, Buffer.alloc(16, 1)), pbBytes(2, Buffer.alloc(8, 2)), pbString(5, 'x'), pbBytes(9, Buffer.concat([pbString(1, 'deep'), pbBytes(2, any)]))]);
  return pbBytes(1, pbBytes(2, pbBytes(2, span)));
}

const jsonSpan = (attrValue) =>
  `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01010101010101010101010101010101","spanId":"0202020202020202","name":"x","attributes":[{"key":"k","value":${attrValue}}]}]}]}]}`;
const deepJsonAttr = (d) => jsonSpan(`${'{"arrayValue":{"values":['.repeat(d)}{"stringValue":"x"}${']}}'.repeat(d)}`);

// [name, method, path, headers, body, status, google.rpc.Status message]
const ROWS = [
  ['undecodable protobuf', 'POST', '/v1/traces', PB, Buffer.from([0xff, 0xff, 0xff]), 400, 'wire: truncated varint'],
  ['undecodable JSON', 'POST', '/v1/traces', JSON_CT, Buffer.from('{"resourceSpans":[{'), 400, null],
  ['bad gzip', 'POST', '/v1/traces', GZ, Buffer.from('not gzip at all'), 400, null],
  ['body over max_request_body_size', 'POST', '/v1/traces', PB, Buffer.alloc(MAX + 1), 413, null],
  ['Content-Type text/plain', 'POST', '/v1/traces', { ...AUTH, 'Content-Type': 'text/plain' }, agentRequest('x'), 415, null],
  ['Content-Encoding br', 'POST', '/v1/traces', { ...PB, 'Content-Encoding': 'br' }, agentRequest('x'), 415, null],
  ['unknown path', 'POST', '/v1/nope', PB, agentRequest('x'), 404, null],
  ['GET /v1/traces', 'GET', '/v1/traces', AUTH, undefined, 405, null],
  ['no bearer token', 'POST', '/v1/traces', { 'Content-Type': 'application/x-protobuf' }, agentRequest('x'), 401, null],
  ['wrong bearer token', 'POST', '/v1/traces', { 'Content-Type': 'application/x-protobuf', Authorization: 'Bearer nope' }, agentRequest('x'), 401, null],
  ['declared length 2^32', 'POST', '/v1/traces', PB, declared(2 ** 32), 400, 'wire: length past end of message'],
  ['declared length 2^63', 'POST', '/v1/traces', PB, declared(2n ** 63n), 400, 'wire: length past end of message'],
  ['declared length 2^64-1', 'POST', '/v1/traces', PB, declared(2n ** 64n - 1n), 400, 'wire: length past end of message'],
  ['AnyValue arrays nested 10^5 deep', 'POST', '/v1/traces', PB, deepAny(100000, 5), 400, 'anyvalue: nested deeper than AM_OTLP_MAX_ANY_DEPTH'],
  ['AnyValue kvlists nested 10^4 deep', 'POST', '/v1/traces', PB, deepAny(10000, 6), 400, 'anyvalue: nested deeper than AM_OTLP_MAX_ANY_DEPTH'],
  ['JSON arrays nested 10^5 deep', 'POST', '/v1/traces', JSON_CT, Buffer.from('['.repeat(100000) + ']'.repeat(100000)), 400, 'json: expected an object'],
  ['JSON objects nested 10^5 deep', 'POST', '/v1/traces', JSON_CT, Buffer.from('{"a":'.repeat(100000) + '1' + '}'.repeat(100000)), 400, 'json: nested deeper than AM_OTLP_JSON_MAX_DEPTH'],
  ['JSON AnyValue nested 10^4 deep', 'POST', '/v1/traces', JSON_CT, Buffer.from(deepJsonAttr(10000)), 400, 'anyvalue: nested deeper than AM_OTLP_MAX_ANY_DEPTH'],
  ['JSON lone surrogate escape', 'POST', '/v1/traces', JSON_CT, Buffer.from(jsonSpan('{"stringValue":"a\\ud800b"}')), 400, 'json: high surrogate without low surrogate'],
  ['gzip bomb 2 MiB of zeros (1000:1)', 'POST', '/v1/traces', GZ, zlib.gzipSync(Buffer.alloc(2 << 20), { level: 9 }), 413, 'gzip: inflated body exceeds max_request_body_size'],
  ['gzip bomb 64 MiB of zeros (1000:1)', 'POST', '/v1/traces', GZ, zlib.gzipSync(Buffer.alloc(64 << 20), { level: 9 }), 413, 'gzip: inflated body exceeds max_request_body_size'],
  ['gzip bomb 900 KiB under the cap', 'POST', '/v1/traces', GZ, zlib.gzipSync(Buffer.alloc(900 << 10), { level: 9 }), 400, 'wire: bad field number'],
  ['gzip inside gzip (50 MiB inside)', 'POST', '/v1/traces', GZ, zlib.gzipSync(zlib.gzipSync(Buffer.alloc(50 << 20))), 400, 'wire: group or invalid wire type'],
];

// One request over HTTP/2 prior knowledge: { status, body }.
function h2request(port, method, p, headers, body) {
  return new Promise((resolve, reject) => {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on('error', reject);
    const req = client.request({ ':method': method, ':path': p, ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])) });
    const chunks = [];
    let status;
    let type;
    req.on('response', (h) => {
      status = h[':status'];
      type = h['content-type'];
    });
    req.on('data', (d) => chunks.push(d));
    req.on('error', reject);
    req.on('close', () => {
      client.close();
      resolve({ status, headers: { 'content-type': type }, body: Buffer.concat(chunks) });
    });
    req.end(body);
  });
}

describe('SPEC.md 1 bad-input table and hostile payloads', () => {
  let c;
  let dir;
  let snapshot;
  let rss0;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'agentmeter-rel-'));
    writeFileSync(path.join(dir, 'token'), `${TOKEN}\n`);
    c = await startCollector({ http: `      auth: { bearer_token_file: ${path.join(dir, 'token')} }\n` });
    const r = await request(c.httpPort, { method: 'POST', path: '/v1/traces', headers: PB, body: agentRequest('baseline-bot', 500) });
    assert.equal(r.status, 200);
    const m = await waitFor(async () => {
      const s = (await c.scrape()).m;
      return s.get('agent_requests_total', { agent_name: 'baseline-bot', status: 'success' }) === 1 ? s : undefined;
    });
    assert.ok(m, 'baseline export never showed up');
    snapshot = derived(m);
    rss0 = rssOf(c.child.pid);
  });
  after(async () => {
    await c?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const via of ['HTTP/1.1', 'HTTP/2']) {
    for (const [name, method, p, headers, body, status, message] of ROWS) {
      test(`${via}: ${name} -> ${status}${message ? ` "${message}"` : ''}`, async () => {
        const r = via === 'HTTP/1.1'
          ? await request(c.httpPort, { method, path: p, headers, body })
          : await h2request(c.httpPort, method, p, headers, body);
        assert.equal(r.status, status, `body: ${r.body.toString('latin1').slice(0, 200)}`);
        // The Status comes in the request's encoding (JSON for JSON requests).
        const json = String(r.headers['content-type']).startsWith('application/json');
        const st = json ? JSON.parse(r.body.toString('utf8')) : decodeStatus(r.body);
        assert.ok(st.message.length > 0, 'the google.rpc.Status names no problem');
        if (message !== null) {
          assert.equal(st.message, message);
        }
      });
    }
  }

  test('no derived metric changed; RSS bounded; errors counted', async () => {
    const m = await assertUnchanged(c, snapshot, 'after the bad-input rows');
    const growth = rssOf(c.child.pid) - rss0;
    assert.ok(growth < 32 * 1024 * 1024, `RSS grew ${growth} bytes`);
    assert.equal(m.get('agentmeter_requests_refused_total', { listener: 'otlp_http', reason: 'unauthenticated' }), 4);
    assert.equal(m.sum('agentmeter_spans_accepted_total'), 1);
  });

  test('invalid UTF-8 in a label value: accepted, repaired to U+FFFD, counted', async () => {
    const req = encodeRequest('utf8-svc', [{
      traceId: Buffer.alloc(16, 3),
      spanId: Buffer.alloc(8, 4),
      name: 'invoke_agent',
      startNs: 1000000000n,
      endNs: 1500000000n,
      attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'ab@@cd' },
    }]);
    const at = req.indexOf('ab@@cd');
    req[at + 2] = 0xc3; // a lead byte followed by '@' (0x40): not a continuation
    req[at + 3] = 0xff; // never valid in UTF-8
    const r = await request(c.httpPort, { method: 'POST', path: '/v1/traces', headers: PB, body: req });
    assert.equal(r.status, 200);
    const m = await waitFor(async () => {
      const s = (await c.scrape()).m;
      return s.series('agent_requests_total').length === 2 ? s : undefined;
    });
    assert.ok(m, 'the span never counted');
    assert.equal(m.get('agent_requests_total', { agent_name: 'ab\ufffd\ufffdcd', status: 'success' }), 1);
    assert.ok(m.get('agentmeter_label_values_truncated_total', { reason: 'invalid_utf8' }) >= 1);
  });
});
