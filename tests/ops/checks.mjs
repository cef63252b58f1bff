// checks.mjs - helpers for tests/ops/run.sh (node 18+, no dependencies).
//   node checks.mjs dashboard FILE          structural checks of the dashboard
//   node checks.mjs exprs DASHBOARD RULES.. print a promtool rules file holding
//                                           every dashboard and rule expression
//   node checks.mjs live PROM_URL DASHBOARD RULES..   query each against Prometheus
// Prints "ok ..." / "FAIL ..." / "PENDING ..." lines; exits 1 on any FAIL.
import { readFileSync } from 'node:fs';

// Grafana unit ids the dashboard may use (a subset of Grafana's list).
const UNITS = new Set(['reqps', 'ops', 'percent', 'percentunit', 's', 'ms', 'short', 'none',
  'currencyUSD', 'bytes', 'decbytes']);

// Metrics the collector may not produce yet (being implemented on main):
// an expression over one of them that returns nothing is PENDING, not FAIL,
// while the metric is absent from the collector's exposition.
const PENDING = ['agent_request_cost_dollars', 'agent_request_tokens',
  'agent_request_inference_calls', 'agent_request_tool_calls', 'agent_conversation_turns',
  'agent_conversations_total', 'agent_escalation_rate', 'agent_quality_score',
  'agent_evaluation_score', 'agent_evaluation_labels_total'];

// Expressions that return nothing by design on a fresh, healthy setup.
const NEEDS_HISTORY = [/offset 1d/];                 // no data a day ago
const NEEDS_TROUBLE = [/agentmeter_series_overflow_total/]; // no overflow

let failed = 0;
const ok = (m) => console.log(`ok ${m}`);
const fail = (m) => { failed++; console.log(`FAIL ${m}`); };

function targets(dash) {
  const out = [];
  for (const p of dash.panels) {
    for (const t of p.targets ?? []) {
      out.push({ where: `panel ${p.id} "${p.title}" ${t.refId}`, expr: t.expr });
    }
  }
  return out;
}

function ruleExprs(files) {
  // Rule files are our own YAML: `expr: one line` or `expr: |` blocks.
  const out = [];
  for (const f of files) {
    const lines = readFileSync(f, 'utf8').split('\n');
    let name = '';
    for (let i = 0; i < lines.length; i++) {
      const m = lines[i].match(/^\s*- (record|alert): (\S+)/);
      if (m) { name = `${m[1]} ${m[2]}`; continue; }
      const e = lines[i].match(/^(\s*)expr: (.*)$/);
      if (!e) continue;
      let expr = e[2];
      if (expr === '|') {
        const body = [];
        for (i++; i < lines.length && (lines[i].trim() === '' ||
             lines[i].search(/\S/) > e[1].length); i++) body.push(lines[i].trim());
        i--;
        expr = body.join('\n').trim();
      }
      out.push({ where: `${f.split('/').pop()}: ${name}`, expr, kind: name.split(' ')[0],
                 record: name.split(' ')[1] });
    }
  }
  return out;
}

// Grafana variables -> concrete PromQL.
function substitute(expr, rate) {
  return expr.replaceAll('$__rate_interval', rate).replaceAll('$__range', '5m')
    .replaceAll('$job', '.*').replaceAll('$agent_name', '.*').replaceAll('$model_id', '.*');
}

function checkDashboard(file) {
  const d = JSON.parse(readFileSync(file, 'utf8'));
  const ids = new Set();
  let dup = 0;
  for (const p of d.panels) { if (ids.has(p.id)) dup++; ids.add(p.id); }
  dup === 0 ? ok(`dashboard: ${ids.size} panel ids unique`) : fail(`dashboard: ${dup} duplicate panel ids`);
  d.uid && d.title ? ok('dashboard: uid and title set') : fail('dashboard: uid or title missing');
  const vars = Object.fromEntries(d.templating.list.map((v) => [v.name, v]));
  vars.datasource?.type === 'datasource' && vars.datasource.query === 'prometheus'
    ? ok('dashboard: data-source variable') : fail('dashboard: no prometheus data-source variable');
  for (const v of ['agent_name', 'model_id']) {
    vars[v]?.type === 'query' && vars[v].datasource?.uid === '${datasource}'
      ? ok(`dashboard: variable ${v}`) : fail(`dashboard: variable ${v} missing or not on \${datasource}`);
  }
  const rows = d.panels.filter((p) => p.type === 'row').map((p) => p.title.toLowerCase());
  const want = ['overview', 'model performance', 'tools', 'cost', 'quality', 'conversations'];
  const missing = want.filter((w) => !rows.includes(w));
  missing.length === 0 ? ok(`dashboard: sections ${want.join(', ')}`) : fail(`dashboard: missing sections ${missing}`);
  let bad = [];
  for (const p of d.panels.filter((q) => q.type !== 'row')) {
    const unit = p.fieldConfig?.defaults?.unit;
    if (!UNITS.has(unit)) bad.push(`panel ${p.id} unit ${unit}`);
    if (p.datasource?.uid !== '${datasource}') bad.push(`panel ${p.id} datasource`);
    const refs = new Set((p.targets ?? []).map((t) => t.refId));
    if (!p.targets?.length || refs.size !== p.targets.length) bad.push(`panel ${p.id} targets/refIds`);
    const g = p.gridPos;
    if (!g || g.x < 0 || g.w < 1 || g.x + g.w > 24 || g.h < 1) bad.push(`panel ${p.id} gridPos`);
    if (/latency/i.test(p.title) && !(p.targets ?? []).every((t) => t.exemplar === true)) bad.push(`panel ${p.id} latency without exemplars`);
  }
  bad.length === 0 ? ok('dashboard: units valid, data source, refIds, grid, exemplars on latency panels')
    : fail(`dashboard: ${bad.join('; ')}`);
}

