import { Flags } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import { localTime, relativeTime, table } from '../ui/format.js';

export default class Audit extends BaseCommand {
  static override description =
    'Show the audit log: who (actor) did what (action) to what (target), and when. Every control of a run, answer, schedule change, memory write and policy decision is there.';
  static override examples = ['<%= config.bin %> audit', '<%= config.bin %> audit --since 1d --actor alice', '<%= config.bin %> audit --run r_8f3k2m --json'];
  static override flags = {
    since: Flags.string({ description: 'Only entries from this window back from now (e.g. 1h, 1d).' }),
    actor: Flags.string({ description: 'Only this actor: a whole one (cli:alice), a kind (slack, policy) or a user (alice).' }),
    run: Flags.string({ description: 'Only entries about this run.' }),
    limit: Flags.integer({ description: 'At most this many of the newest entries.', default: 50, min: 1, max: 1000 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Audit);
    const client = await this.client();
    const r = await client.request('audit.list', { since: flags.since, actor: flags.actor, run: flags.run, limit: flags.limit });
    // newest last, as a log reads
    const items = [...r.items].reverse();
    this.emit(items, () => {
      if (items.length === 0) return 'no audit entries match';
      const now = Date.now();
      const t = table(['TIME', 'WHEN', 'ACTOR', 'ACTION', 'TARGET'], items.map((e) => [localTime(e.at, now, { seconds: true }), relativeTime(e.at, now), e.actor, e.action, e.target]));
      return r.more ? `(older entries left out; use --limit or --since)\n${t}` : t;
    });
  }
}
