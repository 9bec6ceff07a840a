import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../../src/daemon/main.js';
import { tempHome, type TempHome } from '../support/home.js';

// A run's memory summary is part of its own terminal batch: once its end is durable (what the bus
// says), the summary is in the store too. Written in a later commit, a crash in between left a
// finished run that recall and `ask` never heard of; here the store is read at the very moment the
// end is published, before any later commit could have gone out.
describe('memory: the summary of a run is durable with its end', () => {
  let h: TempHome | null = null;
  let d: RunningDaemon | null = null;
  afterEach(async () => {
    await d?.stop();
    await h?.cleanup();
    d = null;
    h = null;
  });

  it('is in the store when the run is published as ended', async () => {
    h = tempHome('opmd-');
    mkdirSync(join(h.home, 'workflows'), { recursive: true });
    writeFileSync(join(h.home, 'workflows', 'nap.yaml'), 'id: nap\nnotifications: []\nsteps:\n  - id: a\n    wait: 10ms\n');
    const o = await startDaemon(h.env);
    if (o.kind !== 'started') throw new Error('a daemon is already running in this home');
    d = o.daemon;
    const ctx = d.ctx;
    const seen = new Promise<unknown>((resolve) => {
      const off = ctx.bus.subscribe('runs', undefined, (_e, payload) => {
        const data = payload as { type?: string; run_id?: string };
        if (data.type !== 'run.succeeded') return;
        off();
        // read now, before anything queued after the run's end can be written
        resolve(ctx.store.get('memory', `sum:${data.run_id}`));
      });
    });
    const run = await ctx.engine.startRun({ workflow: ctx.workflows.current().workflows.get('nap')!, params: {}, trigger: 'cli', actor: 'cli:test' });
    const summary = (await seen) as { id: string; text: string } | undefined;
    expect(summary?.id).toBe(run.id);
    expect(summary?.text).toContain('nap');
  });
});
