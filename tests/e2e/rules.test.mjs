// rules.test.mjs - processors.genai.rules (SPEC.md 3.2) end to end: a
// framework whose spans name no agent (a plain LangChain.js chain through
// OpenInference's LangChain instrumentation, run for real against the fake
// OpenAI server) shows up as an agent once the deploy/rules preset is
// configured; SIGHUP applies an edited rule; --check-config and a bad reload
// name the rule's FILE:LINE:COL.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';

import { startFakeOpenAI } from './fake_openai.mjs';
import * as fw from './frameworks.mjs';
import { AGENTMETER_BIN, request, startCollector, waitFor } from './lib.mjs';

const PRESET = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../deploy/rules/openinference-langchain.yaml');
const RULE = 'rule:openinference-langchain-root-chain';

let dir;
let fake;

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'agentmeter-rules-'));
  fake = await startFakeOpenAI();
});

after(async () => {
  await fake?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('--check-config: a bad rule is FILE:LINE:COL, exit 1', () => {
  const file = path.join(dir, 'bad.yaml');
  writeFileSync(
    file,
    'processors:\n  genai:\n    rules:\n      - name: r\n        match: {kind: sever}\n        set: {operation: agent}\n',
  );
  const r = spawnSync(AGENTMETER_BIN, ['--check-config', file], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 1, `${r.stdout}${r.stderr}`);
  assert.ok(
    r.stderr.includes(`${file}:5:23: processors.genai.rules[0].match.kind: unknown span kind "sever"`),
    r.stderr,
  );
  const good = path.join(dir, 'good.yaml');
  writeFileSync(good, `processors:\n  genai:\n    rule_files: ['${PRESET}']\n`);
  const g = spawnSync(AGENTMETER_BIN, ['--check-config', good], { encoding: 'utf8', timeout: 10000 });
  assert.equal(g.status, 0, `${g.stdout}${g.stderr}`);
});

test('a preset rule makes a plain LangChain chain an agent; SIGHUP applies an edited rule', async () => {
  const c = await startCollector({
    extra: `processors:
  genai:
    trace_wait: 1s
    rule_files: ['${PRESET}']
pricing:
  builtin: false
  models:
    gpt-4o-mini: { input: 0.15, output: 0.6 }
`,
  });
  const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${c.httpPort}/v1/traces` });
  const provider = fw.makeProvider(exporter, 'chain-svc');
  const run = async (name) => {
    await fw.lcelChain(provider, fake, name);
    await provider.forceFlush();
  };
  const until = async (pred, what) => {
    const r = await waitFor(async () => {
      const s = await c.scrape();
      return pred(s.m) ? s.m : undefined;
    }, { timeoutMs: 15000, interval: 100 });
    assert.ok(r, `${what}:\n${(await c.scrape()).text}\n${c.output}`);
    return r;
  };
  try {
    await run('support-chain');
    let m = await until(
      (x) => x.get('agent_request_inference_calls_count', { agent_name: 'support-chain' }) === 1,
      'the chain never became an agent request',
    );
    const a = { agent_name: 'support-chain' };
    assert.equal(m.get('agent_requests_total', { ...a, status: 'success' }), 1);
    assert.equal(m.get('model_inference_calls_total', { ...a, model_id: fw.MODEL }), 1);
    assert.equal(m.get('agent_token_usage_total', { ...a, model_id: fw.MODEL, token_type: 'input' }), 100);
    assert.equal(m.get('agent_token_usage_total', { ...a, model_id: fw.MODEL, token_type: 'output' }), 20);
    assert.equal(m.get('agent_request_tokens_sum', a), 120);
    assert.equal(m.get('agentmeter_spans_classified_total', { by: RULE, operation: 'agent' }), 1);
    assert.equal(m.get('agentmeter_spans_classified_total', { by: 'builtin', operation: 'inference' }), 1);
    assert.equal(m.get('agentmeter_spans_classified_total', { by: 'builtin', operation: 'none' }), 1);

    // An inline rule comes before the file's: this chain is "billing" now.
    const base = readFileSync(c.configPath, 'utf8');
    const inline = `    rules:
      - name: billing
        match: {root: true, span_name: 'billing-*'}
        set: {operation: agent, agent_name: {span_name: true, regex: '^billing-(.*)$'}}
`;
    writeFileSync(c.configPath, base.replace('    rule_files:', () => `${inline}    rule_files:`));
    c.child.kill('SIGHUP');
    assert.ok(await waitFor(() => /2 classification rules/.test(c.output)), `no reload logged:\n${c.output}`);
    await run('billing-eu');
    m = await until(
      (x) => x.get('agent_request_inference_calls_count', { agent_name: 'eu' }) === 1,
      'the edited rule did not apply',
    );
    assert.equal(m.get('agent_requests_total', { agent_name: 'eu', status: 'success' }), 1);
    assert.equal(m.get('agentmeter_spans_classified_total', { by: 'rule:billing', operation: 'agent' }), 1);
    assert.equal(m.get('agent_requests_total', { ...a, status: 'success' }), 1, 'earlier series stay');

    // A bad rule is refused with its position; the running rules stay.
    const cfgText = readFileSync(c.configPath, 'utf8');
    writeFileSync(c.configPath, cfgText.replace("span_name: 'billing-*'", 'span_name: []'));
    c.child.kill('SIGHUP');
    assert.ok(
      await waitFor(() =>
        /reload rejected, keeping the running config: .*:\d+:\d+: processors\.genai\.rules\[0\]\.match\.span_name: expected a string or a non-empty list/.test(
          c.output,
        ),
      ),
      `no rejection logged:\n${c.output}`,
    );
    await run('billing-us');
    await until(
      (x) => x.get('agent_requests_total', { agent_name: 'us', status: 'success' }) === 1,
      'the running rules did not stay after a rejected reload',
    );
  } finally {
    await provider.shutdown();
    const exit = await c.stop();
    assert.equal(exit.code, 0, c.output);
  }
});

test('debug: /debug/spans explains each span of a real LangGraph run; /debug/ serves the page; off by default', async () => {
  const off = await startCollector({});
  try {
    const r = await request(off.promPort, { path: '/debug/spans' });
    assert.equal(r.status, 404);
  } finally {
    await off.stop();
  }
  const c = await startCollector({
    prom: '    debug: true\n    debug_spans: 8\n',
    extra: `processors:
  genai:
    trace_wait: 1s
    rules:
      - name: quiet-start
        match: {span_name: __start__}
        set: {operation: ignore}
`,
  });
  const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${c.httpPort}/v1/traces` });
  const provider = fw.makeProvider(exporter, 'debug-svc');
  try {
    await fw.langgraph(provider, fake, 'dbg-agent');
    await provider.forceFlush();
    // 14 spans, ring of 8: the newest 8 are kept, 6 overwritten.
    const d = await waitFor(async () => {
      const r = await request(c.promPort, { path: '/debug/spans' });
      const j = JSON.parse(r.body.toString());
      return j.recorded === 14 ? { r, j } : undefined;
    });
    assert.ok(d, 'the 14 spans were not recorded');
    assert.equal(d.r.headers['content-type'], 'application/json');
    assert.equal(d.j.capacity, 8);
    assert.equal(d.j.overwritten, 6);
    assert.equal(d.j.spans.length, 8);
    const root = d.j.spans.find((s) => s.name === 'dbg-agent');
    assert.ok(root, 'the root span ends last and is kept');
    assert.equal(root.parent_span_id, null);
    assert.equal(root.operation, 'agent');
    assert.equal(root.classified_by, 'builtin');
    assert.equal(root.agent_name, 'dbg-agent');
    assert.equal(root.agent_from, 'attribute');
    assert.equal(root.conversation_id, fw.THREAD);
    assert.equal(root.scope, '@arizeai/openinference-instrumentation-langchain');
    const llm = d.j.spans.filter((s) => s.operation === 'inference');
    assert.deepEqual(llm.map((s) => s.tokens), [{ input: 150, output: 30 }]);
    assert.equal(llm[0].model_id, fw.MODEL);
    assert.equal(llm[0].agent_from, 'ancestor_or_service');
    const none = d.j.spans.filter((s) => s.operation === 'none');
    assert.ok(none.length > 0 && none.every((s) => s.classified_by === 'builtin'));

    // The ignored span is explained too (it ends first, so look at the metric).
    const m = (await c.scrape()).m;
    assert.equal(m.get('agentmeter_spans_classified_total', { by: 'rule:quiet-start', operation: 'ignored' }), 1);

    const page = await request(c.promPort, { path: '/debug/' });
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    const html = page.body.toString();
    for (const id of ['id="svc"', 'id="uncl"', 'id="agent"', 'id="summary"', 'id="spans"', 'fetch("spans")']) {
      assert.ok(html.includes(id), `page lacks ${id}`);
    }
  } finally {
    await provider.shutdown();
    await c.stop();
  }
});

