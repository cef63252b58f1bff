// ingest.test.mjs - a realistic agent trace, exported by the real
// OpenTelemetry JS SDK (OTLP/HTTP protobuf and JSON, with and without gzip)
// into build/agentmeter, must come out of /metrics with exact values
// (SPEC.md 2 and 3), exact HELP/TYPE lines and a promtool-clean exposition.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as HttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

import { promtoolCheck, startCollector, waitFor } from './lib.mjs';

// The SDK reads OTEL_* from the environment; the test must not.
for (const k of Object.keys(process.env)) {
  if (k.startsWith('OTEL_')) {
    delete process.env[k];
  }
}

// Builtin prices off, one inline price: cost is exactly
// (2000 * 2.5 + 500 * 10) / 1e6 = 0.01 USD.
const PRICING = `pricing:
  builtin: false
  models:
    gpt-4o: { input: 2.5, output: 10 }
processors:
  genai:
    max_series_per_metric: 1000
`;

const AGENT = 'support-bot';
const MODEL = 'gpt-4o-2024-08-06';
const FALLBACK_SERVICE = 'billing-worker';
const FALLBACK_MODEL = 'claude-sonnet-4';

// HrTime [seconds, nanoseconds] at `base` seconds plus `ms` milliseconds, so
// every start/end is an exact integer number of nanoseconds.
function at(base, ms) {
  const ns = Math.round(ms * 1e6);
  return [base + Math.floor(ns / 1e9), ns % 1e9];
}

// Wraps an exporter and records every ExportResult so a failed export
// (which forceFlush swallows) fails the test.
class RecordingExporter {
  constructor(inner) {
    this.inner = inner;
    this.results = [];
  }
  export(spans, done) {
    this.inner.export(spans, (r) => {
      this.results.push(r);
      done(r);
    });
  }
  forceFlush() {
    return this.inner.forceFlush ? this.inner.forceFlush() : Promise.resolve();
  }
  shutdown() {
    return this.inner.shutdown();
  }
}

function makeProvider(Exporter, url, compression, serviceName) {
  const exporter = new RecordingExporter(new Exporter({ url, compression, timeoutMillis: 10000 }));
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 60000 })],
  });
  return { provider, exporter };
}

// The agent trace (service "support-service", 5 spans): invoke_agent 2.5 s with two
// chat calls (0.8 s, 0.5 s), a successful tool call (0.3 s) and a tool call
// that timed out (0.8 s). Every span carries gen_ai.agent.name, as the
// OpenAI Agents and LangGraph instrumentations do.
function emitAgentTrace(tracer, base) {
  const agent = tracer.startSpan(
    `invoke_agent ${AGENT}`,
    {
      kind: SpanKind.INTERNAL,
      startTime: at(base, 0),
      attributes: {
        'gen_ai.operation.name': 'invoke_agent',
        'gen_ai.agent.name': AGENT,
        'gen_ai.agent.id': 'asst_5j66UpCpwteGg4YSxUnt7lPY',
        'gen_ai.provider.name': 'openai',
        'gen_ai.conversation.id': 'conv_5j66UpCpwteGg4YSxUnt7lPY',
      },
    },
    context.active(),
  );
  const ctx = trace.setSpan(context.active(), agent);
  const chat = (startMs, endMs, input, output, finish) => {
    const s = tracer.startSpan(
      'chat gpt-4o',
      {
        kind: SpanKind.CLIENT,
        startTime: at(base, startMs),
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': 'openai',
          'gen_ai.agent.name': AGENT,
          'gen_ai.request.model': 'gpt-4o',
          'gen_ai.response.model': MODEL,
          'gen_ai.request.temperature': 0.2,
          'gen_ai.request.max_tokens': 1024,
          'gen_ai.response.id': `chatcmpl-${startMs}`,
          'gen_ai.response.finish_reasons': [finish],
          'gen_ai.usage.input_tokens': input,
          'gen_ai.usage.output_tokens': output,
          'server.address': 'api.openai.com',
          'server.port': 443,
        },
      },
      ctx,
    );
    s.setStatus({ code: SpanStatusCode.OK });
    s.end(at(base, endMs));
  };
  const tool = (name, startMs, endMs, error) => {
    const s = tracer.startSpan(
      `execute_tool ${name}`,
      {
        kind: SpanKind.INTERNAL,
        startTime: at(base, startMs),
        attributes: {
          'gen_ai.operation.name': 'execute_tool',
          'gen_ai.agent.name': AGENT,
          'gen_ai.tool.name': name,
          'gen_ai.tool.type': 'function',
          'gen_ai.tool.call.id': `call_${name}_${startMs}`,
        },
      },
      ctx,
    );
    if (error) {
      s.setAttribute('error.type', error);
      s.setStatus({ code: SpanStatusCode.ERROR, message: 'tool timed out after 800ms' });
    } else {
      s.setStatus({ code: SpanStatusCode.OK });
    }
    s.end(at(base, endMs));
  };
  chat(50, 850, 1200, 300, 'tool_calls'); // 0.8 s
  tool('search_kb', 850, 1150); // 0.3 s
  tool('fetch_order', 1150, 1950, 'TimeoutError'); // 0.8 s, timeout
  chat(1950, 2450, 800, 200, 'stop'); // exactly 0.5 s
  agent.end(at(base, 2500)); // exactly 2.5 s
}

