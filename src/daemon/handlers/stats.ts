import type { statsMethods } from '../../protocol/methods/stats.js';
import { prometheusText } from '../stats/prometheus.js';
import type { HandlersFor } from './types.js';

export const statsHandlers: HandlersFor<keyof typeof statsMethods> = {
  'stats.get': (p, { ctx }) => ctx.stats.get(p),
  'stats.prometheus': (_p, { ctx }) => prometheusText(ctx),
};
