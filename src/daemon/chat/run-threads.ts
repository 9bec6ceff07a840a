import type { ChatServices } from './services.js';
import type { StoreOp } from '../store/store.js';
import type { MetaTable } from '../repos/meta-table.js';

/**
 * Which run a chat message or thread belongs to, for every platform: a run's records (Slack: its
 * start message per destination; Discord: its card and thread), kept in the store (meta sublevel,
 * one key per record) so that after a restart the same messages are edited and a reply in an old
 * thread still finds its run, and indexed in memory both ways (run -> records, thread -> run).
 * What a record holds is the adapter's; where it is kept and how it is found is this.
 */
export class RunThreadIndex<T extends { run: string }> {
  private readonly byRun = new Map<string, T[]>();
  private readonly byThread = new Map<string, string>();

  constructor(
    private readonly services: ChatServices,
    /** Where the records live (the chat state's `slackThreads`, `discordThreads`). */
    private readonly table: () => MetaTable<T>,
    /** The record's id in `table`. */
    private readonly idOf: (t: T) => string,
    /** The id a reply names the thread by (Slack `<channel>:<ts>`, Discord the thread channel). */
    private readonly threadOf: (t: T) => string,
    /** Whether two records of one run are the same one (Slack: one per destination). */
    private readonly same: (a: T, b: T) => boolean = () => true,
  ) {}

  async load(): Promise<void> {
    for (const [, t] of await this.table().entries()) this.remember(t);
  }

  private remember(t: T): void {
    const list = this.byRun.get(t.run) ?? [];
    const i = list.findIndex((x) => this.same(x, t));
    if (i >= 0) list[i] = t;
    else list.push(t);
    this.byRun.set(t.run, list);
    this.byThread.set(this.threadOf(t), t.run);
  }

  /** Stores a record (with `extra` in the same commit) and indexes it. */
  async save(t: T, extra: StoreOp[] = []): Promise<void> {
    await this.services.store.commit([this.table().putOp(this.idOf(t), t), ...extra]);
    this.remember(t);
  }

  /** Stores records changed in place (a flag on them). */
  async update(ts: T[]): Promise<void> {
    if (ts.length) await this.services.store.commit(ts.map((t) => this.table().putOp(this.idOf(t), t)));
  }

  of(run: string): T[] {
    return this.byRun.get(run) ?? [];
  }

  has(run: string): boolean {
    return this.byRun.has(run);
  }

  /** The run whose thread this is, if any. */
  runOf(thread: string): string | undefined {
    return this.byThread.get(thread);
  }

  runs(): IterableIterator<[string, T[]]> {
    return this.byRun.entries();
  }
}
