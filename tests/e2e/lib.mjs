// lib.mjs - shared helpers for the end-to-end tests: start the real
// build/agentmeter on free loopback ports with a temporary config, wait for
// it to be ready by polling (never a bare sleep), scrape and parse /metrics,
// and stop exactly the child process that was started.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export const AGENTMETER_BIN = process.env.AGENTMETER_BIN
  ? path.resolve(process.env.AGENTMETER_BIN)
  : path.resolve(here, '../../build/agentmeter');

// A port nobody listens on right now: bind 127.0.0.1:0, read it, close.
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Three distinct free ports (a port handed out twice would make the
// collector fail to bind, so insist on distinct values).
async function freePorts(n) {
  const ports = new Set();
  while (ports.size < n) {
    ports.add(await freePort());
  }
  return [...ports];
}

// The collector's YAML config. `extra` is appended verbatim at top level
// (pricing, processors, ...); `http`, `grpc` and `prom` are extra lines
// (YAML at 6 spaces) inside that listener's section (tls, auth, limits).
// AGENTMETER_E2E_WORKERS (default 1) sets the worker count: the ThreadSanitizer
// stage runs its subset with 2 so that workers really share trace assembly,
// conversations and the series shards.
export function configYaml({ httpPort, grpcPort, promPort, extra = '', http = '', grpc = '', prom = '' }) {
  return `workers: ${process.env.AGENTMETER_E2E_WORKERS ?? 1}
receivers:
  otlp:
    http:
      endpoint: 127.0.0.1:${httpPort}
      max_request_body_size: 1MiB
${http}    grpc:
      endpoint: 127.0.0.1:${grpcPort}
${grpc}exporters:
  prometheus:
    endpoint: 127.0.0.1:${promPort}
${prom}${extra}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Poll fn() every `interval` ms until it returns a truthy value or the
// deadline passes; returns the last value (falsy on timeout).
export async function waitFor(fn, { timeoutMs = 10000, interval = 25 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let v;
    try {
      v = await fn();
    } catch {
      v = undefined;
    }
    if (v || Date.now() >= deadline) {
      return v;
    }
    await sleep(interval);
  }
}

// One HTTP request with node's http module, no keep-alive agent.
// Resolves {status, headers, body: Buffer}.
export function request(port, { method = 'GET', path: p = '/', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path: p, headers, agent: false },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(10000, () => req.destroy(new Error(`timeout: ${method} ${p}`)));
    req.on('error', reject);
    req.end(body);
  });
}

// Start agentmeter with a temporary config. Resolves an object with the
// ports, the child, its captured stderr, scrape() and stop().
export async function startCollector({ extra = '', http = '', grpc = '', prom = '' } = {}) {
  const [httpPort, grpcPort, promPort] = await freePorts(3);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agentmeter-e2e-'));
  const configPath = path.join(dir, 'agentmeter.yaml');
  writeFileSync(configPath, configYaml({ httpPort, grpcPort, promPort, extra, http, grpc, prom }));

  const child = spawn(AGENTMETER_BIN, ['--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d) => {
    output += d.toString();
    if (output.length > 65536) {
      output = output.slice(-65536);
    }
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
    child.on('error', (err) => {
      exited = { code: null, signal: null, error: err };
      resolve(exited);
    });
  });

  const c = {
    httpPort,
    grpcPort,
    promPort,
    configPath,
    child,
    get output() {
      return output;
    },
    get exited() {
      return exited;
    },
    alive() {
      return exited === null;
    },
    scrape: () => scrape(promPort),
    async stop() {
      if (exited === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => {
          if (exited === null) {
            child.kill('SIGKILL');
          }
        }, 5000);
        await exitPromise;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
      return exited;
    },
  };
  // Make sure a failing test run never leaves the collector behind.
  process.once('exit', () => {
    if (exited === null) {
      child.kill('SIGKILL');
    }
  });

  const ready = await waitFor(
    async () => {
      if (exited !== null) {
        return 'exited';
      }
      const r = await request(promPort, { path: '/-/ready' });
      return r.status === 200 ? 'ready' : undefined;
    },
    { timeoutMs: 15000 },
  );
  if (ready !== 'ready') {
    await c.stop();
    const why = exited ? `exited (${JSON.stringify(exited)})` : 'not ready after 15 s';
    throw new Error(`agentmeter ${AGENTMETER_BIN} ${why}; its output:\n${output}`);
  }
  return c;
}

// --- exposition parsing (text format 0.0.4) ---

function unescapeLabel(s) {
  return s.replace(/\\(.)/g, (_, ch) => (ch === 'n' ? '\n' : ch));
}

// Canonical key for a sample: name{a="x",b="y"} with labels sorted by name.
export function seriesKey(name, labels = {}) {
  const names = Object.keys(labels).sort();
  if (names.length === 0) {
    return name;
  }
  return `${name}{${names.map((k) => `${k}=${JSON.stringify(String(labels[k]))}`).join(',')}}`;
}

function parseLabels(s) {
  const labels = {};
  const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:\\.|[^"\\])*)"\s*,?/gy;
  let m;
  while ((m = re.exec(s)) !== null) {
    labels[m[1]] = unescapeLabel(m[2]);
    if (re.lastIndex >= s.length) {
      break;
    }
  }
  return labels;
}

function parseValue(v) {
  if (v === '+Inf') {
    return Infinity;
  }
  if (v === '-Inf') {
    return -Infinity;
  }
  if (v === 'NaN') {
    return NaN;
  }
  return Number(v);
}

// Parse exposition text into { samples: Map(key -> value), list: [{name,
// labels, value}], help: Map(family -> text), type: Map(family -> type) }.
export function parseExposition(text) {
  const samples = new Map();
  const list = [];
  const help = new Map();
  const type = new Map();
  for (const line of text.split('\n')) {
    if (line === '') {
      continue;
    }
    let m = /^# HELP (\S+) (.*)$/.exec(line);
    if (m) {
      help.set(m[1], m[2]);
      continue;
    }
    m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (m) {
      type.set(m[1], m[2]);
      continue;
    }
    if (line.startsWith('#')) {
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?$/.exec(line);
    if (!m) {
      throw new Error(`unparsable exposition line: ${JSON.stringify(line)}`);
    }
    const labels = m[2] ? parseLabels(m[2]) : {};
    const value = parseValue(m[3]);
    samples.set(seriesKey(m[1], labels), value);
    list.push({ name: m[1], labels, value });
  }
  return {
    samples,
    list,
    help,
    type,
    // Exact value of one series, undefined when absent.
    get(name, labels = {}) {
      return samples.get(seriesKey(name, labels));
    },
    // Sum over every series of `name` whose labels include `match`.
    sum(name, match = {}) {
      let total = 0;
      for (const s of list) {
        if (s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)) {
          total += s.value;
        }
      }
      return total;
    },
    // Every series of `name`.
    series(name) {
      return list.filter((s) => s.name === name);
    },
  };
}

// GET /metrics; resolves { status, contentType, text, m: parsed }.
export async function scrape(promPort) {
  const r = await request(promPort, { path: '/metrics' });
  const text = r.body.toString('utf8');
  return {
    status: r.status,
    contentType: r.headers['content-type'],
    text,
    m: r.status === 200 ? parseExposition(text) : null,
  };
}

// Run `promtool check metrics` over exposition text (stdin).
export function promtoolCheck(text) {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, error: r.error };
}
