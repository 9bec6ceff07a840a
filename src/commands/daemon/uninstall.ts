import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { BaseCommand } from '../../cli/base-command.js';
import { serviceTarget } from '../../cli/service-unit.js';

export default class DaemonUninstall extends BaseCommand {
  static override description =
    'Remove the per-user service that `daemon install` wrote (systemd user unit or launchd agent): switch it off, then delete the file. ' +
    'The daemon itself, its runs and its data stay; stop it with `opstream daemon stop`.';

  async run(): Promise<void> {
    await this.parse(DaemonUninstall);
    const target = serviceTarget(process.env);
    if (!existsSync(target.file)) {
      this.emit({ removed: false, file: target.file }, () => `nothing to remove: ${target.file} does not exist`);
      return;
    }
    // switched off while its file is still there (systemd needs it to find the unit's links)
    const notes = target.disable.map(run).filter((n): n is string => n !== null);
    rmSync(target.file, { force: true });
    notes.push(...target.after.map(run).filter((n): n is string => n !== null));
    this.emit({ removed: true, file: target.file, warnings: notes }, () =>
      [`removed ${target.file}`, ...notes.map((n) => `note: ${n}`)].join('\n'),
    );
  }
}

/** Runs a service manager command; returns a note when it could not be done (none when it worked). */
function run(argv: string[]): string | null {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 15_000 });
  if (r.error) return `could not run \`${argv.join(' ')}\` (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}); run it yourself if the service is still on`;
  if (r.status !== 0) return `\`${argv.join(' ')}\` exited ${r.status}: ${(r.stderr || r.stdout).trim().split('\n')[0] || 'no message'}`;
  return null;
}
