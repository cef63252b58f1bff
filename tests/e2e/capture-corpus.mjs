// capture-corpus.mjs - record what the real OpenTelemetry JS exporters send
// (http/protobuf, http/json, gRPC; plain and gzip) and write it as fuzz seeds
// into tests/fuzz/corpus/<target>/capture_*. Not a test (no .test.mjs); run
// by hand after an exporter upgrade:
//
//   cd tests/e2e && node capture-corpus.mjs [OUTDIR]   (default ../fuzz/corpus)
//
// Each exporter talks to a loopback TCP recorder that keeps every byte the
// client sent and forwards it to a node http / http2 server answering like a
// collector (200 with an empty ExportTraceServiceResponse, grpc-status 0).
// Seeds written per target:
//   otlp_pb      the protobuf request body (plain exports only)
//   otlp_json    the JSON request body (plain exports only)
//   http1        the raw HTTP/1.1 request (head + body) as sent
//   inflate      one cap byte + the gzip body as sent
//   grpc_frame   one encoding byte (0 none, 1 gzip) + the gRPC DATA payload
//   h2_session   the raw HTTP/2 client bytes after the 24-byte preface

import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.resolve(process.argv[2] ?? path.join(here, '../fuzz/corpus'));

// A TCP recorder in front of `backendPort`: resolves nothing, keeps the
// client bytes of every connection in `conns` (array of Buffer arrays).
function recorder(backendPort) {
  const conns = [];
  const srv = net.createServer((c) => {
    const got = [];
    conns.push(got);
    const up = net.connect(backendPort, '127.0.0.1');
    c.on('data', (d) => {
      got.push(Buffer.from(d));
      up.write(d);
    });
    up.on('data', (d) => c.write(d));
    c.on('end', () => up.end());
    up.on('end', () => c.end());
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  return new Promise((resolve) =>
    srv.listen(0, '127.0.0.1', () => resolve({ srv, conns, port: srv.address().port })),
  );
}

function listen(srv) {
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv.address().port)));
}

// The collector side over HTTP/1.1: keep each body as sent, answer 200.
async function httpBackend(bodies) {
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      bodies.push({ headers: req.headers, body: Buffer.concat(chunks) });
      const json = String(req.headers['content-type']).includes('json');
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? '{}' : '');
    });
  });
  return { srv, port: await listen(srv) };
}

// The collector side over gRPC: keep each DATA payload, answer an empty
// message with grpc-status 0.
async function grpcBackend(bodies) {
  const srv = http2.createServer();
  srv.on('stream', (stream, headers) => {
    const chunks = [];
    stream.on('data', (d) => chunks.push(d));
    stream.on('end', () => {
      bodies.push({ headers, body: Buffer.concat(chunks) });
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
    });
  });
  return { srv, port: await listen(srv) };
}

const at = (base, ms) => [base + Math.floor(ms / 1000), (ms % 1000) * 1e6];

