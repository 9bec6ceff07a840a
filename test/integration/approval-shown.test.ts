import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/client/client.js';
import { isWireError } from '../../src/protocol/index.js';
import { installDashboardWorkflows } from '../support/dashboard.js';
import { cli, tempHome, type TempHome } from '../support/home.js';
import { getRun, start, waitRun } from '../support/runs.js';

// A decision names what the person was shown (the step, a gated call's argument hash); the daemon
// answers only if the run still waits for exactly that. Real daemon, real CLI, the dashboard's client.
describe('approve/reject only what was shown', () => {
  let h: TempHome;
  let client: DaemonClient | undefined;

  beforeAll(async () => {
    h = tempHome('opshown-');
    installDashboardWorkflows(h, ['gate.yaml']);
    mkdirSync(join(h.home, 'workflows'), { recursive: true });
    writeFileSync(
      join(h.home, 'workflows', 'named.yaml'),
      ['id: named', 'notifications: []', 'steps:', '  - id: ask', '    name: remediation', '    approval: { prompt: "Apply the fix?" }', ''].join('\n'),
    );
    const r = await cli(['daemon', 'start'], h.env);
    expect(r.code, r.stderr).toBe(0);
    client = await DaemonClient.connect({ env: h.env, client: 'tui' });
  });

  afterAll(async () => {
    client?.close();
    await h?.cleanup();
  });

  const eventCount = async (id: string): Promise<number> => (JSON.parse((await cli(['logs', id, '--json'], h.env)).stdout) as unknown[]).length;

  it('a stale step or argument hash is refused (conflict, not retryable) and changes nothing; the right one answers', async () => {
    const id = await start(h, ['gate']);
    await waitRun(h, id, (r) => r.waiting_for?.kind === 'approval' && r.waiting_for.step === 'confirm', 'the approval');
    const before = await eventCount(id);

    // the CLI: --step naming another step
    const stale = await cli(['approve', id, '--step', 'prepare'], h.env);
    expect(stale.code).not.toBe(0);
    expect(stale.stderr.trim().split('\n')).toHaveLength(1);
    expect(stale.stderr).toContain(`run ${id} no longer waits for approval at prepare (it now waits for approval at confirm); nothing was recorded`);
    const staleReject = await cli(['reject', id, '--step', 'prepare', '--comment', 'no'], h.env);
    expect(staleReject.code).not.toBe(0);
    expect(staleReject.stderr).toMatch(/no longer waits for approval at prepare/);

    // the socket, as the dashboard sends it: the right step but an argument hash this approval does not have
    const err = await client!.request('runs.approve', { id, step: 'confirm', args_hash: '0123456789abcdef' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isWireError(err) && { code: err.code, retryable: err.retryable }).toEqual({ code: 'conflict', retryable: false });
    expect((err as Error).message).toContain(`run ${id} no longer waits for approval at confirm with argument hash 0123456789abcdef (it now waits for approval at confirm)`);

    // nothing changed: still waiting at the same step, no decision, no event
    const still = await getRun(h, id);
    expect(still.status).toBe('waiting');
    expect(still.waiting_for).toMatchObject({ kind: 'approval', step: 'confirm' });
    expect(still.decisions ?? []).toEqual([]);
    expect(await eventCount(id)).toBe(before);
    const audit = await client!.request('audit.list', { limit: 50 });
    expect(audit.items.filter((a) => a.target === `run:${id}` && /runs\.(approve|reject)/.test(a.action))).toEqual([]);

    // the step as shown (by its id) approves
    const ok = await cli(['approve', id, '--step', 'confirm', '--comment', 'go'], h.env);
    expect(ok.code, ok.stderr).toBe(0);
    const done = await waitRun(h, id, (r) => r.status === 'succeeded', 'the approved run');
    expect(done.decisions).toMatchObject([{ step: 'confirm', decision: 'approved', comment: 'go' }]);

    // the dashboard's request with the shown step (no hash: a plain approval) rejects the next one
    const next = await start(h, ['gate']);
    await waitRun(h, next, (r) => r.waiting_for?.kind === 'approval', 'the next approval');
    const rejected = await client!.request('runs.reject', { id: next, step: 'confirm', comment: 'not now' });
    expect(rejected.decisions).toMatchObject([{ step: 'confirm', decision: 'rejected', comment: 'not now' }]);
  });

  it('--step takes the name people see as well as the id; a stale name says what the run waits for now', async () => {
    const id = await start(h, ['named']);
    await waitRun(h, id, (r) => r.waiting_for?.kind === 'approval', 'the approval');
    const stale = await cli(['reject', id, '--step', 'rollback'], h.env);
    expect(stale.code).not.toBe(0);
    expect(stale.stderr).toContain(`run ${id} no longer waits for approval at rollback (it now waits for approval at remediation (ask)); nothing was recorded`);
    expect((await getRun(h, id)).status).toBe('waiting');
    const ok = await cli(['approve', id, '--step', 'remediation'], h.env);
    expect(ok.code, ok.stderr).toBe(0);
    const done = await waitRun(h, id, (r) => r.status === 'succeeded', 'the approved run');
    expect(done.decisions).toMatchObject([{ step: 'ask', decision: 'approved' }]);
  });
});
