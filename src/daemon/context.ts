import type { Logger } from 'pino';
import type { CompiledConfig } from '../config/load.js';
import type { Paths } from '../config/paths.js';
import type { RunStatus } from '../protocol/index.js';
import type { Bus } from './bus.js';
import type { Engine } from './engine/engine.js';
import type { Feed } from './feed.js';
import type { LlmGateway } from './llm/index.js';
import type { MemoryService } from './memory/memory.js';
import type { Notifier } from './notify/notifier.js';
import type { StatsService } from './stats/service.js';
import type { SlackBridge } from './slack/bridge.js';
import type { DiscordBridge } from './discord/bridge.js';
import type { RetentionService } from './store/retention.js';
import type { KvStore } from './store/kv.js';
import type { Repos } from './repos/index.js';
import type { TeamService } from './team/service.js';
import type { ToolService } from './tools/service.js';
import type { WorkflowCatalog } from './workflows/catalog.js';

/**
 * A long-lived part of the daemon (tool pool, engine, notifier). Started in order after the store
 * opens, stopped in reverse order before it closes.
 */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The daemon's parts as one record, for the edge only: the socket handlers (handlers/**) and
 * server.ts receive it. Services never do: each takes a typed deps object naming what it uses
 * (main.ts `assemble` is the composition root; the chat bridges share chat/services.ts
 * ChatServices).
 */
export interface DaemonContext {
  readonly paths: Paths;
  readonly config: CompiledConfig;
  /** The only write path (`commit`) and the storage's health (`unwritable`, `onWritable`). */
  readonly store: KvStore;
  /** Reads and op builders per domain over `store` (repos/): nothing else names a sublevel or key. */
  readonly repos: Repos;
  readonly log: Logger;
  readonly bus: Bus;
  readonly startedAt: Date;
  /** The loaded workflows: `current()` is the set in force, `reload()` rereads the files. */
  readonly workflows: WorkflowCatalog;
  /** MCP tool pool: `call`, `list`, `get`, `servers` (contract in tools/types.ts ToolsApi). */
  readonly tools: ToolService;
  /** The durable workflow engine: runs, timers, schedules (engine/engine.ts). */
  readonly engine: Engine;
  /** The daemon-wide ordered event feed behind `runs.watch` (feed.ts). */
  readonly feed: Feed;
  /** The LLM gateway (llm/), or null when no `llm:` is configured. */
  readonly llm: LlmGateway | null;
  /** Run summaries, recall and conversations (memory/). */
  readonly memory: MemoryService;
  /** Notifications: the durable outbox and its delivery channels (notify/notifier.ts). */
  readonly notifier: Notifier;
  /** Analytics: hourly aggregates of runs, tool calls and deliveries (stats/service.ts). */
  readonly stats: StatsService;
  /** The `retention:` rules' sweep (store/retention.ts): in the background and for `opstream gc`. */
  readonly retention: RetentionService;
  /** The Slack bridge (slack/bridge.ts), or null when no Slack token is configured. */
  readonly slack: SlackBridge | null;
  /** The Discord bridge (discord/bridge.ts), or null when no `discord:` section is configured. */
  readonly discord: DiscordBridge | null;
  /** Team mode (team/service.ts): this daemon as a member of a team on PostgreSQL; null in solo mode. */
  readonly team: TeamService | null;
  /** Counts of runs by status; the engine replaces the default (a scan of the runs sublevel). */
  runCounts(): Promise<Record<RunStatus, number>>;
  /** Asks the daemon to stop after the current reply is written. */
  requestShutdown(reason: string): void;
}
