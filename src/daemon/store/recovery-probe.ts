/**
 * A store that cannot write tries again by itself: `attempt` (a probe write, then whatever reopens
 * or reconnects) runs after 250 ms, then with the wait doubled up to 5 s, until it succeeds or the
 * store closes. One schedule at a time. Both backends (LevelDB, PostgreSQL) recover this way.
 */
export class RecoveryProbe {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly attempt: () => Promise<boolean>,
    private readonly closed: () => boolean,
  ) {}

  schedule(ms = 250): void {
    if (this.closed() || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const again = (): void => this.schedule(Math.min(ms * 2, 5000));
      void this.attempt().then((ok) => {
        if (!ok) again();
      }, again);
    }, ms);
    this.timer.unref();
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
