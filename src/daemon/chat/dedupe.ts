/**
 * Keys seen recently (envelope ids, interaction ids, clicks on one message): Slack redelivers envelopes
 * that were not acked in time, retries events, and people double click. Bounded in size and time;
 * the durable guard for what matters most (starting a run) is in the run's own commit.
 */
export class Dedupe {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly ttlMs = 60 * 60_000,
    private readonly max = 20_000,
  ) {}

  /** True the first time `key` is seen within the TTL (and records it), false for a repeat. */
  first(key: string, now = Date.now()): boolean {
    const at = this.seen.get(key);
    if (at !== undefined && now - at < this.ttlMs) return false;
    this.seen.delete(key);
    this.seen.set(key, now);
    if (this.seen.size > this.max) {
      // oldest first: Map keeps insertion order
      for (const k of this.seen.keys()) {
        this.seen.delete(k);
        if (this.seen.size <= this.max * 0.9) break;
      }
    }
    return true;
  }

  /** Forgets a key (its work failed before doing anything: a redelivery may try again). */
  forget(key: string): void {
    this.seen.delete(key);
  }
}
