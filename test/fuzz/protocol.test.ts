import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES, MAX_FRAME_BYTES, methods } from '../../src/protocol/index.js';
import { alive, cli, daemonPid, tempHome, type TempHome } from '../support/home.js';
import { RawPeer } from '../support/raw-socket.js';
import { KEYS, Rng, seedFromEnv } from './prng.js';

// Random and mutated protocol frames against a real daemon (a child process) on its real Unix
// socket, in batches. After every batch the daemon must answer daemon.status on a new connection,
// and on every connection that stayed open, each frame that carried an id got exactly one reply
// with that id (and each frame without one, exactly one `id: null` error), every error with a
// stable code and never `internal`. FUZZ_FRAMES (default 10,000) and FUZZ_SEED replay or scale it.

const FRAMES = Number(process.env.FUZZ_FRAMES ?? 10_000);
const BATCH = 250;
const SEED = seedFromEnv();
const rng = new Rng(SEED);
const tag = `(FUZZ_SEED=${SEED})`;

/** Methods whose effects reach outside the daemon or stop it: mutated params could make them valid. */
const OFF_LIMITS = new Set(['daemon.shutdown', 'tools.call', 'runs.start', 'store.backup']);
const METHODS = Object.keys(methods).filter((m) => !OFF_LIMITS.has(m));
const CODES = new Set<string>(ERROR_CODES);

let h: TempHome;
let sock: string;
let pid: number;
let runId: string;

beforeAll(async () => {
  h = tempHome('ops-fz-');
  sock = join(h.home, 'run', 'opstream.sock');
  const r = await cli(['start', 'hello', 'to=fuzz', 'pause=1h', '--json'], h.env);
  expect(r.code, r.stderr).toBe(0);
  runId = JSON.parse(r.stdout).id;
  pid = daemonPid(h.home)!;
});
afterAll(async () => h.cleanup());

let seq = 0;

/** Params for a real method: random, or a plausible shape with one field mutated. */
function params(method: string): unknown {
  if (rng.chance(0.15)) return rng.json(3);
  const o: Record<string, unknown> = {};
  const n = rng.int(0, 3);
  for (let i = 0; i < n; i++) o[rng.pick(KEYS)] = rng.json(2);
  if (rng.chance(0.4)) o.id = rng.pick([runId, `${runId}x`, 'r_nope', '', 7]);
  if (rng.chance(0.2)) o.key = rng.pick(['k', `k${seq}`, 'x'.repeat(600), '']);
  if (method === 'hello' && rng.chance(0.5)) Object.assign(o, { protocol: rng.pick([1, 2, -1, 1.5, '1']), version: rng.pick(['x', '', 5]) });
  if (method === 'subscribe' && rng.chance(0.5)) o.topic = rng.pick(['runs', 'tools', 'nope', 5]);
  if (rng.chance(0.1)) return undefined;
  return o;
}

/** `{ [[[[ ... ]]]] }`: deep nesting as text, without building it in memory. */
function deep(depth: number, open: string, close: string): string {
  return open.repeat(depth) + close.repeat(depth);
}

