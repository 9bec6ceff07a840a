import { afterEach, describe, expect, it } from 'vitest';
import { runLoad } from '../../bench/load-run.js';
import { tempHome, type TempHome } from '../support/home.js';
import { startSlackLoopback, type SlackLoopback } from '../support/slack-loopback.js';
import { LOOPBACK_OPTS } from '../support/slack-daemon.js';

// The load scenario of bench/load.bench.js at CI size: a daemon in its own process with 500 runs
// waiting on timers and the Slack bridge connected to the loopback Slack; 20 clients on real socket
// connections start 200 runs in all. Every start is acknowledged and nothing is lost: every
// acknowledged run and every waiting run is in the store after the daemon stopped. No timings.
describe('load: 200 starts by 20 clients while 500 runs wait and Slack is connected', () => {
  let h: TempHome | null = null;
  let lb: SlackLoopback | null = null;
  afterEach(async () => {
    await h?.cleanup();
    await lb?.close();
    h = null;
    lb = null;
  });

  it('acknowledges every start and loses no run', async () => {
    lb = await startSlackLoopback(LOOPBACK_OPTS);
    h = tempHome('ops-ld-');
    const r = await runLoad({ home: h.home, env: h.env, slack: lb, waiting: 500, clients: 20, starts: 200 });
    expect(r.errors).toEqual([]);
    expect(r.slackState).toBe('connected');
    expect(r.waitingBefore).toBe(501); // the 500 copies and the run they were copied from
    expect(r.attempted).toBe(200);
    expect(r.acked).toBe(200);
    expect(r.ackMs).toHaveLength(200);
    expect(r.startedLost).toEqual([]);
    expect(r.waitingLost).toBe(0);
    expect(r.notWaiting).toEqual([]);
  }, 300_000);
});
