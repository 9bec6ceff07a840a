import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunEvent, RunJson } from '../../src/protocol/index.js';
import { applyEvent, emptyRun, projectRun, type AnyEvent } from '../../src/protocol/run-view.js';
import { DashboardModel } from '../../src/ui/dashboard/model.js';
import { DashboardFeed } from '../../src/ui/dashboard/feed.js';
import { progressLabel, seriesOf, sparkZero } from '../../src/ui/dashboard/view-text.js';
import { runHeader } from '../../src/daemon/slack/blocks.js';
import { startDemoService, type DemoService } from '../support/demo-service.js';
import { cli, tempHome, waitFor, type TempHome } from '../support/home.js';
import { getRun, start, waitRun } from '../support/runs.js';

// Issue 18: what the screens say is what happened. Each observation goes through the real daemon,
// workers and CLI; the last test feeds one recorded event stream to every renderer.

const GATE = (id: string, onError: 'continue' | 'fail'): string => `id: ${id}
name: Gate ${id}
description: asks before it does something
command: ${id}
params:
  target: { type: string, default: staging }
  note: { type: string, default: none }
notifications: [completion, errors]
steps:
  - id: prepare
    notify: { text: "preparing {{ params.target }}", level: info }
  - id: ask
    name: remediation
    on_error: ${onError}
    approval: { prompt: "Apply the fix to {{ params.target }}?" }
  - id: finish
    notify: { text: "finished", level: info }
`;

