import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/client/client.js';
import { startRun, waitStatus } from '../support/engine-fixtures.js';
import { cli, tempHome, type TempHome } from '../support/home.js';

// `opstream status` and `opstream list` print one line per run, so they ask the daemon for its
// runs without their steps (`runs.list` steps: false); what they show must not change: the same
// runs, the same progress and current step as the full projection. --json still has the steps.
describe('runs.list without steps, for the one-line-per-run views', () => {
  let h: TempHome;
  let client: DaemonClient;
  let id: string;

  beforeAll(async () => {
    h = tempHome('oplb-');
    mkdirSync(join(h.home, 'workflows'), { recursive: true });
    writeFileSync(join(h.home, 'workflows', 'three.yaml'), 'id: three\nnotifications: []\nsteps:\n  - id: a\n    wait: 1ms\n  - id: b\n    wait: 1ms\n  - id: nap\n    wait: 2h\n');
    id = await startRun(h, ['three']);
    await waitStatus(h, id, (r) => r.status === 'waiting', 'the run to wait at its third step');
    client = await DaemonClient.connect({ env: h.env, client: 'test' });
  });

  afterAll(async () => {
    client?.close();
    await h.cleanup();
  });

  it('gives the same runs, progress and step as the full list, with no steps', async () => {
    const full = await client.request('runs.list', { all: false, limit: 200 });
    const brief = await client.request('runs.list', { all: false, limit: 200, steps: false });
    expect(full.runs.map((r) => r.id)).toEqual([id]);
    expect(full.runs[0].steps.map((s) => s.id)).toEqual(['a', 'b', 'nap']);
    expect(brief.runs[0].steps).toEqual([]);
    // the same projection but for the steps (a timer's fraction and eta move with the clock)
    const same = (r: (typeof full.runs)[number]): unknown => ({ ...r, steps: undefined, progress: { ...r.progress, fraction: undefined, eta: undefined } });
    expect(same(brief.runs[0])).toEqual(same(full.runs[0]));
    expect(brief.runs[0].progress).toMatchObject({ basis: 'timer', steps: { done: 2, total: 3 } });
    expect(brief.runs[0].progress.fraction).toBeCloseTo(full.runs[0].progress.fraction ?? 0, 3);
    expect(brief.total).toBe(full.total);
  });

  it('status and list print the run as before; --json keeps its steps', async () => {
    const status = await cli(['status'], h.env);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`${id}\\s+three\\s+waiting\\s+nap\\s+67%, eta in (1h59m|2h)\\b`));
    const list = await cli(['list'], h.env);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+three\\s+waiting\\s+nap\\s+67%, eta in (1h59m|2h)\\b`));
    const json = JSON.parse((await cli(['list', '--json'], h.env)).stdout);
    expect(json[0].steps.map((s: { id: string }) => s.id)).toEqual(['a', 'b', 'nap']);
    const sjson = JSON.parse((await cli(['status', '--json'], h.env)).stdout);
    expect(sjson.runs[0].steps).toHaveLength(3);
  });
});
