import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { PACKAGE_VERSION } from '../../protocol/index.js';
import { serverEnv, type ServerSpec } from './server-specs.js';
import type { StdioTransport } from './stdio-transport.js';
import type { ServerInfo, ServerState, ToolCallError } from './types.js';

/** The SDK, loaded by the first server start (mcp-sdk.ts says why). */
let sdk: typeof import('./mcp-sdk.js') | null = null;
const loadSdk = async (): Promise<typeof import('./mcp-sdk.js')> => (sdk ??= await import('./mcp-sdk.js'));

/** The transport as a stdio one (its pid, exit reason, kill), or null (HTTP, or no SDK loaded yet: none). */
function asStdio(t: unknown): StdioTransport | null {
  return sdk && t instanceof sdk.StdioTransport ? t : null;
}

/** Whether `e` is the SDK's McpError. */
function isMcpError(e: unknown): e is Error & { code: number } {
  return sdk !== null && e instanceof sdk.McpError;
}

/** Whether `e` is the SDK's McpError with this code. */
function mcpCode(e: unknown, code: 'RequestTimeout' | 'ConnectionClosed'): boolean {
  return isMcpError(e) && e.code === sdk!.ErrorCode[code];
}

export interface ConnectionOptions {
  log: Logger;
  /** Spawn + initialize + tools/list must finish within this. */
  startTimeoutMs: number;
  /** One JSON-RPC message on stdout may not be larger than this. */
  maxLineBytes: number;
  /** The daemon's environment, from which only PATH, HOME and LANG are passed on. */
  baseEnv: NodeJS.ProcessEnv;
  onToolsChanged(conn: ServerConnection): void;
  onState(conn: ServerConnection): void;
  /** A stdio server process started / ended (see ChildRegistry). */
  onSpawn?(conn: ServerConnection, pid: number): void;
  onExit?(conn: ServerConnection, pid: number): void;
}

/** A call-level failure, carried as data (see ToolCallError). */
export class CallFailure extends Error {
  constructor(readonly failure: ToolCallError) {
    super(failure.message);
    this.name = 'CallFailure';
  }
}

const fail = (code: ToolCallError['code'], message: string, retryable: boolean) => new CallFailure({ code, message, retryable });

/** A server up this long before it went down is considered healthy: its next restart is immediate. */
const HEALTHY_MS = 30_000;
const MAX_BACKOFF_MS = 30_000;

function errorText(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  const cause = err?.cause ? `: ${err.cause.code ?? err.cause.message}` : '';
  return `${err?.message ?? String(e)}${cause}`;
}

/**
 * One MCP server for the daemon's whole life: spawned (or connected) once, tools discovered and
 * refreshed on list_changed, restarted with backoff when it exits, killed when it stops answering.
 * Call failures come out as CallFailure; a tool's own `isError` result is returned as is.
 */
export class ServerConnection {
  state: ServerState = 'idle';
  reason: string | null = null;
  since = new Date();
  spawns = 0;
  tools = new Map<string, Tool>();
  /** Bumped whenever `tools` is replaced, so validators compiled for an older list are dropped. */
  toolsVersion = 0;

  private client: Client | null = null;
  private transport: StdioTransport | StreamableHTTPClientTransport | null = null;
  private starting: Promise<void> | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private restartAt = 0;
  private failures = 0;
  private readySince = 0;
  private gen = 0;
  private checkingStuck = false;
  private noise = 0;

  constructor(
    readonly spec: ServerSpec,
    private readonly opts: ConnectionOptions,
  ) {
    if (spec.disabled) this.setState('disabled', 'disabled in config');
  }

  get pid(): number | null {
    return asStdio(this.transport)?.pid ?? null;
  }

  info(): ServerInfo {
    return {
      name: this.spec.name,
      transport: this.spec.transport,
      state: this.state,
      reason: this.reason,
      builtin: this.spec.builtin,
      trusted: this.spec.trusted,
      source: this.spec.source,
      tools: this.state === 'ready' ? this.tools.size : 0,
      spawns: this.spawns,
      pid: this.state === 'ready' ? this.pid : null,
      since: this.since.toISOString(),
    };
  }

  private setState(state: ServerState, reason: string | null = null): void {
    this.state = state;
    this.reason = reason;
    this.since = new Date();
    this.opts.onState(this);
  }

