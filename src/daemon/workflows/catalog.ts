import { existsSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { loadWorkflows, type ChannelNames, type WorkflowSet } from '../../workflows/registry.js';
import type { Service } from '../context.js';

export type WorkflowDirs = { shipped: string; user: string };

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
    private readonly channels?: ChannelNames,
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
    const set = loadWorkflows(this.dirs, this.channels);
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
