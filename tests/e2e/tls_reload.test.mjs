// tls_reload.test.mjs - TLS on the Prometheus listener (GET /metrics over
// HTTPS with mutual TLS), and certificates re-read on SIGHUP: after the
// files are replaced and the collector is signalled, new connections are
// served with the new certificate. Certificates are made at test time.

import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { AGENTMETER_BIN, configYaml, freePort, waitFor } from './lib.mjs';

let dir;
const f = (n) => path.join(dir, n);
const sh = (cmd) => execFileSync('sh', ['-c', cmd], { cwd: dir, stdio: 'ignore' });

// A CA named `ca` and a server certificate for 127.0.0.1 signed by it.
function makePki(ca) {
  sh(`openssl req -x509 -newkey rsa:2048 -nodes -keyout ${ca}.key -out ${ca}.crt -days 1 -subj /CN=${ca}`);
  sh(`openssl req -newkey rsa:2048 -nodes -keyout ${ca}-srv.key -out ${ca}-srv.csr -subj /CN=localhost`);
  writeFileSync(f('ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  sh(`openssl x509 -req -in ${ca}-srv.csr -CA ${ca}.crt -CAkey ${ca}.key -CAcreateserial -out ${ca}-srv.crt -days 1 -extfile ext`);
}

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'agentmeter-tlsr-'));
  makePki('ca1');
  makePki('ca2');
  sh('openssl req -newkey rsa:2048 -nodes -keyout cli.key -out cli.csr -subj /CN=scraper');
  sh('openssl x509 -req -in cli.csr -CA ca1.crt -CAkey ca1.key -CAcreateserial -out cli.crt -days 1');
  copyFileSync(f('ca1-srv.crt'), f('srv.crt'));
  copyFileSync(f('ca1-srv.key'), f('srv.key'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

// HTTP status of a GET over HTTPS ('000' when the TLS handshake fails).
function httpsStatus(port, p, args) {
  const r = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', ...args, `https://127.0.0.1:${port}${p}`], {
    encoding: 'utf8',
    timeout: 10000,
  });
  return r.stdout.trim();
}

test('Prometheus listener over mutual TLS; certificates re-read on SIGHUP', async () => {
  const [httpPort, grpcPort, promPort] = [await freePort(), await freePort(), await freePort()];
  const tls = `    tls: { cert_file: ${f('srv.crt')}, key_file: ${f('srv.key')}, client_ca_file: ${f('ca1.crt')} }\n`;
  const cfg = f('agentmeter.yaml');
  writeFileSync(cfg, configYaml({ httpPort, grpcPort, promPort, prom: tls }));
  const child = spawn(AGENTMETER_BIN, ['--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let out = '';
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
  const client = ['--cert', f('cli.crt'), '--key', f('cli.key')];
  try {
    const ready = await waitFor(() => httpsStatus(promPort, '/-/ready', ['--cacert', f('ca1.crt'), ...client]) === '200', {
      timeoutMs: 15000,
      interval: 100,
    });
    assert.ok(ready, `not ready over HTTPS:\n${out}`);
    assert.equal(httpsStatus(promPort, '/metrics', ['--cacert', f('ca1.crt'), ...client]), '200');
    // No client certificate: the handshake is refused.
    assert.equal(httpsStatus(promPort, '/metrics', ['--cacert', f('ca1.crt')]), '000');
    // The new server certificate is not served before SIGHUP...
    copyFileSync(f('ca2-srv.crt'), f('srv.crt'));
    copyFileSync(f('ca2-srv.key'), f('srv.key'));
    assert.equal(httpsStatus(promPort, '/metrics', ['--cacert', f('ca2.crt'), ...client]), '000');
    // ...and is after it.
    child.kill('SIGHUP');
    const reloaded = await waitFor(
      () => httpsStatus(promPort, '/metrics', ['--cacert', f('ca2.crt'), ...client]) === '200',
      { timeoutMs: 10000, interval: 100 },
    );
    assert.ok(reloaded, `new certificate not served after SIGHUP:\n${out}`);
    assert.equal(httpsStatus(promPort, '/metrics', ['--cacert', f('ca1.crt'), ...client]), '000');
  } finally {
    child.kill('SIGTERM');
    const e = await exited;
    assert.equal(e.code, 0, out);
  }
});
