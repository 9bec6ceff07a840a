import { BaseCommand } from '../../cli/base-command.js';
import { LocalError } from '../../client/errors.js';
import { resolvePaths } from '../../config/paths.js';

export default class DaemonRepair extends BaseCommand {
  static override description =
    "Repair a damaged store (the daemon must be stopped): LevelDB's repair keeps every record that passes its checksum, then the run indexes are rebuilt from the runs that survived. Reports what was recovered and what was lost; a copy of the files as they were is kept beside the store.";
  static override examples = ['<%= config.bin %> daemon stop && <%= config.bin %> daemon repair'];

  async run(): Promise<void> {
    await this.parse(DaemonRepair);
    const { repairStore, MaintenanceError } = await import('../../daemon/store/maintenance.js');
    const r = await repairStore(resolvePaths()).catch((e: unknown) => {
      throw e instanceof MaintenanceError ? new LocalError(e.message) : e;
    });
    this.emit(r, () =>
      [
        `repaired ${r.store}${r.damage ? ` (found: ${r.damage})` : ' (no checksum damage found)'}`,
        `recovered: ${r.runs.total} run${r.runs.total === 1 ? '' : 's'} (${r.runs.active} active, ${r.runs.finished} finished)${r.reindexed.length ? `; ${r.reindexed.length} re-indexed: ${r.reindexed.join(', ')}` : ''}`,
        r.lost.length ? `lost: ${r.lost.length} run${r.lost.length === 1 ? '' : 's'} whose record did not survive: ${r.lost.join(', ')}${r.lost_with_events ? ` (${r.lost_with_events} with events kept)` : ''}` : 'lost: no runs the indexes named',
        ...(r.events_lost.length ? [`events lost: ${r.events_lost.map((e) => `${e.run} (${e.missing})`).join(', ')}`] : []),
        ...(r.salvaged_entries ? [`salvaged ${r.salvaged_entries} entries from the intact blocks of damaged tables`] : []),
        ...(r.unreadable_entries ? [`removed ${r.unreadable_entries} entries that could not be decoded`] : []),
        ...(r.timers_restored ? [`put back ${r.timers_restored} timer(s) of runs that wait for one`] : []),
        ...(r.orphan_step_rows ? [`removed ${r.orphan_step_rows} step row(s) of runs that did not survive`] : []),
        `the files as they were: ${r.kept_copy}`,
      ].join('\n'),
    );
  }
}
