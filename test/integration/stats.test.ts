import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import parsePrometheus, { type PromFamily } from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Notification, RunJson, StatsJson } from '../../src/protocol/index.js';
import { installDashboardWorkflows } from '../support/dashboard.js';
import { cli, tempHome, waitFor, type TempHome } from '../support/home.js';
import { start, waitRun } from '../support/runs.js';

// `opstream stats` checked against runs this test makes (outcomes, durations, time waiting for an
// approval, tool calls, notifications), the Prometheus endpoint and `stats --prometheus` read with
// a Prometheus text parser, and `opstream audit` with its filters.

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

let h: TempHome;
let port: number;
let deadUrl: string;
const ids: Record<string, string[]> = { quick: [], broken: [], approved: [], cancelled: [] };
let approvalWaitMs = 0;

async function stats(args: string[] = []): Promise<StatsJson> {
  const r = await cli(['stats', '--json', ...args], h.env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as StatsJson;
}

const durationOf = (r: RunJson): number => Date.parse(r.ended_at!) - Date.parse(r.started_at!);
const near = (got: number | null, want: number): boolean => got !== null && Math.abs(got - want) <= Math.max(3, want * 0.05);

function metric(fams: PromFamily[], name: string, labels: Record<string, string>): number | undefined {
  const f = fams.find((x) => x.name === name);
  const m = f?.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  return m?.value === undefined ? undefined : Number(m.value);
}

beforeAll(async () => {
  h = tempHome('opst-');
  port = await freePort();
  deadUrl = `http://127.0.0.1:${await freePort()}/`;
  writeFileSync(join(h.home, 'config.yaml'), `notify:\n  desktop: off\nmetrics:\n  listen: "127.0.0.1:${port}"\n`);
  installDashboardWorkflows(h, ['gate.yaml', 'quick.yaml', 'broken.yaml']);

  for (let i = 0; i < 2; i++) ids.quick.push(await start(h, ['quick']));
  ids.broken.push(await start(h, ['broken', `url=${deadUrl}`]));
  const a = await start(h, ['gate']);
  ids.approved.push(a);
  const asked = await waitRun(h, a, (r) => r.waiting_for?.kind === 'approval', 'the approval');
  const askedAt = Date.parse(asked.steps.find((s) => s.id === 'confirm')!.started_at!);
  // a person takes a moment to answer
  await waitFor(() => Date.now() - askedAt >= 400, { what: 'a moment' });
  expect((await cli(['approve', a], h.env)).code).toBe(0);
  approvalWaitMs = Date.now() - askedAt;
  const c = await start(h, ['gate']);
  ids.cancelled.push(c);
  await waitRun(h, c, (r) => r.waiting_for?.kind === 'approval', 'the second approval');
  expect((await cli(['cancel', c], h.env)).code).toBe(0);
  for (const id of [...ids.quick, ...ids.approved]) await waitRun(h, id, (r) => r.status === 'succeeded', `run ${id}`);
  await waitRun(h, ids.broken[0], (r) => r.status === 'failed', 'the broken run to fail');
}, 120_000);

afterAll(async () => {
  await h?.cleanup();
});

describe('opstream stats', () => {
  it('counts outcomes, durations, people wait, tools and notifications of the runs made', async () => {
    const s = await stats();
    expect(s.runs).toMatchObject({ runs: 5, succeeded: 3, failed: 1, cancelled: 1, success_rate: 0.75 });
    expect(s.window.since).not.toBeNull();
    const byWf = Object.fromEntries(s.workflows.map((w) => [w.workflow, w]));
    expect(byWf.quick).toMatchObject({ runs: 2, succeeded: 2, failed: 0, success_rate: 1 });
    expect(byWf.broken).toMatchObject({ runs: 1, failed: 1, success_rate: 0 });
    expect(byWf.gate).toMatchObject({ runs: 2, succeeded: 1, cancelled: 1, success_rate: 1 });

    // durations: the approved gate run's own duration (its only succeeded run)
    const approved = JSON.parse((await cli(['status', ids.approved[0], '--json'], h.env)).stdout) as RunJson;
    expect(near(byWf.gate.duration_ms.p50, durationOf(approved)), `${byWf.gate.duration_ms.p50} vs ${durationOf(approved)}`).toBe(true);
    const quick = await Promise.all(ids.quick.map(async (id) => durationOf(JSON.parse((await cli(['status', id, '--json'], h.env)).stdout) as RunJson)));
    expect(near(byWf.quick.duration_ms.p95, Math.max(...quick)), `${byWf.quick.duration_ms.p95} vs ${quick}`).toBe(true);

    // waiting for a person: from the request to the answer, inside the run's duration
    expect(byWf.gate.people_wait_ms).toBeGreaterThanOrEqual(400);
    expect(byWf.gate.people_wait_ms).toBeLessThanOrEqual(Math.max(approvalWaitMs, durationOf(approved)) + 5);
    expect(byWf.quick.people_wait_ms).toBe(0);
    expect(byWf.quick.tool_calls).toBe(2);
    expect(s.runs.tokens.total).toBe(0);

    const tools = Object.fromEntries(s.tools.map((t) => [t.tool, t]));
    expect(tools['ops.system_stats'].calls).toBeGreaterThanOrEqual(2);
    expect(tools['ops.system_stats'].errors).toBe(0);
    expect(tools['ops.system_stats'].p95_ms).toBeGreaterThanOrEqual(40); // sample_ms 50, within the histogram's 2.5%
    expect(tools['ops.http_probe']).toMatchObject({ calls: 1, errors: 1, error_rate: 1, cache_hits: 0 });

    // notifications: what the inbox says each channel confirmed
    await waitFor(async () => {
      const inbox = JSON.parse((await cli(['inbox', '--json', '--limit', '1000'], h.env)).stdout) as Notification[];
      const sent = inbox.filter((n) => n.channels.terminal?.state === 'sent').length;
      return sent > 0 && (await stats()).notifications.sent.terminal === sent;
    }, { what: 'terminal deliveries counted' });

    expect(s.daemon).toMatchObject({ metrics_url: `http://127.0.0.1:${port}/metrics`, outbox_backlog: expect.any(Object) });
    expect(s.daemon.rss_bytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(s.daemon.store_bytes).toBeGreaterThan(0);

    const gate = await stats(['--workflow', 'gate', '--since', '1h']);
    expect(gate.runs).toMatchObject({ runs: 2, succeeded: 1, cancelled: 1 });
    expect(gate.workflows.map((w) => w.workflow)).toEqual(['gate']);
    const bad = await cli(['stats', '--since', 'lately'], h.env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/since: "lately" is not a duration/);
    const text = await cli(['stats'], h.env);
    expect(text.stdout).toMatch(/5 run\(s\): 3 succeeded, 1 failed, 1 cancelled; success rate 75%/);
    expect(text.stdout).toMatch(/^gate +2 +1 +0 +1 +100%/m);
  });

  it('keeps its figures across a daemon restart (they are written with the runs)', async () => {
    const before = await stats(['--since', 'all']);
    expect((await cli(['daemon', 'stop'], h.env)).code).toBe(0);
    const after = await stats(['--since', 'all']);
    expect(after.runs).toMatchObject({ runs: before.runs.runs, succeeded: before.runs.succeeded, people_wait_ms: before.runs.people_wait_ms });
    expect(after.workflows).toEqual(before.workflows);
  });

  it('serves the same figures as Prometheus text on the loopback port and through stats --prometheus', async () => {
    const s = await stats(['--since', 'all']);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const fams = parsePrometheus(await res.text());
    expect(metric(fams, 'opstream_runs_finished_total', { workflow: 'gate', outcome: 'succeeded' })).toBe(1);
    expect(metric(fams, 'opstream_runs_finished_total', { workflow: 'gate', outcome: 'cancelled' })).toBe(1);
    expect(metric(fams, 'opstream_runs_finished_total', { workflow: 'broken', outcome: 'failed' })).toBe(1);
    expect(metric(fams, 'opstream_tool_errors_total', { tool: 'ops.http_probe' })).toBe(1);
    const waitSec = metric(fams, 'opstream_people_wait_seconds_total', { workflow: 'gate' })!;
    expect(Math.abs(waitSec * 1000 - s.workflows.find((w) => w.workflow === 'gate')!.people_wait_ms)).toBeLessThan(1);
    expect(fams.find((f) => f.name === 'opstream_runs_finished_total')?.type).toBe('COUNTER');
    expect(metric(fams, 'opstream_daemon_process_resident_memory_bytes', {})).toBeGreaterThan(0);
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);

    const once = await cli(['stats', '--prometheus'], h.env);
    expect(once.code, once.stderr).toBe(0);
    const fams2 = parsePrometheus(once.stdout);
    expect(metric(fams2, 'opstream_runs_finished_total', { workflow: 'quick', outcome: 'succeeded' })).toBe(2);
  });

  it('refuses a metrics address that is not loopback, saying where and why', async () => {
    const other = tempHome('opsx-');
    try {
      writeFileSync(join(other.home, 'config.yaml'), 'metrics:\n  listen: "0.0.0.0:9464"\n');
      const r = await cli(['status'], other.env);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/metrics\.listen: metrics are served on a loopback address only/);
    } finally {
      await other.cleanup();
    }
  });
});

