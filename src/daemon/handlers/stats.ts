import type { statsMethods } from '../../protocol/methods/stats.js';
import { prometheusText } from '../stats/prometheus.js';
import { workflowFilter } from './runs.js';
import type { HandlersFor } from './types.js';

export const statsHandlers: HandlersFor<keyof typeof statsMethods> = {
  'stats.get': (p, { ctx }) => ctx.stats.get({ ...p, workflow: workflowFilter(ctx, p.workflow) }),
  'stats.prometheus': (_p, { ctx }) => prometheusText(ctx),
};
