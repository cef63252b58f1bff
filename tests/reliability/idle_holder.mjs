// idle_holder.mjs - a helper process for slowloris.test.mjs (not a test):
// opens COUNT connections to 127.0.0.1:PORT that never send a byte, prints
// "connected" once all are established, then, when the server has closed
// them all, one JSON line: [[ms, msConnected], ...] per connection (ms from
// starting to connect, and from the connect event, to the server's close).
// A separate process, so that the test's own client is not starved by
// 10,000 sockets closing at once in its event loop.
//
//   node idle_holder.mjs PORT COUNT

import net from 'node:net';

const port = Number(process.argv[2]);
const count = Number(process.argv[3]);
const connected = [];
const closed = [];
for (let i = 0; i < count; i++) {
  const t0 = Date.now();
  let t1 = 0;
  const sock = net.connect(port, '127.0.0.1');
  connected.push(new Promise((resolve) => sock.once('connect', () => resolve((t1 = Date.now())))));
  closed.push(
    new Promise((resolve) => {
      let done = false;
      const finish = () => {
        if (!done) {
          done = true;
          sock.destroy();
          resolve([Date.now() - t0, Date.now() - (t1 || t0)]);
        }
      };
      sock.on('data', () => {});
      sock.on('end', finish);
      sock.on('close', finish);
      sock.on('error', finish);
    }),
  );
}
await Promise.all(connected);
process.stdout.write('connected\n');
process.stdout.write(`${JSON.stringify(await Promise.all(closed))}\n`);