function rulesFile(dashFile, ruleFiles) {
  const d = JSON.parse(readFileSync(dashFile, 'utf8'));
  const all = [...targets(d).map((t) => ({ ...t, expr: substitute(t.expr, '1m') })), ...ruleExprs(ruleFiles)];
  const lines = ['groups:', '  - name: every-expression', '    rules:'];
  all.forEach((t, i) => {
    lines.push(`      - record: expr_${i}`, '        expr: |');
    for (const l of t.expr.split('\n')) lines.push(`          ${l}`);
  });
  console.log(lines.join('\n'));
}

async function query(prom, expr) {
  const r = await fetch(`${prom}/api/v1/query`, { method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: expr }) });
  const j = await r.json();
  if (j.status !== 'success') throw new Error(`${j.errorType}: ${j.error}`);
  return j.data.result;
}

async function live(prom, dashFile, ruleFiles) {
  const d = JSON.parse(readFileSync(dashFile, 'utf8'));
  const exposed = new Set((await query(prom, 'group by (__name__) ({job="ai-agents"})'))
    .map((s) => s.metric.__name__));
  const isExposed = (m) => [m, `${m}_bucket`, `${m}_count`].some((n) => exposed.has(n));
  const items = [
    ...targets(d).map((t) => ({ ...t, expr: substitute(t.expr, '15s') })),
    ...ruleExprs(ruleFiles).filter((r) => r.kind === 'record'),
  ];
  let pending = new Set();
  for (const t of items) {
    let n;
    try { n = (await query(prom, t.expr)).length; } catch (e) { fail(`${t.where}: ${e.message}`); continue; }
    if (n > 0) { ok(`${t.where}: ${n} series`); continue; }
    const why = NEEDS_HISTORY.some((re) => re.test(t.expr)) ? 'needs a day of history'
      : NEEDS_TROUBLE.some((re) => re.test(t.expr)) ? 'needs series overflow' : null;
    if (why) { console.log(`SKIP ${t.where}: ${why}`); continue; }
    const waits = PENDING.filter((m) => new RegExp(`\\b${m}(_bucket|_sum|_count)?\\b`).test(t.expr) && !isExposed(m));
    if (waits.length) { waits.forEach((m) => pending.add(m)); console.log(`PENDING ${t.where}: collector does not expose ${waits.join(', ')} yet`); continue; }
    fail(`${t.where}: no data for ${t.expr.replace(/\s+/g, ' ')}`);
  }
  // Prometheus evaluated the recording rules itself: each recorded series exists.
  for (const r of ruleExprs(ruleFiles).filter((x) => x.kind === 'record')) {
    const n = (await query(prom, r.record)).length;
    if (n > 0) ok(`recorded by Prometheus: ${r.record}`);
    else if (PENDING.some((m) => r.expr.includes(m) && !isExposed(m))) console.log(`PENDING recorded ${r.record}`);
    else fail(`recorded by Prometheus: ${r.record} has no series`);
  }
  if (pending.size) console.log(`PENDING metrics: ${[...pending].join(' ')}`);
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'dashboard') checkDashboard(args[0]);
else if (cmd === 'exprs') rulesFile(args[0], args.slice(1));
else if (cmd === 'live') await live(args[0], args[1], args.slice(2));
else { console.error('usage: checks.mjs dashboard|exprs|live ...'); process.exit(2); }
process.exit(failed ? 1 : 0);
