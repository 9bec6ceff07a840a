import { Args, Flags } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import type { DaemonClient } from '../client/client.js';
import { followAcrossRestarts, reconnectTimeoutMs } from '../client/follow.js';
import type { RunEventJson } from '../protocol/index.js';
import type { Notification } from '../protocol/index.js';
import { colorEnabled, paint } from '../ui/color.js';
import { notificationLine } from '../ui/notifications.js';
import { eventText, TERMINAL_RUN } from '../ui/runs.js';

export default class Logs extends BaseCommand {
  static override description = "Show a run's events, one line each (time, step, what happened, key figures), with its notifications; --follow keeps streaming until the run ends. --json prints the raw events.";
  static override examples = ['<%= config.bin %> logs r_8f3k2m', '<%= config.bin %> logs r_8f3k2m --follow', '<%= config.bin %> logs r_8f3k2m --json'];
  static override args = { id: Args.string({ description: 'run id', required: true }) };
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'Stream new events until the run ends; across a daemon restart it reconnects and goes on where it was.' }),
    'reconnect-timeout': Flags.string({ description: 'With --follow: how long to wait for a daemon that went away before giving up (exit 1). Default 30s, or $OPSTREAM_RECONNECT_TIMEOUT.', dependsOn: ['follow'] }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Logs);
    const timeoutMs = reconnectTimeoutMs(flags['reconnect-timeout']);
    const client = await this.client();
    const p = paint(colorEnabled(process.stdout));
    // a terminal gets lines cut at its edge; a pipe or file gets them whole
    const width = process.stdout.isTTY ? process.stdout.columns || 0 : 0;
    const ev = (e: RunEventJson): string => eventText(e, { paint: p, width });
    const note = (n: Notification): string => notificationLine(n, { paint: p });
    if (!flags.follow) {
      const events: RunEventJson[] = [];
      let removedAt: string | undefined;
      for (let after = 0; ; ) {
        const page = await client.request('runs.events', { id: args.id, after, limit: 1000 });
        removedAt ??= page.events_removed_at;
        events.push(...page.events);
        if (page.events.length < 1000) break;
        after = page.events[page.events.length - 1].seq;
      }
      const { items } = await client.request('notifications.list', { run: args.id, limit: 1000 });
      // --json keeps the raw events; people get the notifications in time order among them
      this.emit(events, () => {
        const lines: [string, string][] = [...events.map((e): [string, string] => [e.at, ev(e)]), ...items.map((n): [string, string] => [n.at, note(n)])];
        const gone = removedAt ? `events removed by the retention.events rule on ${removedAt}; \`opstream status ${args.id}\` still shows the run's steps and outcome` : '';
        return [gone, ...lines.sort((a, b) => a[0].localeCompare(b[0])).map(([, l]) => l)].filter(Boolean).join('\n') || 'no events';
      });
      return;
    }
    // follow: NDJSON under --json, one line per event or notification
    const line = (kind: 'event' | 'notification', data: Record<string, unknown>): void => {
      if (this.jsonMode) process.stdout.write(`${JSON.stringify(kind === 'event' ? data : { notification: data })}\n`);
      else {
        // a loop's per-sample step events read as one line per check (the iteration's); others are skipped
        const text = kind === 'event' ? ev(data as RunEventJson) : note(data as Notification);
        if (text) process.stdout.write(`${text}\n`);
      }
    };
    // the cursors live across connections: after a daemon restart the stream goes on from them,
    // with no event or notification shown twice and none skipped
    let last = 0;
    const shown = new Set<string>();
    const session = async (c: DaemonClient): Promise<'done' | 'lost'> => {
      let done!: () => void;
      const finished = new Promise<void>((r) => (done = r));
      const buffered: RunEventJson[] = [];
      let replaying = true;
      const onEvent = (e: RunEventJson & { status?: string }): void => {
        if (e.seq <= last) return;
        last = e.seq;
        line('event', e);
        if (TERMINAL_RUN.has(String(e.status)) && /^run\.(succeeded|failed|cancelled)$/.test(e.type)) done();
      };
      const onNote = (n: Notification): void => {
        if (shown.has(n.id)) return;
        shown.add(n.id);
        line('notification', n);
      };
      await c.subscribe('runs', { run_id: args.id }, (_ev, data) => {
        if (replaying) buffered.push(data as RunEventJson);
        else onEvent(data as RunEventJson);
      });
      await c.subscribe('notifications', { run_id: args.id }, (ev, data) => {
        if (ev === 'notification') onNote(data as Notification);
      });
      for (const n of (await c.request('notifications.list', { run: args.id, limit: 1000 })).items) onNote(n);
      let status = '';
      for (;;) {
        const page = await c.request('runs.events', { id: args.id, after: last, limit: 1000 });
        status = page.status;
        for (const e of page.events) onEvent(e);
        if (page.events.length < 1000) break;
      }
      replaying = false;
      for (const e of buffered.sort((a, b) => a.seq - b.seq)) onEvent(e);
      if (TERMINAL_RUN.has(status)) return 'done';
      return Promise.race([finished.then(() => 'done' as const), c.closed.then(() => 'lost' as const)]);
    };
    await followAcrossRestarts(
      { first: client, reconnectTimeoutMs: timeoutMs, notice: (t) => process.stderr.write(`${t}\n`), again: `opstream logs ${args.id} --follow` },
      session,
    );
  }
}
