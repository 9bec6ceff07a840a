import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pidAlive } from '../../src/client/spawn-daemon.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'run.js');

/** A private OPSTREAM_HOME per test; `cleanup` stops any daemon in it and removes it (unless OPSTREAM_TEST_KEEP is set). */
export interface TempHome {
  home: string;
  env: NodeJS.ProcessEnv;
  cleanup(): Promise<void>;
}

export function tempHome(prefix = 'ops-'): TempHome {
  // short paths: the socket must fit in 107 bytes
  const home = mkdtempSync(join(tmpdir(), prefix));
  const env: NodeJS.ProcessEnv = { ...process.env, OPSTREAM_HOME: home, CI: 'true', NO_COLOR: '1' };
  // a user's shell: no XDG runtime dir override, and not vitest's NODE_ENV=test
  delete env.XDG_RUNTIME_DIR;
  delete env.NODE_ENV;
  delete env.VITEST;
  return {
    home,
    env,
    async cleanup() {
      await killDaemon(home);
      // OPSTREAM_TEST_KEEP=1: the home (its daemon's logs, its store) stays for a post-mortem
      if (process.env.OPSTREAM_TEST_KEEP) return void console.error(`kept ${home}`);
      rmSync(home, { recursive: true, force: true });
    },
  };
}

export function daemonPid(home: string): number | null {
  try {
    const pid = Number(readFileSync(join(home, 'run', 'daemon.pid'), 'utf8').trim());
    return pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Whether pid runs (an exited process its parent has not reaped yet does not: see pidAlive). */
export function alive(pid: number): boolean {
  return pidAlive(pid);
}

/** Waits (by polling the process table, not a fixed sleep) until pid is gone. */
export async function waitGone(pid: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`pid ${pid} still alive after ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function killDaemon(home: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const pid = daemonPid(home);
  if (pid === null || !alive(pid)) return;
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  try {
    await waitGone(pid, 10_000);
  } catch {
    process.kill(pid, 'SIGKILL');
    await waitGone(pid);
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI (bin/run.js, compiled dist/) as a child process. */
export function cli(args: string[], env: NodeJS.ProcessEnv, opts: { input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`opstream ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Every process in /proc with its parent and command line (NULs as spaces); one that ends meanwhile is left out. */
export function processes(): { pid: number; ppid: number; cmdline: string }[] {
  const out: { pid: number; ppid: number; cmdline: string }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      out.push({ pid: Number(d), ppid, cmdline: readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ') });
    } catch {
      // ended while we looked
    }
  }
  return out;
}

/**
 * Polls `check` until it returns a truthy value (for states that have no event to wait on). The
 * pause after a check is as long as the check took (20 ms at least, 250 ms at most): a check that
 * spawns CLIs (~0.1-0.2 s each) then keeps half a core busy instead of a whole one, which on the
 * 2-core machine the rest of the suite was waiting for, while a cheap check still polls every 20 ms.
 */
export async function waitFor<T>(check: () => T | Promise<T>, opts: { timeoutMs?: number; what?: string } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  for (;;) {
    const t0 = Date.now();
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what ?? 'condition'}`);
    await new Promise((r) => setTimeout(r, Math.min(250, Math.max(20, Date.now() - t0))));
  }
}

/**
 * A process that has exited and that its parent never reaps (a zombie), as a detached daemon is
 * until a slow init reaps it. sh starts a subshell that exits only once sh has become `sleep`
 * (which never waits for children), so sh itself cannot reap it first. `end` kills the parent,
 * and init reaps both.
 */
export async function zombie(): Promise<{ pid: number; end(): void }> {
  const parent = spawn('sh', ['-c', '(while [ "$(cat /proc/$$/comm)" != sleep ]; do sleep 0.01; done) & echo $!; exec sleep 300'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const end = (): void => void parent.kill('SIGKILL');
  try {
    let out = '';
    parent.stdout.on('data', (d) => (out += d));
    const pid = await waitFor(() => Number(out.trim()) || null, { what: 'the zombie-to-be pid' });
    await waitFor(() => /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')), { what: `pid ${pid} to exit` });
    return { pid, end };
  } catch (e) {
    end();
    throw e;
  }
}
