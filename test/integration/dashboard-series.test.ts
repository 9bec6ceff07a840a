import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY, mountDashboard, notInCi } from '../support/dashboard.js';
import { startDemoService, type DemoService } from '../support/demo-service.js';
import { cli, tempHome, type TempHome } from '../support/home.js';
import { start, stepOf, waitRun } from '../support/runs.js';

// Issue 18 item 9 through the real daemon: the shipped SLO watch and profiling workflows run against
// the demo service, the Ink dashboard (ink-testing-library, 100 columns) opens each run, and its
// Series panel must plot what that workflow measured (with the last measured value, not a target),
// scaled from zero (a memory series that moves a few % is not a full-height spike).
notInCi();

type ViewText = typeof import('../../src/ui/dashboard/view-text.js');

const BLOCKS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

let vt: ViewText;
let h: TempHome;
let svc: DemoService;
/** A service whose memory creeps up by ~1% a second: a few % over the run, the noise a chart must not blow up. */
let leaky: DemoService;

beforeAll(async () => {
  vt = await import('../../src/ui/dashboard/view-text.js');
  h = tempHome('opser-');
  [svc, leaky] = await Promise.all([startDemoService(), startDemoService(['--fault', 'memory-growth', '--leak-mb-per-s', '0.5'])]);
  const r = await cli(['daemon', 'start'], h.env);
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  await h?.cleanup();
  await svc?.stop();
  await leaky?.stop();
});

/** The line of the screen that holds a series' label, and the sparkline after its 26-column label. */
function seriesRow(frame: string, label: string): { line: string; spark: string } | null {
  const line = frame.split('\n').find((l) => l.includes(label));
  if (!line) return null;
  const rest = line.slice(line.indexOf(label));
  const spark = /^.{26} ([▁▂▃▄▅▆▇█ ]+) {2}/u.exec(rest)?.[1]?.trim() ?? '';
  return { line: rest.trimEnd(), spark };
}

interface SloIteration {
  check: { slo: { availability_pct: number; latency_ms: number } };
}
interface ProfileIteration {
  probes: { p1: { latency_ms: { p95: number } } };
  stats: { cpu_percent: number; rss_bytes: number };
}

describe('dashboard charts against a real daemon', () => {
  it('the SLO watch shows availability and latency p95 it measured; profiling shows per-endpoint latency and the process, scaled from zero', async () => {
    // the dashboard lists active runs when it opens: it is open before they start and follows them live
    const d = await mountDashboard(h.env);
    const screen = (texts: string[], what: string): Promise<string> => d.screen(texts, what, 15_000);
    const open = async (id: string): Promise<void> => {
      d.press('/');
      // an earlier filter is edited, not replaced: rub it out first
      for (let i = 0; i < 20; i++) d.press(KEY.backspace);
      for (const ch of id) d.press(ch);
      d.press(KEY.enter);
      await screen([`filter: ${id}`], `the list filtered to ${id}`);
      d.press(KEY.enter);
      await screen(['Series'], `the detail of ${id}`);
    };
    try {
      const slo = await start(h, ['slo', 'demo', `url=${svc.url}/api/checkout`, 'interval=1s', 'watch_for=10m', 'requests=3']);
      const prof = await start(h, ['profile', 'demo', 'for', '4s', 'interval=1s', `url=${leaky.url}`, 'endpoints=/api/orders', `pid=${leaky.pid}`, 'requests=3']);
      await waitRun(h, slo, (r) => (r.progress.watch?.checks ?? 0) >= 3, 'three checks');
      // a stopped watch keeps its series; nothing moves while the screen is read
      expect((await cli(['cancel', slo], h.env)).code).toBe(0);
      const sloRun = await waitRun(h, slo, (r) => r.status === 'cancelled', 'the watch cancelled');
      const profRun = await waitRun(h, prof, (r) => r.status === 'succeeded', 'the profiling run');

      const checks = stepOf(sloRun, 'monitor')!.output as SloIteration[];
      const samples = stepOf(profRun, 'sample')!.output as ProfileIteration[];
      expect(samples.length).toBeGreaterThanOrEqual(3);
      // the premise of the scaling check: the service's memory moved, by a few % (not more than 10%)
      const rss = samples.map((s) => s.stats.rss_bytes);
      const spread = (Math.max(...rss) - Math.min(...rss)) / Math.max(...rss);
      expect(spread, `rss ${rss.join(', ')}`).toBeGreaterThan(0);
      expect(spread, `rss ${rss.join(', ')}`).toBeLessThan(0.1);

      await screen([slo, prof], 'both runs listed');

      // the SLO watch: what its checks measured, the latest value (not the 500 ms objective)
      await open(slo);
      const last = checks.at(-1)!.check.slo;
      const s1 = await screen(['availability (monitor)', 'latency p95 (monitor)'], 'the watch series');
      expect(seriesRow(s1, 'availability (monitor)')!.line).toMatch(new RegExp(`${vt.formatUnit(last.availability_pct, '%')}$`));
      expect(seriesRow(s1, 'latency p95 (monitor)')!.line.endsWith(` ${vt.formatUnit(last.latency_ms, 'ms')}`)).toBe(true);
      // availability stayed 100%: a flat line at the top, not a spike
      expect(new Set(seriesRow(s1, 'availability (monitor)')!.spark)).toEqual(new Set(['█']));
      expect(s1).not.toMatch(/CPU|memory \(RSS\)|\/api\/orders/);

      d.press(KEY.escape); // back to the list
      await screen(['WORKFLOW', 'STATUS'], 'the list');
      await open(prof);
      const s2 = await screen(['latency p95 /api/orders', 'CPU (sample)', 'memory (RSS) (sample)'], 'the profiling series');
      const lastSample = samples.at(-1)!;
      expect(seriesRow(s2, 'latency p95 /api/orders')!.line.endsWith(` ${vt.formatUnit(lastSample.probes.p1.latency_ms.p95, 'ms')}`)).toBe(true);
      expect(seriesRow(s2, 'CPU (sample)')!.line.endsWith(` ${vt.formatUnit(lastSample.stats.cpu_percent, '%')}`)).toBe(true);
      expect(s2).not.toMatch(/availability \(|\(monitor\)/);
      // a few % of memory noise: every sample drawn within one level of the others, near the top
      const mem = seriesRow(s2, 'memory (RSS) (sample)')!;
      expect(mem.line.endsWith(` ${vt.formatUnit(lastSample.stats.rss_bytes, 'B')}`)).toBe(true);
      const levels = [...mem.spark].map((c) => BLOCKS.indexOf(c));
      expect(levels.length, mem.line).toBe(Math.min(samples.length, 15));
      expect(Math.max(...levels) - Math.min(...levels), mem.line).toBeLessThanOrEqual(1);
      expect(Math.min(...levels), mem.line).toBeGreaterThanOrEqual(6);
    } finally {
      d.stop();
    }
  }, 60_000);
});
