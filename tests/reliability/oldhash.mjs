// oldhash.mjs - the adversarial gen_ai.tool.name values of issue 9: a set
// whose agent_tool_calls_total label sets all had ONE 64-bit hash under the
// label hash series used before core/map (unseeded; every step
// h = mix((h ^ word) * K2) is invertible). Built offline in well under a
// second by a Joux multicollision: at state h, two 16-byte blocks (a0 a1)
// and (b0 b1) reach the same state when a1 ^ b1 = step(h, a0) ^ step(h, b0)
// (a1, b1 chosen byte by byte to meet that), and BLOCKS such pairs in a row
// give 2^BLOCKS values with one state.
//
// The release build's hash is XXH3 with a per-process random seed, so no
// set made here (or anywhere) collides in it: to a release binary these are
// ordinary names, which is the point of hash_flood.test.mjs. (Colliding keys
// for the seeded hash can only be made with the seed fixed, in test builds:
// see tests/unit/test_hashflood.c.)
//
// As a script: node oldhash.mjs N AGENT [random] prints N names, one a line
// (adversarial, or random of the same length), for scripts/bench-flood.sh.

import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const M64 = (1n << 64n) - 1n;
const K1 = 0x9e3779b97f4a7c15n;
const K2 = 0xbf58476d1ce4e5b9n;
// enum am_metric index of agent_tool_calls_total in the build that had the
// old hash (commit 7f80146): the hash was seeded with it.
const OLD_TOOL_CALLS_TOTAL = 6n;
export const BLOCKS = 13; // 8,192 values of 13 * 16 = 208 bytes
export const NAME_LEN = BLOCKS * 16;

function step(h, x) {
  h = ((h ^ x) * K2) & M64;
  return h ^ (h >> 29n);
}

const word = (buf, off) => buf.readBigUInt64LE(off);

// The old hash of one value (length, then 8-byte words, the last one
// overlapping; shorter values packed into one word).
function oldValue(h, s) {
  const b = Buffer.from(s, 'utf8');
  const n = b.length;
  h = step(h, BigInt(n));
  if (n >= 8) {
    let i = 0;
    for (; i + 8 <= n; i += 8) {
      h = step(h, word(b, i));
    }
    return i === n ? h : step(h, word(b, n - 8));
  }
  if (n >= 4) {
    return step(h, (BigInt(b.readUInt32LE(0)) << 32n) | BigInt(b.readUInt32LE(n - 4)));
  }
  if (n > 0) {
    return step(h, (BigInt(b[0]) << 16n) | (BigInt(b[n >> 1]) << 8n) | BigInt(b[n - 1]));
  }
  return h;
}

// The old label-set hash of agent_tool_calls_total{agent_name, tool_name, status}.
export function oldToolCallsHash(agent, tool, status = 'success') {
  let h = (K1 * (OLD_TOOL_CALLS_TOTAL + 1n)) & M64;
  for (const v of [agent, tool, status]) {
    h = oldValue(h, v);
  }
  h ^= h >> 33n;
  h = (h * 0xff51afd7ed558ccdn) & M64;
  h ^= h >> 33n;
  h = (h * 0xc4ceb9fe1a85ec53n) & M64;
  return h ^ (h >> 33n);
}

// Printable and harmless in exposition and JSON: '!'..'~' but '"' and '\'.
const okByte = (c) => c >= 0x21 && c <= 0x7e && c !== 0x22 && c !== 0x5c;

const ALPHABET = Buffer.from([...Array(256).keys()].filter(okByte));

// n random bytes of the alphabet (modulo bias does not matter here).
function okBytes(n) {
  const out = randomBytes(n);
  for (let i = 0; i < n; i++) {
    out[i] = ALPHABET[out[i] % ALPHABET.length];
  }
  return out;
}

// Fill bytes 8..16 of a and b, all in the alphabet, with a ^ b == d there;
// false when some byte of d cannot be met (its top bit is set).
function secondWords(d, a, b) {
  for (let j = 0; j < 8; j++) {
    const dj = Number((d >> BigInt(8 * j)) & 0xffn);
    const from = a[8 + j] % ALPHABET.length;
    let found = false;
    for (let t = 0; t < ALPHABET.length && !found; t++) {
      const c = ALPHABET[(from + t) % ALPHABET.length];
      if (okByte(c ^ dj)) {
        a[8 + j] = c;
        b[8 + j] = c ^ dj;
        found = true;
      }
    }
    if (!found) {
      return false;
    }
  }
  return true;
}

// `count` (<= 2^BLOCKS) distinct tool names with one old hash for `agent`.
export function collidingToolNames(agent, count) {
  let h = oldValue((K1 * (OLD_TOOL_CALLS_TOTAL + 1n)) & M64, agent);
  h = step(h, BigInt(NAME_LEN));
  const pairs = [];
  for (let k = 0; k < BLOCKS; k++) {
    for (;;) {
      const a = okBytes(16);
      const b = okBytes(16);
      const x = step(h, word(a, 0));
      const y = step(h, word(b, 0));
      if (x !== y && secondWords(x ^ y, a, b)) {
        h = step(x, word(a, 8));
        pairs.push([a, b]);
        break;
      }
    }
  }
  const names = [];
  for (let i = 0; i < count; i++) {
    names.push(Buffer.concat(pairs.map((p, k) => p[(i >> k) & 1])).toString('latin1'));
  }
  return names;
}

// `count` random names of the same length and alphabet.
export function randomToolNames(count) {
  const names = [];
  for (let i = 0; i < count; i++) {
    names.push(okBytes(NAME_LEN).toString('latin1'));
  }
  return names;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const n = Number(process.argv[2] || 5000);
  const agent = process.argv[3] || 'flood-agent';
  const names = process.argv[4] === 'random' ? randomToolNames(n) : collidingToolNames(agent, n);
  process.stdout.write(names.join('\n') + '\n');
}
