import type { storeMethods } from '../../protocol/methods/store.js';
import type { HandlersFor } from './types.js';

export const storeHandlers: HandlersFor<keyof typeof storeMethods> = {
  // a dry run changes nothing and is not audited; a real one is one audit entry by the caller
  'store.gc': (p, { ctx, actor }) => ctx.retention.sweep({ dryRun: p.dry_run, actor }),
};
