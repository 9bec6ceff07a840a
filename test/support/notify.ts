import { expect } from 'vitest';
import type { Notification } from '../../src/protocol/index.js';
import { cli, type TempHome } from './home.js';
import { waitOnDaemon } from './runs.js';

/** `opstream inbox --json [--run RUN]` through the real CLI. */
export async function inbox(h: TempHome, run?: string): Promise<Notification[]> {
  const r = await cli(['inbox', '--json', ...(run ? ['--run', run] : [])], h.env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Notification[];
}

/** Waits until the run's notifications in the inbox satisfy `pred` (asked again on each change). */
export function waitDelivery(h: TempHome, run: string, pred: (items: Notification[]) => boolean, what: string, timeoutMs = 30_000): Promise<Notification[]> {
  return waitOnDaemon(
    h,
    [['notifications', { run_id: run }], ['runs', { run_id: run }]],
    async () => {
      const items = await inbox(h, run);
      return pred(items) ? items : null;
    },
    what,
    timeoutMs,
  );
}
