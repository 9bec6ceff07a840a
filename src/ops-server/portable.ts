import { round, type ProcStat } from './proc.js';

/**
 * Process and system figures where Linux's /proc is missing (macOS, the BSDs, Windows), through
 * systeminformation, which asks the OS's own tools (`ps`, `sysctl`, `vm_stat`, `df` on macOS).
 * Linux keeps the /proc readers in proc.ts, so its figures do not change. What differs, and the
 * README says so: CPU % is the OS's figure (on macOS `ps` %cpu, a decaying average over about a
 * minute, not a sample over `sample_ms`), and threads and open file descriptors are not reported
 * (null), since reading them needs per-process privileges.
 *
 * OPSTREAM_OPS_BACKEND=portable selects this backend on Linux too (tests compare the two).
 */
export function usePortable(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OPSTREAM_OPS_BACKEND === 'portable') return true;
  if (env.OPSTREAM_OPS_BACKEND === 'proc') return false;
  return process.platform !== 'linux';
}

type Si = typeof import('systeminformation');
let si: Si | null = null;

/** Loaded on first use: the ops server starts as fast as before on Linux. */
async function lib(): Promise<Si> {
  si ??= ((await import('systeminformation')) as unknown as { default: Si }).default;
  return si;
}

const STATE: Record<string, string> = { running: 'R', sleeping: 'S', stopped: 'T', zombie: 'Z', blocked: 'D', idle: 'I', unknown: '?' };

function toStat(p: Awaited<ReturnType<Si['processes']>>['list'][number], now: number): ProcStat {
  const started = Date.parse(p.started?.replace(' ', 'T') ?? '');
  const uptime = Number.isFinite(started) ? Math.max(0, (now - started) / 1000) : 0;
  return {
    pid: p.pid,
    name: p.name,
    cmdline: `${p.command ?? ''}${p.params ? ` ${p.params}` : ''}`.trim().slice(0, 500),
    state: STATE[p.state] ?? p.state ?? '?',
    cpu_percent: round(p.cpu ?? 0),
    // systeminformation reports kilobytes
    rss_bytes: Math.round((p.memRss ?? 0) * 1024),
    vms_bytes: Math.round((p.memVsz ?? 0) * 1024),
    threads: null,
    open_fds: null,
    uptime_s: round(uptime),
    started_at: new Date(now - uptime * 1000).toISOString(),
  };
}

/** Every process (the caller filters), as ProcStat. */
export async function portableProcs(): Promise<ProcStat[]> {
  const s = await lib();
  const now = Date.now();
  return (await s.processes()).list.map((p) => toStat(p, now));
}

export async function portableMemory(): Promise<{ total_bytes: number; available_bytes: number; used_bytes: number; used_percent: number; swap_total_bytes: number | null; swap_used_bytes: number | null }> {
  const m = await (await lib()).mem();
  const available = m.available || m.free;
  return {
    total_bytes: m.total,
    available_bytes: available,
    used_bytes: m.total - available,
    used_percent: round((100 * (m.total - available)) / m.total),
    swap_total_bytes: Number.isFinite(m.swaptotal) ? m.swaptotal : null,
    swap_used_bytes: Number.isFinite(m.swapused) ? m.swapused : null,
  };
}

/** Real filesystems (what `df` lists), at most 20. */
export async function portableMounts(): Promise<{ mount: string; fs: string }[]> {
  const list = await (await lib()).fsSize();
  const seen = new Set<string>();
  return list
    .filter((d) => d.mount && d.size > 0 && !/^(devfs|autofs|map |tmpfs)/.test(d.fs) && !d.mount.startsWith('/System/Volumes/') && !seen.has(d.mount) && seen.add(d.mount))
    .slice(0, 20)
    .map((d) => ({ mount: d.mount, fs: d.type || 'unknown' }));
}