// A root inference span in another service with no agent name: agent_name
// falls back to service.name. Its model has no price.
function emitFallbackSpan(tracer, base) {
  const s = tracer.startSpan('chat claude-sonnet-4', {
    kind: SpanKind.CLIENT,
    startTime: at(base, 100),
    attributes: {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': FALLBACK_MODEL,
      'gen_ai.usage.input_tokens': 100,
      'gen_ai.usage.output_tokens': 50,
    },
  });
  s.end(at(base, 1100)); // 1 s
}

// HELP and TYPE lines of the seed families, exactly as exposed.
const SEED_META = {
  agent_requests_total: ['counter', 'Agent requests (invoke_agent spans) by outcome.'],
  agent_request_duration_seconds: [
    'histogram',
    'Agent request duration, including every model and tool call.',
  ],
  model_inference_duration_seconds: [
    'histogram',
    'Model inference call duration (excludes tool execution).',
  ],
  model_inference_calls_total: ['counter', 'Model inference calls.'],
  agent_token_usage_total: [
    'counter',
    'Tokens consumed; input is cache-inclusive, output reasoning-inclusive.',
  ],
  agent_estimated_cost_dollars_total: [
    'counter',
    'Estimated model cost in US dollars from the configured prices.',
  ],
  agent_tool_calls_total: ['counter', 'Tool calls by outcome.'],
  agent_tool_call_duration_seconds: ['histogram', 'Tool call duration.'],
};

const VARIANTS = [
  { name: 'http/protobuf', Exporter: ProtoExporter, compression: 'none' },
  { name: 'http/protobuf', Exporter: ProtoExporter, compression: 'gzip' },
  { name: 'http/json', Exporter: HttpJsonExporter, compression: 'none' },
  { name: 'http/json', Exporter: HttpJsonExporter, compression: 'gzip' },
];

