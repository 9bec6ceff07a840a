import { spawn, type ChildProcess } from 'node:child_process';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { JSONRPCMessageSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export interface StdioSpawn {
  command: string;
  args: string[];
  /** The child's whole environment (see spawn-env.ts): nothing is inherited implicitly. */
  env: Record<string, string>;
  cwd?: string;
  /** A single stdout line longer than this is a protocol violation: the server is killed. */
  maxLineBytes: number;
  onStderrLine(line: string): void;
  /** Non-JSON-RPC lines on stdout: reported, then ignored. */
  onNoise(line: string): void;
  /** The child is running (pid known) / has exited: the daemon keeps a list for after a crash. */
  onSpawn?(pid: number): void;
  onExit?(pid: number): void;
}

/**
 * A stdio MCP client transport we control end to end, instead of the SDK's: the environment is
 * exactly what we pass (the SDK adds SHELL, USER, ...), stdout noise is skipped rather than fatal,
 * a 50 MB line is assembled from chunks in linear time (the SDK re-concatenates per chunk and
 * stops at 10 MB), and the pool can kill a stuck child by pid.
 */
export class StdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private child: ChildProcess | null = null;
  private chunks: Buffer[] = [];
  private pendingBytes = 0;
  /** The first stderr lines: a start failure is said by the first meaningful one. */
  private readonly stderrHead: string[] = [];
  private closed = false;
  /** Why the child went away, when it was not our close(): shown to callers. */
  exitReason: string | null = null;

  constructor(private readonly opts: StdioSpawn) {}

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.opts.command, this.opts.args, {
        env: this.opts.env,
        cwd: this.opts.cwd,
        stdio: ['pipe', 'pipe', 'pipe'],
        shell: false,
      });
      this.child = child;
      let spawned = false;
      child.once('spawn', () => {
        spawned = true;
        if (child.pid) this.opts.onSpawn?.(child.pid);
        resolve();
      });
      child.once('error', (err) => {
        const e = err as NodeJS.ErrnoException;
        const msg = e.code === 'ENOENT' ? `command not found: ${this.opts.command}` : e.code === 'EACCES' ? `command is not executable: ${this.opts.command}` : e.message;
        this.exitReason = msg;
        if (!spawned) reject(new Error(msg));
        else this.onerror?.(new Error(msg));
      });
      child.once('close', (code, signal) => {
        if (spawned && child.pid) this.opts.onExit?.(child.pid);
        if (!this.exitReason && !this.closed) {
          // one line: the server's first meaningful stderr line, not its whole traceback
          const why = meaningfulLine(this.stderrHead);
          this.exitReason = `exited with ${signal ? `signal ${signal}` : `code ${code}`}${why ? `: ${why}` : ''}`;
        }
        this.child = null;
        this.onclose?.();
      });
      child.stdin?.on('error', () => undefined); // EPIPE after the child died: close() reports it
      child.stdout?.on('data', (chunk: Buffer) => this.onStdout(chunk));
      let errBuf = '';
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (s: string) => {
        errBuf += s;
        let i: number;
        while ((i = errBuf.indexOf('\n')) >= 0) {
          const line = errBuf.slice(0, i).replace(/\r$/, '');
          errBuf = errBuf.slice(i + 1);
          if (line) {
            if (this.stderrHead.length < 50) this.stderrHead.push(line.slice(0, 2000));
            this.opts.onStderrLine(line.slice(0, 2000));
          }
        }
        if (errBuf.length > 64 * 1024) errBuf = errBuf.slice(-2000);
      });
    });
  }

  private onStdout(chunk: Buffer): void {
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(10, from);
      if (nl < 0) {
        if (from < chunk.length) this.push(chunk.subarray(from));
        return;
      }
      this.push(chunk.subarray(from, nl));
      if (this.closed) return;
      const line = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.pendingBytes);
      this.chunks = [];
      this.pendingBytes = 0;
      from = nl + 1;
      this.onLine(line.toString('utf8').replace(/\r$/, ''));
    }
  }

  private push(part: Buffer): void {
    if (part.length === 0) return;
    this.pendingBytes += part.length;
    if (this.pendingBytes > this.opts.maxLineBytes) {
      this.chunks = [];
      this.pendingBytes = 0;
      this.exitReason = `the server sent a message over ${Math.round(this.opts.maxLineBytes / 1024 / 1024)} MiB; it was stopped`;
      this.kill();
      return;
    }
    this.chunks.push(part);
  }

  private onLine(line: string): void {
    if (!line.trim()) return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      this.opts.onNoise(line.slice(0, 500));
      return;
    }
    const msg = JSONRPCMessageSchema.safeParse(json);
    if (!msg.success) {
      this.opts.onNoise(line.slice(0, 500));
      return;
    }
    this.onmessage?.(msg.data);
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      const stdin = this.child?.stdin;
      if (!stdin || stdin.destroyed) {
        reject(new Error(this.exitReason ?? 'the server is not running'));
        return;
      }
      if (stdin.write(`${JSON.stringify(message)}\n`)) resolve();
      else stdin.once('drain', resolve);
    });
  }

  /** SIGKILL now: for a server that stopped answering. `close` fires when it is gone. */
  kill(): void {
    try {
      this.child?.kill('SIGKILL');
    } catch {
      // already gone
    }
  }

  /** Polite stop: end stdin, then SIGTERM, then SIGKILL, each after a short grace period. */
  async close(): Promise<void> {
    this.closed = true;
    const child = this.child;
    if (!child) return;
    const gone = new Promise<void>((r) => child.once('close', () => r()));
    const wait = (ms: number) => Promise.race([gone.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
    child.stdin?.end();
    if (await wait(1000)) return;
    child.kill('SIGTERM');
    if (await wait(1000)) return;
    child.kill('SIGKILL');
    await wait(2000);
  }
}

const ERRORISH = /error|exception|fail|fatal|not found|could not|cannot|can't|denied|invalid|missing|unable|no such/i;

/**
 * The line of a dying server's stderr that says why, shortened: the first one that reads like an
 * error (a log prefix such as `2026-01-01 10:00:00 | ERROR | module:fn:12 - ` dropped; Python's
 * "Traceback (most recent call last):" skipped), else the first non-empty line.
 */
export function meaningfulLine(lines: readonly string[]): string {
  const clean = lines
    .map((l) => l.trim())
    .filter((l) => l && !/^Traceback \(most recent call last\):$/.test(l) && !/^File ".*", line \d+/.test(l))
    .map((l) => l.replace(/^.*?\|\s*(ERROR|CRITICAL|FATAL|WARNING|WARN)\s*\|\s*\S+\s+-\s+/, ''));
  const line = clean.find((l) => ERRORISH.test(l)) ?? clean[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}
