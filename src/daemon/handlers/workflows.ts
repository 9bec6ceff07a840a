import { WireError, type workflowsMethods } from '../../protocol/index.js';
import { describeWorkflows } from '../../workflows/describe.js';
import { validateWorkflowFile, validateWorkflowText } from '../../workflows/registry.js';
import { daemonLoadChecks, liveToolCatalog, liveToolProblems } from '../workflows/catalog.js';
import type { HandlersFor } from './types.js';

export const workflowsHandlers: HandlersFor<keyof typeof workflowsMethods> = {
  'workflows.list'(_p, { ctx }) {
    const set = ctx.workflows.current();
    // tools of configured servers are checked against what the ready servers list now (no waiting);
    // servers not started yet are started for the next listing
    const problems = liveToolProblems(set, liveToolCatalog(ctx.config, ctx.tools.servers(), ctx.tools.pool.tools()));
    ctx.tools.warm();
    return describeWorkflows(set, problems);
  },

  async 'workflows.validate'(p, { ctx }) {
    // asked explicitly: servers still starting are waited for (bounded), so their tools are checked too
    const tools = await ctx.tools.list();
    const checks = { ...daemonLoadChecks(ctx.config), tools: liveToolCatalog(ctx.config, ctx.tools.servers(), tools) };
    const r = p.file !== undefined ? validateWorkflowFile(p.file, checks) : validateWorkflowText(p.text ?? '', p.name ?? '<text>', checks);
    if (p.file !== undefined && r.problems.length === 1 && r.problems[0].message === 'no such file') throw new WireError('not_found', `${p.file}: no such file`);
    return { ok: r.problems.length === 0, id: r.workflow?.id ?? r.id ?? null, problems: r.problems, warnings: r.warnings ?? [] };
  },

  async 'workflows.reload'(_p, { ctx, actor }) {
    const set = ctx.workflows.reload();
    await ctx.store.commit([], { actor, action: 'workflows.reload', target: `workflows:${set.workflows.size}` });
    return { workflows: set.workflows.size, problems: set.problems };
  },
};
