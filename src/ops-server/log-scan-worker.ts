import { open } from 'node:fs/promises';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { compilePattern, joinSafe, patternError, type RE2 } from './patterns.js';

/**
 * The matching half of `ops.log_scan`, run in a worker thread of the ops server, one per call: the
 * patterns come from callers (a workflow, a model, a chat user), so whatever they cost is paid
 * here, under the call's time limit (the ops server ends the thread) and a memory limit, while the
 * server's own thread keeps answering other calls. A fresh thread per call also means a scan that
 * exhausts RE2's fixed wasm heap cannot leave a broken matcher behind for the next one.
 */

export interface ScanJob {
  path: string;
  /** Byte range to read: [from, to). */
  from: number;
  to: number;
  patterns: string[];
  caseSensitive: boolean;
  top: number;
  year: number;
}

export interface Occurrence {
  line: number;
  at: string | null;
  text: string;
}

export interface ScanResult {
  bytes_scanned: number;
  lines_scanned: number;
  error_count: number;
  patterns: { pattern: string; count: number; first: Occurrence | null; last: Occurrence | null }[];
  errors_per_minute: { minute: string; errors: number; lines: number }[];
  lines_without_time: number;
  top_messages: { message: string; count: number; example: string }[];
}

export type ScanReply = { ok: true; result: ScanResult } | { ok: false; message: string };

/** A line longer than this is matched on its first part (RE2's wasm heap is a fixed 16 MiB). */
export const MAX_LINE_BYTES = 256 * 1024;
/** Lines are read and counted in groups of about this size (what the thread holds at a time). */
const GROUP_CHARS = 256 * 1024;
const GROUP_LINES = 4096;
/** A block handed to the matcher at once (see matching): kept well under RE2's fixed heap, which also holds the compiled patterns. */
const BLOCK_LINES = 64;
const BLOCK_CHARS = 64 * 1024;
const READ_BYTES = 1024 * 1024;

const ISO = /(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)(Z|[+-]\d{2}:?\d{2})?/;
const SYSLOG = /^([A-Z][a-z]{2})\s+(\d{1,2}) (\d{2}:\d{2}:\d{2})/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A line's time: ISO-like stamps, syslog stamps, or a JSON line's time/ts/timestamp field (pino's epoch ms too). */
export function lineTime(line: string, year: number): Date | null {
  if (line.startsWith('{')) {
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      const v = o.time ?? o.timestamp ?? o.ts ?? o['@timestamp'];
      if (typeof v === 'number') return new Date(v < 1e11 ? v * 1000 : v);
      if (typeof v === 'string' && !Number.isNaN(Date.parse(v))) return new Date(v);
    } catch {
      // not JSON: try the patterns
    }
  }
  const m = ISO.exec(line);
  if (m) {
    const d = new Date(`${m[1]}T${m[2].replace(',', '.')}${m[3] ?? 'Z'}`);
    if (!Number.isNaN(d.getTime())) return d;
  }
  const s = SYSLOG.exec(line);
  if (s && MONTHS.includes(s[1])) return new Date(`${year}-${String(MONTHS.indexOf(s[1]) + 1).padStart(2, '0')}-${s[2].padStart(2, '0')}T${s[3]}Z`);
  return null;
}

/** Groups similar lines: times, numbers, hex ids and quoted values vary; the message shape does not. */
function shape(line: string): string {
  return line
    .slice(0, 4096)
    .replace(ISO, '')
    .replace(SYSLOG, '')
    .replace(/"[^"]{0,200}"/g, '"…"')
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<id>')
    .replace(/\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b/gi, '<hex>')
    .replace(/\d+(\.\d+)?/g, '<n>')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
}

/** A caller's mistake (bad pattern, unreadable file): reported as it is. */
class ScanError extends Error {}

function compileAll(job: ScanJob): { each: RE2[]; detectors: RE2[]; joined: boolean } {
  const each = job.patterns.map((p) => {
    try {
      return compilePattern(p, { caseSensitive: job.caseSensitive });
    } catch (e) {
      throw new ScanError(patternError(p, e));
    }
  });
  const joined = joinSafe(job.patterns);
  const multi = (p: string) => compilePattern(p, { caseSensitive: job.caseSensitive, multiline: true });
  if (job.patterns.length === 1) return { each, detectors: [multi(job.patterns[0])], joined };
  // one alternation finds the lines any pattern matches in one pass; duplicate group names and
  // the like can keep it from compiling, and then each pattern looks on its own
  try {
    return { each, detectors: [multi(job.patterns.map((p) => `(?:${p})`).join('|'))], joined };
  } catch {
    return { each, detectors: job.patterns.map(multi), joined };
  }
}

/**
 * Indexes of the lines in [lo, hi) that `re` matches. Each call into the wasm matcher costs about
 * as much as matching a few KiB, so lines are tested joined by '\n' in blocks, and a block that
 * matches is split in four until single lines are left. Error lines are usually few, so most
 * text is handed over once or twice.
 */
function matching(lines: string[], lo: number, hi: number, re: RE2, joined: boolean, out: Set<number>): void {
  const probe = (b: number, e: number): void => {
    if (e - b === 1) {
      if (re.test(lines[b])) out.add(b);
      return;
    }
    if (!re.test(lines.slice(b, e).join('\n'))) return;
    const step = Math.ceil((e - b) / 4);
    for (let i = b; i < e; i += step) probe(i, Math.min(e, i + step));
  };
  for (let b = lo; b < hi; ) {
    let e = b + 1;
    if (joined) {
      let chars = lines[b].length;
      while (e < hi && e - b < BLOCK_LINES && chars + lines[e].length < BLOCK_CHARS) chars += lines[e++].length + 1;
    }
    probe(b, e);
    b = e;
  }
}

