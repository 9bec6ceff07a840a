import { channelNames } from '../../config/load.js';
import { WireError, type workflowsMethods } from '../../protocol/index.js';
import { describeWorkflows } from '../../workflows/describe.js';
import { validateWorkflowFile, validateWorkflowText } from '../../workflows/registry.js';
import type { HandlersFor } from './types.js';

export const workflowsHandlers: HandlersFor<keyof typeof workflowsMethods> = {
  'workflows.list'(_p, { ctx }) {
    return describeWorkflows(ctx.workflows.current());
  },

  'workflows.validate'(p, { ctx }) {
    const channels = channelNames(ctx.config);
    const r = p.file !== undefined ? validateWorkflowFile(p.file, channels) : validateWorkflowText(p.text ?? '', p.name ?? '<text>', channels);
    if (p.file !== undefined && r.problems.length === 1 && r.problems[0].message === 'no such file') throw new WireError('not_found', `${p.file}: no such file`);
    return { ok: r.problems.length === 0, id: r.workflow?.id ?? r.id ?? null, problems: r.problems, warnings: r.warnings ?? [] };
  },

  async 'workflows.reload'(_p, { ctx, actor }) {
    const set = ctx.workflows.reload();
    await ctx.store.commit([], { actor, action: 'workflows.reload', target: `workflows:${set.workflows.size}` });
    return { workflows: set.workflows.size, problems: set.problems };
  },
};
