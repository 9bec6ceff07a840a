/**
 * A small seeded PRNG (mulberry32) and the random-value helpers the fuzz suites share. Every suite
 * prints its seed in its failure messages; FUZZ_SEED=<n> replays a run exactly.
 */
export class Rng {
  private s: number;

  constructor(readonly seed: number) {
    this.s = seed >>> 0;
  }

  /** [0, 1) */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.next() * 256);
    return b;
  }

  /** Text that stresses parsers: quotes, escapes, control characters, astral and RTL characters. */
  text(max = 40): string {
    const alphabet = ['a', 'Z', '0', ' ', '"', '\\', '/', '{', '}', '[', ']', ':', ',', '\t', '\u0000', '\u001f', 'é', '中', '\u202e', '\ud83d\ude00', '\ufeff', '$', '{{', '}}', '..', '%s', '\n'];
    let s = '';
    const n = this.int(0, max);
    for (let i = 0; i < n; i++) s += this.pick(alphabet);
    return s;
  }

  /** Any JSON value, nested up to `depth`. */
  json(depth = 3): unknown {
    const k = this.int(0, depth > 0 ? 9 : 6);
    switch (k) {
      case 0:
        return null;
      case 1:
        return this.chance(0.5);
      case 2:
        return this.pick([0, -1, 1, 2 ** 31, -(2 ** 53), 2 ** 53 + 2, 1.5, 1e308, -1e-308, 42]);
      case 3:
      case 4:
        return this.text();
      case 5:
        return this.pick(['', 'x'.repeat(this.int(100, 5000)), '__proto__', 'constructor', 'r_0000000000', '../../etc/passwd', '{{ process.exit() }}']);
      case 6:
        return this.int(-5, 10_000);
      case 7:
      case 8: {
        const o: Record<string, unknown> = {};
        const n = this.int(0, 4);
        for (let i = 0; i < n; i++) o[this.pick(KEYS)] = this.json(depth - 1);
        return o;
      }
      default:
        return Array.from({ length: this.int(0, 4) }, () => this.json(depth - 1));
    }
  }
}

/** Parameter names the protocol's methods use, so random params often get past the first check. */
export const KEYS = ['key', 'value', 'prefix', 'limit', 'id', 'run', 'topic', 'filter', 'sub', 'since', 'actor', 'all', 'workflow', 'cursor', 'snapshot', 'reason', 'text', 'question', 'comment', 'after', 'args', 'file', 'protocol', 'version', 'client', 'server', 'tool', 'kind', '__proto__', 'constructor', 'prototype'];

export function seedFromEnv(): number {
  const s = process.env.FUZZ_SEED;
  return s !== undefined && /^\d+$/.test(s) ? Number(s) : Math.floor(Math.random() * 2 ** 31);
}
