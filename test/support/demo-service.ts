import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './home.js';

export const DEMO_SERVER = join(ROOT, 'examples', 'demo-service', 'server.js');

/** A running demo service (examples/demo-service) in its own process. */
export interface DemoService {
  port: number;
  pid: number;
  url: string;
  log: string;
  child: ChildProcess;
  /** stdout + stderr so far (for failure messages). */
  output(): string;
  get(path: string): Promise<{ status: number; body: unknown; ms: number }>;
  post(path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  stop(): Promise<void>;
}

/**
 * Starts the demo service on a free port and resolves once it printed its ready line. Its log is a
 * file of its own in a temp dir (removed by `stop`) unless `args` name one: the service's default,
 * /tmp/demo-service-PID.log, may be a file an earlier process with the same pid left.
 */
export function startDemoService(args: string[] = [], timeoutMs = 20_000): Promise<DemoService> {
  const logDir = args.includes('--log') ? null : mkdtempSync(join(tmpdir(), 'opdemo-log-'));
  const removeLog = (): void => {
    if (logDir) rmSync(logDir, { recursive: true, force: true });
  };
  return new Promise((resolve, reject) => {
    const logArgs = logDir ? ['--log', join(logDir, 'demo-service.log')] : [];
    const child = spawn(process.execPath, [DEMO_SERVER, '--port', '0', '--quiet', ...logArgs, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let done = false;
    const timer = setTimeout(() => fail(new Error(`demo service did not get ready in ${timeoutMs}ms:\n${out}`)), timeoutMs);
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      removeLog();
      reject(err);
    };
    child.on('error', fail);
    child.on('exit', (code) => fail(new Error(`demo service exited (${code}) before it was ready:\n${out}`)));
    child.stderr.on('data', (d) => (out += d));
    child.stdout.on('data', (d) => {
      out += d;
      const m = /demo-service ready port=(\d+) pid=(\d+) url=(\S+) log=(\S+)/.exec(out);
      if (!m || done) return;
      done = true;
      clearTimeout(timer);
      const url = m[3];
      const svc: DemoService = {
        port: Number(m[1]),
        pid: Number(m[2]),
        url,
        log: m[4],
        child,
        output: () => out,
        async get(path) {
          const t = performance.now();
          const res = await fetch(url + path);
          const body = await res.json();
          return { status: res.status, body, ms: performance.now() - t };
        },
        async post(path, body = {}) {
          const res = await fetch(url + path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
          return { status: res.status, body: await res.json() };
        },
        stop: () =>
          new Promise<void>((res) => {
            const stopped = (): void => {
              removeLog();
              res();
            };
            if (child.exitCode !== null || child.signalCode !== null) return stopped();
            child.once('exit', stopped);
            child.kill('SIGTERM');
          }),
      };
      resolve(svc);
    });
  });
}

/** utime + stime of a process in clock ticks (Linux /proc). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}
