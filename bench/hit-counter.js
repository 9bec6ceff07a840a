// A local HTTP target that counts requests (the side effects benchmarks count).
import { createServer } from 'node:http';

export class HitCounter {
  hits = 0;
  async start() {
    this.server = createServer((req, res) => {
      this.hits++;
      res.end('ok');
    });
    await new Promise((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
  }
  total() {
    return this.hits;
  }
  stop() {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}
