import { z } from 'zod';
import { parseHostRule } from './allow-hosts.js';

const Duration = z.string().regex(/^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$/i, 'expected a duration such as 30s, 5m or 2h');
/** Discord ids (snowflakes) are written as strings of digits: YAML would round a number this large. */
const Snowflake = z
  .string({ error: (iss) => (iss.input === undefined ? 'required: a Discord id, in quotes (e.g. "123456789012345678")' : 'a Discord id must be written in quotes (e.g. "123456789012345678"): YAML rounds a number this large') })
  .regex(/^\d{5,25}$/, 'a Discord id: digits, in quotes (e.g. "123456789012345678")');
/** A retention rule: keep for this long, or `never` remove. */
const RetentionRule = z.string().regex(/^\s*(never|\d+(\.\d+)?\s*(ms|s|m|h|d)?)\s*$/i, 'expected a duration such as 30d or 12h, or never');

/** One MCP server, in the shape Claude Desktop's config uses, plus OpStream's own optional fields. */
export const McpServerConfig = z
  .object({
    command: z.string().min(1).optional(),
    args: z.array(z.string()).default([]),
    env: z.record(z.string(), z.string()).default({}),
    cwd: z.string().optional(),
    url: z.url().optional(),
    headers: z.record(z.string(), z.string()).default({}),
    /** Per-call timeout. */
    timeout: Duration.default('30s'),
    /** `trusted` servers may be called by agent steps without a workflow listing them. */
    trust: z.enum(['trusted', 'untrusted']).default('untrusted'),
    /** Cache TTL for this server's results when a step does not set one. */
    cache: Duration.optional(),
    /** Tools (names without the server prefix) to treat as destructive: never cached. `true` marks every tool. */
    destructive: z.union([z.boolean(), z.array(z.string())]).default(false),
    disabled: z.boolean().default(false),
  })
  .strict()
  .refine((s) => Boolean(s.command) !== Boolean(s.url), { message: 'give exactly one of `command` (stdio) or `url` (Streamable HTTP)' });
export type McpServerConfig = z.infer<typeof McpServerConfig>;

export const ServerName = z.string().regex(/^[A-Za-z0-9_-]+$/, 'server names may use letters, digits, _ and - only');

const ParamName = z.string().regex(/^[a-z_][a-z0-9_]*$/, 'param names use lowercase letters, digits and _');

/**
 * Per-service defaults for workflow params: a run whose `service` param names this entry takes
 * every param it does not set from here (`url`, `endpoints`, `pid`, `log`, `remediations`, ...),
 * and from `workflows.<id or verb>` first. What the user types always wins.
 */
export const ServiceConfig = z
  .object({
    workflows: z.record(z.string().min(1), z.record(ParamName, z.unknown())).default({}),
  })
  .catchall(z.unknown())
  .superRefine((o, ctx) => {
    for (const k of Object.keys(o)) if (k !== 'workflows' && !/^[a-z_][a-z0-9_]*$/.test(k)) ctx.addIssue({ code: 'custom', path: [k], message: `${k} is not a param name (lowercase letters, digits and _)` });
  });
export type ServiceConfig = z.infer<typeof ServiceConfig>;

