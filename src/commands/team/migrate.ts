import { Flags } from '../../cli/oclif.js';
import { BaseCommand } from '../../cli/base-command.js';
import { LocalError } from '../../client/errors.js';
import { loadConfig } from '../../config/load.js';
import { resolvePaths } from '../../config/paths.js';

export default class TeamMigrate extends BaseCommand {
  static override description =
    "Copy this home's solo store (runs with their events and steps, schedules, memory, the tool cache, audit) into the team database, so the team sees and continues them. This home's daemon must be stopped. Idempotent: run it again and it copies only what is not there yet; unfinished runs are taken over by a daemon of the team.";
  static override examples = ['<%= config.bin %> daemon stop && <%= config.bin %> team migrate', '<%= config.bin %> team migrate --database-url postgres://opstream:secret@db.internal:5432/opstream'];
  static override flags = {
    'database-url': Flags.string({ description: 'The team database (default: OPSTREAM_DATABASE_URL, or database_url in the config file).' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(TeamMigrate);
    const paths = resolvePaths();
    const config = loadConfig(paths, process.env);
    const url = flags['database-url'] ?? config.team?.url;
    if (!url) throw new LocalError('no team database: set OPSTREAM_DATABASE_URL or database_url in the config file, or pass --database-url');
    const { Store, StoreLockedError } = await import('../../daemon/store/store.js');
    const { PgStore, maskDatabaseUrl } = await import('../../daemon/store/pg-store.js');
    const { migrateToTeam } = await import('../../daemon/team/migrate.js');
    const { executorIdFor } = await import('../../daemon/team/membership.js');
    const source = await Store.open(paths.dbDir, { verify: true }).catch((e: unknown) => {
      if (e instanceof StoreLockedError) throw new LocalError(`the store at ${paths.dbDir} is in use by this home's daemon; stop it first with \`opstream daemon stop\``);
      throw e;
    });
    const executorId = executorIdFor(paths.dataDir);
    try {
      const target = await PgStore.open(url, { executorId }).catch((e: unknown) => {
        throw new LocalError((e as Error).message);
      });
      try {
        const r = await migrateToTeam(source, target, { executorId, homeId: executorId });
        const copied = Object.values(r.copied).reduce((a, b) => a + b, 0);
        const skipped = Object.entries(r.skipped).filter(([k]) => k !== 'feed').reduce((a, [, b]) => a + b, 0);
        this.emit({ database: maskDatabaseUrl(url), ...r }, () =>
          [
            `migrated ${paths.dbDir} into ${maskDatabaseUrl(url)}`,
            `copied:   ${copied} record(s): ${Object.entries(r.copied).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'nothing new'}`,
            `kept:     ${skipped} record(s) already in the team database (copied before, or the team's own)`,
            r.activeRuns.length ? `runs:     ${r.activeRuns.length} unfinished run(s) handed to the team; a running daemon of the team takes them over within seconds` : 'runs:     no unfinished run to hand over',
          ].join('\n'),
        );
      } finally {
        await target.close();
      }
    } finally {
      await source.close();
    }
  }
}
