import { connect, type Socket } from 'node:net';

/** A bare NDJSON peer on the daemon socket, for sending frames the real client never would. */
export class RawPeer {
  private buf = '';
  private readonly frames: unknown[] = [];
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf += d.toString('utf8');
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) !== -1) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        if (line.trim()) this.frames.push(JSON.parse(line));
      }
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static open(path: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  send(text: string | Buffer): void {
    this.socket.write(text);
  }

  request(id: string | number, method: string, params?: unknown): void {
    this.send(`${JSON.stringify({ id, method, params })}\n`);
  }

  /** The next frame, waiting for it (no timers: resolves on data or close). */
  async next(): Promise<Record<string, unknown>> {
    while (this.frames.length === 0) {
      if (this.closed) throw new Error('socket closed before a frame arrived');
      await new Promise<void>((r) => this.waiters.push(r));
    }
    return this.frames.shift() as Record<string, unknown>;
  }

  async hello(): Promise<void> {
    this.request('h', 'hello', { protocol: 1, version: 'x', client: 'test' });
    await this.next();
  }

  close(): void {
    this.socket.destroy();
  }
}
