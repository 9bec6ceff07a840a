import type { runsMethods, ScheduleJson } from '../../protocol/methods/runs.js';
import { WireError } from '../../protocol/index.js';
import { resolveStart, resolveWorkflowFilter } from '../../workflows/params.js';
import { missingServerReason } from '../../workflows/tool-catalog.js';
import type { DaemonContext } from '../context.js';
import { buildReport } from '../reports/report.js';
import type { HandlersFor } from './types.js';

/** Thin: parse happened at the edge, the engine does the work (and writes the audit entries). */
export const runsHandlers: HandlersFor<keyof typeof runsMethods> = {
  async 'runs.start'(p, { ctx, actor }) {
    const words = [p.workflow, ...p.args];
    let resolved;
    try {
      resolved = resolveStart(ctx.workflows.current(), words, ctx.config.raw.services);
    } catch (e) {
      // a file saved a moment ago may not be loaded yet (the dir watcher waits for writes to settle):
      // read the dirs once more before saying the workflow does not exist
      if (!(e instanceof WireError) || e.code !== 'not_found') throw e;
      resolved = resolveStart(ctx.workflows.reload(), words, ctx.config.raw.services);
    }
    const { workflow, params } = resolved;
    const missing = missingServerReason(workflow.workflow, ctx.config);
    if (missing) throw new WireError('invalid_state', missing);
    const run = await ctx.engine.startRun({ workflow, params, trigger: actor.split(':')[0] ?? 'cli', actor });
    return ctx.engine.json(run);
  },
  'runs.get': (p, { ctx }) => ctx.engine.get(p.id),
  async 'runs.list'(p, { ctx }) {
    const r = await ctx.engine.list({ ...p, workflow: workflowFilter(ctx, p.workflow) });
    return p.steps ? r : { ...r, runs: r.runs.map((run) => ({ ...run, steps: [] })) };
  },
  async 'runs.watch'(p, scope) {
    // the snapshot is taken at the cursor it returns; events after it may already show in it, and
    // each run's `seq` lets the client skip those when they arrive
    const pendingRuns = p.snapshot && !p.states ? scope.ctx.engine.activeJson() : [];
    const pendingStates = p.snapshot && p.states ? scope.ctx.engine.activeStates() : undefined;
    // team mode reads the team's runs from the store; solo stays synchronous up to the watch
    const runs = Array.isArray(pendingRuns) ? pendingRuns : await pendingRuns;
    const states = pendingStates === undefined || Array.isArray(pendingStates) ? pendingStates : await pendingStates;
    const { sub, cursor } = await scope.watch(p.cursor);
    return { sub, cursor, runs, ...(states ? { states: states as never } : {}) };
  },
  'runs.report': async (p, { ctx }) => {
    const run = await ctx.engine.get(p.id);
    return buildReport(run, ctx.workflows.current().workflows.get(run.workflow)?.workflow.name ?? null);
  },
  'runs.pause': (p, { ctx, actor }) => ctx.engine.pause(p.id, actor),
  'runs.resume': (p, { ctx, actor }) => ctx.engine.resume(p.id, actor),
  'runs.cancel': (p, { ctx, actor }) => ctx.engine.cancel(p.id, actor),
  'runs.events': (p, { ctx }) => ctx.engine.events(p.id, p.after, p.limit),
  'runs.approve': (p, { ctx, actor }) => ctx.engine.answer(p.id, actor, { kind: 'approval', decision: 'approved', comment: p.comment, shown: { step: p.step, args_hash: p.args_hash } }),
  'runs.reject': (p, { ctx, actor }) => ctx.engine.answer(p.id, actor, { kind: 'approval', decision: 'rejected', comment: p.comment, shown: { step: p.step, args_hash: p.args_hash } }),
  'runs.respond': (p, { ctx, actor }) => ctx.engine.answer(p.id, actor, { kind: 'input', text: p.text }),
  // team mode: the team's one scheduler answers, on whichever daemon leads it
  'schedules.list': async (_p, { ctx, actor }) => ((await ctx.team?.atScheduler('schedules.list', {}, actor)) as { schedules: ScheduleJson[] } | undefined) ?? { schedules: ctx.engine.schedules.list() },
  'schedules.pause': async (p, { ctx, actor }) => ((await ctx.team?.atScheduler('schedules.pause', p, actor)) as ScheduleJson | undefined) ?? ctx.engine.schedules.setPaused(ctx.engine.schedules.idOf(p.workflow), true, actor),
  'schedules.resume': async (p, { ctx, actor }) => ((await ctx.team?.atScheduler('schedules.resume', p, actor)) as ScheduleJson | undefined) ?? ctx.engine.schedules.setPaused(ctx.engine.schedules.idOf(p.workflow), false, actor),
};

/**
 * A `--workflow` filter as people type it (command verb, id or name, like `start`) to the id runs
 * carry; an unknown word is a not_found error with the nearest names, never an empty list.
 */
export function workflowFilter(ctx: DaemonContext, word: string | undefined): string | undefined {
  if (word === undefined) return undefined;
  return resolveWorkflowFilter(ctx.workflows.current(), word, (id) => ctx.engine.hasRunsOf(id));
}

