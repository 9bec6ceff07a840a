import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/client/client.js';
import { installWorkflows, HitCounter, kill9, startRun, waitStatus, writeEverythingConfig } from '../support/engine-fixtures.js';
import { cli, tempHome, waitFor, waitGone, type TempHome } from '../support/home.js';

// A real daemon (CLI auto-start), real Bree workers, a real MCP server (server-everything, whose
// gzip tool fetches a URL: each fetch is a side effect the HitCounter counts), and kill -9.
describe('engine durability under kill -9', () => {
  let h: TempHome;
  let hits: HitCounter;

  beforeEach(async () => {
    h = tempHome('ope-');
    hits = new HitCounter();
    await hits.start();
    writeEverythingConfig(h);
    installWorkflows(h, ['durable.yaml'], { PORT: String(hits.port) });
  });

  afterEach(async () => {
    await h.cleanup();
    await hits.stop();
  });

  it('resumes after kill -9 during a tool call and during a wait; completed steps ran once, the in-flight one at most twice', async () => {
    const id = await startRun(h, ['durable']);
    await waitFor(() => hits.count('/hold/held') >= 1, { what: 'the held tool call to be in flight', timeoutMs: 60_000 });
    await waitGone(kill9(h));
    hits.release();

    // any CLI call starts the daemon again; recovery re-runs the in-flight step with the same key
    const waiting = await waitStatus(h, id, (r) => r.status === 'waiting' && r.current_step === 'nap', 'the run to wait in nap');
    expect(waiting.waiting_for.kind).toBe('timer');
    await waitGone(kill9(h));

    const done = await waitStatus(h, id, (r) => r.status === 'succeeded', 'the run to succeed', 90_000);
    expect(hits.count('/first')).toBe(1);
    expect(hits.count('/hold/held')).toBeGreaterThanOrEqual(1);
    expect(hits.count('/hold/held')).toBeLessThanOrEqual(2);
    expect(hits.count('/last')).toBe(1);
    const steps = Object.fromEntries(done.steps.map((s: { id: string }) => [s.id, s]));
    expect(steps.first.status).toBe('succeeded');
    expect(steps.held.attempts).toBe(1); // a re-run keeps its attempt, so its idempotency key is stable
    expect(steps.nap.output.woke_at).toBeTypeOf('string');

    const logs = await cli(['logs', id, '--json'], h.env);
    const types: string[] = JSON.parse(logs.stdout).map((e: { type: string }) => e.type);
    expect(types.filter((t) => t === 'run.recovered').length).toBeGreaterThanOrEqual(1);
    const keys = JSON.parse(logs.stdout).filter((e: { type: string; step?: string }) => e.type === 'step.started' && e.step === 'held').map((e: { key: string }) => e.key);
    expect(new Set(keys).size).toBe(1);
  });

  it('resumes after kill -9 right between two steps', async () => {
    hits.release();
    // watch the run's events and kill the daemon the moment the first step is durable
    const first = await DaemonClient.connect({ env: h.env, client: 'test' });
    let id = '';
    let killed = false;
    let pid = 0;
    const seen = new Promise<void>((resolve) => {
      void first.subscribe('runs', undefined, (event, data) => {
        const e = data as { step?: string; run_id: string };
        if (!killed && event === 'step.succeeded' && e.step === 'first') {
          killed = true;
          id = e.run_id;
          pid = kill9(h);
          resolve();
        }
      });
    });
    await first.request('runs.start', { workflow: 'durable', args: [] });
    await seen;
    first.close();
    await waitGone(pid);
    const done = await waitStatus(h, id, (r) => r.status === 'succeeded', 'the run to succeed', 90_000);
    expect(hits.count('/first')).toBe(1);
    expect(hits.count('/hold/held')).toBeLessThanOrEqual(2);
    expect(hits.count('/last')).toBe(1);
    expect(done.steps.map((s: { id: string }) => s.id)).toEqual(['first', 'held', 'nap', 'last']);
  });
});
