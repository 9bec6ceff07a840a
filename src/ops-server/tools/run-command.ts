import { spawn } from 'node:child_process';
import { z } from 'zod';
import { round } from '../proc.js';
import { OpsToolError, type OpsTool } from '../tool.js';

const Input = z
  .object({
    command: z.string().min(1).max(4000).describe('the command line, exactly as allowed in ops.allowed_commands; run without a shell'),
    cwd: z.string().optional(),
    timeout_ms: z.number().int().min(1).max(600_000).default(30_000),
    max_output_bytes: z.number().int().min(0).max(10 * 1024 * 1024).default(1024 * 1024).describe('stdout and stderr are each kept up to this size'),
    fail_on_exit_code: z.boolean().default(true).describe('report a non-zero exit or a timeout as a tool error'),
  })
  .strict();

const Output = z.object({
  command: z.string(),
  exit_code: z.number().nullable(),
  signal: z.string().nullable(),
  timed_out: z.boolean(),
  stdout: z.string(),
  stderr: z.string(),
  stdout_truncated: z.boolean(),
  stderr_truncated: z.boolean(),
  duration_ms: z.number(),
});

/** An allowlist entry is an exact command line, or a /regex/flags matched against the whole line. */
export function isAllowed(command: string, allowed: string[]): boolean {
  return allowed.some((a) => {
    const m = /^\/(.*)\/([a-z]*)$/.exec(a);
    if (!m) return a.trim() === command.trim();
    try {
      const re = new RegExp(m[1], m[2]);
      const hit = re.exec(command);
      return hit !== null && hit[0] === command; // the pattern must cover the whole line
    } catch {
      return false;
    }
  });
}

/** Splits a command line into argv like a POSIX shell would for words and quotes, without expanding anything. */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && (line[i + 1] === '"' || line[i + 1] === '\\')) cur += line[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new OpsToolError('unbalanced quote in the command');
  if (inWord) out.push(cur);
  return out;
}

class Capped {
  private parts: Buffer[] = [];
  kept = 0;
  total = 0;
  constructor(private readonly max: number) {}
  push(b: Buffer): void {
    this.total += b.length;
    if (this.kept >= this.max) return;
    const take = b.subarray(0, this.max - this.kept);
    this.parts.push(take);
    this.kept += take.length;
  }
  text(): string {
    return Buffer.concat(this.parts).toString('utf8');
  }
}

const tool: OpsTool<typeof Input, typeof Output> = {
  name: 'run_command',
  title: 'Run command',
  description:
    'Runs a command only if it is in the allowlist (ops.allowed_commands in config.yaml: exact lines or /regex/). No shell: pipes, redirects and $VARS are not interpreted. ' +
    'Returns exit code, stdout and stderr; time-limited. Marked destructive.',
  input: Input,
  output: Output,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  async run(args, ctx) {
    if (ctx.allowedCommands.length === 0) throw new OpsToolError('no commands are allowed: add the command to ops.allowed_commands in config.yaml');
    if (!isAllowed(args.command, ctx.allowedCommands)) throw new OpsToolError(`command not allowed: ${JSON.stringify(args.command)}; add it (or a /regex/ covering it) to ops.allowed_commands in config.yaml`);
    const argv = splitArgs(args.command);
    if (argv.length === 0) throw new OpsToolError('the command is empty');
    const t0 = performance.now();
    const out = new Capped(args.max_output_bytes);
    const err = new Capped(args.max_output_bytes);
    const { code, signal, timedOut } = await new Promise<{ code: number | null; signal: string | null; timedOut: boolean }>((resolve, reject) => {
      const child = spawn(argv[0], argv.slice(1), { cwd: args.cwd, env: process.env, stdio: ['ignore', 'pipe', 'pipe'], shell: false });
      let timedOut = false;
      const kill = () => child.kill('SIGKILL');
      const timer = setTimeout(() => {
        timedOut = true;
        kill();
      }, args.timeout_ms);
      ctx.signal.addEventListener('abort', kill, { once: true });
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new OpsToolError(e.code === 'ENOENT' ? `command not found: ${argv[0]}` : e.code === 'EACCES' ? `not executable: ${argv[0]}` : `cannot run ${argv[0]}: ${e.message}`));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        ctx.signal.removeEventListener('abort', kill);
        resolve({ code, signal, timedOut });
      });
    });
    const result = {
      command: args.command,
      exit_code: code,
      signal,
      timed_out: timedOut,
      stdout: out.text(),
      stderr: err.text(),
      stdout_truncated: out.total > out.kept,
      stderr_truncated: err.total > err.kept,
      duration_ms: round(performance.now() - t0),
    };
    if (args.fail_on_exit_code && (timedOut || code !== 0)) {
      const why = timedOut ? `timed out after ${args.timeout_ms} ms and was killed` : code === null ? `was killed by ${signal}` : `exited with code ${code}`;
      const tail = (result.stderr || result.stdout).trim().split('\n').slice(-10).join('\n');
      throw new OpsToolError(`${args.command} ${why}${tail ? `:\n${tail}` : ''}`);
    }
    return result;
  },
};

export default tool;
