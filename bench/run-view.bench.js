// The run projection (issue 18): one reducer and one view behind every screen must stay cheap for
// long runs. An SLO watch with 10,000 recorded events (2,000 checks: each a probe and an objective
// check starting and succeeding, plus the iteration; a breach every 50th check, one waiting for an
// approval at the end) is folded with the shared reducer, then projected and rendered as
// `status` text, Slack blocks and the dashboard's run view, as each screen does on a change.
//   1. fold: all 10,000 events applied from scratch (what a dashboard or a `logs` replay does), p99
//   2. render: projecting the folded state and rendering it for every screen (per change), p99
// RUN_VIEW_EVENTS sets the event count (10,000; quick 2,000), RUN_VIEW_ROUNDS the samples (50; quick 10).
import { percentile, runPartsHere, size } from './support.js';

const EVENTS = size('RUN_VIEW_EVENTS', 10_000, 2_000);
const ROUNDS = size('RUN_VIEW_ROUNDS', 50, 10);

const T0 = Date.parse('2030-01-01T00:00:00Z');
const iso = (ms) => new Date(T0 + ms).toISOString();

function probe(ok) {
  return { url: 'http://127.0.0.1:8080/api/checkout', method: 'GET', started_at: iso(0), duration_ms: 40, count: 20, responses: 20, ok: ok ? 20 : 0, errors: 0, timeouts: 0, status_codes: ok ? { 200: 20 } : { 504: 20 }, latency_ms: { min: 3, mean: 9, p50: 8, p95: 14, p99: 20, max: 22 }, error_samples: [] };
}
function check(ok) {
  return { summary: { headline: ok ? 'healthy' : 'breach', healthy: ok }, slo: { objectives: { availability_pct: 99, latency_ms: 500, latency_percentile: 'p95' }, met: ok, status: ok ? 'met' : 'breached', checks: 1, breaching_checks: ok ? 0 : 1, availability_pct: ok ? 100 : 0, latency_ms: 14, reason: ok ? null : 'availability 0% < 99%', breach_started_at: null, recovered_at: null, time_to_recovery_ms: null, time_to_recovery: null } };
}

function recorded(n) {
  const evs = [];
  let seq = 0;
  let t = 0;
  const push = (e) => evs.push({ seq: ++seq, at: iso((t += 50)), run_id: 'r_bench0001', ...e });
  const outline = { steps: [{ id: 'monitor', kind: 'repeat', watch: true, children: [{ id: 'probe', kind: 'tool' }, { id: 'check', kind: 'tool' }, { id: 'approve', kind: 'approval', name: 'remediation' }] }], defaults: { interval: '5m', requests: 20 } };
  push({ type: 'run.created', trigger: 'cli', params: { service: 'checkout', interval: '5m', requests: 20 }, workflow: 'slo_monitoring', outline, history_ms: null });
  push({ type: 'run.started' });
  push({ type: 'step.started', step: 'monitor', attempt: 1, key: 'k', for_ms: 86_400_000, every_ms: 300_000 });
  for (let i = 0; seq + 5 <= n - 4; i++) {
    const ok = i % 50 !== 49;
    for (const [id, out] of [['probe', probe(ok)], ['check', check(ok)]]) {
      push({ type: 'step.started', step: `monitor[${i}].${id}`, attempt: 1, key: 'k' });
      push({ type: 'step.succeeded', step: `monitor[${i}].${id}`, output: out });
    }
    push({ type: 'repeat.iteration', step: 'monitor', index: i, output: { probe: probe(ok), check: check(ok), approve: null }, next_at: null });
  }
  const last = Math.floor(seq / 5);
  push({ type: 'step.started', step: `monitor[${last}].check`, attempt: 1, key: 'k' });
  push({ type: 'step.succeeded', step: `monitor[${last}].check`, output: check(false) });
  push({ type: 'step.started', step: `monitor[${last}].approve`, attempt: 1, key: 'k' });
  push({ type: 'step.waiting', step: `monitor[${last}].approve`, waiting_for: { kind: 'approval', step: `monitor[${last}].approve`, prompt: 'Apply the remediation?', until: null, approvers: [] } });
  return evs;
}

async function render() {
  const { applyEvent, emptyRun, projectRun } = await import('../dist/protocol/run-view.js');
  const { runText } = await import('../dist/ui/runs.js');
  const { runHeader } = await import('../dist/daemon/slack/blocks.js');
  const { progressLabel, seriesOf } = await import('../dist/ui/dashboard/view-text.js');
  const evs = recorded(EVENTS);
  const fold = () => {
    const st = emptyRun('r_bench0001', 'slo_monitoring', evs[0].at);
    for (const e of evs) {
      applyEvent(st, e);
      st.seq = e.seq;
    }
    return st;
  };
  const now = T0 + evs.length * 50 + 1000;
  const screens = (st) => {
    const view = projectRun(st, { now });
    const dash = { ...view, read_at: now };
    runText(view, now);
    runHeader(view);
    progressLabel(dash, now, true);
    seriesOf(dash);
    return view;
  };
  // warm up (JIT), and check the figures are the run's: 40 breaches, one open
  const v = screens(fold());
  if (v.progress.watch?.breaches !== Math.floor((EVENTS - 7) / 5 / 50) + 1) throw new Error(`unexpected breaches ${v.progress.watch?.breaches}`);
  const folds = [];
  const renders = [];
  let st = null;
  for (let k = 0; k < ROUNDS; k++) {
    const t = performance.now();
    st = fold();
    folds.push(performance.now() - t);
  }
  // rendering is what happens on every change: measured on its own, after the folds' garbage
  for (let k = 0; k < ROUNDS * 4; k++) {
    const t = performance.now();
    screens(st);
    renders.push(performance.now() - t);
  }
  folds.sort((a, b) => a - b);
  renders.sort((a, b) => a - b);
  return [
    { id: 'run_view_fold_10k_p99_ms', name: `run view: fold ${evs.length.toLocaleString('en')} recorded events with the shared reducer, p99`, value: percentile(folds, 99), unit: 'ms', note: `p50 ${percentile(folds, 50).toFixed(1)} ms; ${ROUNDS} rounds` },
    { id: 'run_view_render_10k_p99_ms', name: `run view: project a run with ${evs.length.toLocaleString('en')} events and render it (status text, Slack blocks, dashboard row and series), p99`, value: percentile(renders, 99), unit: 'ms', goal: { op: '<', value: 50 }, note: `p50 ${percentile(renders, 50).toFixed(1)} ms; ${renders.length} renders; ${v.progress.watch.checks} checks, ${v.progress.watch.breaches} breaches` },
  ];
}

export async function run() {
  return runPartsHere('run_view', { render });
}
