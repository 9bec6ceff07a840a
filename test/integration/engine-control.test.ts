import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installWorkflows, runJson, type Run, startRun, waitStatus, writeEverythingConfig } from '../support/engine-fixtures.js';
import { cli, daemonPid, tempHome, type TempHome } from '../support/home.js';

// One real daemon for this file (CLI auto-start), real Bree workers; engine_test.* steps are the
// engine's fault injection, enabled by OPSTREAM_ENGINE_FAULTS=1 in the daemon's environment.
describe('engine: control, people, limits and faults through the CLI', () => {
  let h: TempHome;

  beforeAll(() => {
    h = tempHome('opc-');
    h.env.OPSTREAM_ENGINE_FAULTS = '1';
    writeEverythingConfig(h);
    installWorkflows(h, ['control.yaml', 'looping.yaml', 'single.yaml', 'slow.yaml', 'faults.yaml', 'budget.yaml', 'failing.yaml']);
  });

  afterAll(async () => {
    await h.cleanup();
  });

  const eventsOf = async (id: string): Promise<{ type: string; step?: string; [k: string]: unknown }[]> => JSON.parse((await cli(['logs', id, '--json'], h.env)).stdout);

  it('answers an approval and an input from the CLI; a wrong or second answer is an error that records nothing', async () => {
    const id = await startRun(h, ['control']);
    await waitStatus(h, id, (r) => r.status === 'waiting' && r.waiting_for?.kind === 'approval', 'the approval');
    const before = (await eventsOf(id)).length;

    const wrong = await cli(['respond', id, 'hello'], h.env);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/not waiting for input.*nothing was recorded/);
    expect((await eventsOf(id)).length).toBe(before);

    const ok = await cli(['approve', id, '--comment', 'looks fine', '--json'], h.env);
    expect(ok.code).toBe(0);
    const twice = await cli(['approve', id], h.env);
    expect(twice.code).not.toBe(0);
    expect(twice.stderr).toMatch(/not waiting for an approval/);

    await waitStatus(h, id, (r) => r.status === 'waiting' && r.waiting_for?.kind === 'input', 'the input');
    expect((await cli(['respond', id, 'Ada'], h.env)).code).toBe(0);
    const done = await waitStatus(h, id, (r) => r.status === 'succeeded', 'success');
    const steps = Object.fromEntries(done.steps.map((s: { id: string }) => [s.id, s]));
    expect(steps.ask.output).toMatchObject({ decision: 'approved', comment: 'looks fine' });
    expect(steps.name.output.text).toBe('Ada');
    expect(done.progress.fraction).toBe(1);

    const late = await cli(['approve', id], h.env);
    expect(late.stderr).toMatch(/not waiting for an approval \(it is succeeded\)/);

    const audit = await cli(['daemon', 'status', '--json'], h.env);
    expect(audit.code).toBe(0);
  });

  it('a rejected approval fails the run at that step', async () => {
    const id = await startRun(h, ['control']);
    await waitStatus(h, id, (r) => r.waiting_for?.kind === 'approval', 'the approval');
    expect((await cli(['reject', id, '--comment', 'no'], h.env)).code).toBe(0);
    const run = await waitStatus(h, id, (r) => r.status === 'failed', 'failure');
    expect(run.current_step).toBe('ask');
    expect(run.error).toMatch(/rejected/);
  });

  it('pauses at a step boundary, resumes where it stopped, and cancels with the step', async () => {
    const id = await startRun(h, ['looping']);
    await waitStatus(h, id, (r) => (r.steps.find((s: { id: string }) => s.id === 'loop')?.output?.length ?? 0) >= 1, 'an iteration');
    expect((await cli(['pause', id], h.env)).code).toBe(0);
    const paused = await waitStatus(h, id, (r) => r.status === 'paused', 'the pause');
    const iterations = (run: Run): number => run.steps.find((s: { id: string }) => s.id === 'loop').output.length;
    const atPause = iterations(paused);
    expect(paused.progress.total_ms).toBe(60_000);

    const again = await cli(['pause', id], h.env);
    expect(again.stderr).toMatch(/already paused/);
    expect((await cli(['resume', id], h.env)).code).toBe(0);
    await waitStatus(h, id, (r) => r.status !== 'paused' && iterations(r) > atPause, 'more iterations after resume');

    const c = await cli(['cancel', id, '--json'], h.env);
    expect(c.code).toBe(0);
    const cancelled = await runJson(h, id);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.current_step).toBe('loop');
    expect((await cli(['resume', id], h.env)).stderr).toMatch(/cancelled/);
  });

  it('queues runs beyond the workflow concurrency, in order', async () => {
    const a = await startRun(h, ['single']);
    const b = await startRun(h, ['single']);
    await waitStatus(h, a, (r) => r.status === 'waiting', 'first waiting');
    expect((await runJson(h, b)).status).toBe('queued');
    const list = JSON.parse((await cli(['list', '--json'], h.env)).stdout) as { id: string; status: string }[];
    expect(list.find((r) => r.id === b)?.status).toBe('queued');
    await cli(['approve', a], h.env);
    await waitStatus(h, a, (r) => r.status === 'succeeded', 'first done');
    await waitStatus(h, b, (r) => r.status === 'waiting', 'second admitted');
    await cli(['cancel', b], h.env);
  });

  it('fails a run that exceeds its timeout, naming the step it was in', async () => {
    const id = await startRun(h, ['slow']);
    const run = await waitStatus(h, id, (r) => r.status === 'failed', 'the timeout');
    expect(run.error).toMatch(/timed out after 2s in step nap/);
    expect(run.current_step).toBe('nap');
  });

  it('a throwing step retries with backoff; a crash, an OOM worker, a bad expression and a step timeout fail only their step', async () => {
    const other = await startRun(h, ['control']);
    await waitStatus(h, other, (r) => r.waiting_for?.kind === 'approval', 'a bystander run');
    const pid = daemonPid(h.home);

    const id = await startRun(h, ['faults']);
    const run = await waitStatus(h, id, (r) => r.status === 'succeeded', 'the faults run to finish', 120_000);
    const steps = Object.fromEntries(run.steps.map((s: { id: string }) => [s.id, s]));
    expect(steps.retried).toMatchObject({ status: 'failed', attempts: 3 });
    expect(steps.crash.status).toBe('failed');
    expect(steps.crash.error).toMatch(/crashed/);
    expect(steps.oom.status).toBe('failed');
    expect(steps.oom.error).toMatch(/memory/);
    expect(steps.badexpr.status).toBe('failed');
    expect(steps.badexpr.error).toMatch(/nosuch/);
    expect(steps.hang.error).toMatch(/timed out after 1s/);
    expect(steps.ok).toMatchObject({ status: 'succeeded', output: 'failed' });

    const fails = (await eventsOf(id)).filter((e) => e.type === 'step.failed' && e.step === 'retried');
    expect(fails.map((e) => Boolean(e.retry_at))).toEqual([true, true, false]);
    const gap = (e: { [k: string]: unknown }): number => Date.parse(String(e.retry_at)) - Date.parse(String(e.at));
    expect(gap(fails[1])).toBeGreaterThan(gap(fails[0])); // exponential: 200ms then 400ms

    // the daemon and the other run are untouched
    expect(daemonPid(h.home)).toBe(pid);
    expect((await runJson(h, other)).status).toBe('waiting');
    await cli(['cancel', other], h.env);
  });

  it('a failing step without on_error fails the run with that step', async () => {
    const id = await startRun(h, ['failing']);
    const run = await waitStatus(h, id, (r) => r.status === 'failed', 'failure');
    expect(run.current_step).toBe('boom');
    expect(run.error).toMatch(/it broke/);
    expect(run.steps.map((s: { id: string }) => s.id)).toEqual(['boom']);
  });

  it('pauses a run that exceeds its tool-call budget and says why; resume grants another budget', async () => {
    const id = await startRun(h, ['budget']);
    const paused = await waitStatus(h, id, (r) => r.status === 'paused', 'the budget pause', 60_000);
    expect(paused.pause_reason).toMatch(/budget exceeded: 1 of 1 tool calls/);
    expect((await cli(['resume', id], h.env)).code).toBe(0);
    const done = await waitStatus(h, id, (r) => r.status === 'succeeded', 'success');
    expect(done.usage.tool_calls).toBe(2);
  });

  it('names unknown workflows and bad params', async () => {
    const r = await cli(['start', 'contrl'], h.env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/did you mean control/);
    const s = await cli(['status', 'r_zzzzzzzz'], h.env);
    expect(s.stderr).toMatch(/no run r_zzzzzzzz/);
  });
});
