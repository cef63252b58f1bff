// startup.test.mjs - configuration the collector must refuse, and say why:
// remote_write (not in this version) and an unknown key (--check-config
// prints FILE:LINE:COL).

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

test('exporters.remote_write set: refuses to start with a clear message', async () => {
  const file = path.join(dir, 'rw.yaml');
  const ports = { httpPort: await freePort(), grpcPort: await freePort(), promPort: await freePort() };
  writeFileSync(
    file,
    configYaml({ ...ports, extra: '  remote_write:\n    - url: http://127.0.0.1:9/api/v1/write\n' }),
  );
  const r = await runToExit(['--config', file]);
  assert.equal(r.signal, null, `collector did not exit by itself:\n${r.out}`);
  assert.notEqual(r.code, 0);
  assert.match(r.out, /remote_write/);
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
