import { z } from 'zod';
import { defineMethod } from '../messages.js';
import { DiscordStatus } from './discord.js';

export const ClientKind = z.enum(['cli', 'tui', 'slack', 'bench', 'test']);

export const HelloParams = z.object({
  protocol: z.number().int(),
  version: z.string(),
  client: ClientKind.default('cli'),
});
export const HelloResult = z.object({
  protocol: z.number().int(),
  version: z.string(),
  pid: z.number().int(),
  started_at: z.string(),
  active_runs: z.number().int(),
});
export type HelloResult = z.infer<typeof HelloResult>;

export const RunStatus = z.enum(['queued', 'running', 'waiting', 'paused', 'succeeded', 'failed', 'cancelled']);
export type RunStatus = z.infer<typeof RunStatus>;
export const ACTIVE_STATUSES: readonly RunStatus[] = ['queued', 'running', 'waiting', 'paused'];

/** The Slack bridge's connection as `opstream status` and `doctor` show it. */
export const SlackConnectionStatus = z.object({
  /** off: not configured; failed: stopped for good until the config is fixed (see `error`). */
  state: z.enum(['off', 'starting', 'connecting', 'connected', 'reconnecting', 'stopped', 'failed']),
  /** Last frame of any kind received on the Socket Mode connection. */
  last_message_at: z.string().nullable(),
  /** Reconnects since the daemon started (Slack recycles connections every few hours). */
  reconnects: z.number().int(),
  error: z.string().nullable().optional(),
  /** Why the last connection ended (a Slack `disconnect` reason, `pong timeout`, `idle watchdog`, ...). */
  last_disconnect: z.string().nullable().optional(),
  team: z.string().nullable().optional(),
  bot_user: z.string().nullable().optional(),
});
export type SlackConnectionStatus = z.infer<typeof SlackConnectionStatus>;

/** Team mode (several daemons on one PostgreSQL): who this daemon is and who else is in the team. */
export const TeamStatus = z.object({
  mode: z.literal('team'),
  /** The database URL with its password masked. */
  database: z.string(),
  executor: z.string(),
  version: z.string(),
  members: z.array(
    z.object({
      executor: z.string(),
      host: z.string(),
      user: z.string(),
      pid: z.number().int().nullable(),
      version: z.string(),
      state: z.string(),
      last_seen: z.string().nullable(),
      self: z.boolean(),
    }),
  ),
  /** Singletons (scheduler, notifier, chat) and the executor that runs each now. */
  leaders: z.record(z.string(), z.string().nullable()),
  /** Runs this daemon hosts now. */
  hosting: z.number().int(),
  /** Host workflows of another OpStream version that no daemon of this version will pick up. */
  other_versions: z.array(z.object({ version: z.string(), count: z.number().int() })).default([]),
  /** Set while the team database cannot be reached: since when and why (the daemon reconnects by itself). */
  database_error: z.object({ since: z.string(), reason: z.string() }).nullable().default(null),
});
export type TeamStatus = z.infer<typeof TeamStatus>;

export const DaemonStatus = z.object({
  pid: z.number().int(),
  version: z.string(),
  protocol: z.number().int(),
  started_at: z.string(),
  uptime_ms: z.number(),
  socket: z.string(),
  data_dir: z.string(),
  log_file: z.string(),
  config_file: z.string().nullable(),
  runs: z.record(RunStatus, z.number().int()),
  /** Absent from daemons that predate the Slack bridge. */
  slack: SlackConnectionStatus.optional(),
  /** The Discord bridge (state `off` when not configured); absent from daemons that predate it. */
  discord: DiscordStatus.optional(),
  /**
   * The engine's worker threads: alive now, idle among them, started since the daemon started,
   * activations handed to an already running worker, workers retired. Absent from older daemons.
   */
  workers: z.object({ live: z.number().int(), idle: z.number().int(), started: z.number().int(), reused: z.number().int(), retired: z.number().int() }).optional(),
  /** Team mode; absent in solo mode (and from older daemons). */
  team: TeamStatus.optional(),
});
export type DaemonStatus = z.infer<typeof DaemonStatus>;

const Empty = z.object({}).strict().default({});

/**
 * Topics a client may subscribe to (payload schemas in protocol/events.ts). Any other is refused,
 * so a typo is an error rather than a silent, empty stream.
 */
export const EventTopic = z.enum(['runs', 'notifications', 'tools', 'schedules'], { error: (i) => `unknown topic ${JSON.stringify(i.input)}; topics: runs, notifications, tools, schedules` });
export type EventTopic = z.infer<typeof EventTopic>;

export const MemoryKey = z.string().min(1).max(512);

export const daemonMethods = {
  hello: defineMethod(HelloParams, HelloResult),
  ping: defineMethod(Empty, z.object({ t: z.number() })),
  'daemon.status': defineMethod(Empty, DaemonStatus),
  'daemon.shutdown': defineMethod(z.object({ reason: z.string().max(200).optional() }).default({}), z.object({ stopping: z.literal(true) }), { mutates: true }),
  subscribe: defineMethod(
    z.object({ topic: EventTopic, filter: z.record(z.string(), z.string()).optional() }),
    z.object({ sub: z.string() }),
  ),
  unsubscribe: defineMethod(z.object({ sub: z.string() }), z.object({ ok: z.literal(true) })),
  'memory.get': defineMethod(z.object({ key: MemoryKey }), z.object({ key: z.string(), value: z.unknown().nullable(), updated_at: z.string().nullable() })),
  'memory.set': defineMethod(z.object({ key: MemoryKey, value: z.unknown() }), z.object({ key: z.string(), updated_at: z.string() }), { mutates: true }),
  'memory.delete': defineMethod(z.object({ key: MemoryKey }), z.object({ deleted: z.boolean() }), { mutates: true }),
  'memory.list': defineMethod(
    z.object({ prefix: z.string().max(512).default(''), limit: z.number().int().min(1).max(1000).default(100) }).default({ prefix: '', limit: 100 }),
    z.object({ items: z.array(z.object({ key: z.string(), value: z.unknown(), updated_at: z.string() })) }),
  ),
  /**
   * Newest first. `since`: a duration back from now (`1d`); `actor`: a whole actor (`cli:alice`),
   * its kind (`slack`, `policy`) or its user (`alice`); `run`: entries whose target is that run.
   */
  'audit.list': defineMethod(
    z
      .object({
        limit: z.number().int().min(1).max(1000).default(50),
        since: z.string().max(40).optional(),
        actor: z.string().min(1).max(200).optional(),
        run: z.string().min(1).max(64).optional(),
      })
      .default({ limit: 50 }),
    z.object({ items: z.array(z.object({ at: z.string(), actor: z.string(), action: z.string(), target: z.string() })), more: z.boolean().optional() }),
  ),
} as const;
