/**
 * In-memory alarms for durable timers (the timers sublevel holds absolute times): one Node timer
 * for the earliest alarm and a binary heap of the rest, not a setTimeout per key. 10,000 waiting
 * runs with a timeout each held 10,000 Timeout objects with their closures (~2.5 MB of heap in a
 * snapshot) for one alarm that matters at a time. setTimeout cannot wait longer than ~24.8 days,
 * so a far alarm re-arms in steps.
 */
const MAX_DELAY = 2 ** 31 - 1;

export class Alarms {
  /** key -> its time (ms since epoch): the truth; heap entries that disagree are stale. */
  private readonly at = new Map<string, number>();
  /** A min-heap by time, two parallel arrays (no object per entry). */
  private times: number[] = [];
  private keys: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** When the armed Node timer fires (Infinity: none armed). */
  private armedFor = Number.POSITIVE_INFINITY;

  constructor(private readonly fire: (key: string) => void) {}

  /** Arms (or re-arms) `key` to fire at `at` (ms since epoch); a time in the past fires at once. */
  set(key: string, at: number): void {
    // an unreadable time fires at once, as setTimeout does with NaN
    if (!Number.isFinite(at)) at = 0;
    this.at.set(key, at);
    this.push(at, key);
    this.compactIfStale();
    if (at < this.armedFor) this.arm();
  }

  clear(key: string): void {
    // its heap entry goes stale and is skipped when it comes up
    if (this.at.delete(key)) this.compactIfStale();
  }

  has(key: string): boolean {
    return this.at.has(key);
  }

  get size(): number {
    return this.at.size;
  }

  clearAll(): void {
    this.at.clear();
    this.times = [];
    this.keys = [];
    this.disarm();
  }

  private arm(): void {
    this.disarm();
    this.dropStaleTop();
    if (this.times.length === 0) return;
    const next = this.times[0];
    this.armedFor = next;
    this.timer = setTimeout(() => this.due(), Math.min(Math.max(0, next - Date.now()), MAX_DELAY));
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  /** Fires every alarm that is due (in time order), then arms for the next one. */
  private due(): void {
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = Date.now();
    const fired: string[] = [];
    while (this.times.length > 0 && this.times[0] <= now) {
      const [t, key] = this.pop();
      if (this.at.get(key) !== t) continue; // cleared or re-armed since
      this.at.delete(key);
      fired.push(key);
    }
    this.arm();
    // after re-arming: a handler may set or clear alarms
    for (const key of fired) this.fire(key);
  }

  private dropStaleTop(): void {
    while (this.times.length > 0 && this.at.get(this.keys[0]) !== this.times[0]) this.pop();
  }

  /** Rebuilds the heap from the live alarms when stale entries outnumber them (many re-arms). */
  private compactIfStale(): void {
    if (this.times.length < 64 || this.times.length < this.at.size * 2) return;
    this.times = [];
    this.keys = [];
    for (const [key, t] of this.at) this.push(t, key);
  }

  private push(t: number, key: string): void {
    const times = this.times;
    const keys = this.keys;
    let i = times.length;
    times.push(t);
    keys.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent] <= t) break;
      times[i] = times[parent];
      keys[i] = keys[parent];
      i = parent;
    }
    times[i] = t;
    keys[i] = key;
  }

  private pop(): [number, string] {
    const times = this.times;
    const keys = this.keys;
    const top: [number, string] = [times[0], keys[0]];
    const t = times.pop()!;
    const key = keys.pop()!;
    const n = times.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && times[r] < times[l] ? r : l;
        if (times[c] >= t) break;
        times[i] = times[c];
        keys[i] = keys[c];
        i = c;
      }
      times[i] = t;
      keys[i] = key;
    }
    return top;
  }
}
