import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { codeCacheFileOf } from '../../src/config/code-cache.js';
import { alive, cli, daemonPid, processes, tempHome, waitFor, waitGone, type TempHome } from '../support/home.js';

let h: TempHome;
let h2: TempHome | undefined;
afterEach(async () => {
  await h?.cleanup();
  await h2?.cleanup();
  h2 = undefined;
});

/** Live daemon processes serving this home (the losers of a start race exit by themselves). */
function daemonsFor(home: string): number[] {
  return processes()
    .filter((p) => p.cmdline.startsWith('opstream-daemon') && environOf(p.pid).includes(`OPSTREAM_HOME=${home}`))
    .map((p) => p.pid);
}

function environOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return []; // ended while we looked
  }
}

describe('daemon lifecycle', () => {
  it('starts, reports status, refuses a second start politely, and stops cleanly', async () => {
    h = tempHome();
    const notRunning = await cli(['daemon', 'status'], h.env);
    expect(notRunning.code).toBe(1);
    expect(notRunning.stderr).toMatch(/^opstream: the daemon is not running/);
    expect(notRunning.stderr.trim().split('\n')).toHaveLength(1);

    const start = await cli(['daemon', 'start', '--json'], h.env);
    expect(start.code).toBe(0);
    const started = JSON.parse(start.stdout);
    expect(started.started).toBe(true);
    expect(alive(started.pid)).toBe(true);

    const again = await cli(['daemon', 'start'], h.env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`already running (pid ${started.pid})`);

    const st = await cli(['daemon', 'status', '--json'], h.env);
    expect(st.code).toBe(0);
    const s = JSON.parse(st.stdout);
    expect(s).toMatchObject({ pid: started.pid, version: expect.any(String), socket: join(h.home, 'run', 'opstream.sock'), data_dir: join(h.home, 'data') });
    expect(s.uptime_ms).toBeGreaterThanOrEqual(0);
    expect(Object.keys(s.runs).sort()).toEqual(['cancelled', 'failed', 'paused', 'queued', 'running', 'succeeded', 'waiting']);
    const human = await cli(['daemon', 'status'], h.env);
    for (const label of ['pid', 'uptime', 'version', 'socket', 'data', 'runs']) expect(human.stdout).toContain(label);

    const stop = await cli(['daemon', 'stop'], h.env);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toContain(`daemon stopped (pid ${started.pid})`);
    expect(alive(started.pid)).toBe(false);
    expect(() => lstatSync(join(h.home, 'run', 'opstream.sock'))).toThrow();
    expect(daemonPid(h.home)).toBeNull();
  });

  it('any other command starts the daemon, which detaches and writes a structured log', async () => {
    h = tempHome();
    const r = await cli(['status'], h.env);
    expect(r.code).toBe(0);
    const pid = daemonPid(h.home);
    expect(pid).not.toBeNull();
    expect(alive(pid!)).toBe(true);
    const log = readFileSync(join(h.home, 'data', 'logs', 'current.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.some((l) => l.msg === 'daemon started' && l.pid === pid)).toBe(true);
  });

  it('shuts down cleanly on SIGTERM and SIGINT: socket and pid file removed, store reopens', async () => {
    h = tempHome();
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      expect((await cli(['status'], h.env)).code).toBe(0);
      const pid = daemonPid(h.home)!;
      process.kill(pid, sig);
      await waitGone(pid);
      expect(() => lstatSync(join(h.home, 'run', 'opstream.sock'))).toThrow();
      const log = readFileSync(join(h.home, 'data', 'logs', 'current.log'), 'utf8');
      expect(log).toContain(`"reason":"signal ${sig}"`);
      expect(log).toContain('daemon stopped');
    }
    // the store was closed properly: a new daemon opens it without complaint
    expect((await cli(['status'], h.env)).code).toBe(0);
  });

  it('ten CLIs started at once against a stopped daemon end with exactly one daemon', async () => {
    h = tempHome();
    const results = await Promise.all(Array.from({ length: 10 }, () => cli(['status', '--json'], h.env)));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const pids = new Set(results.map((r) => JSON.parse(r.stdout).daemon.pid));
    expect(pids.size).toBe(1);
    const [pid] = [...pids];
    await waitFor(() => daemonsFor(h.home).length === 1, { what: 'race losers to exit' });
    expect(daemonsFor(h.home)).toEqual([pid]);
  });

  it('after kill -9 the next command notices the stale socket, starts a new daemon and completes', async () => {
    h = tempHome();
    expect((await cli(['status'], h.env)).code).toBe(0);
    const old = daemonPid(h.home)!;
    process.kill(old, 'SIGKILL');
    await waitGone(old);
    // the killed daemon left its socket behind
    expect(lstatSync(join(h.home, 'run', 'opstream.sock')).isSocket()).toBe(true);
    const r = await cli(['status', '--json'], h.env);
    expect(r.code, r.stderr).toBe(0);
    const now = JSON.parse(r.stdout).daemon.pid;
    expect(now).not.toBe(old);
    expect(alive(now)).toBe(true);
  });

  it('keeps the socket directory 0700 and the socket 0600', async () => {
    h = tempHome();
    expect((await cli(['status'], h.env)).code).toBe(0);
    expect(statSync(join(h.home, 'run')).mode & 0o777).toBe(0o700);
    expect(lstatSync(join(h.home, 'run', 'opstream.sock')).mode & 0o777).toBe(0o600);
  });

  it('runs the bundled daemon with its code cache: a damaged cache is set aside and written again, and OPSTREAM_DAEMON_BUNDLE=0 runs the modules alike', async () => {
    const bundle = fileURLToPath(new URL('../../dist/daemon/daemon.cjs', import.meta.url));
    expect(existsSync(bundle), 'npm run build makes dist/daemon/daemon.cjs').toBe(true);
    // other tests' daemons may read it too, and a damaged cache must cost them nothing but the compile
    const cache = codeCacheFileOf(bundle);
    const garbage = randomBytes(64 * 1024);
    writeFileSync(cache, garbage);
    h = tempHome();
    // `tools` also starts the built-in MCP server, i.e. the SDK the bundle requires from node_modules
    const bundled = await cli(['tools', '--json'], h.env);
    expect(bundled.code, bundled.stderr).toBe(0);
    await waitFor(() => {
      const now = readFileSync(cache);
      return now.length > 100_000 && !now.subarray(0, garbage.length).equals(garbage);
    }, { what: 'a new code cache', timeoutMs: 30_000 });
    h2 = tempHome();
    const modules = await cli(['tools', '--json'], { ...h2.env, OPSTREAM_DAEMON_BUNDLE: '0' });
    expect(modules.code, modules.stderr).toBe(0);
    const names = (out: string): string[] => (JSON.parse(out) as { tools: { name: string }[] }).tools.map((t) => t.name).sort();
    expect(names(modules.stdout)).toEqual(names(bundled.stdout));
    expect(names(bundled.stdout).length).toBeGreaterThan(0);
  });
});
