/**
 * Edit-in-place pacing for run messages on any chat (Slack's start message, Discord's card): per
 * key (a run), at most one edit in flight and at most one per `intervalMs`; events that come in
 * between mark it dirty, and only the latest state goes next. An edit that asks to wait (a 429 and
 * its Retry-After, a transient failure) pushes the next one out and keeps it dirty, so a chatty run
 * or a rate-limited channel never causes a storm of edits.
 */
export class EditCoalescer {
  private readonly state = new Map<string, { timer: NodeJS.Timeout | null; inflight: boolean; dirty: boolean; nextAt: number }>();
  private stopped = false;

  constructor(
    private readonly intervalMs: number,
    /** Sends the latest state of `key`; answers how long to wait before trying again when it could not (null: done). */
    private readonly edit: (key: string) => Promise<{ retryAfterMs: number } | null>,
  ) {}

  /** `key` changed: edit now, or as soon as the pace allows. */
  schedule(key: string): void {
    if (this.stopped) return;
    let u = this.state.get(key);
    if (!u) this.state.set(key, (u = { timer: null, inflight: false, dirty: false, nextAt: 0 }));
    u.dirty = true;
    if (u.inflight || u.timer) return;
    const wait = u.nextAt - Date.now();
    if (wait <= 0) {
      void this.flush(key);
      return;
    }
    const v = u;
    v.timer = setTimeout(() => {
      v.timer = null;
      void this.flush(key);
    }, wait);
  }

  private async flush(key: string): Promise<void> {
    const u = this.state.get(key);
    if (!u) return;
    u.dirty = false;
    u.inflight = true;
    u.nextAt = Date.now() + this.intervalMs;
    try {
      const again = await this.edit(key);
      if (again) {
        u.nextAt = Date.now() + Math.max(this.intervalMs, again.retryAfterMs);
        u.dirty = true;
      }
    } finally {
      u.inflight = false;
      if (u.dirty && !this.stopped) this.schedule(key);
      else this.forgetIdle();
    }
  }

  /**
   * An idle key keeps its `nextAt` until it has passed, so an event just after an edit still waits
   * for the pace; idle keys whose pace has passed are forgotten (a run's key lives as long as it is busy).
   */
  private forgetIdle(now = Date.now()): void {
    for (const [k, u] of this.state) if (!u.inflight && !u.timer && !u.dirty && u.nextAt <= now) this.state.delete(k);
  }

  stop(): void {
    this.stopped = true;
    for (const u of this.state.values()) if (u.timer) clearTimeout(u.timer);
    // an edit in flight finishes on its own; nothing waits for it
  }
}
