import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolPool } from '../../src/daemon/tools/pool.js';
import { opsSpec } from '../../src/daemon/tools/server-specs.js';
import { memoryLog } from '../support/tools-fixtures.js';

// The ops server's two backends side by side: /proc (Linux) and the portable one macOS uses
// (systeminformation), forced here with OPSTREAM_OPS_BACKEND=portable. Same tool schema; the
// figures of one process and of the machine must agree.
let proc: ToolPool;
let portable: ToolPool;
let child: ChildProcess;

beforeAll(async () => {
  const spec = opsSpec([]);
  proc = new ToolPool([{ ...spec, env: { ...spec.env, OPSTREAM_OPS_BACKEND: 'proc' } }], { log: memoryLog().log });
  portable = new ToolPool([{ ...spec, env: { ...spec.env, OPSTREAM_OPS_BACKEND: 'portable' } }], { log: memoryLog().log });
  // a process that holds ~40 MB so its RSS is well above noise
  child = spawn(process.execPath, ['-e', 'const b = Buffer.alloc(40 * 1024 * 1024, 1); setInterval(() => b[0]++, 1000)', 'opstream-portable-probe'], { stdio: 'ignore' });
});

afterAll(async () => {
  child.kill('SIGKILL');
  await Promise.all([proc.stop(), portable.stop()]);
});

type Stats = { pid: number; name: string; count: number; rss_bytes: number; threads: number | null; open_fds: number | null; cpu_percent: number; processes: { cmdline: string; state: string; uptime_s: number }[] };

describe('ops tools on systems without /proc (the portable backend)', () => {
  it('process_stats reports the same process with the same schema; threads and fds are null there', async () => {
    const byProc = await proc.call({ tool: 'ops.process_stats', args: { pid: child.pid!, sample_ms: 100 } });
    const byLib = await portable.call({ tool: 'ops.process_stats', args: { pid: child.pid!, sample_ms: 100 } });
    expect(byProc.ok, byProc.text).toBe(true);
    expect(byLib.ok, byLib.text).toBe(true);
    const a = byProc.structured as Stats;
    const b = byLib.structured as Stats;
    expect(b).toMatchObject({ pid: child.pid, count: 1, name: a.name, threads: null, open_fds: null });
    expect(a.threads).toBeGreaterThan(0);
    expect(a.open_fds).toBeGreaterThan(0);
    expect(b.processes[0].cmdline).toContain('opstream-portable-probe');
    expect(Math.abs(b.rss_bytes - a.rss_bytes) / a.rss_bytes).toBeLessThan(0.25);
    expect(b.rss_bytes).toBeGreaterThan(40 * 1024 * 1024);
    expect(b.cpu_percent).toBeGreaterThanOrEqual(0);

    const byName = await portable.call({ tool: 'ops.process_stats', args: { name: 'opstream-portable-probe' } });
    expect((byName.structured as Stats).processes.length).toBeGreaterThanOrEqual(1);
    const missing = await portable.call({ tool: 'ops.process_stats', args: { pid: 2 ** 22 + 7 } });
    expect(missing.text).toBe(`no process with pid ${2 ** 22 + 7}`);
  });

  it('system_stats reports memory, disks and top processes from the OS', async () => {
    const a = (await proc.call({ tool: 'ops.system_stats', args: { top: 3, sample_ms: 100 } })).structured as { memory: { total_bytes: number; swap_total_bytes: number | null }; disks: { mount: string }[] };
    const r = await portable.call({ tool: 'ops.system_stats', args: { top: 3, sample_ms: 100 } });
    expect(r.ok, r.text).toBe(true);
    const b = r.structured as typeof a & { top_memory: { pid: number; rss_bytes: number }[]; top_cpu: unknown[] };
    expect(b.memory.total_bytes).toBe(a.memory.total_bytes);
    expect(b.memory.swap_total_bytes).toBe(a.memory.swap_total_bytes);
    expect(b.disks.length).toBeGreaterThan(0);
    expect(b.top_memory).toHaveLength(3);
    expect(b.top_memory[0].rss_bytes).toBeGreaterThan(0);
    expect(b.top_cpu.length).toBeLessThanOrEqual(3);
  });
});
