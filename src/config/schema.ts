import { z } from 'zod';

const Duration = z.string().regex(/^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$/i, 'expected a duration such as 30s, 5m or 2h');

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

export const ConfigSchema = z
  .object({
    mcpServers: z.record(ServerName, McpServerConfig).default({}),
    llm: z
      .object({
        provider: z.literal('ollama').default('ollama'),
        host: z.url().default('http://127.0.0.1:11434'),
        model: z.string().min(1).default('qwen2.5:7b'),
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
            quiet_hours: z.string().regex(/^\d\d:\d\d-\d\d:\d\d$/, 'expected HH:MM-HH:MM').optional(),
            timezone: z.string().optional(),
            max_frequency: z.string().regex(/^\d+\/(second|minute|hour|day)$/, 'expected N/hour, N/minute, ...').optional(),
          })
          .strict()
          .optional(),
        users: z.record(z.string(), z.enum(['admin', 'operator', 'viewer'])).optional(),
        default_role: z.enum(['admin', 'operator', 'viewer']).default('viewer'),
      })
      .strict()
      .optional(),
    ops: z
      .object({
        /** Commands `ops.run_command` may run: exact strings or /regex/ patterns. Empty means none. */
        allowed_commands: z.array(z.string()).default([]),
      })
      .strict()
      .default({ allowed_commands: [] }),
    log: z.object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'), max_size: z.string().default('10m'), files: z.number().int().min(1).max(100).default(5) }).strict().default({ level: 'info', max_size: '10m', files: 5 }),
  })
  .strict();
export type RawConfig = z.infer<typeof ConfigSchema>;
