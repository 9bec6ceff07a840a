import { Args } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import { formatDuration } from '../ui/format.js';
import { discordLine, runsTable, runText, slackLine } from '../ui/runs.js';

export default class Status extends BaseCommand {
  static override description = 'Show one run, or without ID the daemon and its active runs.';
  static override args = { id: Args.string({ description: 'run id' }) };

  async run(): Promise<void> {
    const { args } = await this.parse(Status);
    const client = await this.client();
    if (args.id) {
      const run = await client.request('runs.get', { id: args.id });
      this.emit(run, () => runText(run));
      return;
    }
    const s = await client.request('daemon.status', {});
    // the table shows one line per run: its steps are fetched only for --json, which prints them
    const { runs } = await client.request('runs.list', { all: false, limit: 200, steps: this.jsonMode });
    this.emit({ daemon: s, runs }, () => {
      const active = (s.runs.queued ?? 0) + (s.runs.running ?? 0) + (s.runs.waiting ?? 0) + (s.runs.paused ?? 0);
      const head = `daemon running (pid ${s.pid}, up ${formatDuration(s.uptime_ms)}, v${s.version}); ${active} active run(s)${s.slack && s.slack.state !== 'off' ? `\n${slackLine(s.slack)}` : ''}${s.discord && s.discord.state !== 'off' ? `\n${discordLine(s.discord)}` : ''}`;
      return runs.length ? `${head}\n\n${runsTable(runs)}` : head;
    });
  }
}
