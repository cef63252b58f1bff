// transport.test.mjs - every transport an OpenTelemetry SDK uses: OTLP/gRPC
// over h2c and TLS (with and without a client certificate), OTLP/HTTP over
// HTTP/2 (prior knowledge and ALPN), bearer tokens, and bad HTTP/2 / gRPC
// input; exact self-metrics afterwards. Certificates are made at test time.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

import grpc from '@grpc/grpc-js';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

import { startCollector } from './lib.mjs';

for (const k of Object.keys(process.env)) {
  if (k.startsWith('OTEL_')) {
    delete process.env[k];
  }
}

const here = path.dirname(fileURLToPath(import.meta.url));
const JSON_BODY = path.resolve(here, '../data/otlp/traces.json'); // 2 spans accepted, 1 rejected
const TOKEN = 'e2e-token-7f3a';

// Export `n` chat spans through `exporter` in one batch; resolves the
// ExportResult code (0 = success).
async function exportSpans(exporter, n, agent) {
  let code;
  const rec = {
    export: (spans, done) =>
      exporter.export(spans, (r) => {
        code = r.code;
        done(r);
      }),
    shutdown: () => exporter.shutdown(),
    forceFlush: () => Promise.resolve(),
  };
  const batch = [];
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'transport-e2e' }),
    spanProcessors: [
      {
        onStart() {},
        onEnd(s) {
          batch.push(s);
        },
        forceFlush: () => Promise.resolve(),
        shutdown: () => Promise.resolve(),
      },
    ],
  });
  const tracer = provider.getTracer('e2e');
  for (let i = 0; i < n; i++) {
    const s = tracer.startSpan('chat gpt-4o', {
      startTime: [1700000000, 0],
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.agent.name': agent,
        'gen_ai.request.model': 'gpt-4o',
      },
    });
    s.end([1700000001, 0]);
  }
  await new Promise((resolve) => rec.export(batch, resolve));
  await exporter.shutdown();
  return code;
}

function curl(args) {
  const r = spawnSync('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{http_version}', ...args], {
    encoding: 'utf8',
  });
  return r.stdout.trim();
}

