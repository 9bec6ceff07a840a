import { Flags } from '../../cli/oclif.js';
import { BaseCommand } from '../../cli/base-command.js';
import { DaemonClient } from '../../client/client.js';
import { LocalError } from '../../client/errors.js';
import { spawnDaemon, waitForSocket } from '../../client/spawn-daemon.js';
import { resolvePaths } from '../../config/paths.js';

export default class DaemonStart extends BaseCommand {
  static override description = 'Start the per-user daemon in the background (it keeps running after the terminal closes).';
  static override flags = {
    foreground: Flags.boolean({ description: 'Run in this process instead (logs still go to the log file); stop with Ctrl-C.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DaemonStart);
    const paths = resolvePaths();
    if (flags.foreground) {
      const { startDaemon } = await import('../../daemon/main.js');
      process.umask(0o077); // as the detached daemon does (src/daemon/entry.ts)
      const out = await startDaemon(process.env);
      if (out.kind === 'already-running') return this.already(out.pid);
      this.notices(out.notices);
      for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void out.daemon.stop(`signal ${sig}`));
      this.emit({ started: true, pid: process.pid, socket: paths.socket }, () => `daemon running in the foreground (pid ${process.pid}); Ctrl-C stops it`);
      await out.daemon.stopped;
      return;
    }
    const running = await DaemonClient.connect({ autoStart: false, allowMismatch: true }).catch(() => null);
    if (running) {
      running.close();
      return this.already(running.hello.pid);
    }
    const out = await spawnDaemon(paths, process.env);
    if (out.kind === 'already') {
      await waitForSocket(paths.socket, 20_000);
      return this.already(out.pid);
    }
    this.notices(out.notices);
    this.emit({ started: true, pid: out.pid, socket: paths.socket, log_file: paths.logFile }, () => `daemon started (pid ${out.pid}, socket ${paths.socket})`);
  }

  /** Permissions the daemon tightened as it started: one line each on stderr. */
  private notices(lines: string[]): void {
    for (const line of lines) process.stderr.write(`opstream: ${line}\n`);
  }

  private already(pid: number | null): void {
    if (pid === null) throw new LocalError('another daemon holds the store but wrote no pid file');
    this.emit({ started: false, already_running: true, pid }, () => `daemon already running (pid ${pid})`);
  }
}
