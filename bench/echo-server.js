// A raw NDJSON echo server over a Unix socket, as its own process: the floor for a request/reply
// to another process (what the daemon is), with no schema, no routing and no handler.
import { createServer } from 'node:net';

const path = process.argv[2];
const server = createServer((s) => {
  let buf = '';
  s.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const msg = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      s.write(`${JSON.stringify({ id: msg.id, result: { t: Date.now() } })}\n`);
    }
  });
});
server.listen(path, () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
