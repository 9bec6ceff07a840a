import type { Logger } from 'pino';
import type { CompiledConfig } from '../../config/load.js';
import type { Paths } from '../../config/paths.js';
import type { Bus } from '../bus.js';
import type { Service } from '../context.js';
import type { CacheRepo } from '../repos/cache.js';
import type { StatsRepo } from '../repos/stats.js';
import type { KvStore } from '../store/kv.js';
import { join } from 'node:path';
import { ToolResultCache } from './cache.js';
import { SecretMasker } from '../llm/redact.js';
import { Destinations } from './destinations.js';
import { ChildRegistry } from './child-registry.js';
import { ToolPool } from './pool.js';
import { serverSpecs } from './server-specs.js';
import { CallStats, type ToolStat } from './stats.js';
import type { CallRecord, ServerInfo, ToolCallRequest, ToolCallResult, ToolInfo, ToolsApi } from './types.js';


/** What the tool layer uses: config (servers, destinations, secrets), its cache and figures' repositories, the bus it reports on. */
export interface ToolDeps {
  log: Logger;
  bus: Bus;
  config: CompiledConfig;
  paths: Pick<Paths, 'runDir'>;
  /** Audit entries of refused calls. */
  store: Pick<KvStore, 'commit'>;
  cache: CacheRepo;
  stats: StatsRepo;
}

/**
 * The daemon's `tools`: the MCP tool layer as a daemon service. See ToolsApi (types.ts) for the contract the
 * engine relies on. Servers are started in the background when the daemon starts, so the daemon
 * answers at once; the first call to a server still starting waits for it (bounded by its timeout).
 * Publishes on the bus topic `tools`: `tool.call` (a CallRecord) and `server.state` (a ServerInfo).
 */
export class ToolService implements Service, ToolsApi {
  readonly name = 'tools';
  pool!: ToolPool;
  cache!: ToolResultCache;
  readonly stats = new CallStats();
  private saveTimer: NodeJS.Timeout | null = null;
  private dirty = false;
  children!: ChildRegistry;
  /** What runs started from chat may reach (allow_hosts, log_dirs). */
  destinations!: Destinations;
  private secrets = new SecretMasker([]);
  /** Settles when the servers a crashed daemon left running have been ended (see ChildRegistry). */
  reaped: Promise<unknown> = Promise.resolve();

  constructor(private readonly d: ToolDeps) {}

  async start(): Promise<void> {
    const d = this.d;
    this.destinations = new Destinations(d.config);
    this.secrets = new SecretMasker(d.config.secrets);
    this.cache = new ToolResultCache(d.cache);
    const log = d.log.child({ svc: 'tools' });
    this.children = new ChildRegistry(join(d.paths.runDir, 'mcp-servers.json'), log);
    // read before any server is spawned; ended in the background so the daemon answers at once
    if (this.children.load().length > 0) this.reaped = this.children.reap();
    this.pool = new ToolPool(serverSpecs(d.config), {
      log,
      cache: this.cache,
      onSpawn: (server, pid, command) => this.children.add(pid, server, command),
      onExit: (_server, pid) => this.children.remove(pid),
      onCall: (r: CallRecord) => {
        this.stats.add(r);
        this.dirty = true;
        d.bus.publish('tools', 'tool.call', { ...r });
      },
      onServerState: (s: ServerInfo) => d.bus.publish('tools', 'server.state', { ...s }),
      onToolsChanged: (server) => d.bus.publish('tools', 'tools.changed', { server }),
    });
    this.stats.load(await this.d.stats.toolStats<ToolStat[]>());
    // Servers start when first needed (a run whose workflow names them starts or is recovered, a
    // call, a listing: `tools`, an agent step, validate), then stay up for the daemon's life. A
    // daemon with no such run neither spawns them nor loads the MCP SDK (tools/mcp-sdk.ts): each
    // start spawned the ops server (~0.3 s of CPU, its own ~40 MB process) and loaded the SDK
    // (~0.2 s) whether or not anything would call a tool.

    this.saveTimer = setInterval(() => void this.saveStats(), 30_000);
    this.saveTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.saveTimer) clearInterval(this.saveTimer);
    if (!this.pool) return;
    await this.reaped;
    await this.pool.stop();
    await this.saveStats();
  }

  private async saveStats(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    await this.d.stats.saveToolStats(this.stats.tools()).catch((err) => this.d.log.warn({ err }, 'saving tool stats failed'));
  }

  async call(req: ToolCallRequest): Promise<ToolCallResult> {
    // a run started from chat reaches only allowed hosts and log files: refused before the server sees it
    if (this.destinations.limits(req.origin)) {
      const why = this.destinations.checkArgs(req.args ?? {}, req.origin.def);
      if (why) {
        const o = req.origin;
        await this.d.store.commit([], { actor: o.actor, action: 'tools.refused', target: `run:${o.run} ${req.tool}: ${why}` }).catch((err: unknown) => this.d.log.warn({ err }, 'tools: could not audit a refused call'));
        this.d.log.info({ tool: req.tool, run: o.run, actor: o.actor }, `tools: refused a call from a chat run: ${why}`);
        const [server = '', tool = ''] = req.tool.split('.');
        return { ok: false, isError: false, error: { code: 'invalid_params', message: `refused: ${why}; nothing was called`, retryable: false }, server, tool, content: [], structured: null, text: '', durationMs: 0, bytes: 0, cached: false, truncated: false };
      }
    }
    return this.mask(await this.pool.call(req));
  }

  /**
   * A tool's result is where secrets get in (a config dump, an env listing): the known values are
   * masked in the raw result, before anything stores, templates, formats or posts it, so a number
   * that would be printed as 4,815,162,342 is gone before it is a number on a screen.
   */
  private mask(r: ToolCallResult): ToolCallResult {
    if (this.secrets.size === 0) return r;
    return {
      ...r,
      text: this.secrets.text(r.text).text,
      structured: this.secrets.value(r.structured),
      content: this.secrets.value(r.content),
      ...(r.error ? { error: { ...r.error, message: this.secrets.text(r.error.message).text } } : {}),
    };
  }

  list(): Promise<ToolInfo[]> {
    return this.pool.list(10_000); // a server still starting after this shows as `starting`
  }

  get(name: string): ToolInfo | undefined {
    return this.pool.get(name);
  }

  servers(): ServerInfo[] {
    return this.pool.servers();
  }

  /**
   * Starts the named servers (all when none are named) not started yet, without waiting: for a
   * run that will call them, and for a listing that does not wait (the next one sees them).
   */
  warm(servers?: Iterable<string>): void {
    this.pool.warm(servers);
  }
}
