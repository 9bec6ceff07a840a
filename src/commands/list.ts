import { Flags } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import type { RunJson } from '../protocol/index.js';
import { runsTable } from '../ui/runs.js';

/** Runs asked for per request while paging `--all`: one page is one small frame. */
const PAGE = 500;

export default class List extends BaseCommand {
  static override description = 'List active runs (queued, running, waiting, paused); --all lists every run, newest first, page by page as they arrive.';
  static override examples = ['<%= config.bin %> list', '<%= config.bin %> list --all --limit 50', '<%= config.bin %> list --all --workflow profile --json'];
  static override flags = {
    all: Flags.boolean({ description: 'Include finished runs (finished runs list without their steps; `status ID` has them).' }),
    workflow: Flags.string({ description: 'Only runs of this workflow: its command word (as for start), id or name.' }),
    limit: Flags.integer({ description: 'At most this many runs (newest first). Default: 200 active runs; with --all, every run.', min: 1 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(List);
    const client = await this.client();
    if (!flags.all) {
      const limit = Math.min(flags.limit ?? 200, 10_000);
      // the table shows one line per run: steps only for --json, which prints them
      const r = await client.request('runs.list', { all: false, workflow: flags.workflow, limit, steps: this.jsonMode });
      this.emit(r.runs, () => runsTable(r.runs) + (r.total > r.runs.length ? `\n(${r.total - r.runs.length} more; use --limit)` : ''));
      return;
    }
    // every run, a page at a time, printed as each page arrives: memory and the first line do not
    // wait for the whole history. --json is still one document (`[run...]`), written incrementally.
    const limit = flags.limit ?? Number.POSITIVE_INFINITY;
    let printed = 0;
    let cursor: string | undefined;
    const out = process.stdout;
    for (;;) {
      const r = await client.request('runs.list', { all: true, workflow: flags.workflow, limit: Math.min(PAGE, limit - printed), cursor });
      this.page(r.runs, printed);
      printed += r.runs.length;
      if (!r.next || printed >= limit) break;
      cursor = r.next;
    }
    if (this.jsonMode) out.write(printed === 0 ? '[]\n' : '\n]\n');
    else if (printed === 0) out.write('no runs\n');
  }

  private page(runs: RunJson[], before: number): void {
    if (runs.length === 0) return;
    const out = process.stdout;
    if (this.jsonMode) {
      const items = runs.map((r) => JSON.stringify(r, null, 2).replace(/^/gm, '  '));
      out.write(`${before === 0 ? '[\n' : ',\n'}${items.join(',\n')}`);
      return;
    }
    // the header once; columns are sized per page
    const text = runsTable(runs);
    out.write(`${before === 0 ? text : text.slice(text.indexOf('\n') + 1)}\n`);
  }
}
