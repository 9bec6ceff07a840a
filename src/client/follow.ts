import { formatDuration, parseDuration } from '../config/duration.js';
import { DaemonClient } from './client.js';
import { LocalError } from './errors.js';

/** How long a `--follow` command waits for a daemon that went away to answer again, unless told. */
export const DEFAULT_RECONNECT_MS = 30_000;
export const RECONNECT_ENV = 'OPSTREAM_RECONNECT_TIMEOUT';

/**
 * The reconnect timeout from the `--reconnect-timeout` flag, else $OPSTREAM_RECONNECT_TIMEOUT, else
 * 30 s. Text as everywhere else in opstream ("30s", "2m", a bare number is seconds).
 */
export function reconnectTimeoutMs(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): number {
  const [text, from] = flag !== undefined ? [flag, '--reconnect-timeout'] : env[RECONNECT_ENV] !== undefined && env[RECONNECT_ENV] !== '' ? [env[RECONNECT_ENV]!, RECONNECT_ENV] : [null, ''];
  if (text === null) return DEFAULT_RECONNECT_MS;
  const ms = parseDuration(text);
  if (ms === null) throw new LocalError(`${from} must be a duration such as 30s or 2m, not "${text}"`, { exitCode: 2 });
  return ms;
}

/**
 * One connection's share of a follow: subscribe, catch up from the caller's cursor, then resolve
 * 'done' when what is followed has ended, or 'lost' when the connection closed first.
 */
export type FollowSession = (client: DaemonClient) => Promise<'done' | 'lost'>;

export interface FollowOptions {
  env?: NodeJS.ProcessEnv;
  /** The first connection (the command's own, opened with auto-start). */
  first: DaemonClient;
  reconnectTimeoutMs: number;
  /** One short line for people (stderr): the stream went on after a daemon restart. */
  notice: (text: string) => void;
  /** How to start over by hand, for the give-up message (e.g. `opstream logs r_1 --follow`). */
  again: string;
}

/**
 * Runs `session` until it says 'done', across daemon restarts: when the daemon closes the
 * connection (stopped, crashed, restarted), reconnects without starting a daemon itself (a person
 * who stopped it meant it) and runs `session` again on the new connection. The session keeps its
 * own cursor, so nothing is shown twice or skipped. Gives up with a non-zero LocalError when no
 * daemon answers within the reconnect timeout.
 */
export async function followAcrossRestarts(o: FollowOptions, session: FollowSession): Promise<void> {
  let client = o.first;
  try {
    for (;;) {
      let closed = false;
      void client.closed.then(() => (closed = true));
      let how: 'done' | 'lost';
      try {
        how = await session(client);
      } catch (e) {
        // a request cut off by the daemon going away is a lost connection, not a failure
        if (!closed && !(e instanceof LocalError && e.opts.retryable)) throw e;
        how = 'lost';
      }
      if (how === 'done') return;
      if (client !== o.first) client.close();
      client = await reconnect(o);
      o.notice('daemon restarted; following again');
    }
  } finally {
    // the first connection is the command's own (closed with it)
    if (client !== o.first) client.close();
  }
}

async function reconnect(o: FollowOptions): Promise<DaemonClient> {
  const deadline = Date.now() + o.reconnectTimeoutMs;
  let delay = 50;
  let last = '';
  for (;;) {
    try {
      return await DaemonClient.connect({ env: o.env, autoStart: false });
    } catch (e) {
      if (!(e instanceof LocalError)) throw e;
      last = e.message;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new LocalError(
        `the daemon went away and did not come back within ${formatDuration(o.reconnectTimeoutMs)} (${last}); start it with \`opstream daemon start\` and run \`${o.again}\` again`,
        { exitCode: 1 },
      );
    }
    await new Promise((r) => setTimeout(r, Math.min(delay, left)));
    delay = Math.min(delay * 2, 500);
  }
}
