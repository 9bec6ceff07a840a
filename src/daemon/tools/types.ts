import type { CallOrigin } from './destinations.js';
import type { ErrorCode } from '../../protocol/index.js';

export type ServerState = 'idle' | 'starting' | 'ready' | 'failed' | 'disabled' | 'stopped';

export interface ToolAnnotations {
  title?: string;
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

/** One discovered tool, named `server.tool`. */
export interface ToolInfo {
  name: string;
  server: string;
  tool: string;
  title: string | null;
  description: string | null;
  inputSchema: Record<string, unknown>;
  outputSchema: Record<string, unknown> | null;
  annotations: ToolAnnotations;
  /** destructiveHint or config `destructive`: never cached, audited when called from the CLI. */
  destructive: boolean;
  /** The server is `trust: trusted` (or built in). */
  trusted: boolean;
}

export interface ServerInfo {
  name: string;
  transport: 'stdio' | 'http';
  state: ServerState;
  /** Why it is failed (or why it last went down), for `opstream tools`. */
  reason: string | null;
  builtin: boolean;
  trusted: boolean;
  source: string;
  tools: number;
  /** Processes started (stdio) or sessions opened (http) in this daemon's life. */
  spawns: number;
  pid: number | null;
  /** When the state last changed. */
  since: string;
}

export interface ToolCallRequest {
  /** `server.tool` */
  tool: string;
  args?: Record<string, unknown>;
  /** Cache TTL for this call (a step's `cache:`); falls back to the server's `cache`; 0 disables. */
  cacheTtlMs?: number;
  /** Overrides the server's per-call timeout. */
  timeoutMs?: number;
  /** Run id + step id + attempt: concurrent calls with the same key share one execution; sent to the server in `_meta`. */
  idempotencyKey?: string;
  signal?: AbortSignal;
  /** The run the call is made for: a run started from chat may reach only allowed destinations (destinations.ts). */
  origin?: CallOrigin;
}

/** Why a call did not complete (as opposed to the tool reporting `isError`, which is data). */
export interface ToolCallError {
  code: Extract<ErrorCode, 'not_found' | 'invalid_params' | 'timeout' | 'unavailable' | 'tool_error'>;
  message: string;
  retryable: boolean;
}

export interface ToolCallResult {
  /** The call completed and the tool did not report an error. */
  ok: boolean;
  /** The tool ran and reported failure (`isError: true`); content says why. */
  isError: boolean;
  /**
   * For `isError` results: whether the server said the same call may succeed later (`_meta`
   * "opstream/retryable"); absent when it did not say, which callers treat as retryable.
   */
  retryable?: boolean;
  /** Set when the call could not complete (unknown tool, bad arguments, timeout, server down). */
  error: ToolCallError | null;
  server: string;
  tool: string;
  /** MCP content blocks as the server sent them (capped). */
  content: unknown[];
  /** `structuredContent`, when the server gave it. */
  structured: unknown;
  /** The text blocks joined by newlines: what a step or an agent reads when there is no structure. */
  text: string;
  durationMs: number;
  /** Size of the server's result as JSON, before any cap. */
  bytes: number;
  cached: boolean;
  /** When a cached result was first produced (epoch ms): its age is told to models that read it. */
  cachedAt?: number;
  truncated: boolean;
}

/** One call, for stats (and the `tools` bus topic). */
export interface CallRecord {
  at: string;
  server: string;
  tool: string;
  durationMs: number;
  ok: boolean;
  isError: boolean;
  error: string | null;
  bytes: number;
  cached: boolean;
}

/**
 * What the daemon's other parts (engine, agent loop, handlers) use: `ctx.tools`.
 *
 *   const r = await ctx.tools.call({ tool: 'ops.http_probe', args: { url }, cacheTtlMs, timeoutMs, idempotencyKey });
 *   if (r.error) -> the call did not happen or did not finish; r.error.retryable says if a retry may help
 *   else if (r.isError) -> the tool failed; r.text says why (a step fails, an agent sees it)
 *   else -> r.structured ?? r.text is the output
 *
 * `call` never throws for call failures; it resolves with `error` set. `list()` waits (bounded) for
 * servers that are still starting, then returns the tools of ready servers.
 */
export interface ToolsApi {
  call(req: ToolCallRequest): Promise<ToolCallResult>;
  list(): Promise<ToolInfo[]>;
  /** A tool by `server.tool` name if its server is ready, without waiting. */
  get(name: string): ToolInfo | undefined;
  servers(): ServerInfo[];
}
