// flood.mjs - hash-flooding benchmark (issue 9): the collector's CPU per
// span for execute_tool spans whose gen_ai.tool.name values collided in the
// old label hash (tests/reliability/oldhash.mjs) against random names of the
// same length. Each set gets its own collector: one warm-up round interns
// the NAMES series, then ROUNDS rounds hit them; CPU is the collector's
// on-CPU time from /proc/PID/task/*/schedstat over each phase. Run by scripts/bench-flood.sh;
// not a test (timings on a shared machine are not assertions).
//
// Usage: node tests/bench/flood.mjs BINARY [NAMES] [ROUNDS]
// Prints one JSON line: µs of collector CPU per span for both sets and the
// adversarial/random ratio (issue 9's target: <= 1.5).

import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { encodeRequest } from '../e2e/pb.mjs';
import { collidingToolNames, randomToolNames } from '../reliability/oldhash.mjs';

const bin = path.resolve(process.argv[2] || 'build/agentmeter');
const NAMES = Number(process.argv[3] || 5000);
const ROUNDS = Number(process.argv[4] || 20);
const PER_REQUEST = 500;
const AGENT = 'flood-agent';
process.env.AGENTMETER_BIN = bin;
const { request, startCollector } = await import('../e2e/lib.mjs');

// CPU time of every thread of pid, µs (schedstat: ns on CPU, first field;
// finer than the 10 ms ticks of /proc/PID/stat).
function cpuUs(pid) {
  let ns = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return ns / 1000;
}

function body(names) {
  const startNs = BigInt(Date.now() - 60000) * 1000000n;
  return encodeRequest(
    'flood-bench',
    names.map((name) => ({
      traceId: randomBytes(16),
      spanId: randomBytes(8),
      name: 'execute_tool',
      startNs,
      endNs: startNs + 125000000n,
      attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.agent.name': AGENT, 'gen_ai.tool.name': name },
    })),
  );
}

// Bodies for one round, encoded before the clock starts.
function roundBodies(names) {
  const out = [];
  for (let i = 0; i < names.length; i += PER_REQUEST) {
    out.push(body(names.slice(i, i + PER_REQUEST)));
  }
  return out;
}

async function post(c, b) {
  const r = await request(c.httpPort, {
    method: 'POST',
    path: '/v1/traces',
    headers: { 'Content-Type': 'application/x-protobuf' },
    body: b,
  });
  if (r.status !== 200) {
    throw new Error(`export answered ${r.status}`);
  }
}

// Collector CPU µs per span: the intern round, then the steady rounds.
async function measure(names) {
  const c = await startCollector({ extra: `processors:\n  genai:\n    max_series_per_metric: 100000\n` });
  try {
    const pid = c.child.pid;
    const warm = roundBodies(names);
    let t0 = cpuUs(pid);
    for (const b of warm) {
      await post(c, b);
    }
    const internUs = (cpuUs(pid) - t0) / names.length;
    const rounds = [];
    for (let r = 0; r < ROUNDS; r++) {
      rounds.push(roundBodies(names));
    }
    t0 = cpuUs(pid);
    for (const bodies of rounds) {
      for (const b of bodies) {
        await post(c, b);
      }
    }
    const steadyUs = (cpuUs(pid) - t0) / (names.length * ROUNDS);
    return { internUs, steadyUs };
  } finally {
    await c.stop();
  }
}

const adv = await measure(collidingToolNames(AGENT, NAMES));
const rnd = await measure(randomToolNames(NAMES));
const r2 = (x) => Math.round(x * 100) / 100;
console.log(
  JSON.stringify({
    binary: bin,
    names: NAMES,
    rounds: ROUNDS,
    adversarial_us_per_span: r2(adv.steadyUs),
    random_us_per_span: r2(rnd.steadyUs),
    ratio: r2(adv.steadyUs / rnd.steadyUs),
    adversarial_intern_us_per_span: r2(adv.internUs),
    random_intern_us_per_span: r2(rnd.internUs),
    intern_ratio: r2(adv.internUs / rnd.internUs),
  }),
);
