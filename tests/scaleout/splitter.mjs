// splitter.mjs - a test stand-in for the OpenTelemetry Collector (contrib)
// with its `loadbalancing` exporter in front of agentmeter replicas. The
// collector itself cannot be installed here (no Debian package, and nothing
// but Debian and npm can be downloaded), so this file routes OTLP/HTTP trace
// requests the way that exporter does, and the scale-out test puts it where
// the collector sits in deploy/scale-out/:
//
//   - the ring: the resolver's endpoint strings, sorted; each endpoint gets
//     100 positions, position i = CRC-32 (IEEE) of the endpoint's bytes
//     followed by the single byte i, modulo 36000; a position already taken
//     (by an earlier endpoint in sorted order) is skipped; positions sorted;
//   - a lookup: CRC-32 of the routing identifier modulo 36000, then the first
//     ring position >= it, wrapping to the first position of the ring;
//   - a request is first split into batches of one resource, one scope and
//     one trace id (spans in their original order, resource and scope bytes
//     unchanged); each batch is routed by its trace id's 16 bytes
//     (`routing_key: traceID`, the default) or by its resource's
//     `service.name` string (`routing_key: service`); the batches of one
//     backend go out together as one request;
//   - `fanout` stands for a pipeline with two exporters (the HA pair): every
//     request goes whole to every backend.
// The ring is built over logical names (agentmeter-0:4317, ...), as a static
// resolver or a headless Service's DNS names would give, so the routing does
// not depend on which loopback ports a run happens to get; each name maps to
// the replica's current OTLP/HTTP port (a restarted replica gets a new one).
// Answer to the client: 200 when every backend answered 2xx, else 503 (so a
// client retries, as it would when the collector's exporter queue refuses).

import http from 'node:http';

const MAX_POSITIONS = 36000;
const WEIGHT = 100;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) {
      c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    t[n] = c >>> 0;
  }
  return t;
})();

// CRC-32/IEEE (Go's crc32.ChecksumIEEE, zlib's crc32) of a Buffer.
export function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) {
    c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

// The load-balancing exporter's consistent hash ring over endpoint strings.
export class HashRing {
  constructor(endpoints, weight = WEIGHT) {
    const sorted = [...new Set(endpoints)].sort();
    const used = new Set();
    this.items = [];
    for (const endpoint of sorted) {
      for (let i = 0; i < weight; i++) {
        const pos = crc32(Buffer.concat([Buffer.from(endpoint, 'utf8'), Buffer.from([i & 0xff])])) % MAX_POSITIONS;
        if (!used.has(pos)) {
          used.add(pos);
          this.items.push({ pos, endpoint });
        }
      }
    }
    this.items.sort((a, b) => a.pos - b.pos);
  }

  // Endpoint for a routing identifier (Buffer or string).
  endpointFor(id) {
    const pos = crc32(Buffer.isBuffer(id) ? id : Buffer.from(id, 'utf8')) % MAX_POSITIONS;
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.items[mid].pos >= pos) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    return this.items[lo === this.items.length ? 0 : lo].endpoint;
  }
}

// --- protobuf wire reading: fields as byte ranges, nothing re-encoded ---

function varint(buf, pos) {
  let v = 0;
  let mul = 1;
  for (;;) {
    if (pos >= buf.length) {
      throw new Error('truncated varint');
    }
    const b = buf[pos++];
    v += (b & 0x7f) * mul;
    mul *= 128;
    if ((b & 0x80) === 0) {
      return [v, pos];
    }
  }
}

// Fields of one message: [{ num, raw (whole field), value (payload of a
// length-delimited field) }].
export function fields(buf) {
  const out = [];
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    let key;
    [key, pos] = varint(buf, pos);
    const num = Math.floor(key / 8);
    const wt = key % 8;
    let value;
    if (wt === 0) {
      [, pos] = varint(buf, pos);
    } else if (wt === 1) {
      pos += 8;
    } else if (wt === 5) {
      pos += 4;
    } else if (wt === 2) {
      let len;
      [len, pos] = varint(buf, pos);
      value = buf.subarray(pos, pos + len);
      pos += len;
    } else {
      throw new Error(`unsupported wire type ${wt}`);
    }
    if (pos > buf.length) {
      throw new Error('truncated field');
    }
    out.push({ num, raw: buf.subarray(start, pos), value });
  }
  return out;
}

