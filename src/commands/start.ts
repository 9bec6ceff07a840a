import { Args, Flags } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import type { Notification, RunJson } from '../protocol/index.js';
import { notificationLine } from '../ui/notifications.js';
import { runText, TERMINAL_RUN } from '../ui/runs.js';

export default class Start extends BaseCommand {
  static override description = 'Start a workflow run: WORKFLOW is an id or a command verb, followed by its usage words and key=value params. Prints the run id.';
  static override examples = ['<%= config.bin %> start application_profiling service=api duration=2h', '<%= config.bin %> start profile api for 2h --wait'];
  static override strict = false;
  static override args = { workflow: Args.string({ description: 'workflow id or command verb', required: true }) };
  static override flags = { wait: Flags.boolean({ description: 'Wait until the run ends; exit 1 unless it succeeded.' }) };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Start);
    const [workflow, ...args] = argv as string[];
    const client = await this.client();
    let run: RunJson = await client.request('runs.start', { workflow, args });
    if (flags.wait) {
      // notifications as they arrive go to stderr: stdout stays the run (text, or JSON under --json)
      const shown = new Set<string>();
      await client.subscribe('notifications', { run_id: run.id }, (ev, data) => {
        const n = data as Notification;
        if (ev !== 'notification' || shown.has(n.id)) return;
        shown.add(n.id);
        if (!this.jsonMode) process.stderr.write(`${notificationLine(n)}\n`);
      });
      const ended = new Promise<void>((resolve) => {
        void client.subscribe('runs', { run_id: run.id }, (_e, data) => {
          if (TERMINAL_RUN.has(String((data as { status?: string }).status))) resolve();
        });
      });
      // subscribed first, then read: a run that ended meanwhile is seen either way
      const now = await client.request('runs.get', { id: run.id });
      if (!TERMINAL_RUN.has(now.status)) await ended;
      run = await client.request('runs.get', { id: run.id });
      this.emit(run, () => runText(run));
      if (run.status !== 'succeeded') process.exitCode = 1;
      return;
    }
    this.emit(run, () => run.id);
  }
}
