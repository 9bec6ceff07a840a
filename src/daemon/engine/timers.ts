/**
 * In-memory alarms for durable timers (the timers sublevel holds absolute times). setTimeout cannot
 * wait longer than ~24.8 days, so long timers re-arm themselves in steps.
 */
const MAX_DELAY = 2 ** 31 - 1;

export class Alarms {
  private readonly handles = new Map<string, NodeJS.Timeout>();

  constructor(private readonly fire: (key: string) => void) {}

  /** Arms (or re-arms) `key` to fire at `at` (ms since epoch); a time in the past fires at once. */
  set(key: string, at: number): void {
    this.clear(key);
    const arm = (): void => {
      const delay = Math.max(0, at - Date.now());
      const h = setTimeout(() => {
        if (at - Date.now() > 0) return arm();
        this.handles.delete(key);
        this.fire(key);
      }, Math.min(delay, MAX_DELAY));
      h.unref();
      this.handles.set(key, h);
    };
    arm();
  }

  clear(key: string): void {
    const h = this.handles.get(key);
    if (h) clearTimeout(h);
    this.handles.delete(key);
  }

  has(key: string): boolean {
    return this.handles.has(key);
  }

  get size(): number {
    return this.handles.size;
  }

  clearAll(): void {
    for (const h of this.handles.values()) clearTimeout(h);
    this.handles.clear();
  }
}
