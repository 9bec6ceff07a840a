import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_SERVER, cpuTicks, rssBytes, startDemoService, type DemoService } from '../support/demo-service.js';
import { waitFor } from '../support/home.js';

const CLK_TCK = 100; // Linux USER_HZ

interface AdminState {
  pid: number;
  faults: string[];
  pool: { size: number };
  dependency: { timeout_ms: number };
  worker: { generation: number; spinning: boolean; leaking: boolean; retained_bytes: number };
}

/** Share of one core the process used over a window of at least `minMs` (polled, not slept). */
async function cpuShare(pid: number, minMs = 1500): Promise<number> {
  const t0 = performance.now();
  const c0 = cpuTicks(pid);
  await waitFor(() => performance.now() - t0 >= minMs, { what: 'measurement window' });
  return (cpuTicks(pid) - c0) / CLK_TCK / ((performance.now() - t0) / 1000);
}

describe('demo service', () => {
  let svc: DemoService | undefined;
  afterEach(async () => {
    await svc?.stop();
    svc = undefined;
  });

  it('serves its endpoints healthy and logs access lines with timestamps', async () => {
    svc = await startDemoService();
    expect(svc.port).toBeGreaterThan(0);
    expect(svc.pid).toBe(svc.child.pid);
    const health = await svc.get('/health');
    expect(health).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect((await svc.get('/api/orders')).status).toBe(200);
    const search = await svc.get('/api/search?q=ada');
    expect(search.status).toBe(200);
    expect((search.body as { hits: number }).hits).toBeGreaterThan(0);
    expect((await svc.post('/api/checkout', { order: 1001 })).status).toBe(200);
    expect((await svc.get('/api/checkout')).status).toBe(200);
    expect((await svc.get('/nope')).status).toBe(404);
    const state = (await svc.get('/admin/state')).body as AdminState;
    expect(state.faults).toEqual([]);
    expect(state.pid).toBe(svc.pid);
    const log = await waitFor(() => {
      const text = readFileSync(svc!.log, 'utf8');
      return text.includes('POST /api/checkout 200') ? text : null;
    }, { what: 'access log lines' });
    expect(log).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}GET \/health 200 [\d.]+ms$/m);
    expect(log).not.toMatch(/ERROR/);
  });

  it('rejects an unknown fault and a bad port with a one-line reason', () => {
    const bad = spawnSync(process.execPath, [DEMO_SERVER, '--fault', 'meteor-strike'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown fault "meteor-strike"/);
    const port = spawnSync(process.execPath, [DEMO_SERVER, '--port', 'eighty'], { encoding: 'utf8' });
    expect(port.status).toBe(2);
    expect(port.stderr).toMatch(/--port must be a number/);
  });

  it('slow-endpoint: search serializes on a 1-connection pool until the pool is raised', async () => {
    svc = await startDemoService(['--fault', 'slow-endpoint']);
    const slow = await svc.get('/api/search?q=a');
    expect(slow.status).toBe(200);
    // 10 shard queries of 60 ms each, one at a time
    expect(slow.ms).toBeGreaterThanOrEqual(550);
    expect(((await svc.get('/admin/state')).body as AdminState).faults).toEqual(['slow-endpoint']);

    const fix = await svc.post('/admin/pool', { size: 20 });
    expect(fix).toMatchObject({ status: 200, body: { pool_size: 20, previous: 1, faults: [] } });
    // in parallel now: well under the serialized 600 ms even on a loaded machine
    const fast = await waitFor(async () => {
      const r = await svc!.get('/api/search?q=a');
      return r.ms < 400 ? r : null;
    }, { what: 'a fast search' });
    expect(fast.status).toBe(200);
    expect((await svc.post('/admin/pool', { size: 0 })).status).toBe(400);
  });

  it('dependency-timeout: checkout fails with 504 and logs errors until the timeout is changed', async () => {
    svc = await startDemoService(['--fault', 'dependency-timeout']);
    const failed = await svc.post('/api/checkout', {});
    expect(failed.status).toBe(504);
    expect(failed.body).toMatchObject({ error: 'dependency timeout', dependency: 'payments' });
    expect((await svc.get('/health')).status).toBe(200); // only the dependent endpoint fails
    await waitFor(() => /ERROR POST \/api\/checkout 504 .*payments timed out/.test(readFileSync(svc!.log, 'utf8')), { what: 'an error log line' });

    const fix = await svc.post('/admin/timeout', { ms: 2000 });
    expect(fix).toMatchObject({ status: 200, body: { timeout_ms: 2000, faults: [] } });
    expect((await svc.post('/api/checkout', {})).status).toBe(200);
    expect((await svc.post('/admin/timeout', { ms: 'soon' })).status).toBe(400);
  });

  it('cpu-saturation: the worker burns a core until it is restarted', async () => {
    svc = await startDemoService(['--fault', 'cpu-saturation']);
    const busy = await waitFor(async () => {
      const share = await cpuShare(svc!.pid);
      return share >= 0.5 ? share : null;
    }, { timeoutMs: 30_000, what: 'CPU saturation' });
    expect(busy).toBeGreaterThanOrEqual(0.5);
    expect((await svc.get('/health')).status).toBe(200); // the event loop is free: the worker spins

    const fix = await svc.post('/admin/restart-worker');
    expect(fix).toMatchObject({ status: 200, body: { generation: 2, faults: [] } });
    const idle = await waitFor(async () => {
      const share = await cpuShare(svc!.pid);
      return share < 0.2 ? share : null;
    }, { timeoutMs: 30_000, what: 'CPU back to idle' });
    expect(idle).toBeLessThan(0.2);
  });

  it('memory-growth: RSS grows with retained allocations and restarting the worker frees them', async () => {
    svc = await startDemoService(['--fault', 'memory-growth', '--leak-mb-per-s', '25', '--max-leak-mb', '200']);
    const base = rssBytes(svc.pid);
    await waitFor(() => rssBytes(svc!.pid) - base >= 60 * 1048576, { timeoutMs: 30_000, what: 'RSS growth of 60 MB' });
    const grown = rssBytes(svc.pid);
    const before = (await svc.get('/admin/state')).body as AdminState;
    expect(before.faults).toEqual(['memory-growth']);
    expect(before.worker.retained_bytes).toBeGreaterThan(40 * 1048576);

    const fix = await svc.post('/admin/restart-worker');
    expect(fix.status).toBe(200);
    expect((fix.body as { freed_bytes: number }).freed_bytes).toBeGreaterThan(40 * 1048576);
    await waitFor(() => rssBytes(svc!.pid) < grown - 40 * 1048576, { what: 'RSS to drop after the restart' });
    const after = await waitFor(async () => {
      const s = (await svc!.get('/admin/state')).body as AdminState;
      return s.worker.generation === 2 ? s : null;
    });
    expect(after.faults).toEqual([]);
    expect(after.worker.retained_bytes).toBe(0);
  });

  it('switches faults at run time through POST /admin/faults', async () => {
    svc = await startDemoService();
    const on = await svc.post('/admin/faults', { enable: ['dependency-timeout', 'slow-endpoint'] });
    expect((on.body as AdminState).faults.sort()).toEqual(['dependency-timeout', 'slow-endpoint']);
    expect((await svc.post('/api/checkout')).status).toBe(504);
    const set = await svc.post('/admin/faults', { faults: ['cpu-saturation'] });
    expect((set.body as AdminState).faults).toEqual(['cpu-saturation']);
    await waitFor(async () => ((await svc!.get('/admin/state')).body as AdminState).worker.spinning, { what: 'worker spinning' });
    const off = await svc.post('/admin/faults', { disable: ['cpu-saturation'] });
    expect((off.body as AdminState).faults).toEqual([]);
    expect((await svc.post('/admin/faults', { enable: ['gremlins'] })).status).toBe(400);
  });
});
