import { readFileSync, statfsSync } from 'node:fs';
import { cpus, freemem, hostname, loadavg, totalmem, uptime } from 'node:os';
import { z } from 'zod';
import { portableMemory, portableMounts, portableProcs, usePortable } from '../portable.js';
import { allPids, requireProc, round, sampleProcs, type ProcStat } from '../proc.js';
import type { OpsTool } from '../tool.js';

const Input = z
  .object({
    top: z.number().int().min(0).max(50).default(5).describe('how many top processes (by CPU and by memory)'),
    sample_ms: z.number().int().min(50).max(10_000).default(500),
    mounts: z.array(z.string()).optional().describe('mount points to report (default: real filesystems: /proc/mounts on Linux, the OS list elsewhere)'),
  })
  .strict();

const TopProc = z.object({ pid: z.number(), name: z.string(), cpu_percent: z.number(), rss_bytes: z.number() });
const Output = z.object({
  sampled_at: z.string(),
  hostname: z.string(),
  platform: z.string(),
  uptime_s: z.number(),
  load: z.object({ '1m': z.number(), '5m': z.number(), '15m': z.number() }),
  cpus: z.number(),
  cpu_percent: z.number().describe('busy share of all cores over the sample, 0-100'),
  memory: z.object({ total_bytes: z.number(), available_bytes: z.number(), used_bytes: z.number(), used_percent: z.number(), swap_total_bytes: z.number().nullable(), swap_used_bytes: z.number().nullable() }),
  disks: z.array(z.object({ mount: z.string(), fs: z.string(), total_bytes: z.number(), free_bytes: z.number(), used_percent: z.number() })),
  top_cpu: z.array(TopProc),
  top_memory: z.array(TopProc),
});

function cpuTimes(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const c of cpus()) {
    const t = c.times;
    idle += t.idle;
    total += t.user + t.nice + t.sys + t.idle + t.irq;
  }
  return { idle, total };
}

function meminfo(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync('/proc/meminfo', 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+)\s*kB/.exec(line);
    if (m) out[m[1]] = Number(m[2]) * 1024;
  }
  return out;
}

const REAL_FS = /^(ext[234]|xfs|btrfs|zfs|f2fs|vfat|exfat|ntfs3?|apfs|hfs|overlay|tmpfs)$/;

function defaultMounts(): { mount: string; fs: string }[] {
  try {
    const seen = new Set<string>();
    return readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f.length > 2 && REAL_FS.test(f[2]) && !(f[2] === 'tmpfs' && f[1] !== '/tmp') && !f[1].startsWith('/snap/'))
      .filter((f) => (seen.has(f[1]) ? false : (seen.add(f[1]), true)))
      .slice(0, 20)
      .map((f) => ({ mount: f[1].replace(/\\040/g, ' '), fs: f[2] }));
  } catch {
    return [{ mount: '/', fs: 'unknown' }];
  }
}

const tool: OpsTool<typeof Input, typeof Output> = {
  name: 'system_stats',
  title: 'System stats',
  description: 'Load average, CPU use, memory and swap, disk use per mount, and the top processes by CPU and by memory.',
  input: Input,
  output: Output,
  annotations: { readOnlyHint: true, idempotentHint: false, openWorldHint: false },
  async run(args, ctx) {
    // Linux reads /proc (processes sampled over sample_ms); elsewhere the OS's own figures (portable.ts)
    const portable = usePortable();
    const linux = process.platform === 'linux' && !portable;
    const before = cpuTimes();
    const procsP: Promise<ProcStat[]> =
      linux && args.top > 0
        ? sampleProcs(allPids(), args.sample_ms, ctx.signal)
        : new Promise<ProcStat[]>((r) => setTimeout(() => r([]), args.sample_ms)).then(async (none) => (args.top > 0 ? portableProcs() : none));
    const procs = await procsP;
    const after = cpuTimes();
    const busy = after.total - before.total > 0 ? 1 - (after.idle - before.idle) / (after.total - before.total) : 0;

    let memory;
    if (linux) {
      requireProc('ops.system_stats');
      const m = meminfo();
      const total = m.MemTotal ?? totalmem();
      const available = m.MemAvailable ?? freemem();
      memory = { total_bytes: total, available_bytes: available, used_bytes: total - available, used_percent: round((100 * (total - available)) / total), swap_total_bytes: m.SwapTotal ?? null, swap_used_bytes: m.SwapTotal !== undefined ? m.SwapTotal - (m.SwapFree ?? 0) : null };
    } else {
      memory = await portableMemory();
    }

    const disks = [];
    const mounts = args.mounts ? args.mounts.map((m) => ({ mount: m, fs: 'unknown' })) : linux ? defaultMounts() : await portableMounts().catch(() => [{ mount: '/', fs: 'unknown' }]);
    for (const { mount, fs } of mounts) {
      try {
        const s = statfsSync(mount);
        const total = s.blocks * s.bsize;
        const free = s.bavail * s.bsize;
        disks.push({ mount, fs, total_bytes: total, free_bytes: free, used_percent: total > 0 ? round((100 * (total - free)) / total) : 0 });
      } catch {
        // a mount that vanished or that we may not stat
      }
    }
    const slim = (p: { pid: number; name: string; cpu_percent: number; rss_bytes: number }) => ({ pid: p.pid, name: p.name, cpu_percent: p.cpu_percent, rss_bytes: p.rss_bytes });
    const [l1, l5, l15] = loadavg();
    return {
      sampled_at: new Date().toISOString(),
      hostname: hostname(),
      platform: process.platform,
      uptime_s: Math.round(uptime()),
      load: { '1m': round(l1), '5m': round(l5), '15m': round(l15) },
      cpus: cpus().length,
      cpu_percent: round(busy * 100),
      memory,
      disks,
      top_cpu: [...procs].sort((a, b) => b.cpu_percent - a.cpu_percent).slice(0, args.top).map(slim),
      top_memory: [...procs].sort((a, b) => b.rss_bytes - a.rss_bytes).slice(0, args.top).map(slim),
    };
  },
};

export default tool;
