import { spawn } from 'node:child_process';
import { closeSync, lstatSync, mkdirSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConfigProblem } from '../config/load.js';
import type { Paths } from '../config/paths.js';
import { exitedUnreaped } from '../config/pid-state.js';
import { LocalError } from './errors.js';

// Always the compiled launcher (also when this module runs from src/ under vitest or tsx): the
// bundled daemon when the build made one (daemon/launch.ts), else dist/daemon/entry.js.
const ENTRY = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'daemon', 'launch.js');

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !exitedUnreaped(pid);
}

export function readPidFile(paths: Paths): number | null {
  try {
    const pid = Number(readFileSync(paths.pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * A socket that refuses connections and whose daemon pid is dead is stale (kill -9). Remove it, but
 * only if it is still the same file we found: a new daemon may have just bound a fresh one.
 */
export function removeStaleSocket(paths: Paths): boolean {
  let before;
  try {
    before = lstatSync(paths.socket);
  } catch {
    return false;
  }
  const pid = readPidFile(paths);
  if (pid !== null && pidAlive(pid)) return false;
  try {
    const now = lstatSync(paths.socket);
    if (now.ino !== before.ino) return false;
    unlinkSync(paths.socket);
    return true;
  } catch {
    return false;
  }
}

/**
 * The daemon runs for days and mostly waits, so its young generation is kept small: V8's default
 * semi-space (16 MB) grows the heap to ~60 MB during start-up and keeps it, for 24 MB in use; with
 * 4 MB an idle daemon holds ~100 MB instead of ~125 MB (`node --expose-gc`, /proc/self/status
 * VmRSS after start). `OPSTREAM_DAEMON_SEMI_SPACE_MB` overrides it (0: V8's default).
 */
function daemonV8Flags(env: NodeJS.ProcessEnv): string[] {
  const raw = env.OPSTREAM_DAEMON_SEMI_SPACE_MB;
  const mb = raw === undefined || raw === '' ? 4 : Number(raw);
  return Number.isInteger(mb) && mb > 0 && mb <= 256 ? [`--max-semi-space-size=${mb}`] : [];
}

/** `notices`: what the daemon tightened on start (permissions), one line each, for stderr. */
export type SpawnOutcome = { kind: 'ready'; pid: number; notices: string[] } | { kind: 'already'; pid: number | null };

/**
 * Starts a detached daemon and waits for its one-line report. Startup errors (bad config, socket
 * dir refused) come back as a LocalError carrying the daemon's own message.
 */
export function spawnDaemon(paths: Paths, env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<SpawnOutcome> {
  let errFd: number;
  try {
    mkdirSync(paths.logDir, { recursive: true, mode: 0o700 });
    errFd = openSync(join(paths.logDir, 'daemon.stderr'), 'a', 0o600);
  } catch (e) {
    return Promise.reject(new LocalError(`cannot write to the log directory ${paths.logDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { exitCode: 1 }));
  }
  const child = spawn(process.execPath, [...daemonV8Flags(env), ENTRY], { detached: true, stdio: ['ignore', 'pipe', errFd], env, cwd: '/' });
  closeSync(errFd);
  return new Promise<SpawnOutcome>((resolve, reject) => {
    let buf = '';
    let settled = false;
    // A daemon that hangs while starting (a store on a stuck disk) must not hang the CLI with it; it
    // is left running (it may still come up, and then the next command finds it).
    const timer = setTimeout(
      () => settle(() => reject(new LocalError(`the daemon did not report ready within ${Math.round(timeoutMs / 1000)} s (pid ${child.pid}); see the log ${paths.logFile} and ${join(paths.logDir, 'daemon.stderr')}`, { retryable: true }))),
      timeoutMs,
    );
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout?.destroy();
      child.unref();
      fn();
    };
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl === -1) return;
      let msg: { ready?: number; notices?: string[]; already?: number | null; error?: string; problems?: ConfigProblem[] };
      try {
        msg = JSON.parse(buf.slice(0, nl));
      } catch {
        settle(() => reject(new LocalError(`the daemon printed something unexpected at start: ${buf.slice(0, 200)}`)));
        return;
      }
      if (typeof msg.ready === 'number') settle(() => resolve({ kind: 'ready', pid: msg.ready as number, notices: Array.isArray(msg.notices) ? msg.notices.map(String) : [] }));
      else if ('already' in msg) settle(() => resolve({ kind: 'already', pid: msg.already ?? null }));
      else if (msg.problems) {
        const problems = msg.problems;
        // loaded only on this path: the config module is not needed for a normal CLI call
        settle(() => void import('../config/load.js').then((m) => reject(new m.ConfigError(problems))));
      } else settle(() => reject(new LocalError(msg.error ?? 'the daemon failed to start', { exitCode: 1 })));
    });
    child.on('error', (err) => settle(() => reject(new LocalError(`could not start the daemon: ${err.message}`))));
    child.on('exit', (code) => settle(() => reject(new LocalError(`the daemon exited (code ${code}) before it was ready; see ${join(paths.logDir, 'daemon.stderr')}`))));
  });
}

/** Waits until something accepts on the socket (another CLI's daemon may still be starting). */
export async function waitForSocket(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(path);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new LocalError(`the daemon did not open ${path} within ${timeoutMs / 1000}s`, { retryable: true });
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 100);
  }
}
