import { expect } from 'vitest';
import type { EventTopic } from '../../src/protocol/methods/daemon.js';
import type { RunJson } from '../../src/protocol/methods/runs.js';
import { DaemonClient } from '../../src/client/client.js';
import { cli, type TempHome } from './home.js';

/** `opstream start ...` through the real CLI; returns the run id. */
export async function start(h: TempHome, args: string[]): Promise<string> {
  const r = await cli(['start', ...args, '--json'], h.env, { timeoutMs: 60_000 });
  expect(r.stderr, r.stderr).toBe('');
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as RunJson).id;
}

export async function getRun(h: TempHome, id: string): Promise<RunJson> {
  const r = await cli(['status', id, '--json'], h.env, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`status ${id} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as RunJson;
}

/**
 * Waits until `check` (which asks through the CLI) returns a value, asking again when the daemon
 * says something changed (subscriptions on its socket to `subs`), and at least once a second for
 * what changes with time alone. A CLI spawned every few ms kept a core busy per waiting test and
 * slowed the daemons under test. Across a daemon restart (the subscriptions end) it asks every
 * 100 ms until it can subscribe again. `check` gets the subscribed client (null while there is
 * none) to look cheaply before it asks through the CLI.
 */
export async function waitOnDaemon<T>(h: TempHome, subs: [EventTopic, Record<string, string> | undefined][], check: (client: DaemonClient | null) => Promise<T | null>, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  // changed: the daemon said something changed since the last check; lost: the subscriptions ended
  const w = { client: null as DaemonClient | null, changed: true, lost: false, lastCheck: 0, lastConnect: 0 };
  const connect = async (): Promise<void> => {
    w.lastConnect = Date.now();
    try {
      const c = await DaemonClient.connect({ env: h.env, autoStart: false, client: 'test' });
      try {
        for (const [topic, filter] of subs) await c.subscribe(topic, filter, () => (w.changed = true));
      } catch (e) {
        c.close();
        throw e;
      }
      w.client = c;
      w.lost = false;
      void c.closed.then(() => (w.lost = true));
      // what happened before the subscriptions started is seen by the next check
      w.changed = true;
    } catch {
      w.client = null;
    }
  };
  try {
    await connect();
    for (;;) {
      if (w.client && w.lost) {
        w.client.close();
        w.client = null;
      }
      if (!w.client && Date.now() - w.lastConnect > 200) await connect();
      if (w.changed || Date.now() - w.lastCheck > (w.client ? 1000 : 100)) {
        w.changed = false;
        w.lastCheck = Date.now();
        const v = await check(w.client);
        if (v !== null && v !== undefined && (v as unknown) !== false) return v;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    w.client?.close();
  }
}

/**
 * Whether the run, read over the socket (`runs.get`, what `status ID --json` prints), is worth
 * asking the CLI about: `ok` holds, or it ended. A run that moves through many steps changed
 * under a waiting test many times; a CLI for each change kept a core busy. When the socket cannot
 * say (no client, the daemon restarting), the CLI is asked.
 */
export async function worthAsking<R>(client: DaemonClient | null, id: string, ok: (r: R) => boolean): Promise<boolean> {
  if (!client) return true;
  try {
    const r = await client.request('runs.get', { id });
    return ok(r as R) || ['succeeded', 'failed', 'cancelled'].includes(r.status);
  } catch {
    return true;
  }
}

/**
 * Waits until `ok` holds for `opstream status ID --json` (asked again when the run changes; the
 * value returned is always the CLI's).
 */
export function waitRun(h: TempHome, id: string, ok: (r: RunJson) => boolean, what: string, timeoutMs = 90_000): Promise<RunJson> {
  return waitOnDaemon(
    h,
    [['runs', { run_id: id }]],
    async (client) => {
      if (!(await worthAsking(client, id, ok))) return null;
      const r = await getRun(h, id);
      if (!ok(r) && ['failed', 'cancelled'].includes(r.status)) throw new Error(`run ${id} ${r.status} while waiting for ${what}: ${r.error}`);
      return ok(r) ? r : null;
    },
    what,
    timeoutMs,
  );
}

export function stepOf(run: RunJson, id: string): RunJson['steps'][number] | undefined {
  return run.steps.find((s) => s.id === id);
}
