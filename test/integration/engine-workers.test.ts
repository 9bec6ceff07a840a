import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJson, startRun, waitStatus, type Run } from '../support/engine-fixtures.js';
import { cli, tempHome, waitFor, type TempHome } from '../support/home.js';

interface Workers {
  live: number;
  idle: number;
  started: number;
  reused: number;
  retired: number;
}

/** A home whose daemon runs at most ONE worker thread, with the workflows below. */
function home(env: Record<string, string>): TempHome {
  const h = tempHome('opw-');
  Object.assign(h.env, { OPSTREAM_ENGINE_FAULTS: '1', OPSTREAM_MAX_ACTIVATIONS: '1', ...env });
  const dir = join(h.home, 'workflows');
  mkdirSync(dir, { recursive: true });
  // each run's output comes from its own params: state left over from an earlier activation in
  // the same thread would show as a wrong value or a skipped step
  writeFileSync(
    join(dir, 'echo.yaml'),
    'id: echo\nparams:\n  x: { type: string }\nsteps:\n  - id: a\n    tool: engine_test.noop\n    with: { value: "a{{ params.x }}" }\n  - id: nap\n    wait: 100ms\n  - id: b\n    tool: engine_test.noop\n    with: { value: "b{{ params.x }}-{{ steps.a.output }}" }\n',
  );
  writeFileSync(join(dir, 'stuck.yaml'), 'id: stuck\nsteps:\n  - id: hang\n    tool: engine_test.hang\n');
  writeFileSync(join(dir, 'crashy.yaml'), 'id: crashy\nsteps:\n  - id: boom\n    tool: engine_test.crash\n    on_error: continue\n  - id: after\n    tool: engine_test.noop\n    with: { value: "after {{ steps.boom.status }}" }\n');
  return h;
}

async function workersOf(h: TempHome): Promise<Workers> {
  const r = await cli(['daemon', 'status', '--json'], h.env);
  if (r.code !== 0) throw new Error(`daemon status failed: ${r.stderr}`);
  return JSON.parse(r.stdout).workers;
}

/** An echo run (two activations: the wait ends the first) that must succeed with its own values. */
async function echoIn(h: TempHome, x: string): Promise<void> {
  const id = await startRun(h, ['echo', `x=${x}`]);
  const run = await waitStatus(h, id, (r) => r.status === 'succeeded' || r.status === 'failed', `echo ${x} to end`);
  expect(run.status).toBe('succeeded');
  const out = Object.fromEntries(run.steps.map((s: { id: string; output: unknown }) => [s.id, s.output]));
  expect(out).toMatchObject({ a: `a${x}`, b: `b${x}-a${x}` });
}

// One real daemon (CLI auto-start), real Bree worker threads. At most ONE worker thread at a time
// (OPSTREAM_MAX_ACTIVATIONS=1), and it never idles out during the test, so every activation after
// the first runs in the same thread unless one was killed: what `daemon status` counts shows it.
describe('engine: worker threads are reused across activations', () => {
  let h: TempHome;

  beforeAll(() => {
    h = home({ OPSTREAM_WORKER_IDLE_MS: '600000' });
  });

  afterAll(async () => {
    await h.cleanup();
  });

  const workers = (): Promise<Workers> => workersOf(h);
  const echo = (x: string): Promise<void> => echoIn(h, x);

  it('runs many activations of several runs in one thread, each with only its own state', async () => {
    await echo('1');
    const first = await workers();
    expect(first.started).toBe(1);
    await echo('2');
    await echo('3');
    const w = await workers();
    // three runs of two activations each (the wait ends the first), all in the first thread
    expect(w.started).toBe(1);
    expect(w.reused).toBeGreaterThanOrEqual(5);
    expect(w.live).toBe(1);
    expect(w.idle).toBe(1);
  });

  it('a cancelled activation ends without its worker: the thread goes on with the next run', async () => {
    const before = await workers();
    const id = await startRun(h, ['stuck']);
    await waitStatus(h, id, (r) => r.status === 'running' && r.steps.some((s: { id: string; status: string }) => s.id === 'hang' && s.status === 'running'), 'the hanging step');
    // the hanging run took the idle worker: no thread was started for it
    expect((await workers()).started).toBe(before.started);
    expect((await cli(['cancel', id], h.env)).code).toBe(0);
    expect((await runJson(h, id)).status).toBe('cancelled');

    await echo('4');
    const after = await workers();
    // the activation was asked to stop and unwound (its step awaited forever): the same thread ran the next run
    expect(after.started).toBe(before.started);
    expect(after.live).toBe(1);
    expect(after.reused).toBeGreaterThan(before.reused + 1);
  });

  it('a crash fails only the activation that crashed; the run and the next ones go on', async () => {
    const before = await workers();
    const id = await startRun(h, ['crashy']);
    const run = await waitStatus(h, id, (r) => r.status === 'succeeded' || r.status === 'failed', 'the crashy run to end');
    expect(run.status).toBe('succeeded');
    const steps = Object.fromEntries(run.steps.map((s: { id: string }) => [s.id, s]));
    expect(steps.boom.status).toBe('failed');
    expect(steps.boom.error).toMatch(/worker crashed/);
    expect(steps.after.output).toBe('after failed');

    await echo('5');
    await echo('6');
    const after = await workers();
    // the crash took its thread with it: one new thread, which then served the rest
    expect(after.started).toBe(before.started + 1);
    expect(after.live).toBe(1);
  });
});

