// Workflow definition costs the engine pays on every step and at every daemon start: rendering a
// step's templates, evaluating a `when`, resolving `start` words, and loading the workflow dir.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveStart } from '../dist/workflows/params.js';
import { loadWorkflows, shippedWorkflowsDir } from '../dist/workflows/registry.js';
import { evaluateCondition, render } from '../dist/workflows/template.js';

function perSecond(fn, ms = 500) {
  for (let i = 0; i < 1000; i++) fn(); // warm up
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 200; i++) fn();
    n += 200;
    now = performance.now();
  }
  return (n / (now - start)) * 1000;
}

export async function run() {
  const scope = { params: { service: 'api', url: 'http://127.0.0.1:8080/health', count: 20 }, steps: { a: { output: { count: 4, items: [1, 2, 3] }, status: 'succeeded' } }, run: { id: 'r_x', workflow: 'w', step_key: 'r_x:a:1' } };
  const withArgs = { url: '{{ params.url }}', count: '{{ params.count }}', label: 'probe {{ params.service }} #{{ steps.a.output.count }}', fixed: 3 };
  const renderRate = perSecond(() => render(withArgs, scope));
  const whenRate = perSecond(() => evaluateCondition('steps.a.output.count > 3 && steps.a.status == "succeeded"', scope));

  const dir = mkdtempSync(join(tmpdir(), 'ops-wfbench-'));
  const user = join(dir, 'user');
  mkdirSync(user);
  for (let i = 0; i < 100; i++) {
    writeFileSync(join(user, `w${i}.yaml`), `id: w${i}\ncommand: v${i}\nusage: "<target> [for <d>]"\nparams:\n  target: { type: string, required: true }\n  d: { type: duration, default: 5m }\ntools: [ops.http_probe]\nsteps:\n  - id: probe\n    tool: ops.http_probe\n    with: { url: "http://{{ params.target }}" }\n  - id: note\n    when: "steps.probe.output.ok == false"\n    notify: { text: "{{ params.target }} is down after {{ params.d }}" }\n`);
  }
  const t0 = performance.now();
  const set = loadWorkflows({ shipped: shippedWorkflowsDir(), user });
  const loadMs = performance.now() - t0;
  const t1 = performance.now();
  loadWorkflows({ shipped: shippedWorkflowsDir(), user });
  const reloadMs = performance.now() - t1;
  const startRate = perSecond(() => resolveStart(set, ['v42', 'db-1', 'for', '2h']));
  rmSync(dir, { recursive: true, force: true });
  return [
    { id: 'template_render_ops_per_s', name: 'render a tool step with 3 templates', value: renderRate, unit: 'ops/s' },
    { id: 'when_eval_ops_per_s', name: 'evaluate a `when` expression', value: whenRate, unit: 'ops/s' },
    { id: 'start_words_resolve_ops_per_s', name: 'resolve `start VERB words` to typed params', value: startRate, unit: 'ops/s' },
    { id: 'workflows_load_100_cold_ms', name: 'load + validate 100 workflow files (cold)', value: loadMs, unit: 'ms', note: `${set.workflows.size} loaded, ${set.problems.length} problems` },
    { id: 'workflows_reload_100_ms', name: 'reload the same 100 files (warm, as on a file change)', value: reloadMs, unit: 'ms' },
  ];
}