// One raw gRPC call with node's HTTP/2 client. Resolves {status, grpcStatus, grpcMessage, rst}.
function grpcCall(port, { body, headers = {}, path: p = '/opentelemetry.proto.collector.trace.v1.TraceService/Export', secure } = {}) {
  return new Promise((resolve) => {
    const client = http2.connect(`http://127.0.0.1:${port}`, secure ?? {});
    client.on('error', () => {});
    const req = client.request({
      ':method': 'POST',
      ':path': p,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    const out = { status: 0, grpcStatus: undefined, grpcMessage: undefined, rst: undefined };
    req.on('response', (h) => {
      out.status = h[':status'];
      if (h['grpc-status'] !== undefined) {
        out.grpcStatus = Number(h['grpc-status']);
        out.grpcMessage = h['grpc-message'];
      }
    });
    req.on('trailers', (h) => {
      out.grpcStatus = Number(h['grpc-status']);
      out.grpcMessage = h['grpc-message'];
    });
    req.on('data', () => {});
    req.on('error', () => {});
    req.on('close', () => {
      out.rst = req.rstCode;
      client.close();
      resolve(out);
    });
    if (body !== undefined) {
      req.end(body);
    }
  });
}

function frame(msg, flag = 0, lie = 0) {
  const b = Buffer.alloc(5);
  b[0] = flag;
  b.writeUInt32BE(msg.length + lie, 1);
  return Buffer.concat([b, msg]);
}

describe('h2c: gRPC and HTTP/2 in cleartext', () => {
  let c;
  before(async () => {
    c = await startCollector({ grpc: '      read_timeout: 1s\n      max_header_bytes: 8KiB\n' });
  });
  after(async () => {
    await c.stop();
  });

  test('@opentelemetry/exporter-trace-otlp-grpc over h2c, plain and gzip', async () => {
    const url = `http://127.0.0.1:${c.grpcPort}`;
    assert.equal(await exportSpans(new GrpcExporter({ url }), 3, 'grpc-agent'), 0);
    assert.equal(await exportSpans(new GrpcExporter({ url, compression: 'gzip' }), 2, 'grpc-agent'), 0);
  });

  test('curl --http2-prior-knowledge and --http2 against the HTTP port', () => {
    const post = ['-X', 'POST', '-H', 'content-type: application/json', '--data-binary', `@${JSON_BODY}`];
    assert.equal(curl(['--http2-prior-knowledge', ...post, `http://127.0.0.1:${c.httpPort}/v1/traces`]), '200 2');
    assert.equal(curl(['--http2', ...post, `http://127.0.0.1:${c.httpPort}/v1/traces`]), '200 1.1');
    assert.equal(curl(['--http2-prior-knowledge', `http://127.0.0.1:${c.httpPort}/nope`]), '404 2');
  });

  test('nghttp: raw HTTP/2 framing', () => {
    const out = execFileSync('nghttp', ['-v', '-H', 'content-type: application/json', '-d', JSON_BODY,
      `http://127.0.0.1:${c.httpPort}/v1/traces`], { encoding: 'utf8' });
    assert.match(out, /recv \(stream_id=13\) :status: 200/);
    assert.match(out, /SETTINGS_MAX_CONCURRENT_STREAMS\(0x03\):100/);
  });

  test('bad gRPC input is answered per SPEC.md and hurts no other call', async () => {
    const msg = Buffer.from([0x0a, 0x00]);
    let r = await grpcCall(c.grpcPort, { body: frame(msg, 0, 10) }); // lying length prefix
    assert.equal(r.grpcStatus, 3);
    assert.match(r.grpcMessage, /shorter than its length prefix/);
    r = await grpcCall(c.grpcPort, { body: frame(msg, 1) }); // compressed, no grpc-encoding
    assert.equal(r.grpcStatus, 3);
    r = await grpcCall(c.grpcPort, { body: frame(zlib.gzipSync(Buffer.from('junk')), 1), headers: { 'grpc-encoding': 'gzip' } });
    assert.equal(r.grpcStatus, 3);
    r = await grpcCall(c.grpcPort, { body: frame(msg), path: '/nope.Service/Export' });
    assert.equal(r.grpcStatus, 12);
    r = await grpcCall(c.grpcPort, { body: frame(msg), path: '/opentelemetry.proto.collector.logs.v1.LogsService/Export' });
    assert.ok(r.grpcStatus === 12 || r.grpcStatus === 0);
    r = await grpcCall(c.grpcPort, { body: frame(msg), headers: { 'x-big': 'a'.repeat(20000) } });
    assert.ok(r.grpcStatus === 8 || r.rst !== 0, JSON.stringify(r)); // header list over 8 KiB
    r = await grpcCall(c.grpcPort, {}); // opens the stream and never sends: reset
    assert.equal(r.rst, http2.constants.NGHTTP2_CANCEL);
    r = await grpcCall(c.grpcPort, { body: frame(msg) }); // an empty request is fine
    assert.equal(r.grpcStatus, 0);
  });

  test('malformed frames get a GOAWAY and close only that connection', async () => {
    const got = await new Promise((resolve) => {
      const s = net.connect(c.grpcPort, '127.0.0.1');
      let buf = Buffer.alloc(0);
      s.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
      });
      s.on('close', () => resolve(buf));
      s.on('error', () => {});
      s.write(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
      s.write(Buffer.from([0, 0, 1, 0, 0, 0, 0, 0, 0, 0x78])); // DATA on stream 0
    });
    let goaway = false;
    for (let off = 0; off + 9 <= got.length; off += 9 + got.readUIntBE(off, 3)) {
      goaway ||= got[off + 3] === 7;
    }
    assert.ok(goaway);
    const r = await grpcCall(c.grpcPort, { body: frame(Buffer.alloc(0)) });
    assert.equal(r.grpcStatus, 0);
  });

  test('exact metrics afterwards', async () => {
    const { m } = await c.scrape();
    assert.equal(m.get('agentmeter_spans_accepted_total', { protocol: 'grpc' }), 5);
    assert.equal(m.get('agentmeter_spans_accepted_total', { protocol: 'http/json' }), 6); // curl x2, nghttp
    assert.equal(m.get('model_inference_calls_total', { agent_name: 'grpc-agent', model_id: 'gpt-4o' }), 5);
    assert.equal(m.get('agentmeter_requests_refused_total', { listener: 'otlp_grpc', reason: 'max_header_bytes' }), 1);
    assert.equal(m.get('agentmeter_requests_refused_total', { listener: 'otlp_grpc', reason: 'read_timeout' }), 1);
    assert.equal(m.get('agentmeter_connections_rejected_total', { listener: 'otlp_grpc', reason: 'protocol_error' }), 1);
    assert.equal(m.get('agentmeter_receiver_requests_total', { protocol: 'grpc', code: '400' }), 3);
    assert.equal(m.get('agentmeter_inflight_request_bytes', { listener: 'otlp_grpc' }), 0);
  });
});

describe('TLS, mutual TLS and bearer tokens', () => {
  let c;
  let dir;
  const f = (n) => path.join(dir, n);
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'agentmeter-tls-'));
    const sh = (cmd) => execFileSync('sh', ['-c', cmd], { cwd: dir, stdio: 'ignore' });
    sh('openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=e2e-ca');
    sh('openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost');
    writeFileSync(f('ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    sh('openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 1 -extfile ext');
    sh('openssl req -newkey rsa:2048 -nodes -keyout cli.key -out cli.csr -subj /CN=client');
    sh('openssl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out cli.crt -days 1');
    writeFileSync(f('token'), `${TOKEN}\n`);
    const tls = `      tls: { cert_file: ${f('srv.crt')}, key_file: ${f('srv.key')} }\n      auth: { bearer_token_file: ${f('token')} }\n`;
    const mtls = `      tls: { cert_file: ${f('srv.crt')}, key_file: ${f('srv.key')}, client_ca_file: ${f('ca.crt')} }\n      auth: { bearer_token_file: ${f('token')} }\n`;
    c = await startCollector({ http: tls, grpc: mtls });
  });
  after(async () => {
    await c.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('gRPC exporter over TLS with a client certificate and a token', async () => {
    const ca = readFileSync(f('ca.crt'));
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${TOKEN}`);
    const credentials = grpc.credentials.createSsl(ca, readFileSync(f('cli.key')), readFileSync(f('cli.crt')));
    const url = `https://localhost:${c.grpcPort}`;
    assert.equal(await exportSpans(new GrpcExporter({ url, credentials, metadata }), 4, 'tls-agent'), 0);
  });

  test('gRPC exporter without a client certificate is refused', async () => {
    const credentials = grpc.credentials.createSsl(readFileSync(f('ca.crt')));
    const url = `https://localhost:${c.grpcPort}`;
    assert.notEqual(await exportSpans(new GrpcExporter({ url, credentials, timeoutMillis: 3000 }), 1, 'nocert'), 0);
  });

  test('-otlp-proto exporter over TLS (HTTP/1.1) with the token', async () => {
    const url = `https://localhost:${c.httpPort}/v1/traces`;
    const ex = new ProtoExporter({ url, headers: { Authorization: `Bearer ${TOKEN}` }, httpAgentOptions: { ca: readFileSync(f('ca.crt')) } });
    assert.equal(await exportSpans(ex, 2, 'tls-agent'), 0);
  });

  test('curl --http2 picks h2 by ALPN; a wrong token is 401', () => {
    const post = ['--cacert', f('ca.crt'), '-X', 'POST', '-H', 'content-type: application/json', '--data-binary', `@${JSON_BODY}`];
    const url = `https://localhost:${c.httpPort}/v1/traces`;
    assert.equal(curl(['--http2', ...post, '-H', `Authorization: Bearer ${TOKEN}`, url]), '200 2');
    assert.equal(curl(['--http2', ...post, '-H', 'Authorization: Bearer nope', url]), '401 2');
    assert.equal(curl(['--http1.1', ...post, url]), '401 1.1');
  });

  test('exact metrics afterwards', async () => {
    const { m } = await c.scrape();
    assert.equal(m.get('agentmeter_spans_accepted_total', { protocol: 'grpc' }), 4);
    assert.equal(m.get('agentmeter_spans_accepted_total', { protocol: 'http/protobuf' }), 2);
    assert.equal(m.get('agentmeter_spans_accepted_total', { protocol: 'http/json' }), 2);
    assert.equal(m.get('model_inference_calls_total', { agent_name: 'tls-agent', model_id: 'gpt-4o' }), 6);
    assert.equal(m.get('agentmeter_requests_refused_total', { listener: 'otlp_http', reason: 'unauthenticated' }), 2);
    assert.ok(m.get('agentmeter_connections_rejected_total', { listener: 'otlp_grpc', reason: 'tls_handshake' }) >= 1);
    assert.equal(m.get('model_inference_calls_total', { agent_name: 'nocert', model_id: 'gpt-4o' }), undefined);
  });
});
