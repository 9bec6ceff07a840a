import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { CallFailure, ServerConnection } from './connection.js';
import { DEFAULT_MAX_RESULT_BYTES, normalizeResult } from './result.js';
import type { ServerSpec } from './server-specs.js';
import type { CallRecord, ServerInfo, ToolCallRequest, ToolCallResult, ToolInfo } from './types.js';
import { compileArgsValidator, type ArgsValidator } from './validate.js';

/** Where results are cached (a LevelDB sublevel in the daemon); the pool only asks and tells. */
export interface ResultCache {
  get(server: string, tool: string, args: Record<string, unknown>): Promise<ToolCallResult | undefined>;
  put(server: string, tool: string, args: Record<string, unknown>, result: ToolCallResult, ttlMs: number): Promise<void>;
}

export interface PoolOptions {
  log: Logger;
  startTimeoutMs?: number;
  maxResultBytes?: number;
  /** Largest single message accepted from a stdio server (default 128 MiB). */
  maxLineBytes?: number;
  baseEnv?: NodeJS.ProcessEnv;
  cache?: ResultCache;
  onCall?(record: CallRecord): void;
  onServerState?(info: ServerInfo): void;
  onToolsChanged?(server: string): void;
  /** A stdio server process started / ended: the daemon records them to end them after a crash. */
  onSpawn?(server: string, pid: number, command: string): void;
  onExit?(server: string, pid: number): void;
}

/**
 * The daemon's resident MCP clients, one ServerConnection per configured server, and the call path:
 * resolve `server.tool` -> validate arguments against its input schema -> cache -> call -> cap -> record.
 */
export class ToolPool {
  private readonly conns = new Map<string, ServerConnection>();
  private readonly validators = new Map<string, { version: number; validate: ArgsValidator }>();
  private readonly inflight = new Map<string, Promise<ToolCallResult>>();
  private readonly maxResultBytes: number;

  constructor(
    specs: ServerSpec[],
    private readonly opts: PoolOptions,
  ) {
    this.maxResultBytes = opts.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES;
    for (const spec of specs) {
      this.conns.set(
        spec.name,
        new ServerConnection(spec, {
          log: opts.log,
          startTimeoutMs: opts.startTimeoutMs ?? 30_000,
          maxLineBytes: opts.maxLineBytes ?? 128 * 1024 * 1024,
          baseEnv: opts.baseEnv ?? process.env,
          onToolsChanged: (c) => opts.onToolsChanged?.(c.spec.name),
          onState: (c) => opts.onServerState?.(c.info()),
          onSpawn: (c, pid) => opts.onSpawn?.(c.spec.name, pid, [c.spec.command ?? '', ...c.spec.args].join(' ').slice(0, 300)),
          onExit: (c, pid) => opts.onExit?.(c.spec.name, pid),
        }),
      );
    }
  }

  /**
   * Starts, in the background, the named servers (all when none are named) that were never
   * started; one that failed keeps its restart schedule. `settle` waits for those first attempts.
   */
  warm(names?: Iterable<string>): void {
    for (const name of names ?? this.conns.keys()) {
      const c = this.conns.get(name);
      if (c?.state === 'idle' && c.spawns === 0) void c.start();
    }
  }

  async settle(timeoutMs = 30_000): Promise<void> {
    await Promise.all([...this.conns.values()].map((c) => c.settle(timeoutMs)));
  }

  connection(name: string): ServerConnection | undefined {
    return this.conns.get(name);
  }

  servers(): ServerInfo[] {
    return [...this.conns.values()].map((c) => c.info());
  }

  /** Tools of ready servers. */
  tools(): ToolInfo[] {
    const out: ToolInfo[] = [];
    for (const c of this.conns.values()) if (c.state === 'ready') for (const t of c.tools.values()) out.push(toolInfo(c.spec, t));
    return out;
  }

  get(name: string): ToolInfo | undefined {
    const { server, tool } = splitName(name);
    const c = this.conns.get(server);
    const t = c?.state === 'ready' ? c.tools.get(tool) : undefined;
    return c && t ? toolInfo(c.spec, t) : undefined;
  }

  async list(timeoutMs = 30_000): Promise<ToolInfo[]> {
    await this.settle(timeoutMs);
    return this.tools();
  }

