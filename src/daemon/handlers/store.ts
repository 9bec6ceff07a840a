import type { storeMethods } from '../../protocol/methods/store.js';
import { WireError } from '../../protocol/index.js';
import { backupStore, MaintenanceError } from '../store/maintenance.js';
import { Store } from '../store/store.js';
import type { HandlersFor } from './types.js';

export const storeHandlers: HandlersFor<keyof typeof storeMethods> = {
  // a dry run changes nothing and is not audited; a real one is one audit entry by the caller
  'store.gc': (p, { ctx, actor }) => ctx.retention.sweep({ dryRun: p.dry_run, actor }),
  async 'store.backup'(p, { ctx, actor }) {
    // the team's store is a PostgreSQL database, which PostgreSQL's own tools back up consistently
    if (!(ctx.store instanceof Store)) throw new WireError('invalid_state', `in team mode the store is the team database (${ctx.store.dir}): back it up with pg_dump`);
    try {
      const r = await backupStore(ctx.store, p.path);
      ctx.log.info({ actor, file: r.file, entries: r.entries }, 'store backed up');
      return r;
    } catch (e) {
      if (e instanceof MaintenanceError) throw new WireError('invalid_params', e.message);
      const err = e as NodeJS.ErrnoException;
      if (err.code) throw new WireError('invalid_state', `cannot write the backup at ${p.path}: ${err.code}`, { retryable: err.code === 'ENOSPC' });
      throw e;
    }
  },
};
