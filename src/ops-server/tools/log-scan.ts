import { open, stat } from 'node:fs/promises';
import { z } from 'zod';
import { OpsToolError, type OpsTool } from '../tool.js';

const Input = z
  .object({
    path: z.string().min(1).describe('log file to scan'),
    patterns: z.array(z.string().min(1).max(500)).min(1).max(50).default(['\\b(error|err|fatal|panic|exception)\\b']).describe('regular expressions; a line matching any counts as an error line'),
    case_sensitive: z.boolean().default(false),
    tail_bytes: z.number().int().min(1).max(512 * 1024 * 1024).default(16 * 1024 * 1024).describe('scan only the last N bytes'),
    top: z.number().int().min(0).max(100).default(10).describe('how many top messages'),
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

const tool: OpsTool<typeof Input, typeof Output> = {
  name: 'log_scan',
  title: 'Log scan',
  description:
    'Scans a log file (or its last N bytes) for patterns: counts per pattern with first and last occurrence, errors per minute, and the most frequent error messages (numbers and ids folded).',
  input: Input,
  output: Output,
  annotations: { readOnlyHint: true, idempotentHint: false, openWorldHint: false },
  async run(args, ctx) {
    const flags = args.case_sensitive ? '' : 'i';
    const regexes = args.patterns.map((p) => {
      try {
        return new RegExp(p, flags);
      } catch (e) {
        throw new OpsToolError(`pattern ${JSON.stringify(p)} is not a valid regular expression: ${(e as Error).message}`);
      }
    });
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
    const fh = await open(args.path, 'r');
    let text: string;
    try {
      const buf = Buffer.alloc(size - from);
      let off = 0;
      while (off < buf.length) {
        if (ctx.signal.aborted) throw new OpsToolError('cancelled');
        const { bytesRead } = await fh.read(buf, off, Math.min(buf.length - off, 4 * 1024 * 1024), from + off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      text = buf.subarray(0, off).toString('utf8');
    } finally {
      await fh.close();
    }
    // starting mid-file: the first line is partial, so it is skipped
    if (from > 0) text = text.slice(text.indexOf('\n') + 1);
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();

    const year = new Date().getUTCFullYear();
    const per = regexes.map((_, i) => ({ pattern: args.patterns[i], count: 0, first: null as null | { line: number; at: string | null; text: string }, last: null as null | { line: number; at: string | null; text: string } }));
    const minutes = new Map<string, { errors: number; lines: number }>();
    const messages = new Map<string, { count: number; example: string }>();
    let errorCount = 0;
    let noTime = 0;
    let lastTime: Date | null = null;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const hits = regexes.map((r) => r.test(line));
      const isError = hits.some(Boolean);
      const t: Date | null = lineTime(line, year) ?? lastTime; // continuation lines (stack traces) inherit the last time
      if (t) lastTime = t;
      if (t) {
        const minute = `${t.toISOString().slice(0, 16)}Z`;
        const m = minutes.get(minute) ?? { errors: 0, lines: 0 };
        m.lines++;
        if (isError) m.errors++;
        minutes.set(minute, m);
      } else if (isError) noTime++;
      if (!isError) continue;
      errorCount++;
      const occ = { line: i + 1, at: t ? t.toISOString() : null, text: line.slice(0, 500) };
      hits.forEach((h, k) => {
        if (!h) return;
        per[k].count++;
        per[k].first ??= occ;
        per[k].last = occ;
      });
      const key = shape(line);
      const msg = messages.get(key);
      if (msg) msg.count++;
      else if (messages.size < 10_000) messages.set(key, { count: 1, example: line.slice(0, 500) });
    }
    return {
      path: args.path,
      file_bytes: size,
      bytes_scanned: size - from,
      from_offset: from,
      lines_scanned: lines.length,
      error_count: errorCount,
      patterns: per,
      errors_per_minute: [...minutes.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([minute, m]) => ({ minute, errors: m.errors, lines: m.lines })),
      lines_without_time: noTime,
      top_messages: [...messages.entries()]
        .sort((a, b) => b[1].count - a[1].count)
        .slice(0, args.top)
        .map(([message, m]) => ({ message, count: m.count, example: m.example })),
    };
  },
};

export default tool;
