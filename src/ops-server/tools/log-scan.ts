import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import type { ScanJob, ScanReply, ScanResult } from '../log-scan-worker.js';
import { OpsToolError, type OpsTool } from '../tool.js';

/** One argument may not make the ops server read more than this (the scan keeps no more than a group of lines at a time, but reading costs time). */
export const MAX_TAIL_BYTES = 64 * 1024 * 1024;

const Input = z
  .object({
    path: z.string().min(1).describe('log file to scan'),
    patterns: z
      .array(z.string().min(1).max(500))
      .min(1)
      .max(50)
      .default(['\\b(error|err|fatal|panic|exception)\\b'])
      .describe('regular expressions in RE2 syntax (linear time: no lookaround, no backreferences); a line matching any counts as an error line'),
    case_sensitive: z.boolean().default(false),
    tail_bytes: z.number().int().min(1).max(MAX_TAIL_BYTES).default(16 * 1024 * 1024).describe('scan only the last N bytes (at most 64 MiB)'),
    top: z.number().int().min(0).max(100).default(10).describe('how many top messages'),
    timeout_ms: z.number().int().min(100).max(300_000).default(60_000).describe('the scan is stopped after this long (the daemon gives a call at most 5 minutes)'),
  })
  .strict();

const Occurrence = z.object({ line: z.number(), at: z.string().nullable(), text: z.string() });
const Output = z.object({
  path: z.string(),
  file_bytes: z.number(),
  bytes_scanned: z.number(),
  from_offset: z.number(),
  lines_scanned: z.number(),
  error_count: z.number().describe('lines matching at least one pattern'),
  patterns: z.array(z.object({ pattern: z.string(), count: z.number(), first: Occurrence.nullable(), last: Occurrence.nullable() })),
  errors_per_minute: z.array(z.object({ minute: z.string(), errors: z.number(), lines: z.number() })),
  lines_without_time: z.number(),
  top_messages: z.array(z.object({ message: z.string(), count: z.number(), example: z.string() })),
});

const tool: OpsTool<typeof Input, typeof Output> = {
  name: 'log_scan',
  title: 'Log scan',
  description:
    'Scans a log file (or its last N bytes, at most 64 MiB) for patterns: counts per pattern with first and last occurrence, errors per minute, and the most frequent error messages (numbers and ids folded). ' +
    'Patterns are RE2 syntax, matched in linear time (no lookaround or backreferences); a line is matched on its first 256 KiB.',
  input: Input,
  output: Output,
  annotations: { readOnlyHint: true, idempotentHint: false, openWorldHint: false },
  async run(args, ctx) {
    let size: number;
    try {
      const st = await stat(args.path);
      if (!st.isFile()) throw new OpsToolError(`${args.path} is not a regular file`);
      size = st.size;
    } catch (e) {
      if (e instanceof OpsToolError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      throw new OpsToolError(code === 'ENOENT' ? `no such file: ${args.path}` : code === 'EACCES' ? `permission denied: ${args.path}` : `cannot read ${args.path}: ${(e as Error).message}`);
    }
    const from = Math.max(0, size - args.tail_bytes);
    const job: ScanJob = { path: args.path, from, to: size, patterns: args.patterns, caseSensitive: args.case_sensitive, top: args.top, year: new Date().getUTCFullYear() };
    const r = await inWorker(job, args.timeout_ms, ctx.signal);
    return { path: args.path, file_bytes: size, from_offset: from, ...r };
  },
};

/** dist/ops-server/log-scan-worker.js, beside this module's folder (or in dist/ when this runs from src/ in tests). */
function workerFile(): string {
  const beside = fileURLToPath(new URL('../log-scan-worker.js', import.meta.url));
  return existsSync(beside) ? beside : fileURLToPath(new URL('../../../dist/ops-server/log-scan-worker.js', import.meta.url));
}

function startWorker(): Worker {
  // stdout: true keeps anything the thread prints off the server's stdout, which is the MCP channel
  const w = new Worker(workerFile(), { workerData: { logScan: true }, stdout: true, stderr: true, resourceLimits: { maxOldGenerationSizeMb: 256 } });
  w.stdout.resume();
  w.stderr.resume();
  w.on('error', () => undefined); // seen by the call that has it (its exit follows)
  w.once('exit', () => {
    if (spare === w) spare = null; // a spare that died is not handed a job
  });
  w.unref(); // a spare does not keep the server alive
  return w;
}

/** A thread started (and RE2 loaded) ahead of the next scan, which then starts at once. */
let spare: Worker | null = null;

/** Runs one scan in its own thread, ended when the time is up or the call is cancelled. */
function inWorker(job: ScanJob, timeoutMs: number, signal: AbortSignal): Promise<ScanResult> {
  const w = spare ?? startWorker();
  spare = null;
  w.ref();
  return new Promise<ScanResult>((resolve, reject) => {
    let settled = false;
    const end = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      void w.terminate();
      fn();
    };
    const timer = setTimeout(
      () => end(() => reject(new OpsToolError(`the scan of ${job.path} was stopped after ${timeoutMs} ms; scan fewer bytes (tail_bytes) or use fewer patterns`))),
      timeoutMs,
    );
    const onAbort = (): void => end(() => reject(new OpsToolError('cancelled', true)));
    signal.addEventListener('abort', onAbort, { once: true });
    w.once('message', (m: ScanReply) => end(() => (m.ok ? resolve(m.result) : reject(new OpsToolError(m.message)))));
    w.once('error', (e: Error & { code?: string }) =>
      end(() => reject(new OpsToolError(e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `the scan of ${job.path} ran out of memory; scan fewer bytes (tail_bytes)` : `log scan failed: ${e.message}`))),
    );
    w.once('exit', (code) => end(() => reject(new OpsToolError(`log scan ended without an answer (exit code ${code})`))));
    w.postMessage(job);
  }).finally(() => {
    // the next one warms up after this scan, not during it (2-core machines)
    spare ??= startWorker();
  });
}

export default tool;
