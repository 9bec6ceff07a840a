import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonClient } from '../src/client/client.js';
import type { AnalyzeOutput } from '../src/ops-server/analysis/schema.js';
import { startDemoService, type DemoService } from './support/demo-service.js';
import { cli, ROOT, tempHome, waitFor, type TempHome } from './support/home.js';
import { getRun, start, waitRun } from './support/runs.js';

// Story (2) end to end: the shipped slo_monitoring workflow watching the demo service, a fault
// injected through its admin API, the remediation called through ops.http_request only after
// `opstream approve`, and the recovery reported with its duration.

interface Note {
  level: string;
  text: string;
  step?: string;
  kind?: string;
}

interface AdminState {
  faults: string[];
  dependency: { timeout_ms: number };
}

function sloArgs(svc: DemoService): string[] {
  return [
    'slo',
    'demo',
    `url=${svc.url}/api/checkout`,
    'interval=2s',
    'watch_for=10m',
    'requests=5',
    'availability=99',
    'latency_ms=500',
    'recheck_every=1s',
    `remediation_url=${svc.url}/admin/timeout`,
    'remediation_body={"ms": 2000}',
    `pid=${svc.pid}`,
    `log=${svc.log}`,
  ];
}

type Check = Record<string, unknown> & { alert: unknown; approve: { decision: string; by: string; comment?: string; at: string } | null; remediate: { status: number; ok: boolean } | null; recovery: AnalyzeOutput | null };

/** The monitor's finished checks (each iteration's step outputs; skipped steps are null). */
async function checks(h: TempHome, id: string): Promise<Check[]> {
  const run = await getRun(h, id);
  const out = run.steps.find((s) => s.id === 'monitor')?.output;
  return Array.isArray(out) ? (out as Check[]) : [];
}

async function checksDone(h: TempHome, id: string): Promise<number> {
  return (await checks(h, id)).length;
}

