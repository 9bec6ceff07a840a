import { BaseCommand } from '../../cli/base-command.js';
import { PACKAGE_VERSION } from '../../protocol/version.js';
import { formatDuration } from '../../ui/format.js';
import { discordLine, slackLine } from '../../ui/runs.js';

export default class DaemonStatusCommand extends BaseCommand {
  static override description = 'Show the daemon: pid, uptime, version, socket, data dir and runs by status. Does not start it.';

  async run(): Promise<void> {
    await this.parse(DaemonStatusCommand);
    const client = await this.client({ autoStart: false, allowMismatch: true });
    const s = await client.request('daemon.status', {});
    this.emit(s, () => {
      const counts = Object.entries(s.runs).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
      return [
        `daemon:   running (pid ${s.pid})`,
        `uptime:   ${formatDuration(s.uptime_ms)}`,
        `version:  ${s.version} (protocol ${s.protocol})${s.version === PACKAGE_VERSION ? '' : `; this CLI is ${PACKAGE_VERSION}`}`,
        `socket:   ${s.socket}`,
        `data:     ${s.data_dir}`,
        `log:      ${s.log_file}`,
        `config:   ${s.config_file ?? '(none; embedded defaults)'}`,
        `runs:     ${counts}`,
        ...(s.workers ? [`workers:  ${s.workers.live} thread(s), ${s.workers.idle} idle; ${s.workers.started} started, ${s.workers.reused} activations handed to a running one`] : []),
        ...(s.slack ? [`slack:    ${slackLine(s.slack).replace(/^slack: /, '')}`] : []),
        ...(s.discord ? [`discord:  ${discordLine(s.discord).replace(/^discord: /, '')}`] : []),
      ].join('\n');
    });
  }
}
