import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { OpsToolError } from './tool.js';

/** Linux exposes process and system figures in /proc; elsewhere the tools that need it say so. */
export function requireProc(tool: string): void {
  if (process.platform !== 'linux') throw new OpsToolError(`${tool} reads /proc, which ${process.platform} does not have; it works on Linux only`);
}

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) is 100 on every mainstream Linux architecture
const PAGE = 4096;

export interface ProcSample {
  pid: number;
  name: string;
  cmdline: string;
  state: string;
  /** utime + stime, in clock ticks. */
  ticks: number;
  threads: number;
  rssBytes: number;
  vmsBytes: number;
  /** Seconds since boot when it started. */
  startSec: number;
}

function bootUptime(): number {
  return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
}

/** One process, or null if it is gone (processes come and go between listing and reading). */
export function readProc(pid: number): ProcSample | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm may contain spaces and parentheses: the fields after it start at the last ')'
  const close = stat.lastIndexOf(')');
  const name = stat.slice(stat.indexOf('(') + 1, close);
  const f = stat.slice(close + 2).split(' ');
  // f[0] is field 3 (state); utime = field 14, stime 15, num_threads 20, starttime 22, vsize 23, rss 24
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    // kernel threads and exited processes have none
  }
  return {
    pid,
    name,
    cmdline,
    state: f[0],
    ticks: Number(f[11]) + Number(f[12]),
    threads: Number(f[17]),
    startSec: Number(f[19]) / CLK_TCK,
    vmsBytes: Number(f[20]),
    rssBytes: Number(f[21]) * PAGE,
  };
}

export function openFds(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null; // another user's process
  }
}

export function allPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

export function exePath(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return null;
  }
}

export interface ProcStat {
  pid: number;
  name: string;
  cmdline: string;
  state: string;
  cpu_percent: number;
  rss_bytes: number;
  vms_bytes: number;
  /** null where the OS does not say without privileges (the portable backend). */
  threads: number | null;
  open_fds: number | null;
  uptime_s: number;
  started_at: string;
}

/**
 * CPU % needs two readings: ticks used between them over the wall time, as a share of one core
 * (so a process using two cores fully shows 200, as top does).
 */
export async function sampleProcs(pids: number[], sampleMs: number, signal: AbortSignal): Promise<ProcStat[]> {
  const first = new Map<number, ProcSample>();
  for (const pid of pids) {
    const s = readProc(pid);
    if (s) first.set(pid, s);
  }
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, sampleMs);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new Error('cancelled'));
    }, { once: true });
  });
  const elapsedSec = (performance.now() - t0) / 1000;
  const up = bootUptime();
  const now = Date.now();
  const out: ProcStat[] = [];
  for (const [pid, a] of first) {
    const b = readProc(pid);
    if (!b) continue;
    const uptime = Math.max(0, up - b.startSec);
    out.push({
      pid,
      name: b.name,
      cmdline: b.cmdline.slice(0, 500),
      state: b.state,
      cpu_percent: round(((b.ticks - a.ticks) / CLK_TCK / elapsedSec) * 100),
      rss_bytes: b.rssBytes,
      vms_bytes: b.vmsBytes,
      threads: b.threads,
      open_fds: openFds(pid),
      uptime_s: round(uptime),
      started_at: new Date(now - uptime * 1000).toISOString(),
    });
  }
  return out;
}

export const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;
