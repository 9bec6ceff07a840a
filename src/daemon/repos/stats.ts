import type { KvStore } from '../store/kv.js';
import type { StoreOp } from '../store/store.js';
import { MetaTable } from './meta-table.js';

/**
 * Analytics' storage (stats/service.ts, tools/service.ts), in `meta`:
 *
 *   stats:h:<hour>[@<executor>]   -> per-workflow run buckets of an hour (team mode: per member)
 *   stats:wait:<run>              -> ms an active run waited for people so far
 *   stats:loose[@<executor>]      -> hourly tool and delivery counters (saved loosely)
 *   stats:v1                      -> mark: runs that ended before the index were counted
 *   tools.stats                   -> the tool pool's per-tool figures (saved loosely)
 */
const VERSION_KEY = 'stats:v1';
const TOOLS_KEY = 'tools.stats';

export class StatsRepo<RunHour = unknown, LooseHours = unknown> {
  private readonly hours: MetaTable<RunHour>;
  private readonly waitRows: MetaTable<number>;
  private readonly looseRows: MetaTable<LooseHours>;

  constructor(private readonly store: KvStore) {
    this.hours = new MetaTable(store, 'stats:h:', '~');
    this.waitRows = new MetaTable(store, 'stats:wait:', '~');
    // `stats:loose` alone (solo) and `stats:loose@<executor>` (team)
    this.looseRows = new MetaTable(store, 'stats:loose', '~');
  }

  /** Every hour bucket: `[hour, member ('' solo), bucket]`. */
  async runHours(): Promise<[string, string, RunHour][]> {
    return (await this.hours.entries()).map(([id, v]) => {
      const [hour, who = ''] = id.split('@');
      return [hour, who, v];
    });
  }

  /** The op storing an hour's bucket of `member` (null: solo). */
  runHourOp(hour: string, member: string | null, bucket: RunHour): StoreOp {
    return this.hours.putOp(member ? `${hour}@${member}` : hour, bucket);
  }

  waits(): Promise<[string, number][]> {
    return this.waitRows.entries();
  }

  waitOp(run: string, ms: number | null): StoreOp {
    return ms === null ? this.waitRows.delOp(run) : this.waitRows.putOp(run, ms);
  }

  loose(member: string | null): Promise<LooseHours | undefined> {
    return this.looseRows.get(member ? `@${member}` : '');
  }

  /** Every member's loose counters but `member`'s (team mode). */
  async othersLoose(member: string | null): Promise<LooseHours[]> {
    return (await this.looseRows.entries('@')).filter(([id]) => id !== (member ? `@${member}` : '')).map(([, v]) => v);
  }

  saveLoose(member: string | null, hours: LooseHours): Promise<void> {
    return this.looseRows.putLoose(member ? `@${member}` : '', hours);
  }

  async backfilled(): Promise<boolean> {
    return (await this.store.get('meta', VERSION_KEY)) !== undefined;
  }

  backfilledOp(n: number): StoreOp {
    return { type: 'put', sub: 'meta', key: VERSION_KEY, value: { at: new Date().toISOString(), backfilled: n } };
  }

  toolStats<T>(): Promise<T | undefined> {
    return this.store.get<T>('meta', TOOLS_KEY);
  }

  saveToolStats(stats: unknown): Promise<void> {
    return this.store.putLoose('meta', TOOLS_KEY, stats);
  }
}
