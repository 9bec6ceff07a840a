import { BaseCommand } from '../cli/base-command.js';
import { runsTable } from '../ui/runs.js';

export default class Dashboard extends BaseCommand {
  static override description =
    'A live terminal dashboard of runs: progress and ETA, steps, what each waits for, series, notifications and logs; answer, pause, resume and cancel from the keyboard (? shows the keys). ' +
    'When stdout is not a terminal it prints the active runs as a table (or JSON with --json) and exits.';
  static override examples = ['<%= config.bin %> dashboard', '<%= config.bin %> dashboard | cat'];

  async run(): Promise<void> {
    await this.parse(Dashboard);
    if (!process.stdout.isTTY || !process.stdin.isTTY || this.jsonMode) {
      const client = await this.client();
      const { runs } = await client.request('runs.list', { all: false, limit: 10_000 });
      this.emit(runs, () => runsTable(runs));
      return;
    }
    // A person at a terminal: Ink must draw frames, which it does not when it believes it runs in
    // CI (CI=true only writes a final frame). Set before Ink is loaded, below.
    for (const k of ['CI', 'CONTINUOUS_INTEGRATION']) delete process.env[k];
    // React's development build checks every render and keeps debug data: half the frame rate, twice the memory
    process.env.NODE_ENV ??= 'production';
    // Ink and React load here only: `opstream status` and every other command never pay for them.
    const { runDashboard } = await import('../ui/dashboard/index.js');
    await runDashboard({ env: process.env });
  }
}