function lenField(num, payload) {
  const head = [];
  let n = num * 8 + 2;
  const put = (x) => {
    while (x >= 128) {
      head.push((x % 128) | 0x80);
      x = Math.floor(x / 128);
    }
    head.push(x);
  };
  put(n);
  n = payload.length;
  put(n);
  return Buffer.concat([Buffer.from(head), payload]);
}

// Resource { attributes = 1 KeyValue { key = 1; value = 2 AnyValue { string_value = 1 } } }.
function serviceName(resource) {
  for (const kv of fields(resource)) {
    if (kv.num !== 1) {
      continue;
    }
    const f = fields(kv.value);
    const key = f.find((x) => x.num === 1);
    const val = f.find((x) => x.num === 2);
    if (key && key.value.toString('utf8') === 'service.name' && val) {
      const s = fields(val.value).find((x) => x.num === 1);
      if (s) {
        return s.value.toString('utf8');
      }
    }
  }
  return undefined;
}

// ExportTraceServiceRequest { resource_spans = 1 } -> batches of one
// resource, one scope and one trace id: [{ traceId, service, body }] with
// body one ResourceSpans field (field 1 of the request).
export function splitTraces(request) {
  const batches = [];
  for (const rsField of fields(request)) {
    if (rsField.num !== 1) {
      continue;
    }
    const rs = fields(rsField.value);
    const resource = rs.filter((f) => f.num === 1);
    const rsRest = rs.filter((f) => f.num === 3).map((f) => f.raw); // schema_url
    const service = resource.length ? serviceName(resource[0].value) : undefined;
    for (const ssField of rs.filter((f) => f.num === 2)) {
      const ss = fields(ssField.value);
      const scopeHead = ss.filter((f) => f.num === 1 || f.num === 3).map((f) => f.raw);
      const byTrace = new Map();
      for (const span of ss.filter((f) => f.num === 2)) {
        const tid = fields(span.value).find((f) => f.num === 1);
        const key = tid ? tid.value.toString('hex') : '';
        if (!byTrace.has(key)) {
          byTrace.set(key, []);
        }
        byTrace.get(key).push(span.raw);
      }
      for (const [traceId, spans] of byTrace) {
        const scopeSpans = lenField(2, Buffer.concat([...scopeHead, ...spans]));
        const body = lenField(1, Buffer.concat([...resource.map((f) => f.raw), scopeSpans, ...rsRest]));
        batches.push({ traceId, service, body });
      }
    }
  }
  return batches;
}

// Route one request: Map(endpoint -> request body) for routing key
// 'traceID', 'service' or 'fanout'.
export function route(ring, request, routingKey) {
  const out = new Map();
  if (routingKey === 'fanout') {
    for (const item of new Set(ring.items.map((i) => i.endpoint))) {
      out.set(item, request);
    }
    return out;
  }
  for (const b of splitTraces(request)) {
    let id;
    if (routingKey === 'service') {
      if (b.service === undefined) {
        throw new Error('unable to get service name');
      }
      id = b.service;
    } else {
      id = Buffer.from(b.traceId, 'hex');
    }
    const ep = ring.endpointFor(id);
    out.set(ep, out.has(ep) ? Buffer.concat([out.get(ep), b.body]) : b.body);
  }
  return out;
}

function post(port, body) {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/traces',
        headers: { 'Content-Type': 'application/x-protobuf', 'Content-Length': body.length },
        agent: false,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      },
    );
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

// An OTLP/HTTP front door on 127.0.0.1:port. `targets` maps each logical
// endpoint name to the replica's OTLP/HTTP port (mutable: setTarget).
// Resolves { port, setTarget(name, port), counts (spans-requests per
// endpoint), close() }.
export function startSplitter({ targets, routingKey }) {
  const ring = new HashRing([...targets.keys()]);
  const counts = new Map([...targets.keys()].map((k) => [k, 0]));
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      let routed;
      try {
        routed = route(ring, Buffer.concat(chunks), routingKey);
      } catch (e) {
        res.writeHead(400, { 'Content-Type': 'text/plain' });
        res.end(String(e.message));
        return;
      }
      const codes = await Promise.all(
        [...routed].map(([ep, body]) => {
          counts.set(ep, counts.get(ep) + 1);
          return post(targets.get(ep), body);
        }),
      );
      const ok = codes.every((c) => c >= 200 && c < 300);
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'application/x-protobuf' });
      res.end();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: server.address().port,
        ring,
        counts,
        setTarget: (name, port) => targets.set(name, port),
        close: () => new Promise((r) => server.close(r)),
      }),
    );
  });
}
