import { z } from 'zod';
import { defineMethod } from '../messages.js';

export const ToolServerState = z.enum(['idle', 'starting', 'ready', 'failed', 'disabled', 'stopped']);

export const ToolServerInfo = z.object({
  name: z.string(),
  transport: z.enum(['stdio', 'http']),
  state: ToolServerState,
  reason: z.string().nullable(),
  builtin: z.boolean(),
  trusted: z.boolean(),
  source: z.string(),
  tools: z.number().int(),
  spawns: z.number().int(),
  pid: z.number().int().nullable(),
  since: z.string(),
});
export type ToolServerInfo = z.infer<typeof ToolServerInfo>;

export const ToolDescription = z.object({
  name: z.string(),
  server: z.string(),
  tool: z.string(),
  title: z.string().nullable(),
  description: z.string().nullable(),
  input_schema: z.record(z.string(), z.unknown()),
  output_schema: z.record(z.string(), z.unknown()).nullable(),
  annotations: z.record(z.string(), z.unknown()),
  destructive: z.boolean(),
  trusted: z.boolean(),
});
export type ToolDescription = z.infer<typeof ToolDescription>;

/** `server.tool`; the server part is a config key (no dots). */
export const ToolName = z.string().min(3).max(200).regex(/^[A-Za-z0-9_-]+\.[^\s]+$/, 'expected server.tool, e.g. ops.http_probe');

export const ToolCallParams = z.object({
  tool: ToolName,
  args: z.record(z.string(), z.unknown()).default({}),
  cache_ttl_ms: z.number().int().min(0).max(30 * 24 * 3600_000).optional(),
  timeout_ms: z.number().int().min(1).max(24 * 3600_000).optional(),
});

export const ToolCallResultWire = z.object({
  ok: z.boolean(),
  is_error: z.boolean(),
  server: z.string(),
  tool: z.string(),
  content: z.array(z.unknown()),
  structured: z.unknown(),
  text: z.string(),
  duration_ms: z.number(),
  bytes: z.number().int(),
  cached: z.boolean(),
  truncated: z.boolean(),
});
export type ToolCallResultWire = z.infer<typeof ToolCallResultWire>;

const ToolStatWire = z.object({
  tool: z.string(),
  calls: z.number().int(),
  ok: z.number().int(),
  is_error: z.number().int(),
  failed: z.number().int(),
  cached: z.number().int(),
  total_ms: z.number(),
  max_ms: z.number(),
  bytes: z.number(),
  last_at: z.string().nullable(),
});

const CallRecordWire = z.object({
  at: z.string(),
  server: z.string(),
  tool: z.string(),
  duration_ms: z.number(),
  ok: z.boolean(),
  is_error: z.boolean(),
  error: z.string().nullable(),
  bytes: z.number(),
  cached: z.boolean(),
});

const Empty = z.object({}).strict().default({});

export const toolsMethods = {
  'tools.list': defineMethod(Empty, z.object({ servers: z.array(ToolServerInfo), tools: z.array(ToolDescription) })),
  /** Calls one tool through the daemon's pool; call failures are wire errors, `is_error` results are data. */
  'tools.call': defineMethod(ToolCallParams, ToolCallResultWire, { mutates: true }),
  'tools.stats': defineMethod(
    z.object({ recent: z.number().int().min(0).max(200).default(20) }).default({ recent: 20 }),
    z.object({
      tools: z.array(ToolStatWire),
      recent: z.array(CallRecordWire),
      cache: z.object({ hits: z.number().int(), misses: z.number().int(), writes: z.number().int() }),
      servers: z.array(z.object({ name: z.string(), state: ToolServerState, spawns: z.number().int() })),
    }),
  ),
} as const;