export const ConfigSchema = z
  .object({
    mcpServers: z.record(ServerName, McpServerConfig).default({}),
    /** Param defaults per service name: `opstream start profile checkout` then needs no more words. */
    services: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'service names may use letters, digits, _, . and - only'), ServiceConfig).default({}),
    llm: z
      .object({
        /** `openai-compatible`: LM Studio, vLLM, llama.cpp's server (POST {base_url}/chat/completions). */
        provider: z.enum(['ollama', 'openai-compatible']).default('ollama'),
        host: z.url().default('http://127.0.0.1:11434'),
        base_url: z.url().optional(),
        /** Only for openai-compatible; write it as "${OPENAI_API_KEY}", never inline. */
        api_key: z.string().optional(),
        model: z.string().min(1).default('qwen2.5:7b'),
        embed_model: z.string().min(1).optional(),
        /** Sent on every request; default: the model's context length from /api/show. */
        num_ctx: z.number().int().min(512).max(1_048_576).optional(),
        /** Extra patterns (regular expressions) masked before anything reaches a model. */
        redact: z.array(z.string()).default([]),
        /** Model calls at once per model (Ollama serves one at a time by default). */
        concurrency: z.number().int().min(1).max(16).default(1),
        /** How long the server keeps the model loaded between turns. */
        keep_alive: Duration.default('30m'),
        /** Per model call; a hang past it is retried like an unreachable server. */
        timeout: Duration.default('5m'),
        /** How long an agent step waits (retrying with backoff) for an unreachable model before it fails. */
        wait_unavailable: Duration.default('5m'),
        /** Share of the context window one tool result may take before it is cut (with a marker). */
        tool_output_share: z.number().gt(0).max(1).default(0.25),
      })
      .strict()
      .optional(),
    slack: z
      .object({
        app_token: z.string().optional(),
        bot_token: z.string().optional(),
        api_url: z.url().optional(),
        channels: z.object({ default: z.string().optional(), critical: z.string().optional() }).catchall(z.string()).optional(),
        notifications: z
          .object({
            /** Local time range (seconds allowed) in which non-critical notifications are held for one digest. */
            quiet_hours: z.string().regex(/^\d\d:\d\d(:\d\d)?-\d\d:\d\d(:\d\d)?$/, 'expected HH:MM-HH:MM').optional(),
            timezone: z.string().optional(),
            /** Routine updates (info milestones and notify steps) per Slack channel; more are merged into one message. */
            max_frequency: z.string().regex(/^\d+\/(second|minute|hour|day)$/, 'expected N/hour, N/minute, ...').optional(),
          })
          .strict()
          .optional(),
        users: z.record(z.string(), z.enum(['admin', 'operator', 'viewer', 'none'])).optional(),
        /** Role of anyone not listed in `users`; `none` refuses strangers everything. */
        // `none`: a workspace member nobody listed gets nothing (a viewer reads params and spends model tokens)
        default_role: z.enum(['admin', 'operator', 'viewer', 'none']).default('none'),
        /** The slash command as created in the app (the manifest uses it). */
        command: z.string().regex(/^\/[a-z0-9_-]+$/, 'a slash command such as /opstream').default('/opstream'),
        /** Name of the app in the manifest. */
        app_name: z.string().min(1).max(35).default('OpStream'),
        /** Socket Mode: a pong must come back within this (raise it on a busy laptop). */
        ping_timeout: Duration.default('15s'),
        /** No frame at all (message, ping or pong) for this long: the connection is dead; reconnect. */
        idle_timeout: Duration.default('90s'),
        /** Minimum time between two posts to one Slack channel (Slack allows about one per second). */
        post_interval: Duration.default('1s'),
        /** Run threads: the start message is edited at most this often (only the latest state is sent). */
        update_interval: Duration.default('1s'),
        /** Per Web API call. */
        timeout: Duration.default('20s'),
      })
      .strict()
      .optional(),
    /** The Discord bridge (gateway + REST through discord.js): see the README, "Discord". */
    discord: z
      .object({
        /** The bot token; write it as "${DISCORD_TOKEN}", never inline. */
        token: z.string().optional(),
        application_id: Snowflake,
        /** Register `/opstream` in this guild only (instant) instead of globally. */
        guild_id: Snowflake.optional(),
        /** Text channel for run threads and notifications. */
        channel: Snowflake,
        /** Discord user id -> role; anyone not listed has none. */
        roles: z.record(z.string().regex(/^\d{1,25}$/, 'a Discord user id (digits)'), z.enum(['admin', 'operator', 'viewer', 'none'])).default({}),
        /** REST base; discord.js asks it for the gateway URL. */
        api_url: z.url().default('https://discord.com/api'),
        /** Run threads: the progress message is edited at most this often (only the latest state is sent). */
        update_interval: Duration.default('250ms'),
        notifications: z
          .object({
            /** Local time range in which notifications that are not critical wait until it ends (as for Slack). */
            quiet_hours: z.string().regex(/^\d\d:\d\d(:\d\d)?-\d\d:\d\d(:\d\d)?$/, 'expected HH:MM-HH:MM').optional(),
            timezone: z.string().optional(),
            /** Levels Discord is told about (approvals and input requests count as critical); default: all. */
            levels: z.array(z.enum(['info', 'warning', 'critical'])).min(1).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    notify: z
      .object({
        /** OS notifications: auto = on when a desktop session is present. */
        desktop: z.enum(['auto', 'on', 'off']).default('auto'),
        webhooks: z
          .array(
            z
              .object({
                name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'webhook names may use letters, digits, _ and - only'),
                url: z.url(),
                /** HMAC-SHA256 key for the X-OpStream-Signature header. */
                secret: z.string().optional(),
                /** Levels it receives; approvals and input requests count as critical. Default: all. */
                levels: z.array(z.enum(['info', 'warning', 'critical'])).optional(),
                /** json: OpStream's payload; pagerduty: Events API v2; teams: an Adaptive Card for a Teams Workflows or incoming webhook URL. */
                format: z.enum(['json', 'pagerduty', 'teams']).default('json'),
                /** PagerDuty Events API v2 integration key (format: pagerduty). */
                routing_key: z.string().optional(),
                timeout: Duration.default('10s'),
                headers: z.record(z.string(), z.string()).default({}),
              })
              .strict()
              .refine((w) => w.format !== 'pagerduty' || Boolean(w.routing_key), { message: 'format: pagerduty needs routing_key' }),
          )
          .default([]),
        /** Deprecated alias of `retention.notifications` (give one of the two). */
        retention: RetentionRule.optional(),
      })
      .strict()
      .default({ desktop: 'auto', webhooks: [] }),
    memory: z
      .object({
        /** Deprecated alias of `retention.memory` (give one of the two). */
        retention: RetentionRule.optional(),
      })
      .strict()
      .default({}),
    /**
     * How long finished data is kept, per kind: a duration (`90d`) or `never` (keep). A kind without
     * a rule is never removed; notifications default to 30d and memory to 365d (as before).
     */
    retention: z
      .object({
        /** Finished runs (never active ones), with their steps, events, notifications, conversations and feed rows. */
        runs: RetentionRule.optional(),
        /** Events of runs that finished longer ago than this (the run's record and steps stay). */
        events: RetentionRule.optional(),
        notifications: RetentionRule.optional(),
        audit: RetentionRule.optional(),
        /** MCP result cache entries stored longer ago than this. */
        cache: RetentionRule.optional(),
        /** Run summaries (recall, `memory search`) and their vectors. */
        memory: RetentionRule.optional(),
      })
      .strict()
      .default({}),
    ops: z
      .object({
        /** Commands `ops.run_command` may run: exact strings or /regex/ patterns. Empty means none. */
        allowed_commands: z.array(z.string()).default([]),
      })
      .strict()
      .default({ allowed_commands: [] }),
    /**
     * Where runs started from chat (Slack) may connect: host names, `*.example.com` (subdomains),
     * IP addresses, CIDR ranges (`10.0.0.0/8`), each optionally with `:port`; `*` allows anything.
     * Destinations the config names (services, webhooks, the LLM, MCP servers) and URLs written in a
     * workflow file are always allowed. Not set: only those. Local (CLI) runs are not limited.
     */
    allow_hosts: z
      .array(z.string().min(1).superRefine((v, ctx) => {
        const r = parseHostRule(v);
        if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
      }))
      .optional(),
    /** Directories whose files chat users may have tools read (ops.log_scan paths, `log=` params). Not set: none, besides files the config names. */
    log_dirs: z.array(z.string().min(1)).default([]),
    /**
     * Opt-in Prometheus endpoint: `listen: "127.0.0.1:9464"` serves GET /metrics. A loopback address
     * unless `token` is set too; with `token` every scrape must send `Authorization: Bearer <token>`.
     */
    metrics: z
      .object({
        listen: z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9464'),
        token: z.string().min(16, 'a bearer token of at least 16 characters, e.g. from `openssl rand -hex 16` (keep it in the environment: token: ${METRICS_TOKEN})').optional(),
      })
      .strict()
      .optional(),
    /**
     * Team mode: a PostgreSQL URL (`postgres://user:pass@host:port/db`, `${ENV}` allowed) shared by
     * every daemon of the team; OPSTREAM_DATABASE_URL takes precedence. Not set: solo, LevelDB.
     */
    database_url: z.string().min(1).optional(),
    log: z.object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'), max_size: z.string().default('10m'), files: z.number().int().min(1).max(100).default(5) }).strict().default({ level: 'info', max_size: '10m', files: 5 }),
  })
  .strict();
export type RawConfig = z.infer<typeof ConfigSchema>;