  /** Starts the server unless it is ready or starting; resolves when this attempt settles (never rejects). */
  start(): Promise<void> {
    if (this.state === 'ready' || this.state === 'disabled' || this.state === 'stopped') return Promise.resolve();
    if (this.starting) return this.starting;
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
      this.restartTimer = null;
    }
    this.starting = this.connect().finally(() => (this.starting = null));
    return this.starting;
  }

  private async connect(): Promise<void> {
    const gen = ++this.gen;
    const { spec, log } = { spec: this.spec, log: this.opts.log };
    // a retry after a failure stays `failed` (with its reason) until it succeeds: callers fail fast meanwhile
    if (this.state !== 'failed') this.setState('starting', this.reason);
    this.noise = 0;
    let m: typeof import('./mcp-sdk.js');
    try {
      m = await loadSdk();
    } catch (e) {
      // not installed as it should be: a failed start like any other, with the reason
      if (gen !== this.gen) return;
      this.failures++;
      this.scheduleRestart(`the MCP SDK could not be loaded: ${errorText(e)}`);
      return;
    }
    if (gen !== this.gen) return; // stopped meanwhile
    const transport =
      spec.transport === 'stdio'
        ? new m.StdioTransport({
            command: spec.command!,
            args: spec.args,
            env: serverEnv(spec.env, this.opts.baseEnv),
            cwd: spec.cwd,
            maxLineBytes: this.opts.maxLineBytes,
            onStderrLine: (line) => log.info({ server: spec.name, stderr: line }, 'mcp server stderr'),
            onNoise: (line) => {
              if (++this.noise <= 10) log.warn({ server: spec.name, line }, 'ignored non-protocol output on the server stdout');
            },
            onSpawn: (pid) => this.opts.onSpawn?.(this, pid),
            onExit: (pid) => this.opts.onExit?.(this, pid),
          })
        : new m.StreamableHTTPClientTransport(new URL(spec.url!), { requestInit: { headers: spec.headers } });
    const client = new m.Client({ name: 'opstream', version: PACKAGE_VERSION }, { capabilities: {}, jsonSchemaValidator: m.lazyValidator });
    client.onerror = (err) => log.debug({ server: spec.name, err: err.message }, 'mcp transport error');
    client.onclose = () => this.onClosed(gen, transport);
    client.setNotificationHandler(m.ToolListChangedNotificationSchema, () => {
      if (gen === this.gen && this.state === 'ready') void this.refreshTools(client, gen);
    });
    this.transport = transport;
    this.spawns++;
    try {
      await client.connect(transport, { timeout: this.opts.startTimeoutMs });
      await this.loadTools(client);
      if (gen !== this.gen) {
        await client.close().catch(() => undefined);
        return;
      }
      this.client = client;
      this.readySince = Date.now();
      log.info({ server: spec.name, pid: this.pid, tools: this.tools.size }, 'mcp server ready');
      this.setState('ready');
      this.opts.onToolsChanged(this);
    } catch (e) {
      if (gen !== this.gen) return;
      const why = asStdio(transport)?.exitReason ?? startError(e, this.opts.startTimeoutMs);
      this.gen++; // the close below belongs to this failed attempt, not to a live connection
      await transport.close().catch(() => undefined);
      this.transport = null;
      this.failures++;
      log.warn({ server: spec.name, reason: why, failures: this.failures }, 'mcp server failed to start');
      this.scheduleRestart(why);
    }
  }

  private async loadTools(client: Client): Promise<void> {
    const all: Tool[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor ? { cursor } : undefined, { timeout: this.opts.startTimeoutMs });
      all.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor && all.length < 10_000);
    this.tools = new Map(all.map((t) => [t.name, t]));
    this.toolsVersion++;
  }

  private async refreshTools(client: Client, gen: number): Promise<void> {
    try {
      await this.loadTools(client);
      if (gen !== this.gen) return;
      this.opts.log.info({ server: this.spec.name, tools: this.tools.size }, 'mcp server tools changed');
      this.opts.onToolsChanged(this);
    } catch (e) {
      this.opts.log.warn({ server: this.spec.name, err: errorText(e) }, 'refreshing the tool list failed');
    }
  }

  private onClosed(gen: number, transport: StdioTransport | StreamableHTTPClientTransport): void {
    if (gen !== this.gen || this.state !== 'ready') return; // a failed start or our own stop: handled there
    const why = asStdio(transport)?.exitReason ?? 'the connection closed';
    this.client = null;
    this.transport = null;
    if (Date.now() - this.readySince >= HEALTHY_MS) this.failures = 0;
    this.failures++;
    this.opts.log.warn({ server: this.spec.name, reason: why, failures: this.failures }, 'mcp server went down');
    if (this.failures === 1) {
      // first fall after running well: restart at once, so waiting callers see a short blip
      this.setState('idle', why);
      void this.start();
    } else this.scheduleRestart(why);
  }

  private scheduleRestart(why: string): void {
    const delay = Math.min(250 * 2 ** (this.failures - 1), MAX_BACKOFF_MS);
    this.restartAt = Date.now() + delay;
    this.setState('failed', why);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      void this.start();
    }, delay);
    this.restartTimer.unref();
  }

  /** The ready client, waiting for a start in progress (bounded by timeoutMs). */
  private async ready(timeoutMs: number): Promise<Client> {
    const name = this.spec.name;
    if (this.state === 'ready' && this.client) return this.client;
    if (this.state === 'disabled') throw fail('unavailable', `server "${name}" is disabled in config`, false);
    if (this.state === 'stopped') throw fail('unavailable', 'the daemon is stopping', true);
    if (this.state === 'failed') {
      const wait = Math.max(0, Math.ceil((this.restartAt - Date.now()) / 1000));
      throw fail('unavailable', `server "${name}" is not available: ${this.reason} (next restart in ${wait}s)`, true);
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
    const outcome = await Promise.race([this.start(), timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') throw fail('timeout', `server "${name}" did not become ready within ${timeoutMs} ms`, true);
    if (this.state === 'ready' && this.client) return this.client;
    throw fail('unavailable', `server "${name}" is not available: ${this.reason ?? 'it failed to start'}`, true);
  }

  /**
   * A server never started (they start when first needed) is started by its first call, bounded
   * by the start timeout: the call's own timeout is for the call, as when the server was already up.
   */
  private async firstStart(): Promise<void> {
    if (this.readySince === 0 && this.failures === 0 && (this.state === 'idle' || this.state === 'starting')) await this.ready(this.opts.startTimeoutMs);
  }

  /** Waits (bounded) for a start in progress; for listings. */
  async settle(timeoutMs: number): Promise<void> {
    if (this.state !== 'starting' && this.state !== 'idle') return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.start(), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** Ensures the server is up and returns the tool's definition, or throws not_found / unavailable. */
  async resolveTool(tool: string, timeoutMs: number): Promise<Tool> {
    await this.firstStart();
    await this.ready(timeoutMs);
    const t = this.tools.get(tool);
    if (!t) {
      const names = [...this.tools.keys()];
      throw fail('not_found', `server "${this.spec.name}" has no tool "${tool}"${names.length ? ` (it has: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', ...' : ''})` : ''}`, false);
    }
    return t;
  }

  async call(tool: string, args: Record<string, unknown>, o: { timeoutMs: number; meta?: Record<string, unknown>; signal?: AbortSignal }): Promise<CallToolResult> {
    await this.firstStart();
    const t0 = Date.now();
    const client = await this.ready(o.timeoutMs);
    const timeout = Math.max(1, o.timeoutMs - (Date.now() - t0));
    try {
      const r = await client.callTool({ name: tool, arguments: args, ...(o.meta ? { _meta: o.meta } : {}) }, undefined, { timeout, signal: o.signal });
      return r as CallToolResult;
    } catch (e) {
      if (isMcpError(e)) {
        if (mcpCode(e, 'RequestTimeout')) {
          void this.checkStuck(client);
          throw fail('timeout', `${this.spec.name}.${tool} did not answer within ${o.timeoutMs} ms`, true);
        }
        if (mcpCode(e, 'ConnectionClosed')) throw fail('unavailable', `server "${this.spec.name}" went down during the call: ${this.reason ?? 'connection closed'}`, true);
        throw fail('tool_error', `${this.spec.name}.${tool}: ${e.message.replace(/^MCP error -?\d+: /, '')}`, false);
      }
      if ((e as Error)?.name === 'AbortError') throw fail('timeout', `${this.spec.name}.${tool} was cancelled`, true);
      const closed = this.client !== client;
      throw fail('unavailable', `${this.spec.name}.${tool} failed: ${closed ? (this.reason ?? 'the server went down') : errorText(e)}`, true);
    }
  }

  /** After a timeout: a server that cannot answer a ping either is stuck, so it is killed and restarted. */
  private async checkStuck(client: Client): Promise<void> {
    if (this.checkingStuck || this.client !== client) return;
    this.checkingStuck = true;
    try {
      await client.ping({ timeout: Math.min(5_000, this.spec.timeoutMs) });
    } catch {
      if (this.client !== client) return;
      this.opts.log.warn({ server: this.spec.name }, 'mcp server stopped answering; killing and restarting it');
      const t = asStdio(this.transport);
      if (t) {
        t.exitReason = 'it stopped answering (a call timed out and a ping got no reply), so it was killed';
        t.kill();
      } else await client.close().catch(() => undefined);
    } finally {
      this.checkingStuck = false;
    }
  }

  async stop(): Promise<void> {
    this.gen++;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const client = this.client;
    const transport = this.transport;
    this.client = null;
    this.transport = null;
    if (this.state !== 'disabled') this.setState('stopped');
    if (client) await client.close().catch(() => undefined);
    else if (transport) await transport.close().catch(() => undefined);
  }
}

function startError(e: unknown, timeoutMs: number): string {
  if (mcpCode(e, 'RequestTimeout')) return `it did not finish starting within ${timeoutMs} ms`;
  if (mcpCode(e, 'ConnectionClosed')) return 'it closed the connection while starting';
  return errorText(e);
}