async function events(h: TempHome, id: string): Promise<RunEvent[]> {
  const r = await cli(['logs', id, '--json'], h.env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as RunEvent[];
}

/** The recorded stream folded with the shared reducer, as any client would. */
function fold(evs: RunEvent[], now: number): RunJson {
  const first = evs[0];
  const st = emptyRun(first.run_id, first.type === 'run.created' ? (first.workflow ?? '') : '', first.at, first.type === 'run.created' ? first.params : {});
  for (const e of evs) {
    applyEvent(st, e as AnyEvent);
    st.seq = e.seq;
  }
  return projectRun(st, { now });
}

/** The same stream pushed into a dashboard model as `runs.watch` items. */
function dashboardOf(evs: RunEvent[], workflow: string): DashboardModel {
  const m = new DashboardModel();
  const st = emptyRun(evs[0].run_id, workflow, evs[0].at);
  evs.forEach((e, i) => {
    applyEvent(st, e as AnyEvent);
    m.apply({ cursor: i + 1, topic: 'runs', event: e.type, data: { ...e, status: st.status, workflow } as never });
  });
  return m;
}

function sloArgs(svc: DemoService): string[] {
  return ['slo', 'demo', `url=${svc.url}/api/checkout`, 'interval=2s', 'watch_for=10m', 'requests=5', 'recheck_every=1s', `remediation_url=${svc.url}/admin/timeout`, 'remediation_body={"ms": 2000}'];
}

describe('run view: one projection behind every screen', () => {
  let h: TempHome | undefined;
  let svc: DemoService | undefined;
  let feed: DashboardFeed | undefined;

  afterEach(async () => {
    feed?.close();
    feed = undefined;
    await h?.cleanup();
    h = undefined;
    await svc?.stop();
    svc = undefined;
  });

  it('an SLO breach waiting for approval shows the breach and its measurements in status, the dashboard and Slack; a rejection keeps it', async () => {
    h = tempHome('opview-');
    svc = await startDemoService();
    const id = await start(h, sloArgs(svc));
    feed = new DashboardFeed({ env: h.env, autoStart: false });
    await feed.start();
    await waitRun(h, id, (r) => (r.progress.watch?.checks ?? 0) >= 1, 'a healthy check', 60_000);
    expect((await svc.post('/admin/faults', { enable: ['dependency-timeout'] })).status).toBe(200);
    const waiting = await waitRun(h, id, (r) => r.status === 'waiting' && r.waiting_for?.kind === 'approval', 'the approval', 60_000);

    // --json: the open check counts as a breach; what it measured is data, with its objective
    const w = waiting.progress.watch!;
    expect(w.breaches).toBeGreaterThanOrEqual(1);
    expect(w.state).toBe('breached, waiting for approval');
    const avail = w.last!.find((m) => m.metric === 'availability')!;
    expect(avail).toMatchObject({ value: 0, unit: '%', threshold: 99, op: '>=', ok: false });
    // every request got a 504: that is 5 failed requests, not "errors=0"
    expect(w.last!.find((m) => m.metric === 'failed')).toMatchObject({ value: 5, unit: 'requests' });
    expect(waiting.progress.waiting).toMatchObject({ kind: 'approval', approvers: [] });
    expect(waiting.progress.waiting!.since).toMatch(/^\d{4}-/);
    expect(waiting.progress.eta).toBeNull();
    // the recorded stream folded by any client gives the same watch (nothing moves while it waits)
    const folded = fold(await events(h, id), Date.now());
    expect(folded.progress.watch).toMatchObject({ checks: w.checks, breaches: w.breaches, state: w.state, last: w.last });
    expect(folded.progress.waiting).toEqual(waiting.progress.waiting);

    // text: the breach, who may answer and since when, readable step names, measurements with units
    const text = (await cli(['status', id], h.env)).stdout;
    expect(text).toMatch(/\d+ checks?, [1-9]\d* breach(es)? \(breached, waiting for approval\)/);
    expect(text).toMatch(/waiting for approval by anyone, since \S+ ago \(\d\d:\d\d:\d\d\) at remediation \(check \d+\)/);
    expect(text).toContain('availability 0% (objective ≥ 99%) BREACHED');
    expect(text).not.toMatch(/monitor\[\d+\]/);
    expect(text).not.toMatch(/overdue/);
    // only the params given differ from the defaults
    const params = text.split('\n').find((l) => l.startsWith('params: '))!;
    expect(params).toMatch(/\(\+7 defaults\)$/);
    for (const given of ['service=demo', 'interval=2s', 'watch_for=10m', 'requests=5', 'recheck_every=1s', 'remediation_body={"ms":2000}']) expect(params).toContain(given);
    expect(params).not.toMatch(/latency_percentile|approval_timeout|availability=/);

    // the dashboard (fed by runs.watch, applying events itself) and Slack say the same
    const dash = await waitFor(() => {
      const v = feed!.model.runs.get(id);
      return v?.status === 'waiting' && v.progress.watch?.state === 'breached, waiting for approval' ? v : null;
    }, { what: 'the dashboard to see the wait' });
    expect(dash.progress.watch!.breaches).toBe(w.breaches);
    expect(progressLabel(dash, Date.now(), true).text).toMatch(/checks, [1-9]\d* breach/);
    const slack = runHeader(waiting);
    expect(slack.text).toMatch(/, [1-9]\d* breach/);
    expect(JSON.stringify(slack.blocks)).toContain('availability 0% (objective ≥ 99%) BREACHED');
    expect(JSON.stringify(slack.blocks)).toContain('Waiting for approval');

    // rejected: the breach is still counted, the decision is on record with who and why
    const rej = await cli(['reject', id, '--comment', 'not now'], h.env);
    expect(rej.code, rej.stderr).toBe(0);
    const after = await waitRun(h, id, (r) => (r.decisions ?? []).length === 1, 'the decision');
    expect(after.progress.watch!.breaches).toBeGreaterThanOrEqual(1);
    expect(after.decisions![0]).toMatchObject({ decision: 'rejected', by: expect.stringMatching(/^cli:/), comment: 'not now', label: expect.stringMatching(/^remediation \(check \d+\)$/) });
    const afterText = (await cli(['status', id], h.env)).stdout;
    expect(afterText).toMatch(/rejected by cli:\S+ \S+ ago \(\d\d:\d\d:\d\d\) at remediation \(check \d+\): "not now"/);
    expect(afterText).toMatch(/[1-9]\d* breach/);
    expect(JSON.stringify(runHeader(after).blocks)).toMatch(/Rejected by cli:\S+ .*not now/);
    await cli(['cancel', id], h.env);
  });

  it('a rejected approval reads "succeeded, remediation rejected" or "rejected" in status, --json, the notification and Slack', async () => {
    h = tempHome('opview-');
    mkdirSync(join(h.home, 'workflows'), { recursive: true });
    writeFileSync(join(h.home, 'workflows', 'soft.yaml'), GATE('soft', 'continue'));
    writeFileSync(join(h.home, 'workflows', 'hard.yaml'), GATE('hard', 'fail'));

    const soft = await start(h, ['soft', 'target=prod']);
    await waitRun(h, soft, (r) => r.waiting_for?.kind === 'approval', 'the approval');
    expect((await cli(['reject', soft, '--comment', 'too risky'], h.env)).code).toBe(0);
    const done = await waitRun(h, soft, (r) => r.status === 'succeeded', 'the end');
    expect(done.outcome).toBe('succeeded, remediation rejected');
    expect(done.steps.find((s) => s.id === 'ask')?.status).toBe('rejected');
    expect(done.decisions).toEqual([expect.objectContaining({ step: 'ask', decision: 'rejected', comment: 'too risky' })]);
    const text = (await cli(['status', soft], h.env)).stdout;
    expect(text.split('\n')[0]).toBe(`${soft}  soft  succeeded, remediation rejected`);
    expect(text).toMatch(/params: target=prod\s+\(\+1 default\)/);
    const inbox = JSON.parse((await cli(['inbox', '--run', soft, '--json'], h.env)).stdout) as { kind: string; title: string; text: string }[];
    const completion = inbox.find((n) => n.kind === 'completion')!;
    expect(completion.title).toMatch(/succeeded in .*, remediation rejected/);
    expect(completion.text).toContain('Rejected by cli:');
    expect(runHeader(done).text).toContain('succeeded, remediation rejected');

    const hard = await start(h, ['hard']);
    await waitRun(h, hard, (r) => r.waiting_for?.kind === 'approval', 'the approval');
    expect((await cli(['reject', hard], h.env)).code).toBe(0);
    const failed = await waitRun(h, hard, (r) => r.status === 'failed', 'the end');
    expect(failed.outcome).toBe('rejected');
    expect((await cli(['status', hard], h.env)).stdout.split('\n')[0]).toBe(`${hard}  hard  rejected`);
    expect(JSON.stringify(runHeader(failed).blocks)).toContain('Rejected');
  });

  it('progress follows the run: a 30 s timer is not "99%" after a few seconds, a person\'s wait is not overdue, and it never goes back', async () => {
    h = tempHome('opview-');
    // history: an earlier hello took about a second
    const quick = await start(h, ['hello', 'a', 'after', '1s']);
    await waitRun(h, quick, (r) => r.status === 'succeeded', 'the quick hello');
    const quickRun = await getRun(h, quick);
    const mean = Date.parse(quickRun.ended_at!) - Date.parse(quickRun.started_at!);

    const id = await start(h, ['hello', 'bar', 'after', '30s']);
    const started = Date.parse((await getRun(h, id)).started_at!);
    // well past the earlier run's duration (where an ETA from history said "99%")
    const seen: number[] = [];
    const r = await waitFor(async () => {
      const x = await getRun(h!, id);
      if (x.progress.fraction !== null) seen.push(x.progress.fraction);
      return Date.now() - started > mean + 2000 ? x : null;
    }, { what: 'a few seconds into the wait' });
    expect(r.status).toBe('waiting');
    expect(r.progress.basis).toBe('timer');
    expect(r.progress.fraction!).toBeLessThan(0.5);
    expect(Math.abs(Date.parse(r.progress.eta!) - Date.parse(r.waiting_for!.until!))).toBeLessThan(1000);
    expect((await cli(['status', id], h.env)).stdout).not.toMatch(/99%|past its usual time|overdue/);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]);
    await cli(['cancel', id], h.env);

    // a person's wait: its own state, with who and since, never overdue (history says ~1 s)
    mkdirSync(join(h.home, 'workflows'), { recursive: true });
    writeFileSync(join(h.home, 'workflows', 'soft.yaml'), GATE('soft', 'continue'));
    const first = await start(h, ['soft']);
    await waitRun(h, first, (x) => x.waiting_for?.kind === 'approval', 'the approval');
    await cli(['approve', first], h.env);
    await waitRun(h, first, (x) => x.status === 'succeeded', 'the end');
    const gate = await start(h, ['soft']);
    const w = await waitRun(h, gate, (x) => x.waiting_for?.kind === 'approval' && Date.now() - Date.parse(x.started_at!) > 3000, 'a wait longer than the usual run');
    expect(w.progress.eta).toBeNull();
    expect(w.progress.waiting).toMatchObject({ kind: 'approval', label: 'remediation' });
    feed = new DashboardFeed({ env: h.env, autoStart: false });
    await feed.start();
    const view = feed.model.runs.get(gate)!;
    const label = progressLabel(view, Date.now(), true).text;
    expect(label).toMatch(/^approval by anyone, \d+s$/);
    expect((await cli(['status', gate], h.env)).stdout).toMatch(/waiting for approval by anyone, since \S+ ago/);
    expect((await cli(['list'], h.env)).stdout).not.toMatch(/overdue|past its usual time/);
  });

  it('logs: one line per check with what it measured, names people wrote, params that differ from defaults', async () => {
    h = tempHome('opview-');
    svc = await startDemoService();
    const id = await start(h, sloArgs(svc));
    await waitRun(h, id, (r) => (r.progress.watch?.checks ?? 0) >= 2, 'two checks', 60_000);
    await cli(['cancel', id], h.env);
    const out = (await cli(['logs', id], h.env)).stdout;
    const lines = out.split('\n');
    // no line per sample step: the probe's and the check's start/success are summed up by the check
    expect(lines.filter((l) => /probe|monitor\[/.test(l))).toEqual([]);
    const checks = lines.filter((l) => /monitor {2}check \d+ done/.test(l));
    expect(checks.length).toBeGreaterThanOrEqual(2);
    expect(checks[0]).toMatch(/availability 100% \(objective ≥ 99%\), latency p95 [\d.]+ ms \(objective ≤ 500 ms\)/);
    const created = lines.find((l) => l.includes('run created'))!;
    expect(created).toContain('interval=2s');
    expect(created).not.toContain('latency_percentile=p95');
  });

  it('charts plot what each workflow measured, scaled from zero', () => {
    // small noise on a large value stays small; the series are the measured metrics, not targets
    expect(sparkZero([100, 102, 98, 101])).not.toContain('▁');
    const check = (lat: number): unknown => ({ check: { slo: { met: true, availability_pct: 100, latency_ms: lat, objectives: { availability_pct: 99, latency_ms: 500, latency_percentile: 'p95' } } } });
    const view = { steps: [{ id: 'monitor', label: 'monitor', status: 'running', attempts: 1, started_at: null, ended_at: null, output: [check(12), check(13)], error: null }] } as unknown as Parameters<typeof seriesOf>[0];
    const s = seriesOf(view);
    expect(s.map((x) => x.label)).toEqual(['availability (monitor)', 'latency p95 (monitor)']);
    expect(s[1].values).toEqual([12, 13]);
    // profiling probes several endpoints in parallel and samples the process: those are its series
    const probe = (p95: number): unknown => ({ url: 'http://h:1/api/search?q=a', count: 20, ok: 20, latency_ms: { p50: 5, p95 } });
    const sample = (p95: number): unknown => ({ probes: { p1: probe(p95), p2: null }, stats: { cpu_percent: 40, rss_bytes: 50 * 1048576 }, logs: null, progress: null });
    const prof = { steps: [{ id: 'sample', label: 'sample', status: 'running', attempts: 1, started_at: null, ended_at: null, output: [sample(640), sample(650)], error: null }] } as unknown as Parameters<typeof seriesOf>[0];
    const ps = seriesOf(prof);
    expect(ps.map((x) => x.label)).toEqual(['latency p95 /api/search (sample)', 'failed /api/search (sample)', 'CPU (sample)', 'memory (RSS) (sample)']);
    expect(ps[0].values).toEqual([640, 650]);
  });

  it('one recorded event stream: CLI text, --json, the dashboard model and Slack agree on status, progress, breaches and decisions', async () => {
    h = tempHome('opview-');
    mkdirSync(join(h.home, 'workflows'), { recursive: true });
    writeFileSync(join(h.home, 'workflows', 'soft.yaml'), GATE('soft', 'continue'));
    const id = await start(h, ['soft']);
    await waitRun(h, id, (r) => r.waiting_for?.kind === 'approval', 'the approval');
    // mid-run: waiting for a person
    let evs = await events(h, id);
    let daemon = await getRun(h, id);
    let folded = fold(evs, Date.now());
    let dash = dashboardOf(evs, 'soft').runs.get(id)!;
    for (const v of [folded, dash]) {
      expect(v.status).toBe(daemon.status);
      expect(v.outcome).toBe(daemon.outcome);
      expect(v.progress.fraction).toBe(daemon.progress.fraction);
      expect(v.progress.waiting).toEqual(daemon.progress.waiting);
      expect(v.current_label).toBe(daemon.current_label);
    }
    expect((await cli(['reject', id, '--comment', 'no'], h.env)).code).toBe(0);
    daemon = await waitRun(h, id, (r) => r.status === 'succeeded', 'the end');
    evs = await events(h, id);
    folded = fold(evs, Date.now());
    dash = dashboardOf(evs, 'soft').runs.get(id)!;
    const text = (await cli(['status', id], h.env)).stdout;
    const slack = runHeader(folded);
    for (const v of [folded, dash]) {
      expect(v.status).toBe('succeeded');
      expect(v.outcome).toBe(daemon.outcome);
      expect(v.progress.fraction).toBe(1);
      expect(v.decisions).toEqual(daemon.decisions);
      expect(v.steps.map((s) => [s.id, s.status])).toEqual(daemon.steps.map((s) => [s.id, s.status]));
    }
    expect(text).toContain(daemon.outcome!);
    expect(text).toMatch(/rejected by cli:\S+ .* at remediation: "no"/);
    expect(slack.text).toContain(daemon.outcome!);
    expect(JSON.stringify(slack.blocks)).toMatch(/Rejected by cli:\S+ .*\(remediation\): no/);
  });
});
