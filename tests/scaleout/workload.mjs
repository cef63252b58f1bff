// workload.mjs - the scale-out test's agent traffic, hand-built OTLP/protobuf
// so that every value is exact and every id is known: six agent services,
// each with multi-turn conversations (gen_ai.conversation.id), every turn a
// trace of invoke_agent + chat calls + maybe a tool call + an evaluation
// event. A trace's children and its root travel in different requests, and
// one request carries several services (several ResourceSpans) and traces.
// Durations are multiples of 1/16 s and token counts multiples of 15625
// (1e6 / 64) with whole-dollar prices, so every duration, cost and sum is a
// dyadic number: a sum over replicas is bit-for-bit the single instance's,
// whatever order the additions happen in.

import { pbBytes, pbFixed64, pbString, pbVarint } from '../e2e/pb.mjs';

export const PRICING = `pricing:
  builtin: false
  models:
    gpt-4o: { input: 2, output: 8, cached_input: 1 }
    claude-x: { input: 3, output: 15 }
`;

// mulberry32: a small seeded PRNG, so every run sends the same traffic.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function anyValue(v) {
  if (typeof v === 'string') {
    return pbString(1, v);
  }
  if (typeof v === 'boolean') {
    return pbVarint(2, v ? 1 : 0);
  }
  if (Number.isInteger(v)) {
    return pbVarint(3, v);
  }
  const b = Buffer.alloc(9);
  b[0] = (4 << 3) | 1;
  b.writeDoubleLE(v, 1);
  return b;
}

const attrs = (num, obj) =>
  Buffer.concat(
    Object.entries(obj).map(([k, v]) => pbBytes(num, Buffer.concat([pbString(1, k), pbBytes(2, anyValue(v))]))),
  );

// trace.proto Span: trace_id 1, span_id 2, parent_span_id 4, name 5, kind 6,
// start 7, end 8, attributes 9, events 11 { time 1, name 2, attributes 3 },
// status 15 { code 3 }.
function encodeSpan(s) {
  const parts = [pbBytes(1, s.traceId), pbBytes(2, s.spanId)];
  if (s.parentSpanId) {
    parts.push(pbBytes(4, s.parentSpanId));
  }
  parts.push(pbString(5, s.name), pbVarint(6, 1), pbFixed64(7, s.startNs), pbFixed64(8, s.endNs));
  parts.push(attrs(9, s.attributes));
  for (const e of s.events || []) {
    parts.push(pbBytes(11, Buffer.concat([pbFixed64(1, s.endNs), pbString(2, e.name), attrs(3, e.attributes)])));
  }
  if (s.error) {
    parts.push(pbBytes(15, pbVarint(3, 2)));
  }
  return Buffer.concat(parts);
}

// ExportTraceServiceRequest with one ResourceSpans per service.
function encodeRequest(spans) {
  const byService = new Map();
  for (const s of spans) {
    if (!byService.has(s.service)) {
      byService.set(s.service, []);
    }
    byService.get(s.service).push(s);
  }
  const rs = [];
  for (const [service, list] of byService) {
    const resource = attrs(1, { 'service.name': service });
    const scope = pbBytes(1, pbString(1, 'agentmeter-scaleout'));
    const ss = pbBytes(2, Buffer.concat([scope, ...list.map((s) => pbBytes(2, encodeSpan(s)))]));
    rs.push(pbBytes(1, Buffer.concat([pbBytes(1, resource), ss])));
  }
  return Buffer.concat(rs);
}

const SERVICES = ['a', 'b', 'c', 'd', 'e', 'f'];
const MS = 1000000n;