/** One frame's bytes (usually ending in a newline). */
function frame(): Buffer {
  const id = ++seq;
  const k = rng.int(0, 99);
  if (k < 40) {
    // a real method with mutated params
    const m = rng.pick(METHODS);
    return Buffer.from(`${JSON.stringify({ id: rng.chance(0.5) ? id : `f${id}`, method: m, params: params(m) })}\n`);
  }
  if (k < 48) return Buffer.from(`${JSON.stringify({ id, method: rng.pick(['ping', 'hello', 'daemon.status']), params: rng.chance(0.5) ? {} : undefined })}\n`);
  if (k < 55) {
    // wrong envelope shapes and id types
    const shapes: unknown[] = [
      { id },
      { id, method: 5 },
      { id, method: '' },
      { id, method: 'x'.repeat(101) },
      { id: id + 0.5, method: 'ping' },
      { id: `${'i'.repeat(70)}${id}`, method: 'ping' },
      { id: [id], method: 'ping' },
      { id: { n: id }, method: 'ping' },
      { id: null, method: 'ping' },
      { method: 'ping' },
      { id: true, method: 'ping' },
      { id, method: 'no.such.method', params: {} },
      { id, method: '__proto__', params: {} },
      { id, method: 'constructor' },
      { id, method: 'ping', params: 'not an object' },
      rng.json(3),
    ];
    return Buffer.from(`${JSON.stringify(rng.pick(shapes))}\n`);
  }
  if (k < 62) return Buffer.from(`${rng.pick(['', ' ', '{', '}', '{"id":', 'null', 'true', '[]', '"str"', '{"id":1,"method":"ping"', "{'id':1}", 'NaN', '1e999', '\t\r'])}${rng.text(20).replaceAll('\n', '')}\n`);
  if (k < 68) {
    // binary garbage, invalid UTF-8 (may hold newlines: then it is several frames)
    const b = rng.bytes(rng.int(1, 300));
    return Buffer.concat([b, Buffer.from('\n')]);
  }
  if (k < 72) {
    // valid JSON with invalid UTF-8 inside a string
    const j = Buffer.from(JSON.stringify({ id, method: 'memory.set', params: { key: `u${id}`, value: 'XX' } }));
    const at = j.indexOf('XX');
    j[at] = rng.pick([0xff, 0xc3, 0xed, 0x80]);
    j[at + 1] = rng.pick([0x28, 0xa0, 0xfe, 0x00]);
    return Buffer.concat([j, Buffer.from('\n')]);
  }
  if (k < 78) {
    // deep nesting, in params or as the whole frame
    const d = rng.pick([64, 1000, 10_000, 100_000]);
    if (rng.chance(0.5)) return Buffer.from(`{"id":${id},"method":"${rng.pick(['memory.set', 'ping', 'subscribe', 'runs.get'])}","params":{"key":"d${id}","value":${deep(d, '[', ']')}}}\n`);
    return Buffer.from(`${deep(d, rng.pick(['[', '{"a":']), rng.pick([']', '}']))}\n`);
  }
  if (k < 81) {
    // huge strings: just under the cap (answered) or over it (refused)
    const under = rng.chance(0.5);
    const size = under ? MAX_FRAME_BYTES - rng.int(100, 5000) : MAX_FRAME_BYTES + rng.int(1, 5000);
    // (a huge value is stored only by frames over the cap, which are refused: stored, it would be in
    // every memory.list reply of the run and turn the suite into a bandwidth test)
    const head = `{"id":${id},"method":"${rng.pick(under ? ['ping', 'memory.get', 'runs.get', 'memory.delete'] : ['memory.set', 'ping'])}","params":{"key":"huge","value":"`;
    return Buffer.from(`${head}${'v'.repeat(size - head.length - 4)}"}}\n`);
  }
  if (k < 83) return Buffer.from(`${' '.repeat(rng.int(0, 10))}\n`);
  // many small valid frames in one
  return Buffer.concat(Array.from({ length: rng.int(2, 20) }, () => Buffer.from(`${JSON.stringify({ id: `m${++seq}`, method: rng.pick(['ping', 'memory.list', 'audit.list', 'runs.list']), params: {} })}\n`)));
}

/** What the daemon must answer for this byte stream: reply counts by JSON id (null: no readable id). */
function expectedReplies(stream: Buffer): Map<string, number> {
  const want = new Map<string, number>();
  const add = (k: string): void => void want.set(k, (want.get(k) ?? 0) + 1);
  let start = 0;
  for (;;) {
    const nl = stream.indexOf(10, start);
    const piece = stream.subarray(start, nl === -1 ? stream.length : nl);
    if (piece.length > MAX_FRAME_BYTES) add('null');
    else if (nl !== -1) {
      const text = piece.toString('utf8');
      if (text.trim().length > 0) {
        let v: unknown;
        try {
          v = JSON.parse(text);
        } catch {
          v = undefined;
        }
        const id = (v as { id?: unknown } | null | undefined)?.id;
        add(typeof id === 'string' || typeof id === 'number' ? JSON.stringify(id) : 'null');
      }
    }
    if (nl === -1) break;
    start = nl + 1;
  }
  return want;
}

