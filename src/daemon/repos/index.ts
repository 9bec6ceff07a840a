import type { KvStore } from '../store/kv.js';
import { AuditRepo } from './audit.js';
import { CacheRepo } from './cache.js';
import { ChatStateRepo } from './chat-state.js';
import { FeedRepo } from './feed.js';
import { MemoryRepo } from './memory.js';
import { OutboxRepo } from './outbox.js';
import { RunsRepo } from './runs.js';
import { SchedulesRepo } from './schedules.js';
import { StatsRepo } from './stats.js';

/**
 * The daemon's persistence, one repository per domain over the one `KvStore` (LevelDB solo,
 * PostgreSQL in team mode). Repositories own their sublevels' keys and value types; they read and
 * build ops, and `store.commit` stays the only write path, so one batch can span domains (a run's
 * change with its notifications, feed rows, memory summary and audit entry).
 */
export interface Repos {
  runs: RunsRepo;
  outbox: OutboxRepo;
  memory: MemoryRepo;
  schedules: SchedulesRepo;
  audit: AuditRepo;
  feed: FeedRepo;
  cache: CacheRepo;
  chat: ChatStateRepo;
  stats: StatsRepo;
}

export function createRepos(store: KvStore): Repos {
  return {
    runs: new RunsRepo(store),
    outbox: new OutboxRepo(store),
    memory: new MemoryRepo(store),
    schedules: new SchedulesRepo(store),
    audit: new AuditRepo(store),
    feed: new FeedRepo(store),
    cache: new CacheRepo(store),
    chat: new ChatStateRepo(store),
    stats: new StatsRepo(store),
  };
}
