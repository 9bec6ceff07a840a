import { z } from 'zod';
import { portableProcs, usePortable } from '../portable.js';
import { allPids, readProc, requireProc, round, sampleProcs, type ProcStat } from '../proc.js';
import { OpsToolError, type OpsTool } from '../tool.js';

const Input = z
  .object({
    pid: z.number().int().positive().optional().describe('process id'),
    name: z.string().min(1).max(200).optional().describe('process name (exact comm) or a substring of its command line'),
    sample_ms: z.number().int().min(50).max(10_000).default(500).describe('CPU % is measured over this window'),
    limit: z.number().int().min(1).max(200).default(20).describe('at most this many matching processes'),
  })
  .strict();

const Proc = z.object({
  pid: z.number(),
  name: z.string(),
  cmdline: z.string(),
  state: z.string(),
  cpu_percent: z.number(),
  rss_bytes: z.number(),
  vms_bytes: z.number(),
  /** null where the OS does not report it (macOS: see README, "What the ops tools measure"). */
  threads: z.number().nullable(),
  open_fds: z.number().nullable(),
  uptime_s: z.number(),
  started_at: z.string(),
});

const Output = z.object({
  sampled_at: z.string(),
  sample_ms: z.number(),
  query: z.string(),
  /** The first process, or the sum over all matches for cpu_percent, rss_bytes, threads and open_fds. */
  pid: z.number(),
  name: z.string(),
  count: z.number(),
  cpu_percent: z.number(),
  rss_bytes: z.number(),
  threads: z.number().nullable(),
  open_fds: z.number().nullable(),
  uptime_s: z.number(),
  processes: z.array(Proc),
});

const tool: OpsTool<typeof Input, typeof Output> = {
  name: 'process_stats',
  title: 'Process stats',
  description:
    'CPU %, RSS, threads, open file descriptors and uptime of a process by pid, or of every process matching a name ' +
    '(Linux: /proc, CPU sampled over sample_ms; macOS and others: the OS process table, CPU as the OS averages it, no threads or fds). ' +
    'With several matches the top-level figures are their sum.',
  input: Input,
  output: Output,
  annotations: { readOnlyHint: true, idempotentHint: false, openWorldHint: false },
  async run(args, ctx) {
    if ((args.pid === undefined) === (args.name === undefined)) throw new OpsToolError('give exactly one of pid or name');
    const procs = usePortable() ? await portable(args) : await fromProc(args, ctx.signal);
    if (procs.length === 0) throw new OpsToolError(`the process (${queryOf(args)}) exited while it was being sampled`);
    const query = queryOf(args);
    const fds = procs.map((p) => p.open_fds).filter((n): n is number => n !== null);
    return {
      sampled_at: new Date().toISOString(),
      sample_ms: args.sample_ms,
      query,
      pid: procs[0].pid,
      name: procs[0].name,
      count: procs.length,
      cpu_percent: round(procs.reduce((a, p) => a + p.cpu_percent, 0)),
      rss_bytes: procs.reduce((a, p) => a + p.rss_bytes, 0),
      threads: procs.every((p) => p.threads === null) ? null : procs.reduce((a, p) => a + (p.threads ?? 0), 0),
      open_fds: fds.length ? fds.reduce((a, n) => a + n, 0) : null,
      uptime_s: procs[0].uptime_s,
      processes: procs,
    };
  },
};

export default tool;

function queryOf(args: { pid?: number; name?: string }): string {
  return args.pid !== undefined ? `pid ${args.pid}` : `name ${args.name}`;
}

/** Linux: /proc, CPU % over `sample_ms`. */
async function fromProc(args: { pid?: number; name?: string; sample_ms: number; limit: number }, signal: AbortSignal): Promise<ProcStat[]> {
  requireProc('ops.process_stats');
  let pids: number[];
  if (args.pid !== undefined) {
    if (!readProc(args.pid)) throw new OpsToolError(`no process with pid ${args.pid}`);
    pids = [args.pid];
  } else {
    const name = args.name!;
    const self = process.pid;
    pids = allPids().filter((pid) => {
      if (pid === self) return false;
      const p = readProc(pid);
      return p !== null && (p.name === name || p.cmdline.includes(name));
    });
    if (pids.length === 0) throw new OpsToolError(`no process named "${name}" (matched against the process name and command line)`);
    pids = pids.slice(0, args.limit);
  }
  return sampleProcs(pids, args.sample_ms, signal);
}

/** Elsewhere: the OS process table through systeminformation (see ../portable.ts). */
async function portable(args: { pid?: number; name?: string; limit: number }): Promise<ProcStat[]> {
  const all = await portableProcs();
  if (args.pid !== undefined) {
    const p = all.find((x) => x.pid === args.pid);
    if (!p) throw new OpsToolError(`no process with pid ${args.pid}`);
    return [p];
  }
  const name = args.name!;
  const found = all.filter((p) => p.pid !== process.pid && (p.name === name || p.cmdline.includes(name)));
  if (found.length === 0) throw new OpsToolError(`no process named "${name}" (matched against the process name and command line)`);
  return found.slice(0, args.limit);
}