// One phase of traffic. Returns { requests: [Buffer], spans: count,
// conversations: [{ id, agent, service, turns: [{ traceId (hex), escalated }] }] }.
export function workload(phase, seed = 7) {
  const rnd = prng(seed + phase * 1000);
  const pick = (n) => Math.floor(rnd() * n);
  let idn = 0;
  const id = (len) => {
    const b = Buffer.alloc(len);
    b.writeUInt32BE(0x5ca1e000 + phase, 0);
    b.writeUInt32BE(++idn, len - 4);
    if (len === 16) {
      b.writeUInt32BE(Math.floor(rnd() * 0xffffffff), 4);
      b.writeUInt32BE(Math.floor(rnd() * 0xffffffff), 8);
    }
    return b;
  };
  const base = BigInt(Date.now() - 120000) * MS;
  const conversations = [];
  for (const svc of SERVICES) {
    for (let k = 0; k < 3; k++) {
      conversations.push({
        id: `p${phase}-${svc}-${k}`,
        agent: `${svc}-bot`,
        service: `${svc}-service`,
        nTurns: 1 + pick(5),
        escalateAt: pick(4) === 0 ? pick(5) : -1,
        turns: [],
      });
    }
  }
  // Traces in turn order: turn 1 of every conversation, then turn 2, ...
  const traces = [];
  for (let turn = 0; turn < 5; turn++) {
    for (const c of conversations) {
      if (turn >= c.nTurns) {
        continue;
      }
      const t = makeTrace(c, turn, base + BigInt(turn) * 10000n * MS, id, pick);
      c.turns.push({ traceId: t.traceId.toString('hex'), escalated: t.escalated });
      traces.push(t);
    }
  }
  // Request g: the children of traces [4g, 4g+4) and the roots of the group before.
  const requests = [];
  let spans = 0;
  for (let g = 0; g <= Math.ceil(traces.length / 4); g++) {
    const list = [];
    for (const t of traces.slice(4 * g, 4 * g + 4)) {
      list.push(...t.children);
    }
    for (const t of traces.slice(4 * (g - 1), 4 * g)) {
      if (g > 0) {
        list.push(t.root);
      }
    }
    if (list.length > 0) {
      spans += list.length;
      requests.push(encodeRequest(list));
    }
  }
  for (const c of conversations) {
    delete c.nTurns;
    delete c.escalateAt;
  }
  return { requests, spans, conversations };
}

function makeTrace(c, turn, start, id, pick) {
  const traceId = id(16);
  const rootId = id(8);
  const agent = c.agent;
  const sixteenth = (n) => BigInt(n) * 62500000n; // n/16 s in ns
  const rootLen = sixteenth(8 + pick(120));
  const errorRoot = pick(8) === 0;
  const root = {
    service: c.service,
    traceId,
    spanId: rootId,
    name: `invoke_agent ${agent}`,
    startNs: start,
    endNs: start + rootLen,
    attributes: {
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': agent,
      'gen_ai.conversation.id': c.id,
      ...(errorRoot && pick(2) === 0 ? { 'error.type': 'TimeoutError' } : {}),
    },
    error: errorRoot,
    events: [
      {
        name: 'gen_ai.evaluation.result',
        attributes: {
          'gen_ai.evaluation.name': 'Relevance',
          'gen_ai.evaluation.score.value': 0.25 * (1 + pick(4)),
          'gen_ai.evaluation.score.label': pick(3) === 0 ? 'fail' : 'pass',
        },
      },
    ],
  };
  const children = [];
  let at = start + 62500000n;
  const nChat = 1 + pick(2);
  for (let i = 0; i < nChat; i++) {
    const model = pick(2) === 0 ? 'gpt-4o' : 'claude-x';
    const len = sixteenth(1 + pick(16));
    const usage = {
      'gen_ai.usage.input_tokens': 15625 * (2 + pick(6)),
      'gen_ai.usage.output_tokens': 15625 * (1 + pick(2)),
    };
    if (model === 'gpt-4o' && pick(2) === 0) {
      usage['gen_ai.usage.cache_read.input_tokens'] = 15625;
    }
    children.push({
      service: c.service,
      traceId,
      spanId: id(8),
      parentSpanId: rootId,
      name: `chat ${model}`,
      startNs: at,
      endNs: at + len,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': model === 'gpt-4o' ? 'openai' : 'anthropic',
        'gen_ai.request.model': model,
        ...usage,
      },
    });
    at += len;
  }
  const escalated = c.escalateAt === turn || (c.escalateAt >= c.nTurns && turn === c.nTurns - 1);
  if (escalated || pick(2) === 0) {
    const tool = escalated ? 'escalate_to_human' : pick(2) === 0 ? 'lookup' : 'search';
    const len = sixteenth(1 + pick(8));
    children.push({
      service: c.service,
      traceId,
      spanId: id(8),
      parentSpanId: rootId,
      name: `execute_tool ${tool}`,
      startNs: at,
      endNs: at + len,
      attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': tool },
      error: !escalated && pick(5) === 0,
    });
  }
  return { traceId, root, children, escalated };
}