/** A peer that records every reply by id (event frames are counted apart). */
class Recorder {
  readonly got = new Map<string, number>();
  readonly bad: string[] = [];
  private parts: Buffer[] = [];
  private waiters: (() => void)[] = [];
  closed = false;
  closeError: string | null = null;

  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      // replies may be megabytes: join the pieces only once a newline has arrived
      if (d.indexOf(10) === -1) {
        this.parts.push(d);
        return;
      }
      let buf = Buffer.concat([...this.parts, d]);
      this.parts = [];
      let nl: number;
      while ((nl = buf.indexOf(10)) !== -1) {
        const line = buf.subarray(0, nl).toString('utf8');
        buf = buf.subarray(nl + 1);
        const msg = JSON.parse(line) as { id?: unknown; event?: string; error?: { code: string; message: string } };
        if (msg.event !== undefined) continue;
        const key = JSON.stringify(msg.id);
        this.got.set(key, (this.got.get(key) ?? 0) + 1);
        if (msg.error && (!CODES.has(msg.error.code) || msg.error.code === 'internal')) this.bad.push(`${key}: ${msg.error.code}: ${msg.error.message}`);
      }
      if (buf.length > 0) this.parts.push(buf);
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', (e) => (this.closeError = e.message));
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static open(path: string): Promise<Recorder> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => resolve(new Recorder(s)));
      s.once('error', reject);
    });
  }

  write(b: Buffer): Promise<void> {
    return new Promise((resolve) => (this.socket.write(b) ? resolve() : this.socket.once('drain', () => resolve())));
  }

  /** Until every wanted reply count is reached (no timer: a missing reply fails the test's timeout). */
  async until(want: Map<string, number>): Promise<void> {
    const done = (): boolean => [...want].every(([k, n]) => (this.got.get(k) ?? 0) >= n);
    while (!done()) {
      if (this.closed) return;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
}

/** The daemon's own account of internal errors and crashes (with stacks), for the failure message. */
function failuresLogged(): string {
  const dir = join(h.home, 'data', 'logs');
  const lines = readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n'))
    .filter((l) => l.includes('"level":50') || l.includes('"level":60'));
  return lines.slice(-3).map((l) => l.slice(0, 1500)).join('\n');
}

async function statusOnNewConnection(): Promise<void> {
  const p = await RawPeer.open(sock);
  try {
    await p.hello();
    p.request('st', 'daemon.status', {});
    const r = await p.next();
    expect(r, `daemon.status after a batch ${tag}`).toMatchObject({ id: 'st', result: { pid } });
  } finally {
    p.close();
  }
}

describe(`protocol fuzz: ${FRAMES} frames ${tag}`, () => {
  it('the daemon stays up, answers status after every batch, and answers each request exactly once with a stable code', async () => {
    let sent = 0;
    let batch = 0;
    while (sent < FRAMES) {
      batch++;
      const n = Math.min(BATCH, FRAMES - sent);
      const conns = await Promise.all(Array.from({ length: rng.int(1, 4) }, () => Recorder.open(sock)));
      const streams: Buffer[][] = conns.map(() => []);
      for (const [i, c] of conns.entries()) {
        if (rng.chance(0.7)) {
          const hello = Buffer.from(`${JSON.stringify({ id: `hello${i}`, method: 'hello', params: { protocol: 1, version: 'fuzz', client: 'test' } })}\n`);
          streams[i].push(hello);
          await c.write(hello);
        }
      }
      for (let j = 0; j < n; j++) {
        const i = rng.int(0, conns.length - 1);
        const f = frame();
        streams[i].push(f);
        // a frame split across writes, or whole
        if (f.length > 4 && rng.chance(0.2)) {
          const cut = rng.int(1, f.length - 1);
          await conns[i].write(f.subarray(0, cut));
          await conns[i].write(f.subarray(cut));
        } else await conns[i].write(f);
      }
      // a connection closed mid-frame, sometimes mid-way through a huge one
      if (rng.chance(0.5)) {
        const gone = await Recorder.open(sock);
        await gone.write(Buffer.from(`{"id":1,"method":"hello","params":{"protocol":1,"version":"x"}}\n{"id":2,"method":"memory.set","params":{"key":"cut","value":"${'z'.repeat(rng.pick([10, 100_000]))}`));
        gone.socket.destroy();
      }
      for (const [i, c] of conns.entries()) {
        // a last ping: a partial frame left at the end of the stream is never answered
        const end = Buffer.from(`\n${JSON.stringify({ id: `end${batch}`, method: 'ping', params: {} })}\n`);
        streams[i].push(end);
        await c.write(end);
        const want = expectedReplies(Buffer.concat(streams[i]));
        await c.until(want);
        const why = `batch ${batch}, connection ${i} ${tag}`;
        expect(c.closed, `the daemon closed the connection (${c.closeError ?? 'no error'}): ${why}; the daemon logged: ${c.closed ? failuresLogged() : ''}`).toBe(false);
        expect(c.bad, `${why}; the daemon logged: ${c.bad.length ? failuresLogged() : ''}`).toEqual([]);
        const diff = [...new Set([...want.keys(), ...c.got.keys()])].filter((k) => want.get(k) !== c.got.get(k)).map((k) => `${k}: want ${want.get(k) ?? 0}, got ${c.got.get(k) ?? 0}`);
        expect(diff, `replies per id: ${why}`).toEqual([]);
        c.socket.destroy();
      }
      sent += n;
      expect(alive(pid), `daemon alive after batch ${batch} ${tag}`).toBe(true);
      await statusOnNewConnection();
    }
    expect(daemonPid(h.home)).toBe(pid);
  }, Math.max(120_000, FRAMES * 60));
});