  /** Never throws for call failures: they come back in `error`. */
  call(req: ToolCallRequest): Promise<ToolCallResult> {
    if (!req.idempotencyKey) return this.callOnce(req);
    // The same step attempt asked twice (e.g. a worker retried a message): one execution, one answer.
    const key = `${req.tool}\u0000${req.idempotencyKey}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.callOnce(req).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async callOnce(req: ToolCallRequest): Promise<ToolCallResult> {
    const t0 = performance.now();
    const { server, tool } = splitName(req.tool);
    const args = req.args ?? {};
    let result: ToolCallResult;
    try {
      const conn = this.conns.get(server);
      if (!conn) throw new CallFailure({ code: 'not_found', message: `no MCP server "${server}" (known: ${[...this.conns.keys()].join(', ')})`, retryable: false });
      if (!tool) throw new CallFailure({ code: 'not_found', message: `"${req.tool}" is not a tool name; use server.tool, e.g. ops.http_probe`, retryable: false });
      const timeoutMs = req.timeoutMs ?? conn.spec.timeoutMs;
      const def = await conn.resolveTool(tool, timeoutMs);
      const invalid = this.validator(conn, def)(args);
      if (invalid) throw new CallFailure({ code: 'invalid_params', message: `${req.tool}: arguments do not match its input schema: ${invalid}`, retryable: false });

      const ttl = req.cacheTtlMs ?? conn.spec.cacheMs ?? 0;
      const cacheable = ttl > 0 && this.opts.cache !== undefined && !isDestructive(conn.spec, def);
      if (cacheable) {
        const hit = await this.opts.cache!.get(server, tool, args);
        if (hit) {
          result = { ...hit, cached: true, cachedAt: hit.cachedAt, durationMs: performance.now() - t0 };
          this.record(result);
          return result;
        }
      }
      const raw = await conn.call(tool, args, { timeoutMs, signal: req.signal, meta: req.idempotencyKey ? { 'opstream/idempotency_key': req.idempotencyKey } : undefined });
      const n = normalizeResult(raw, this.maxResultBytes);
      result = { ok: !n.isError, isError: n.isError, ...(n.retryable === null ? {} : { retryable: n.retryable }), error: null, server, tool, content: n.content, structured: n.structured, text: n.text, durationMs: performance.now() - t0, bytes: n.bytes, cached: false, truncated: n.truncated };
      if (cacheable && result.ok) await this.opts.cache!.put(server, tool, args, result, ttl).catch((err) => this.opts.log.warn({ err }, 'tool cache write failed'));
    } catch (e) {
      if (!(e instanceof CallFailure)) this.opts.log.error({ err: e, tool: req.tool }, 'tool call failed unexpectedly');
      const error = e instanceof CallFailure ? e.failure : { code: 'tool_error' as const, message: `${req.tool}: ${(e as Error)?.message ?? String(e)}`, retryable: false };
      result = { ok: false, isError: false, error, server, tool, content: [], structured: null, text: '', durationMs: performance.now() - t0, bytes: 0, cached: false, truncated: false };
    }
    this.record(result);
    return result;
  }

  private validator(conn: ServerConnection, def: Tool): ArgsValidator {
    const key = `${conn.spec.name}.${def.name}`;
    const have = this.validators.get(key);
    if (have && have.version === conn.toolsVersion) return have.validate;
    const { validate, problem } = compileArgsValidator(def.inputSchema as Record<string, unknown>);
    if (problem) this.opts.log.warn({ tool: key, problem }, 'input schema could not be compiled; arguments are not checked before the call');
    this.validators.set(key, { version: conn.toolsVersion, validate });
    return validate;
  }

  private record(r: ToolCallResult): void {
    this.opts.onCall?.({ at: new Date().toISOString(), server: r.server, tool: r.tool, durationMs: r.durationMs, ok: r.ok, isError: r.isError, error: r.error?.code ?? null, bytes: r.bytes, cached: r.cached });
  }

  async stop(): Promise<void> {
    await Promise.all([...this.conns.values()].map((c) => c.stop()));
  }
}

/** `server.tool`: server names cannot contain a dot, tool names may. */
export function splitName(name: string): { server: string; tool: string } {
  const i = name.indexOf('.');
  return i < 0 ? { server: name, tool: '' } : { server: name.slice(0, i), tool: name.slice(i + 1) };
}

function isDestructive(spec: ServerSpec, t: Tool): boolean {
  if (t.annotations?.destructiveHint === true) return true;
  if (spec.destructive === true) return true;
  return Array.isArray(spec.destructive) && spec.destructive.includes(t.name);
}

function toolInfo(spec: ServerSpec, t: Tool): ToolInfo {
  return {
    name: `${spec.name}.${t.name}`,
    server: spec.name,
    tool: t.name,
    title: t.title ?? t.annotations?.title ?? null,
    description: t.description ?? null,
    inputSchema: t.inputSchema as Record<string, unknown>,
    outputSchema: (t.outputSchema as Record<string, unknown> | undefined) ?? null,
    annotations: { ...(t.annotations ?? {}) },
    destructive: isDestructive(spec, t),
    trusted: spec.trusted,
  };
}