describe('e2e: SLO monitoring of the demo service', () => {
  let h: TempHome;
  let svc: DemoService | undefined;
  let client: DaemonClient | undefined;

  afterEach(async () => {
    client?.close();
    client = undefined;
    await h?.cleanup();
    await svc?.stop();
    svc = undefined;
  });

  async function watch(id: string): Promise<Note[]> {
    const notes: Note[] = [];
    client = await DaemonClient.connect({ env: h.env, client: 'test' });
    await client.subscribe('notifications', { run_id: id }, (e, data) => {
      if (e === 'notification') notes.push(data as Note);
    });
    return notes;
  }

  it('detects an injected breach within one check, remediates only after approval, and reports recovery with its duration', async () => {
    h = tempHome('opslo-');
    svc = await startDemoService();
    const id = await start(h, sloArgs(svc));
    const notes = await watch(id);

    // healthy checks: no alert
    await waitFor(async () => (await checksDone(h, id)) >= 2, { what: 'two healthy checks', timeoutMs: 60_000 });
    expect(notes.filter((n) => n.level === 'critical')).toEqual([]);

    // inject the fault; the check in progress may have probed before it, the next one must see it
    const before = await checksDone(h, id);
    expect((await svc.post('/admin/faults', { enable: ['dependency-timeout'] })).status).toBe(200);
    const alert = await waitFor(() => notes.find((n) => n.level === 'critical'), { what: 'the breach alert', timeoutMs: 60_000 });
    expect(alert.text).toContain('SLO breach on demo: availability 0% < 99% on GET /api/checkout');
    expect(alert.text).toMatch(/Likely root cause: GET \/api\/checkout fails: 100% 5xx .*mostly 504/);
    expect(alert.text).toContain('payments timed out'); // correlated with the log's errors
    expect(alert.text).toContain(`opstream approve ${id}`);

    // it waits for approval and has not touched the service
    const waiting = await waitRun(h, id, (r) => r.status === 'waiting' && r.waiting_for?.kind === 'approval', 'the approval');
    expect(waiting.waiting_for?.prompt).toContain(`POST ${svc.url}/admin/timeout`);
    // the breach was seen by the check that was running when the fault came, or the next one
    const at = Number(/^monitor\[(\d+)\]\.approve$/.exec(waiting.waiting_for?.step ?? '')?.[1]);
    expect([before, before + 1]).toContain(at);
    expect(waiting.steps.find((s) => s.id === `monitor[${at}].remediate`)).toBeUndefined();
    const still = (await svc.get('/admin/state')).body as AdminState;
    expect(still.faults).toEqual(['dependency-timeout']);
    expect(still.dependency.timeout_ms).toBe(5);
    expect((await svc.post('/api/checkout')).status).toBe(504);

    const approved = await cli(['approve', id, '--comment', 'go'], h.env);
    expect(approved.code, approved.stderr).toBe(0);
    const restored = await waitFor(() => notes.find((n) => n.text.startsWith('SLO restored')), { what: 'the recovery report', timeoutMs: 60_000 });
    expect(restored.text).toMatch(/^SLO restored on demo in ((\d+m)?\d+s|\d+ms) \(breach at .*, restored at .*; after the remediation POST .*\/admin\/timeout\)\.$/);
    const fixed = (await svc.get('/admin/state')).body as AdminState;
    expect(fixed.faults).toEqual([]);
    expect(fixed.dependency.timeout_ms).toBe(2000);

    const incident = await waitFor(async () => (await checks(h, id))[at], { what: 'the incident check to be recorded' });
    expect(incident.alert).not.toBeNull();
    expect(incident.approve).toMatchObject({ decision: 'approved', comment: 'go' });
    expect(incident.remediate).toMatchObject({ status: 200, ok: true });
    expect(incident.recovery?.slo).toMatchObject({ met: true, status: 'recovered' });
    expect(incident.recovery!.slo!.time_to_recovery_ms).toBeGreaterThan(0);
    expect(restored.text).toContain(`in ${incident.recovery!.slo!.time_to_recovery} `);
    // the checks before the breach raised nothing
    expect((await checks(h, id)).slice(0, at).every((c) => c.alert === null && c.approve === null)).toBe(true);

    // monitoring goes on, healthy, and the closed breach is not alerted again
    const after = await checksDone(h, id);
    await waitFor(async () => (await checksDone(h, id)) >= after + 2, { what: 'two more checks', timeoutMs: 60_000 });
    expect(notes.filter((n) => n.level === 'critical')).toHaveLength(1);
    expect((await cli(['cancel', id], h.env)).code).toBe(0);
  }, 150_000);

  it('when the remediation is rejected, keeps watching without re-alerting and reports a recovery made by hand', async () => {
    h = tempHome('opslo3-');
    svc = await startDemoService(['--fault', 'dependency-timeout']);
    const id = await start(h, sloArgs(svc));
    const notes = await watch(id);
    const waiting = await waitRun(h, id, (r) => r.waiting_for?.kind === 'approval', 'the approval');
    const k = /^monitor\[(\d+)\]/.exec(waiting.waiting_for!.step)![1];
    expect((await cli(['reject', id, '--comment', 'not now'], h.env)).code).toBe(0);

    // the breach goes on through several re-checks: one alert, no remediation
    await waitRun(h, id, (r) => ((r.steps.find((s) => s.id === `monitor[${k}].recheck`)?.output as unknown[] | undefined)?.length ?? 0) >= 3, 'three re-checks');
    expect(notes.filter((n) => n.level === 'critical')).toHaveLength(1);
    expect(((await svc.get('/admin/state')).body as AdminState).faults).toEqual(['dependency-timeout']);

    // someone fixes it by hand: the next re-check closes the breach
    await svc.post('/admin/timeout', { ms: 2000 });
    const restored = await waitFor(() => notes.find((n) => n.text.startsWith('SLO restored')), { what: 'the recovery report', timeoutMs: 60_000 });
    expect(restored.text).toMatch(/^SLO restored on demo in (\d+m)?\d+s .*without remediation\)\.$/);
    const incident = await waitFor(async () => (await checks(h, id))[Number(k)], { what: 'the incident check to be recorded' });
    expect(incident.approve).toMatchObject({ decision: 'rejected', comment: 'not now' });
    expect(incident.remediate).toBeNull();
    expect(notes.filter((n) => n.level === 'critical')).toHaveLength(1);
    expect((await cli(['cancel', id], h.env)).code).toBe(0);
  }, 150_000);

  it('rejects objectives that do not parse before starting', async () => {
    h = tempHome('opslo4-');
    const bad = await cli(['start', 'slo', 'demo', 'availability=most'], h.env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/^opstream: param availability expects a number/);
    const high = await cli(['start', 'slo', 'demo', 'availability=150'], h.env);
    expect(high.stderr).toMatch(/param availability must be at most 100/);
    const pct = await cli(['start', 'slo', 'demo', 'latency_percentile=p90'], h.env);
    expect(pct.stderr).toMatch(/param latency_percentile expects one of p50, p95, p99/);
  });

  it('alerts an ongoing breach once, and with auto_resolve remediates without asking (audited as policy)', async () => {
    h = tempHome('opslo2-');
    // a user's copy of the shipped workflow with auto_resolve on (same id: it overrides the shipped one)
    mkdirSync(join(h.home, 'workflows'), { recursive: true });
    const shipped = readFileSync(join(ROOT, 'workflows', 'slo_monitoring.yaml'), 'utf8');
    writeFileSync(join(h.home, 'workflows', 'slo_monitoring.yaml'), shipped.replace('auto_resolve: false', 'auto_resolve: true'));
    svc = await startDemoService(['--fault', 'slow-endpoint']);
    const args = sloArgs(svc).map((a) =>
      a.startsWith('url=') ? `url=${svc!.url}/api/search` : a.startsWith('remediation_url=') ? `remediation_url=${svc!.url}/admin/pool` : a.startsWith('remediation_body=') ? 'remediation_body={"size": 20}' : a,
    );
    const id = await start(h, args);
    const notes = await watch(id);
    const restored = await waitFor(() => notes.find((n) => n.text.startsWith('SLO restored')), { what: 'the recovery report', timeoutMs: 90_000 });
    expect(restored.text).toMatch(/^SLO restored on demo in .*after the remediation POST .*\/admin\/pool/);
    const criticals = notes.filter((n) => n.level === 'critical');
    expect(criticals).toHaveLength(1);
    expect(criticals[0].text).toMatch(/p95 latency \d+ ms > 500 ms on GET \/api\/search/);
    expect(((await svc.get('/admin/state')).body as AdminState).faults).toEqual([]);

    const incident = await waitFor(async () => (await checks(h, id)).find((c) => c.approve !== null), { what: 'the incident check to be recorded' });
    expect(incident.approve).toMatchObject({ decision: 'approved', by: 'policy:auto_resolve' });
    const audit = await client!.request('audit.list', { limit: 50 });
    expect(audit.items.some((a) => a.actor === 'policy:auto_resolve' && a.action === 'runs.approve' && a.target === `run:${id}`)).toBe(true);
    expect((await cli(['cancel', id], h.env)).code).toBe(0);
  }, 150_000);
});