export async function scan(job: ScanJob): Promise<ScanResult> {
  const { each, detectors, joined } = compileAll(job);
  const per = job.patterns.map((pattern) => ({ pattern, count: 0, first: null as Occurrence | null, last: null as Occurrence | null }));
  const minutes = new Map<string, { errors: number; lines: number }>();
  const messages = new Map<string, { count: number; example: string }>();
  let lineNo = 0;
  let errorCount = 0;
  let noTime = 0;
  let lastTime: Date | null = null;

  let group: string[] = [];
  let groupChars = 0;
  const flush = (): void => {
    const hit = new Set<number>();
    for (const d of detectors) matching(group, 0, group.length, d, joined, hit);
    for (let i = 0; i < group.length; i++) {
      const line = group[i];
      lineNo++;
      const isError = hit.has(i);
      const t: Date | null = lineTime(line, job.year) ?? lastTime; // continuation lines (stack traces) inherit the last time
      if (t) {
        lastTime = t;
        const minute = `${t.toISOString().slice(0, 16)}Z`;
        const m = minutes.get(minute) ?? { errors: 0, lines: 0 };
        m.lines++;
        if (isError) m.errors++;
        minutes.set(minute, m);
      } else if (isError) noTime++;
      if (!isError) continue;
      errorCount++;
      const occ = { line: lineNo, at: t ? t.toISOString() : null, text: line.slice(0, 500) };
      each.forEach((re, k) => {
        if (!re.test(line)) return;
        per[k].count++;
        per[k].first ??= occ;
        per[k].last = occ;
      });
      const key = shape(line);
      const msg = messages.get(key);
      if (msg) msg.count++;
      else if (messages.size < 10_000) messages.set(key, { count: 1, example: line.slice(0, 500) });
    }
    group = [];
    groupChars = 0;
  };
  const addLine = (line: string): void => {
    group.push(line);
    groupChars += line.length;
    if (groupChars >= GROUP_CHARS || group.length >= GROUP_LINES) flush();
  };

  // Lines are cut at '\n' bytes (never inside a UTF-8 sequence) and decoded one by one; a line's
  // bytes past MAX_LINE_BYTES are read but not kept.
  let skipFirst = job.from > 0; // starting mid-file: the first line is partial, so it is skipped
  let partial: Buffer[] = [];
  let partialBytes = 0;
  const keep = (b: Buffer): void => {
    const room = MAX_LINE_BYTES - partialBytes;
    if (room <= 0) return;
    const part = b.length > room ? b.subarray(0, room) : b;
    partial.push(Buffer.from(part));
    partialBytes += part.length;
  };
  const endLine = (): void => {
    const text = Buffer.concat(partial).toString('utf8');
    partial = [];
    partialBytes = 0;
    if (skipFirst) skipFirst = false;
    else addLine(text);
  };
  let fh;
  try {
    fh = await open(job.path, 'r');
  } catch (e) {
    throw new ScanError(`cannot read ${job.path}: ${(e as Error).message}`);
  }
  let read = 0;
  try {
    const buf = Buffer.alloc(Math.min(READ_BYTES, Math.max(1, job.to - job.from)));
    while (read < job.to - job.from) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, job.to - job.from - read), job.from + read);
      if (bytesRead === 0) break; // the file shrank meanwhile
      read += bytesRead;
      const chunk = buf.subarray(0, bytesRead);
      let start = 0;
      for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
        keep(chunk.subarray(start, nl));
        endLine();
        start = nl + 1;
      }
      if (start < chunk.length) keep(chunk.subarray(start));
    }
  } finally {
    await fh.close();
  }
  if (partialBytes > 0) endLine(); // a last line without '\n'
  if (group.length) flush();
  return {
    bytes_scanned: read,
    lines_scanned: lineNo,
    error_count: errorCount,
    patterns: per,
    errors_per_minute: [...minutes.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([minute, m]) => ({ minute, errors: m.errors, lines: m.lines })),
    lines_without_time: noTime,
    top_messages: [...messages.entries()]
      .sort((a, b) => b[1].count - a[1].count)
      .slice(0, job.top)
      .map(([message, m]) => ({ message, count: m.count, example: m.example })),
  };
}

function reply(r: ScanReply): void {
  parentPort!.postMessage(r);
}

/**
 * A thread is started ahead of need (the ops server keeps one spare, RE2 loaded), takes exactly one
 * job as its first message, answers and is ended: re2-wasm never frees compiled patterns, so a
 * thread that scanned once is not used again.
 */
if (!isMainThread && parentPort && (workerData as { logScan?: boolean } | null)?.logScan) {
  compilePattern('warm', { caseSensitive: true }).test('');
  parentPort.once('message', (job: ScanJob) => void run(job));
}

function run(job: ScanJob): Promise<void> {
  return scan(job).then(
    (result) => reply({ ok: true, result }),
    (e: unknown) => {
      if (e instanceof ScanError) return reply({ ok: false, message: e.message });
      const msg = (e as Error)?.message ?? String(e);
      // re2-wasm aborts when its fixed 16 MiB heap is full (many large patterns, or a huge group)
      if (/Cannot enlarge memory|OOM|abort\(/.test(msg)) return reply({ ok: false, message: 'the patterns need more memory than the RE2 matcher has (16 MiB): use fewer or simpler patterns' });
      reply({ ok: false, message: `log scan failed: ${msg.split('\n')[0].slice(0, 300)}` });
    },
  );
}
