import { Args, Flags } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import type { DaemonClient } from '../client/client.js';
import { LocalError } from '../client/errors.js';
import type { Notification, RunJson } from '../protocol/index.js';
import { colorEnabled, paint, statusPaint, type Paint } from '../ui/color.js';
import { notificationLine } from '../ui/notifications.js';
import { answerHint, progressNow, progressText, runText, TERMINAL_RUN } from '../ui/runs.js';
import { StatusLine } from '../ui/spinner.js';

/** `start --wait` exit codes (also in the README): the run's outcome, or that a person must act. */
export const WAIT_EXIT = { succeeded: 0, failed: 1, cancelled: 1, needs_person: 3, interrupted: 130 } as const;

export default class Start extends BaseCommand {
  static override description =
    'Start a workflow run: WORKFLOW is an id or a command verb, followed by its usage words and key=value params. Prints the run id. ' +
    'With --wait, shows the current step, progress and ETA until the run ends (exit 0 if it succeeded, 1 if it failed or was cancelled) ' +
    'or waits for a person (exit 3, with how to answer); Ctrl-C stops waiting and leaves the run running.';
  static override examples = ['<%= config.bin %> start application_profiling service=api duration=2h', '<%= config.bin %> start profile api for 2h --wait'];
  static override strict = false;
  static override args = { workflow: Args.string({ description: 'workflow id or command verb', required: true }) };
  static override flags = { wait: Flags.boolean({ description: 'Wait until the run ends or needs a person; exit with its outcome.' }) };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Start);
    const [workflow, ...args] = argv as string[];
    const client = await this.client();
    const run: RunJson = await client.request('runs.start', { workflow, args });
    if (!flags.wait) {
      this.emit(run, () => run.id);
      return;
    }
    await this.waitFor(client, run);
  }

  private async waitFor(client: DaemonClient, started: RunJson): Promise<void> {
    const id = started.id;
    const p = paint(colorEnabled(process.stderr));
    const line = new StatusLine(process.stderr, p);
    const human = !this.jsonMode;
    let run = started;
    let readAt = Date.now();
    const show = (): void => {
      if (!human) return;
      const key = `${run.status}:${run.current_step ?? ''}`;
      line.update(key, () => statusText(run, readAt, p, line.tty));
    };

    let finish!: (how: 'run' | 'interrupted' | 'closed') => void;
    const done = new Promise<'run' | 'interrupted' | 'closed'>((r) => (finish = r));
    const onSigint = (): void => finish('interrupted');
    process.once('SIGINT', onSigint);
    process.once('SIGTERM', onSigint);

    // notifications as they arrive go to stderr: stdout stays the run (text, or JSON under --json)
    const shown = new Set<string>();
    await client.subscribe('notifications', { run_id: id }, (ev, data) => {
      const n = data as Notification;
      if (ev !== 'notification' || shown.has(n.id) || !human) return;
      shown.add(n.id);
      line.stop();
      process.stderr.write(`${notificationLine(n, { paint: p })}\n`);
      show();
    });
    // events say that something changed; the run is read again (coalesced) for progress and ETA
    let reading: Promise<void> | null = null;
    let again = false;
    const refresh = (): void => {
      if (reading) {
        again = true;
        return;
      }
      reading = (async () => {
        do {
          again = false;
          run = await client.request('runs.get', { id });
          readAt = Date.now();
          if (settled(run)) finish('run');
          else show();
        } while (again);
      })()
        .catch(() => undefined)
        .finally(() => (reading = null));
    };
    await client.subscribe('runs', { run_id: id }, () => refresh());
    // subscribed first, then read: a run that ended meanwhile is seen either way
    refresh();
    void client.closed.then(() => finish('closed'));

    const how = await done;
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    line.stop();
    if (how === 'interrupted') {
      if (human) process.stderr.write(`stopped waiting; run ${id} keeps running in the background (opstream status ${id}, opstream logs ${id} --follow)\n`);
      else process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
      process.exitCode = WAIT_EXIT.interrupted;
      return;
    }
    if (how === 'closed') throw new LocalError(`lost the connection to the daemon while waiting; run ${id} is durable and resumes with it (opstream status ${id})`);
    this.emit(run, () => runText(run));
    if (TERMINAL_RUN.has(run.status)) {
      process.exitCode = WAIT_EXIT[run.status as 'succeeded' | 'failed' | 'cancelled'];
      return;
    }
    if (human) process.stderr.write(`${answerHint(run)}\n`);
    process.exitCode = WAIT_EXIT.needs_person;
  }
}

/** The run ended, or nothing happens until a person acts (an approval, input, or a pause). */
function settled(run: RunJson): boolean {
  if (TERMINAL_RUN.has(run.status)) return true;
  if (run.status === 'paused') return true;
  return run.status === 'waiting' && (run.waiting_for?.kind === 'approval' || run.waiting_for?.kind === 'input');
}

function statusText(run: RunJson, readAt: number, p: Paint, tty: boolean): string {
  const now = Date.now();
  const prog = progressText(tty ? progressNow(run.progress, readAt, now) : run.progress, now);
  const step = run.current_step ? ` ${p.bold(run.current_step)}` : '';
  const pr = prog !== '-' ? `  ${prog}` : '';
  return `${run.id} ${statusPaint(p, run.status)(run.status)}${step}${pr}`;
}