// genai_ancestor is answered over the spans of one export request: a step
// under an agent span is not matched, a step under plain spans is.
test('rules: genai_ancestor over the spans of one request', async () => {
  const c = await startCollector({
    extra: `processors:
  genai:
    trace_wait: 1s
    rules:
      - name: lone-step
        match: {span_name: 'step *', genai_ancestor: false}
        set: {operation: tool, tool_name: {span_name: true, regex: '^step (.*)$'}}
`,
  });
  try {
    const S = (v) => ({ stringValue: v });
    const t0 = 1700000000000000000n;
    const span = (id, parent, name, attrs = {}) => ({
      traceId: '5b8efff798038103d269b633813fc60c',
      spanId: id,
      ...(parent ? { parentSpanId: parent } : {}),
      name,
      startTimeUnixNano: String(t0),
      endTimeUnixNano: String(t0 + 100000000n),
      attributes: Object.entries(attrs).map(([key, value]) => ({ key, value })),
    });
    // agent > wrap > step under-agent;  root > mid > step plain (children listed first)
    const spans = [
      span('0000000000000013', '0000000000000012', 'step under-agent'),
      span('0000000000000012', '0000000000000011', 'wrap'),
      span('0000000000000011', null, 'invoke_agent bot', {
        'gen_ai.operation.name': S('invoke_agent'),
        'gen_ai.agent.name': S('bot'),
      }),
      span('0000000000000023', '0000000000000022', 'step plain'),
      span('0000000000000022', '0000000000000021', 'mid'),
      span('0000000000000021', null, 'root'),
    ];
    const r = await request(c.httpPort, {
      method: 'POST',
      path: '/v1/traces',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: S('anc-svc') }] }, scopeSpans: [{ spans }] }],
      }),
    });
    assert.equal(r.status, 200, r.body.toString());
    const m = await waitFor(async () => {
      const s = await c.scrape();
      return s.m.get('agentmeter_spans_classified_total', { by: 'rule:lone-step', operation: 'tool' }) === 1 ? s.m : undefined;
    });
    assert.ok(m, (await c.scrape()).text);
    assert.equal(m.get('agentmeter_spans_classified_total', { by: 'builtin', operation: 'agent' }), 1);
    assert.equal(m.get('agentmeter_spans_classified_total', { by: 'builtin', operation: 'none' }), 4);
    const done = await waitFor(async () => {
      const s = await c.scrape();
      return s.m.get('agent_tool_calls_total', { agent_name: 'anc-svc', tool_name: 'plain', status: 'success' }) === 1 ? s.m : undefined;
    });
    assert.ok(done, (await c.scrape()).text);
    assert.equal(done.get('agent_tool_calls_total', { agent_name: 'bot', tool_name: 'under-agent', status: 'success' }), undefined);
  } finally {
    await c.stop();
  }
});