describe('opstream audit', () => {
  it('lists who did what to what, filtered by run, actor and time', async () => {
    const id = ids.approved[0];
    const r = await cli(['audit', '--json', '--run', id], h.env);
    expect(r.code, r.stderr).toBe(0);
    const items = JSON.parse(r.stdout) as { at: string; actor: string; action: string; target: string }[];
    expect(items.map((e) => e.action)).toEqual(['runs.start', 'runs.approve']);
    expect(items.every((e) => e.target === `run:${id}` && /^cli:/.test(e.actor))).toBe(true);
    expect(Date.parse(items[0].at)).toBeLessThanOrEqual(Date.parse(items[1].at));

    const cancels = JSON.parse((await cli(['audit', '--json', '--actor', 'cli', '--since', '1d', '--limit', '1000'], h.env)).stdout) as { action: string; target: string }[];
    expect(cancels.filter((e) => e.action === 'runs.cancel').map((e) => e.target)).toEqual([`run:${ids.cancelled[0]}`]);
    expect(JSON.parse((await cli(['audit', '--json', '--actor', 'slack'], h.env)).stdout)).toEqual([]);
    const text = await cli(['audit', '--run', id], h.env);
    expect(text.stdout).toMatch(/^TIME +WHEN +ACTOR +ACTION +TARGET/);
    expect(text.stdout).toMatch(new RegExp(`runs\\.approve +run:${id}`));
    expect((await cli(['audit', '--since', 'soon'], h.env)).stderr).toMatch(/not a duration/);
  });
});