for (const v of VARIANTS) {
  describe(`ingest ${v.name} compression=${v.compression}`, () => {
    let c;
    let scraped;

    before(async () => {
      c = await startCollector({ extra: PRICING });
      const url = `http://127.0.0.1:${c.httpPort}/v1/traces`;
      const base = Math.floor(Date.now() / 1000) - 60;
      const main = makeProvider(v.Exporter, url, v.compression, 'support-service');
      const other = makeProvider(v.Exporter, url, v.compression, FALLBACK_SERVICE);
      emitAgentTrace(main.provider.getTracer('e2e', '1.0.0'), base);
      emitFallbackSpan(other.provider.getTracer('e2e', '1.0.0'), base);
      await main.provider.forceFlush();
      await other.provider.forceFlush();
      await main.provider.shutdown();
      await other.provider.shutdown();
      for (const e of [main.exporter, other.exporter]) {
        assert.ok(e.results.length > 0, 'the exporter sent nothing');
        for (const r of e.results) {
          assert.equal(r.code, 0, `export failed: ${r.error}\ncollector output:\n${c.output}`);
        }
      }
      // Wait until every span has been derived, then take one snapshot.
      scraped = await waitFor(async () => {
        const s = await c.scrape();
        const m = s.m;
        const done =
          m &&
          m.get('agent_requests_total', { agent_name: AGENT, status: 'success' }) === 1 &&
          m.sum('model_inference_calls_total') === 3 &&
          m.sum('agent_tool_calls_total') === 2;
        return done ? s : undefined;
      });
      // Not there in time: assert on the last scrape anyway, so each test
      // below names the value that is wrong.
      scraped ??= await c.scrape();
      assert.equal(scraped.status, 200, `GET /metrics: ${scraped.status}`);
    });

    after(async () => {
      if (c) {
        await c.stop();
      }
    });

    test('agent requests and their duration histogram', () => {
      const m = scraped.m;
      const a = { agent_name: AGENT };
      assert.equal(m.get('agent_requests_total', { ...a, status: 'success' }), 1);
      assert.equal(m.sum('agent_requests_total'), 1);
      const h = 'agent_request_duration_seconds';
      assert.equal(m.get(`${h}_bucket`, { ...a, le: '2' }), 0);
      assert.equal(m.get(`${h}_bucket`, { ...a, le: '3' }), 1);
      assert.equal(m.get(`${h}_bucket`, { ...a, le: '+Inf' }), 1);
      assert.equal(m.get(`${h}_sum`, a), 2.5);
      assert.equal(m.get(`${h}_count`, a), 1);
    });

    test('model inference calls and duration (0.5 s lands in le="0.5")', () => {
      const m = scraped.m;
      const l = { agent_name: AGENT, model_id: MODEL };
      assert.equal(m.get('model_inference_calls_total', l), 2);
      const h = 'model_inference_duration_seconds';
      assert.equal(m.get(`${h}_bucket`, { ...l, le: '0.2' }), 0);
      assert.equal(m.get(`${h}_bucket`, { ...l, le: '0.5' }), 1);
      assert.equal(m.get(`${h}_bucket`, { ...l, le: '1' }), 2);
      assert.equal(m.get(`${h}_bucket`, { ...l, le: '+Inf' }), 2);
      assert.equal(m.get(`${h}_sum`, l), 1.3);
      assert.equal(m.get(`${h}_count`, l), 2);
    });

    test('token usage and exact cost', () => {
      const m = scraped.m;
      const l = { agent_name: AGENT, model_id: MODEL };
      assert.equal(m.get('agent_token_usage_total', { ...l, token_type: 'input' }), 2000);
      assert.equal(m.get('agent_token_usage_total', { ...l, token_type: 'output' }), 500);
      assert.equal(m.get('agent_estimated_cost_dollars_total', l), 0.01);
    });

    test('tool calls by status and their durations', () => {
      const m = scraped.m;
      const a = { agent_name: AGENT };
      const ok = { ...a, tool_name: 'search_kb' };
      const to = { ...a, tool_name: 'fetch_order' };
      assert.equal(m.get('agent_tool_calls_total', { ...ok, status: 'success' }), 1);
      assert.equal(m.get('agent_tool_calls_total', { ...to, status: 'timeout' }), 1);
      assert.equal(m.sum('agent_tool_calls_total', { status: 'error' }), 0);
      const h = 'agent_tool_call_duration_seconds';
      assert.equal(m.get(`${h}_bucket`, { ...ok, le: '0.25' }), 0);
      assert.equal(m.get(`${h}_bucket`, { ...ok, le: '0.5' }), 1);
      assert.equal(m.get(`${h}_sum`, ok), 0.3);
      assert.equal(m.get(`${h}_count`, ok), 1);
      assert.equal(m.get(`${h}_bucket`, { ...to, le: '0.5' }), 0);
      assert.equal(m.get(`${h}_bucket`, { ...to, le: '1' }), 1);
      assert.equal(m.get(`${h}_sum`, to), 0.8);
      assert.equal(m.get(`${h}_count`, to), 1);
    });

    test('agent_name falls back to service.name; unpriced model counted', () => {
      const m = scraped.m;
      const l = { agent_name: FALLBACK_SERVICE, model_id: FALLBACK_MODEL };
      assert.equal(m.get('model_inference_calls_total', l), 1);
      assert.equal(m.get('agent_token_usage_total', { ...l, token_type: 'input' }), 100);
      assert.equal(m.get('agent_token_usage_total', { ...l, token_type: 'output' }), 50);
      assert.equal(m.get('model_inference_duration_seconds_count', l), 1);
      assert.equal(m.get('model_inference_duration_seconds_sum', l), 1);
      const cost = m.get('agent_estimated_cost_dollars_total', l);
      assert.ok(cost === undefined || cost === 0, `unpriced model has cost ${cost}`);
      assert.equal(m.get('agentmeter_unpriced_tokens_total', { model_id: FALLBACK_MODEL }), 150);
      assert.equal(m.sum('agent_requests_total', { agent_name: FALLBACK_SERVICE }), 0);
    });

    test('self-metrics count the accepted spans', () => {
      const m = scraped.m;
      const accepted = m.series('agentmeter_spans_accepted_total');
      assert.equal(m.sum('agentmeter_spans_accepted_total'), 6, JSON.stringify(accepted));
      assert.equal(m.sum('agentmeter_spans_rejected_total'), 0);
      assert.equal(m.series('agentmeter_build_info').length, 1);
      assert.ok(m.get('process_resident_memory_bytes') > 0, 'process_resident_memory_bytes');
    });

    test('HELP/TYPE lines and Content-Type of the seed families', () => {
      assert.equal(scraped.status, 200);
      assert.equal(scraped.contentType, 'text/plain; version=0.0.4; charset=utf-8');
      const lines = new Set(scraped.text.split('\n'));
      for (const [family, [type, help]] of Object.entries(SEED_META)) {
        assert.ok(lines.has(`# HELP ${family} ${help}`), `HELP line of ${family}`);
        assert.ok(lines.has(`# TYPE ${family} ${type}`), `TYPE line of ${family}`);
      }
    });

    test('promtool check metrics accepts the exposition', () => {
      const r = promtoolCheck(scraped.text);
      assert.ifError(r.error);
      assert.equal(r.status, 0, `promtool:\n${r.stdout}${r.stderr}`);
    });

    test('the collector is still running; SIGTERM stops it with exit 0', async () => {
      assert.ok(c.alive(), `collector exited: ${JSON.stringify(c.exited)}\n${c.output}`);
      const e = await c.stop();
      assert.deepEqual({ code: e.code, signal: e.signal }, { code: 0, signal: null }, c.output);
    });
  });
}
