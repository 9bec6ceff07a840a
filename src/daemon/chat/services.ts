import type { CompiledConfig } from '../../config/load.js';
import type { RunStatus } from '../../protocol/index.js';
import type { Bus } from '../bus.js';
import type { Engine } from '../engine/engine.js';
import type { Feed } from '../feed.js';
import type { LlmGateway } from '../llm/index.js';
import type { MemoryService } from '../memory/memory.js';
import type { Notifier } from '../notify/notifier.js';
import type { Repos } from '../repos/index.js';
import type { KvStore } from '../store/kv.js';
import type { ToolService } from '../tools/service.js';
import type { WorkflowCatalog } from '../workflows/catalog.js';

/**
 * What the chat layer (chat/) and its platform adapters (slack/, discord/) use of the daemon: the
 * engine's run operations, the workflow set, the notifier they deliver through and register their
 * channels with, the feed they follow, their own bookkeeping (the chat state) and the model for
 * plain-words commands and questions. One record for the whole group, built in main.ts once these
 * services exist (the bridges are built after them), handed to every bridge and helper.
 */
export interface ChatServices {
  config: CompiledConfig;
  bus: Pick<Bus, 'subscribe'>;
  /** Their bookkeeping rows and audit entries (`commit` only). */
  store: Pick<KvStore, 'commit'>;
  repos: Pick<Repos, 'chat' | 'memory'>;
  engine: Pick<Engine, 'get' | 'list' | 'events' | 'answer' | 'pause' | 'resume' | 'cancel' | 'startRun' | 'schedules'>;
  workflows: Pick<WorkflowCatalog, 'current'>;
  tools: Pick<ToolService, 'destinations'>;
  llm: LlmGateway | null;
  memory: Pick<MemoryService, 'get'>;
  notifier: Pick<Notifier, 'register' | 'send'>;
  feed: Pick<Feed, 'onPublish'>;
  /** Counts of runs by status (the daemon's: the team's in team mode). */
  runCounts(): Promise<Record<RunStatus, number>>;
}
