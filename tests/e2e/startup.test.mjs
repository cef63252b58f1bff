// startup.test.mjs - configuration the collector must refuse, and say why:
// a listen address already taken, and an unknown key (--check-config
// prints FILE:LINE:COL).

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { AGENTMETER_BIN, configYaml, freePort } from './lib.mjs';

let dir;
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'agentmeter-startup-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

// Run the collector to completion (it must exit by itself within 10 s).
function runToExit(args) {
  return new Promise((resolve) => {
    const child = spawn(AGENTMETER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const t = setTimeout(() => child.kill('SIGKILL'), 10000);
    child.on('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, out });
    });
  });
}

test('an OTLP port already in use: exits 1 naming the endpoint', async () => {
  const busy = net.createServer();
  await new Promise((r) => busy.listen(0, '127.0.0.1', r));
  const port = busy.address().port;
  try {
    const file = path.join(dir, 'busy.yaml');
    writeFileSync(file, configYaml({ httpPort: port, grpcPort: await freePort(), promPort: await freePort() }));
    const r = await runToExit(['--config', file]);
    assert.equal(r.signal, null, `collector did not exit by itself:\n${r.out}`);
    assert.equal(r.code, 1);
    assert.match(r.out, new RegExp(`receivers\\.otlp\\.http\\.endpoint 127\\.0\\.0\\.1:${port}`));
  } finally {
    busy.close();
  }
});

test('--check-config: unknown key is FILE:LINE:COL, exit 1', () => {
  const file = path.join(dir, 'bad.yaml');
  writeFileSync(file, 'receivers:\n  otlp:\n    http:\n      endpoint: 127.0.0.1:4318\n      no_such_key: 1\n');
  const r = spawnSync(AGENTMETER_BIN, ['--check-config', file], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 1, `${r.stdout}${r.stderr}`);
  assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:\\d+: .*no_such_key`));
});

test('--check-config: a valid file exits 0', () => {
  const file = path.join(dir, 'good.yaml');
  writeFileSync(file, configYaml({ httpPort: 4318, grpcPort: 4317, promPort: 9464 }));
  const r = spawnSync(AGENTMETER_BIN, ['--check-config', file], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});
