import { existsSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { channelNames, type CompiledConfig } from '../../config/load.js';
import { configCatalog, daemonCatalog, type ToolCatalog } from '../../workflows/tool-catalog.js';
import { loadWorkflows, validateWorkflowFile, type WorkflowChecks, type WorkflowProblem, type WorkflowSet } from '../../workflows/registry.js';
import type { Step, Workflow } from '../../workflows/schema.js';
import type { ServerInfo, ToolInfo } from '../tools/types.js';
import type { Service } from '../context.js';

export type WorkflowDirs = { shipped: string; user: string };

/**
 * What the daemon checks workflow files against when it loads them: config's notification targets,
 * the built-in tools, and the configured server names. A file naming a server that is not
 * configured, or an ops tool that does not exist, is refused (it could never run); the tools of
 * configured servers are checked when `workflows.list` or `workflows.validate` asks, against what
 * the servers list then (they may not be up yet at load time).
 */
export function daemonLoadChecks(config: CompiledConfig, env: NodeJS.ProcessEnv = process.env): WorkflowChecks {
  const tools = configCatalog(config, 'checked when asked', { noteUnchecked: false });
  // the engine's fault-injection tools for tests (see EngineRunData.faults)
  if (env.OPSTREAM_ENGINE_FAULTS === '1') tools.servers.set('engine_test', { tools: null, reason: 'test faults' });
  return { channels: channelNames(config), tools };
}

/**
 * The daemon's current set of workflows (shipped + the user's dir), as `ctx.workflows`. Loaded on
 * first use, reloaded when files in either dir change (debounced) or on `workflows.reload`. A reload
 * swaps the whole set at once: a run started from the old set keeps its own copy of the workflow.
 */
export class WorkflowCatalog implements Service {
  readonly name = 'workflows';
  private set: WorkflowSet | null = null;
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<(set: WorkflowSet) => void>();

  constructor(
    readonly dirs: WorkflowDirs,
    private readonly log: Logger,
    private readonly debounceMs = 150,
    /** Config's notification targets and what config knows of tools (see daemonLoadChecks). */
    private readonly checks: WorkflowChecks = {},
  ) {}

  current(): WorkflowSet {
    this.set ??= this.load();
    return this.set;
  }

  reload(): WorkflowSet {
    this.set = this.load();
    for (const fn of this.listeners) {
      try {
        fn(this.set);
      } catch (err) {
        this.log.error({ err }, 'workflow reload listener failed');
      }
    }
    return this.set;
  }

  /** Called after every reload (file change or request); returns an unsubscribe function. */
  onReload(fn: (set: WorkflowSet) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async start(): Promise<void> {
    this.current();
    this.watchDir(this.dirs.shipped);
    this.watchDir(this.dirs.user);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }

  private load(): WorkflowSet {
    const set = loadWorkflows(this.dirs, this.checks);
    this.log.info({ workflows: set.workflows.size, problems: set.problems.length, warnings: set.warnings.length }, 'workflows loaded');
    for (const p of set.problems) this.log.warn({ file: p.file, path: p.path, line: p.line }, `workflow problem: ${p.message}`);
    for (const p of set.warnings) this.log.warn({ file: p.file, path: p.path, line: p.line }, `workflow warning: ${p.message}`);
    return set;
  }

  /**
   * Watches a dir for workflow file changes. A user dir that does not exist yet is picked up when it
   * appears (its parent is watched until then).
   */
  private watchDir(dir: string): void {
    const onError = (err: Error): void => this.log.warn({ err, dir }, 'workflow dir watch failed; use `workflows.reload`');
    try {
      if (existsSync(dir)) {
        const w = watch(dir, { persistent: false }, () => this.schedule());
        w.on('error', onError);
        this.watchers.push(w);
        return;
      }
      const parent = dirname(dir);
      if (!existsSync(parent)) return;
      const w = watch(parent, { persistent: false }, () => {
        if (!existsSync(dir)) return;
        w.close();
        this.watchers = this.watchers.filter((x) => x !== w);
        this.watchDir(dir);
        this.schedule();
      });
      w.on('error', onError);
      this.watchers.push(w);
    } catch (err) {
      onError(err as Error);
    }
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    // editors write a file in several steps; reload once they are done
    this.timer = setTimeout(() => {
      this.timer = null;
      this.reload();
    }, this.debounceMs);
    this.timer.unref();
  }
}

/** The daemon's tool catalog now: ready servers with the tools they listed, others with why they were not asked. */
export function liveToolCatalog(config: CompiledConfig, servers: ServerInfo[], tools: ToolInfo[], env: NodeJS.ProcessEnv = process.env): ToolCatalog {
  const cat = daemonCatalog(
    config,
    servers.map((s) => ({ name: s.name, state: s.state, reason: s.reason, tools: tools.filter((t) => t.server === s.name).map((t) => t.tool) })),
  );
  if (env.OPSTREAM_ENGINE_FAULTS === '1') cat.servers.set('engine_test', { tools: null, reason: 'test faults' });
  return cat;
}

/**
 * For `workflows.list`: loaded workflows that name a tool a ready server does not list, by file.
 * The files are read again only when some configured server's tools are known (cheap: a page each).
 */
export function liveToolProblems(set: WorkflowSet, catalog: ToolCatalog): Map<string, WorkflowProblem[]> {
  const out = new Map<string, WorkflowProblem[]>();
  const known = [...catalog.servers].filter(([name, s]) => name !== 'ops' && s.tools !== null).map(([name]) => name);
  if (known.length === 0) return out;
  const quiet: ToolCatalog = { ...catalog, noteUnchecked: false };
  for (const w of set.workflows.values()) {
    const names = [...w.workflow.tools, ...toolNames(w.workflow.steps)];
    if (!names.some((n) => known.includes(n.split('.')[0]))) continue;
    const problems = validateWorkflowFile(w.file, { tools: quiet }).problems;
    if (problems.length > 0) out.set(w.file, problems);
  }
  return out;
}

/**
 * The MCP servers a workflow's steps and agents may call (the `server` of each `server.tool`). A
 * definition stored by an older version may lack `tools`: read as none.
 */
export function serversOf(w: Partial<Pick<Workflow, 'tools' | 'steps'>>): string[] {
  return [...new Set([...(w.tools ?? []), ...toolNames(w.steps)].map((n) => n.split('.')[0]))];
}

function toolNames(steps: Step[] | undefined): string[] {
  return (steps ?? []).flatMap((s) => [...(s.tool ? [s.tool] : []), ...(s.agent?.tools ?? []), ...toolNames(s.steps), ...toolNames(s.parallel)]);
}
