import { BaseCommand } from '../../cli/base-command.js';
import { PACKAGE_VERSION } from '../../protocol/version.js';
import { formatDuration } from '../../ui/format.js';
import { discordLine, slackLine } from '../../ui/runs.js';
import type { TeamStatus } from '../../protocol/methods/daemon.js';

export default class DaemonStatusCommand extends BaseCommand {
  static override description = 'Show the daemon: pid, uptime, version, socket, data dir and runs by status; in team mode, the database (password masked), this daemon\'s executor id and the live members. Does not start it.';

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
        ...(s.team ? teamLines(s.team) : [`mode:     solo (LevelDB)`]),
        `runs:     ${counts}`,
        ...(s.workers ? [`workers:  ${s.workers.live} thread(s), ${s.workers.idle} idle; ${s.workers.started} started, ${s.workers.reused} activations handed to a running one`] : []),
        ...(s.slack ? [`slack:    ${slackLine(s.slack).replace(/^slack: /, '')}`] : []),
        ...(s.discord ? [`discord:  ${discordLine(s.discord).replace(/^discord: /, '')}`] : []),
      ].join('\n');
    });
  }
}

function teamLines(t: TeamStatus): string[] {
  const live = t.members.filter((m) => m.state === 'live');
  const leaders = Object.entries(t.leaders).map(([name, who]) => `${name} ${who === t.executor ? 'here' : (who ?? 'nobody yet')}`).join(', ');
  return [
    `mode:     team mode, database ${t.database}`,
    ...(t.database_error ? [`database: unreachable since ${t.database_error.since} (${t.database_error.reason}); reconnecting, what is shown is what was last seen`] : []),
    `executor: ${t.executor} (hosting ${t.hosting} run(s))`,
    `members:  ${live.length} live`,
    ...live.map((m) => `  ${m.self ? '*' : '-'} ${m.executor}  ${m.user}@${m.host} pid ${m.pid ?? '?'}  ${m.version}${m.self ? '  (this daemon)' : ''}`),
    ...t.members.filter((m) => m.state !== 'live').map((m) => `  x ${m.executor}  ${m.user}@${m.host}  ${m.state}${m.last_seen ? ` (last seen ${m.last_seen})` : ''}`),
    `leaders:  ${leaders || 'none'}`,
    ...t.other_versions.map((o) => `waiting:  ${o.count} run(s) hosted by version ${o.version}: start a daemon of that version (or migrate) to resume them`),
  ];
}
