import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '../../src/protocol/version.js';
import { alive, cli, daemonPid, killDaemon, ROOT, tempHome, waitGone, type TempHome } from '../support/home.js';

// Issue 19, items 5, 10, 13 and 14, against the real CLI and daemon: who may own the socket's
// directory, the permissions of everything the daemon keeps, the metrics endpoint's bearer token,
// and a CLI that never hangs on a daemon that does not answer. CI runs as root, which can hand a
// directory to another user (nobody, uid 65534) to play the local attacker.

const NOBODY = 65534;
const me = process.getuid?.();
const mode = (p: string): string => (lstatSync(p).mode & 0o777).toString(8);

/** Every file and directory under dir (symlinks excluded: pino-roll's current.log points into the walk). */
function entriesUnder(dir: string): { path: string; dir: boolean }[] {
  const out: { path: string; dir: boolean }[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isSymbolicLink()) continue;
    out.push({ path: p, dir: e.isDirectory() });
    if (e.isDirectory()) out.push(...entriesUnder(p));
  }
  return out;
}

const homes: TempHome[] = [];
function home(prefix = 'ops-ls-'): TempHome {
  const h = tempHome(prefix);
  homes.push(h);
  return h;
}
const extraDirs: string[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
  for (const h of homes.splice(0)) await h.cleanup();
  for (const d of extraDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

beforeAll(() => {
  expect(existsSync(join(ROOT, 'dist', 'daemon', 'entry.js')), 'npm run build first').toBe(true);
  // handing a directory to another user (chown) needs root; CI runs these as root (no silent skip)
  expect(process.getuid?.(), 'these tests chown directories to nobody and need root').toBe(0);
});

describe('item 5: a socket directory someone else made is never used', () => {
  it('the CLI refuses to talk through a run dir that another user owns, naming the dir and its owner', async () => {
    const h = home();
    expect((await cli(['daemon', 'start'], h.env)).code).toBe(0);
    expect((await cli(['status'], h.env)).code).toBe(0);
    const run = join(h.home, 'run');
    // the squat: the directory now belongs to another local user (their socket could be in it)
    chownSync(run, NOBODY, NOBODY);
    const r = await cli(['status'], h.env);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`opstream: socket directory ${run} belongs to nobody (uid ${NOBODY}), not you (uid ${me}); refusing to use it (someone else may have created it; remove it or set OPSTREAM_HOME elsewhere)`);
    expect(r.stdout).toBe('');
    // `daemon stop` refuses too: it does not send the stop to whoever answers there
    const stop = await cli(['daemon', 'stop'], h.env);
    expect(stop.code).toBe(1);
    expect(stop.stderr).toContain(`socket directory ${run} belongs to nobody (uid ${NOBODY})`);
    chownSync(run, me!, me!);
    expect((await cli(['daemon', 'stop'], h.env)).code).toBe(0);
  });

  it('the CLI refuses a run dir that others can write to; the daemon refuses both at start', async () => {
    const h = home();
    expect((await cli(['daemon', 'start'], h.env)).code).toBe(0);
    const run = join(h.home, 'run');
    chmodSync(run, 0o777);
    const r = await cli(['status'], h.env);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`opstream: socket directory ${run} is writable by others (mode 777); run: chmod 700 ${run}`);
    chmodSync(run, 0o700);
    expect((await cli(['daemon', 'stop'], h.env)).code).toBe(0);

    // the daemon's own check, before it binds: owned by nobody -> refused, nothing starts
    chownSync(run, NOBODY, NOBODY);
    const d = await cli(['daemon', 'start'], h.env);
    expect(d.code).toBe(1);
    expect(d.stderr.trim()).toBe(`opstream: socket directory ${run} belongs to nobody (uid ${NOBODY}), not you (uid ${me}); refusing to use it (someone else may have created it; remove it or set OPSTREAM_HOME elsewhere)`);
    expect(daemonPid(h.home)).toBeNull();
    expect(existsSync(join(run, 'opstream.sock'))).toBe(false);
  });

  it('a directory above the socket dir that another user owns, or anyone can write to (not sticky), is refused', async () => {
    for (const [setup, expected] of [
      [(d: string) => chownSync(d, NOBODY, NOBODY), () => `which belongs to nobody (uid ${NOBODY}), so they could replace it`],
      [(d: string) => chmodSync(d, 0o777), (d: string) => `which others can write to (mode 777), so they could replace it; refusing to use it (run: chmod go-w ${d})`],
    ] as const) {
      const outer = mkdtempSync(join(tmpdir(), 'ops-anc-'));
      extraDirs.push(outer);
      const opsHome = join(outer, 'h');
      mkdirSync(opsHome, { mode: 0o700 });
      setup(outer);
      const env = { ...home().env, OPSTREAM_HOME: opsHome };
      for (const args of [['status'], ['daemon', 'start']]) {
        const r = await cli(args, env);
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.stderr).toContain(`socket directory ${join(opsHome, 'run')} is inside ${outer}, ${expected(outer)}`);
      }
      expect(daemonPid(opsHome)).toBeNull();
    }
  });

  it('without XDG_RUNTIME_DIR the socket lives in the user\'s own state directory, not a shared name under /tmp', async () => {
    const fakeHome = mkdtempSync(join(tmpdir(), 'ops-xdg-'));
    extraDirs.push(fakeHome);
    const env: NodeJS.ProcessEnv = { ...home().env, HOME: fakeHome };
    for (const k of ['OPSTREAM_HOME', 'XDG_RUNTIME_DIR', 'XDG_STATE_HOME', 'XDG_CONFIG_HOME']) delete env[k];
    const runDir = join(fakeHome, '.local', 'state', 'opstream', 'run');
    try {
      const r = await cli(['daemon', 'start', '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      const started = JSON.parse(r.stdout) as { socket: string; pid: number };
      expect(started.socket).toBe(join(runDir, 'opstream.sock'));
      expect(started.socket.length).toBeLessThan(100);
      expect(statSync(started.socket).isSocket()).toBe(true);
      expect(mode(runDir)).toBe('700');
      expect(statSync(runDir).uid).toBe(me);
      const s = await cli(['status', '--json'], env);
      expect(s.code, s.stderr).toBe(0);
      expect((JSON.parse(s.stdout) as { daemon: { socket: string } }).daemon.socket).toBe(started.socket);
      expect((await cli(['daemon', 'stop'], env)).code).toBe(0);
      await waitGone(started.pid);
    } finally {
      const pidFile = join(runDir, 'daemon.pid');
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
      if (pid > 0 && alive(pid)) {
        process.kill(pid, 'SIGTERM');
        await waitGone(pid);
      }
    }
  });
});

describe('item 10: directories 0700, files 0600, what another user owns refused', () => {
  it('loose directories and files are tightened with a notice on stderr and in the log; every file the daemon keeps is 0600', async () => {
    const h = home();
    for (const d of ['', 'data', 'data/logs', 'run']) {
      mkdirSync(join(h.home, d), { recursive: true });
      chmodSync(join(h.home, d), 0o755);
    }
    writeFileSync(join(h.home, 'config.yaml'), 'notify: { desktop: "off" }\n');
    chmodSync(join(h.home, 'config.yaml'), 0o644);
    const r = await cli(['daemon', 'start'], h.env);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toEqual([
      `opstream: tightened config directory ${h.home} from mode 755 to 700 (only you may read it)`,
      `opstream: tightened socket directory ${join(h.home, 'run')} from mode 755 to 700 (only you may read it)`,
      `opstream: tightened data directory ${join(h.home, 'data')} from mode 755 to 700 (only you may read it)`,
      `opstream: tightened log directory ${join(h.home, 'data', 'logs')} from mode 755 to 700 (only you may read it)`,
    ]);
    for (const d of ['', 'data', 'data/logs', 'run']) expect(mode(join(h.home, d)), d).toBe('700');
    // the config keeps its mode (the user's file); nobody else can reach it through the 0700 dir
    expect(mode(join(h.home, 'config.yaml'))).toBe('644');
    // a few runs' worth of store writes, then every file the daemon made
    expect((await cli(['tools', 'call', 'ops.system_stats'], h.env)).code).toBe(0);
    const all = [...entriesUnder(join(h.home, 'data')), ...entriesUnder(join(h.home, 'run'))];
    expect(all.filter((e) => !e.dir).length).toBeGreaterThan(5);
    for (const e of all) expect(mode(e.path), e.path).toBe(e.dir ? '700' : '600');
    const log = readFileSync(join(h.home, 'data', 'logs', 'current.log'), 'utf8');
    expect(log).toContain(`tightened data directory ${join(h.home, 'data')} from mode 755 to 700`);
    expect((await cli(['daemon', 'stop'], h.env)).code).toBe(0);

    // store files an older version left 0644 are made 0600 on the next start, and that is said once
    const db = join(h.home, 'data', 'db');
    const dbFiles = readdirSync(db).map((f) => join(db, f));
    for (const f of dbFiles) chmodSync(f, 0o644);
    const again = await cli(['daemon', 'start'], h.env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr.trim()).toMatch(new RegExp(`^opstream: tightened ${dbFiles.length} file\\(s\\) under ${h.home}/data to mode 600 \\(directories 700\\)$`));
    for (const f of dbFiles.filter((x) => existsSync(x))) expect(mode(f), f).toBe('600');
    expect((await cli(['daemon', 'stop'], h.env)).code).toBe(0);
  });

  it.each([
    ['data', 'data directory'],
    ['data/logs', 'log directory'],
    ['config.yaml', 'config file'],
    ['data/db/CURRENT', null],
  ])('%s owned by another user: the daemon refuses to start, saying whose it is', async (rel, what) => {
    const h = home();
    expect((await cli(['daemon', 'start'], h.env)).code).toBe(0);
    expect((await cli(['daemon', 'stop'], h.env)).code).toBe(0);
    writeFileSync(join(h.home, 'config.yaml'), 'notify: { desktop: "off" }\n', { mode: 0o600 });
    const p = join(h.home, rel);
    chownSync(p, NOBODY, NOBODY);
    const r = await cli(['daemon', 'start'], h.env);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`${what ? `${what} ` : ''}${p} belongs to nobody (uid ${NOBODY}), not you (uid ${me}); refusing to use it`);
    expect(daemonPid(h.home)).toBeNull();
    expect(statSync(p).uid).toBe(NOBODY);
  });
  it('a config file others can write to is refused with the chmod to run; a mode 0600 one starts', async () => {
    const h = home();
    const file = join(h.home, 'config.yaml');
    writeFileSync(file, 'notify: { desktop: "off" }\n');
    chmodSync(file, 0o666);
    const r = await cli(['status'], h.env);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`opstream: config file ${file} is writable by others (mode 666); run: chmod 600 ${file}`);
    expect(daemonPid(h.home)).toBeNull();
    chmodSync(file, 0o600);
    const ok = await cli(['status'], h.env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toBe('');
    expect((await cli(['daemon', 'stop'], h.env)).code).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------

async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = createHttpServer();
  await new Promise<void>((r) => s.listen(0, host, () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('item 13: /metrics on loopback unless configured, and behind a bearer token when one is set', () => {
  const TOKEN = 'mt-5ecre7-0123456789abcdef0123';

  it('with metrics.token: 401 without it or with a wrong one, 200 with it; the token appears in no log or output', async () => {
    const h = home();
    const port = await freePort();
    writeFileSync(join(h.home, 'config.yaml'), `notify: { desktop: "off" }\nlog: { level: debug }\nmetrics:\n  listen: "127.0.0.1:${port}"\n  token: "\${METRICS_TOKEN}"\n`);
    const env = { ...h.env, METRICS_TOKEN: TOKEN };
    expect((await cli(['daemon', 'start'], env)).code).toBe(0);
    const url = `http://127.0.0.1:${port}/metrics`;
    const none = await fetch(url);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(await none.text()).not.toContain('opstream_');
    for (const auth of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}`, 'Bearer ', TOKEN]) {
      const bad = await fetch(url, { headers: { authorization: auth } });
      expect(bad.status, auth).toBe(401);
    }
    const ok = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('opstream_daemon_uptime_seconds');
    const outputs = [await cli(['stats', '--json'], env), await cli(['status', '--json'], env), await cli(['doctor', '--json'], env)].map((r) => r.stdout + r.stderr);
    expect(outputs[0]).toContain(url);
    const logs = readdirSync(join(h.home, 'data', 'logs')).map((f) => readFileSync(join(h.home, 'data', 'logs', f), 'utf8'));
    expect(logs.join('\n')).toContain('metrics scrape refused');
    for (const text of [...outputs, ...logs]) expect(text).not.toContain(TOKEN);
    expect((await cli(['daemon', 'stop'], env)).code).toBe(0);
  });

  it('a non-loopback address is refused without a token and served with one (still 401 without it)', async () => {
    const h = home();
    writeFileSync(join(h.home, 'config.yaml'), 'notify: { desktop: "off" }\nmetrics:\n  listen: "0.0.0.0:9464"\n');
    const refused = await cli(['daemon', 'start'], h.env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('metrics.listen: metrics are served on a loopback address only (127.0.0.1, ::1 or localhost), not 0.0.0.0, unless metrics.token is set too');
    expect(daemonPid(h.home)).toBeNull();

    writeFileSync(join(h.home, 'config.yaml'), 'notify: { desktop: "off" }\nmetrics:\n  listen: "0.0.0.0:9464"\n  token: "short"\n');
    const short = await cli(['daemon', 'start'], h.env);
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/metrics\.token: a bearer token of at least 16 characters/);
    expect(short.stderr).not.toContain('"short"');

    const port = await freePort('0.0.0.0');
    writeFileSync(join(h.home, 'config.yaml'), `notify: { desktop: "off" }\nmetrics:\n  listen: "0.0.0.0:${port}"\n  token: "\${METRICS_TOKEN}"\n`);
    const env = { ...h.env, METRICS_TOKEN: TOKEN };
    const started = await cli(['daemon', 'start'], env);
    expect(started.code, started.stderr).toBe(0);
    const stats = JSON.parse((await cli(['stats', '--json'], env)).stdout) as { daemon: { metrics_url: string } };
    expect(stats.daemon.metrics_url).toBe(`http://0.0.0.0:${port}/metrics`);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect((await cli(['daemon', 'stop'], env)).code).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------

/**
 * A stand-in daemon on the home's socket path, speaking the real wire format: it says hello as a
 * daemon of this very version would (or not at all), then answers each method the way `answer`
 * says: never (undefined), with an empty result ('ok') or with the given error.
 */
async function fakeDaemon(h: TempHome, opts: { hello: 'ok' | 'silent' | 'error'; answer?: (method: string) => { code: string; message: string } | 'ok' | undefined }): Promise<string[]> {
  const seen: string[] = [];
  const run = join(h.home, 'run');
  mkdirSync(run, { mode: 0o700, recursive: true });
  const server = createServer((s: Socket) => {
    let buf = '';
    s.on('error', () => undefined);
    s.on('data', (d) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const msg = JSON.parse(buf.slice(0, nl)) as { id: string; method: string };
        buf = buf.slice(nl + 1);
        seen.push(msg.method);
        if (msg.method === 'hello') {
          if (opts.hello === 'ok') s.write(`${JSON.stringify({ id: msg.id, result: { protocol: PROTOCOL_VERSION, version: PACKAGE_VERSION, pid: process.pid, started_at: new Date().toISOString(), active_runs: 0 } })}\n`);
          if (opts.hello === 'error') s.write(`${JSON.stringify({ id: msg.id, error: { code: 'internal', message: 'the store cannot be read', retryable: false } })}\n`);
          continue;
        }
        const answer = opts.answer?.(msg.method);
        if (answer === 'ok') s.write(`${JSON.stringify({ id: msg.id, result: {} })}\n`);
        else if (answer) s.write(`${JSON.stringify({ id: msg.id, error: { ...answer, retryable: false } })}\n`);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(join(run, 'opstream.sock'), () => r()));
  return seen;
}

describe('item 14: the CLI never hangs on a daemon that does not answer', () => {
  it('`status` against a daemon that says hello and then never answers exits 1 with the method, the socket and the log (--timeout, OPSTREAM_TIMEOUT)', async () => {
    const h = home();
    const seen = await fakeDaemon(h, { hello: 'ok' });
    const socket = join(h.home, 'run', 'opstream.sock');
    const log = join(h.home, 'data', 'logs', 'current.log');
    const byFlag = await cli(['status', '--timeout', '1s'], h.env, { timeoutMs: 20_000 });
    expect(byFlag.code).toBe(1);
    expect(byFlag.stderr.trim()).toBe(`opstream: the daemon did not answer \`daemon.status\` within 1 s (socket ${socket}); check \`opstream daemon status\` or the log ${log}`);
    expect(seen).toEqual(['hello', 'daemon.status']);
    const byEnv = await cli(['status', 'r_abc', '--json'], { ...h.env, OPSTREAM_TIMEOUT: '1500ms' }, { timeoutMs: 20_000 });
    expect(byEnv.code).toBe(1);
    expect(byEnv.stdout).toBe('');
    expect(byEnv.stderr.trim()).toBe(`opstream: the daemon did not answer \`runs.get\` within 1.5 s (socket ${socket}); check \`opstream daemon status\` or the log ${log}`);
    const bad = await cli(['status', '--timeout', 'soon'], h.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('opstream: --timeout must be a duration such as 30s or 2m (0 waits without a limit), not "soon"');
  });

  it('a daemon that accepts the connection but never says hello: every command gives up within the limit', async () => {
    const h = home();
    await fakeDaemon(h, { hello: 'silent' });
    for (const args of [['status'], ['list'], ['daemon', 'status'], ['daemon', 'stop']]) {
      const r = await cli([...args, '--timeout', '1s'], h.env, { timeoutMs: 20_000 });
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toContain('the daemon did not answer `hello` within 1 s');
    }
  });

  it('after an error reply (to hello, or to the stop itself) `status` and `daemon stop` return at once with the error', async () => {
    const h = home();
    await fakeDaemon(h, { hello: 'error' });
    for (const args of [['status'], ['daemon', 'stop']]) {
      const r = await cli([...args, '--timeout', '0'], h.env, { timeoutMs: 20_000 });
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr.trim()).toBe('opstream: the store cannot be read');
    }
    for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));

    const h2 = home();
    const seen = await fakeDaemon(h2, { hello: 'ok', answer: (m) => (m === 'daemon.shutdown' ? { code: 'internal', message: 'cannot write to the store: no space left' } : undefined) });
    const r = await cli(['daemon', 'stop', '--timeout', '0'], h2.env, { timeoutMs: 20_000 });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`opstream: the daemon (pid ${process.pid}) answered the stop with an error: cannot write to the store: no space left; stop it with: kill ${process.pid}`);
    expect(seen).toEqual(['hello', 'daemon.shutdown']);
  });

  it('`daemon stop` against a daemon that accepts the stop but never goes gives up with the pid to kill', async () => {
    const h = home();
    const seen = await fakeDaemon(h, { hello: 'ok', answer: (m) => (m === 'daemon.shutdown' ? 'ok' : undefined) });
    const r = await cli(['daemon', 'stop', '--timeout', '2s'], h.env, { timeoutMs: 20_000 });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`opstream: daemon (pid ${process.pid}) did not exit within 2s; kill it with: kill ${process.pid}`);
    expect(seen).toEqual(['hello', 'daemon.shutdown']);
  });

  it('the real daemon still answers within the default limit, and `daemon stop` stops it', async () => {
    const h = home();
    expect((await cli(['daemon', 'start'], h.env)).code).toBe(0);
    const pid = daemonPid(h.home)!;
    const s = await cli(['status', '--timeout', '10s'], h.env);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/^daemon running/);
    const stop = await cli(['daemon', 'stop'], h.env);
    expect(stop.code, stop.stderr).toBe(0);
    expect(alive(pid)).toBe(false);
    await killDaemon(h.home);
  });
});
