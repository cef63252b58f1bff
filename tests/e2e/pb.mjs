// pb.mjs - a tiny protobuf wire writer for hand-built OTLP requests and a
// reader for the google.rpc.Status error bodies (field numbers from
// opentelemetry-proto and google/rpc/status.proto).

import { randomBytes } from 'node:crypto';

function varint(n) {
  let v = BigInt(n);
  const out = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) {
      b |= 0x80;
    }
    out.push(b);
  } while (v !== 0n);
  return Buffer.from(out);
}

const tag = (num, wt) => varint((num << 3) | wt);
export const pbVarint = (num, n) => Buffer.concat([tag(num, 0), varint(n)]);
export const pbBytes = (num, buf) => Buffer.concat([tag(num, 2), varint(buf.length), buf]);
export const pbString = (num, s) => pbBytes(num, Buffer.from(s, 'utf8'));
export function pbFixed64(num, n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return Buffer.concat([tag(num, 1), b]);
}

// common.proto KeyValue { key = 1; AnyValue value = 2 } with AnyValue
// { string_value = 1; bool_value = 2; int_value = 3; double_value = 4 }.
function keyValue(key, value) {
  let any;
  if (typeof value === 'string') {
    any = pbString(1, value);
  } else if (typeof value === 'boolean') {
    any = pbVarint(2, value ? 1 : 0);
  } else if (Number.isInteger(value)) {
    any = pbVarint(3, value);
  } else {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(value);
    any = Buffer.concat([tag(4, 1), b]);
  }
  return Buffer.concat([pbString(1, key), pbBytes(2, any)]);
}

const attrs = (num, obj) => Buffer.concat(Object.entries(obj).map(([k, v]) => pbBytes(num, keyValue(k, v))));

// trace.proto Span: trace_id 1, span_id 2, parent_span_id 4, name 5, kind 6,
// start 7 / end 8 (fixed64 ns), attributes 9, status 15 {message 2, code 3}.
export function encodeSpan({ traceId, spanId, parentSpanId, name, kind = 1, startNs, endNs, attributes = {}, statusCode = 0 }) {
  const parts = [pbBytes(1, traceId), pbBytes(2, spanId)];
  if (parentSpanId) {
    parts.push(pbBytes(4, parentSpanId));
  }
  parts.push(pbString(5, name), pbVarint(6, kind), pbFixed64(7, startNs), pbFixed64(8, endNs));
  parts.push(attrs(9, attributes));
  if (statusCode) {
    parts.push(pbBytes(15, pbVarint(3, statusCode)));
  }
  return Buffer.concat(parts);
}

// ExportTraceServiceRequest { resource_spans = 1 } > ResourceSpans
// { resource = 1 {attributes = 1}; scope_spans = 2 } > ScopeSpans
// { scope = 1 {name = 1}; spans = 2 }.
export function encodeRequest(serviceName, spans) {
  const resource = attrs(1, { 'service.name': serviceName });
  const scope = pbString(1, 'agentmeter-e2e');
  const scopeSpans = Buffer.concat([pbBytes(1, scope), ...spans.map((s) => pbBytes(2, encodeSpan(s)))]);
  const rs = Buffer.concat([pbBytes(1, resource), pbBytes(2, scopeSpans)]);
  return pbBytes(1, rs);
}

// One invoke_agent span of `agent` lasting `ms` milliseconds.
export function agentRequest(agent, ms = 1000) {
  const startNs = BigInt(Date.now() - 60000) * 1000000n;
  return encodeRequest(`${agent}-service`, [
    {
      traceId: randomBytes(16),
      spanId: randomBytes(8),
      name: `invoke_agent ${agent}`,
      startNs,
      endNs: startNs + BigInt(ms) * 1000000n,
      attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': agent },
    },
  ]);
}

function readVarint(buf, pos) {
  let v = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) {
      throw new Error('truncated varint');
    }
    const b = buf[pos++];
    v |= BigInt(b & 0x7f) << shift;
    shift += 7n;
    if ((b & 0x80) === 0) {
      return [v, pos];
    }
  }
}

// google.rpc.Status { int32 code = 1; string message = 2; repeated Any
// details = 3 } -> { code, message }. Throws on malformed input.
export function decodeStatus(buf) {
  const out = { code: 0, message: '' };
  let pos = 0;
  while (pos < buf.length) {
    let key;
    [key, pos] = readVarint(buf, pos);
    const num = Number(key >> 3n);
    const wt = Number(key & 7n);
    if (wt === 0) {
      let v;
      [v, pos] = readVarint(buf, pos);
      if (num === 1) {
        out.code = Number(BigInt.asIntN(32, v));
      }
    } else if (wt === 2) {
      let len;
      [len, pos] = readVarint(buf, pos);
      const end = pos + Number(len);
      if (end > buf.length) {
        throw new Error('truncated length-delimited field');
      }
      if (num === 2) {
        out.message = buf.subarray(pos, end).toString('utf8');
      }
      pos = end;
    } else if (wt === 1) {
      pos += 8;
    } else if (wt === 5) {
      pos += 4;
    } else {
      throw new Error(`wire type ${wt}`);
    }
    if (pos > buf.length) {
      throw new Error('truncated fixed field');
    }
  }
  return out;
}