// Several activations in ONE thread (OPSTREAM_WORKER_THREADS=1, up to 4 activations in it): a run
// that hangs, times out, is cancelled or crashes the thread must not take the others with it.
describe('engine: activations sharing a worker thread', () => {
  let h: TempHome;

  beforeAll(() => {
    h = home({ OPSTREAM_MAX_ACTIVATIONS: '4', OPSTREAM_WORKER_THREADS: '1', OPSTREAM_WORKER_IDLE_MS: '600000' });
    writeFileSync(join(h.home, 'workflows', 'slow.yaml'), 'id: slow\nsteps:\n  - id: hang\n    tool: engine_test.hang\n    timeout: 1s\n    on_error: continue\n  - id: after\n    tool: engine_test.noop\n    with: { value: "after {{ steps.hang.status }}" }\n');
  });

  afterAll(async () => {
    await h.cleanup();
  });

  const hanging = (r: Run): boolean => r.status === 'running' && r.steps.some((s: { id: string; status: string }) => s.id === 'hang' && s.status === 'running');

  it('runs go on beside a hanging one in the same thread; cancelling it leaves the thread to them', async () => {
    const stuck = await startRun(h, ['stuck']);
    await waitStatus(h, stuck, hanging, 'the hanging step');
    // these run while the hanging activation holds its place in the only thread
    await echoIn(h, 'x1');
    await echoIn(h, 'x2');
    expect((await workersOf(h)).started).toBe(1);
    expect((await cli(['cancel', stuck], h.env)).code).toBe(0);
    expect((await runJson(h, stuck)).status).toBe('cancelled');
    await echoIn(h, 'x3');
    expect(await workersOf(h)).toMatchObject({ started: 1, live: 1 });
  });

  it('a step timeout ends only that activation; the thread and the runs beside it go on', async () => {
    const stuck = await startRun(h, ['stuck']);
    await waitStatus(h, stuck, hanging, 'the hanging step');
    const slow = await startRun(h, ['slow']);
    const run = await waitStatus(h, slow, (r) => r.status === 'succeeded' || r.status === 'failed', 'the slow run to end');
    expect(run.status).toBe('succeeded');
    const steps = Object.fromEntries(run.steps.map((s: { id: string }) => [s.id, s]));
    expect(steps.hang.status).toBe('failed');
    expect(steps.hang.error).toMatch(/timed out after 1s/);
    expect(steps.after.output).toBe('after failed');
    // the other hanging run was not touched, and no thread was started for any of it
    expect((await runJson(h, stuck)).steps[0]).toMatchObject({ status: 'running', attempts: 1 });
    expect((await workersOf(h)).started).toBe(1);
    expect((await cli(['cancel', stuck], h.env)).code).toBe(0);
  });

  it('a crash in a shared thread: the runs in it go again alone, and only the one that crashes alone fails', async () => {
    const before = await workersOf(h);
    const stuck = await startRun(h, ['stuck']);
    await waitStatus(h, stuck, hanging, 'the hanging step');
    const crashy = await startRun(h, ['crashy']);
    const run = await waitStatus(h, crashy, (r) => r.status === 'succeeded' || r.status === 'failed', 'the crashy run to end');
    expect(run.status).toBe('succeeded');
    const steps = Object.fromEntries(run.steps.map((s: { id: string }) => [s.id, s]));
    expect(steps.boom.status).toBe('failed');
    expect(steps.boom.error).toMatch(/worker crashed/);
    expect(steps.after.output).toBe('after failed');
    // the shared thread died; each of its runs got a thread of its own (the crashy one crashed
    // there again, alone, and only then failed its step)
    expect((await workersOf(h)).started).toBeGreaterThanOrEqual(before.started + 2);
    // the hanging run lost its thread but not its step: it goes again, still running, no error
    const again = await runJson(h, stuck);
    expect(hanging(again)).toBe(true);
    expect(again.steps[0].error ?? null).toBeNull();
    expect((await cli(['cancel', stuck], h.env)).code).toBe(0);
    await echoIn(h, 'x4');
  });
});

describe('engine: worker threads retire', () => {
  it('an idle worker ends after the idle time: a quiet daemon holds no thread', async () => {
    const h = home({ OPSTREAM_WORKER_IDLE_MS: '200' });
    try {
      await echoIn(h, 'idle');
      const w = await waitFor(async () => {
        const f = await workersOf(h);
        return f.live === 0 ? f : null;
      }, { what: 'the idle worker to retire' });
      expect(w.retired).toBeGreaterThanOrEqual(1);
      expect(w.idle).toBe(0);
      // and a new run still gets a worker
      await echoIn(h, 'again');
    } finally {
      await h.cleanup();
    }
  });

  it('a worker ends after its maximum number of activations; the next one starts a new thread', async () => {
    const h = home({ OPSTREAM_WORKER_IDLE_MS: '600000', OPSTREAM_WORKER_MAX_USES: '2' });
    try {
      await echoIn(h, '1');
      const w = await waitFor(async () => {
        const f = await workersOf(h);
        return f.live === 0 ? f : null;
      }, { what: 'the used-up worker to retire' });
      expect(w).toMatchObject({ started: 1, reused: 1, retired: 1 });
      await echoIn(h, '2');
      expect(await workersOf(h)).toMatchObject({ started: 2, reused: 2 });
    } finally {
      await h.cleanup();
    }
  });
});