// One agent turn: invoke_agent with a chat (events, array attribute), a tool
// call that failed (status error, link), all GenAI semconv attributes.
async function emit(exporter, service, full) {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'service.version': '1.2.3' }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 60000 })],
  });
  const tracer = provider.getTracer('capture', '0.1.0');
  const base = 1767225600;
  const agent = tracer.startSpan('invoke_agent support', {
    kind: SpanKind.INTERNAL,
    startTime: at(base, 0),
    attributes: {
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'support',
      'gen_ai.conversation.id': 'conv_5j66UpCpwteGg4YSxUnt7lPY',
      'gen_ai.provider.name': 'openai',
    },
  });
  if (!full) {
    agent.end(at(base, 900));
    await provider.forceFlush();
    await provider.shutdown();
    return;
  }
  const ctx = trace.setSpan(context.active(), agent);
  const chat = tracer.startSpan(
    'chat gpt-4o',
    {
      kind: SpanKind.CLIENT,
      startTime: at(base, 10),
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.response.model': 'gpt-4o-2024-08-06',
        'gen_ai.request.temperature': 0.2,
        'gen_ai.response.finish_reasons': ['stop'],
        'gen_ai.usage.input_tokens': 1200,
        'gen_ai.usage.output_tokens': 85,
        'gen_ai.usage.cache_read.input_tokens': 1024,
        'server.port': 443,
        'gen_ai.request.stream': true,
      },
    },
    ctx,
  );
  chat.addEvent('gen_ai.content.prompt', { 'gen_ai.prompt': 'hello' }, at(base, 11));
  chat.end(at(base, 810));
  const tool = tracer.startSpan(
    'execute_tool lookup_order',
    {
      kind: SpanKind.INTERNAL,
      startTime: at(base, 820),
      attributes: {
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': 'lookup_order',
        'gen_ai.tool.call.id': 'call_1',
      },
      links: [{ context: chat.spanContext(), attributes: { 'link.kind': 'caused_by' } }],
    },
    ctx,
  );
  tool.setStatus({ code: SpanStatusCode.ERROR, message: 'timeout' });
  tool.setAttribute('error.type', 'timeout');
  tool.end(at(base, 1620));
  agent.end(at(base, 2500));
  await provider.forceFlush();
  await provider.shutdown();
}

function write(target, name, buf) {
  const dir = path.join(outdir, target);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, name), buf);
  console.log(`${target}/${name} ${buf.length} bytes`);
}

const gunzipIf = (b, h) => (h['content-encoding'] === 'gzip' ? zlib.gunzipSync(b) : b);

async function captureHttp() {
  const bodies = [];
  const be = await httpBackend(bodies);
  const rec = await recorder(be.port);
  const url = `http://127.0.0.1:${rec.port}/v1/traces`;
  const runs = [
    ['proto', ProtoExporter, 'none', true],
    ['proto_gzip', ProtoExporter, 'gzip', true],
    ['proto_one', ProtoExporter, 'none', false],
    ['json', JsonExporter, 'none', true],
    ['json_gzip', JsonExporter, 'gzip', true],
    ['json_one', JsonExporter, 'none', false],
  ];
  for (const [name, Exporter, compression, full] of runs) {
    const before = rec.conns.length;
    bodies.length = 0;
    await emit(new Exporter({ url, compression, timeoutMillis: 5000 }), 'capture-http', full);
    const { headers, body } = bodies[bodies.length - 1];
    const raw = Buffer.concat(rec.conns.slice(before).flat());
    const plain = gunzipIf(body, headers);
    if (compression === 'none') {
      write(name.startsWith('proto') ? 'otlp_pb' : 'otlp_json', `capture_${name}`, plain);
    }
    write('http1', `capture_${name}`, raw);
    if (compression === 'gzip') {
      write('inflate', `capture_${name}`, Buffer.concat([Buffer.from([0xff]), body]));
    }
  }
  rec.srv.close();
  be.srv.close();
}

async function captureGrpc() {
  const bodies = [];
  const be = await grpcBackend(bodies);
  const rec = await recorder(be.port);
  const url = `http://127.0.0.1:${rec.port}`;
  for (const [name, compression, full] of [
    ['grpc', 'none', true],
    ['grpc_gzip', 'gzip', true],
    ['grpc_one', 'none', false],
  ]) {
    const before = rec.conns.length;
    bodies.length = 0;
    await emit(new GrpcExporter({ url, compression, timeoutMillis: 5000 }), 'capture-grpc', full);
    const { body } = bodies[bodies.length - 1];
    write('grpc_frame', `capture_${name}`, Buffer.concat([Buffer.from([compression === 'gzip' ? 1 : 0]), body]));
    if (name === 'grpc') {
      write('otlp_pb', `capture_${name}`, body.subarray(5));
    }
    // The exporter keeps its channel open until shutdown: wait for the bytes.
    const raw = Buffer.concat(rec.conns.slice(before).flat());
    write('h2_session', `capture_${name}`, raw.subarray(24));
  }
  rec.srv.close();
  be.srv.close();
}

await captureHttp();
await captureGrpc();
