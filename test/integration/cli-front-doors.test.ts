import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunEventJson, RunJson } from '../../src/protocol/index.js';
import { alive, BIN, cli, daemonPid, ROOT, tempHome, waitFor, waitGone, type TempHome } from '../support/home.js';
import { start, waitRun } from '../support/runs.js';

// The front doors of issue 18 as a user meets them: `--follow` across daemon restarts, `--workflow`
// filters that take what `start` takes, human times, report titles, `help --json`, one-line flag errors.

/** A run that waits for a person between two stages: it lives as long as the test needs. */
const RELAY = `id: relay_race
name: Relay Race
command: relay
notifications: [approvals, completion]
steps:
  - id: warm
    wait: 100ms
  - id: hold
    approval: { prompt: "hand over?" }
  - id: run
    repeat: { every: 100ms, for: 500ms }
    steps:
      - id: look
        tool: ops.system_stats
        with: { top: 0, sample_ms: 50 }
`;

const NIGHTLY = `id: nightly_check
name: Nightly Check
command: nightly
schedule: "0 3 * * *"
steps:
  - id: look
    tool: ops.system_stats
    with: { top: 0, sample_ms: 50 }
`;

let h: TempHome;

function install(home: TempHome): void {
  mkdirSync(join(home.home, 'workflows'), { recursive: true });
  writeFileSync(join(home.home, 'workflows', 'relay.yaml'), RELAY);
  writeFileSync(join(home.home, 'workflows', 'nightly.yaml'), NIGHTLY);
}

/** A long-running CLI (a follower): its output so far and how it ended. */
interface Follower {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number>;
}

const followers: Follower[] = [];

function follow(args: string[], env: NodeJS.ProcessEnv): Follower {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exit = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  const f = { child, out: () => out, err: () => err, exit };
  followers.push(f);
  return f;
}

/** Resolves with the exit code, or fails the test (with what it printed) if it does not exit in time. */
async function exited(f: Follower, what: string, timeoutMs = 60_000): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not exit\nstdout: ${f.out()}\nstderr: ${f.err()}`)), timeoutMs);
  });
  try {
    return await Promise.race([f.exit, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function daemonStart(home: TempHome): Promise<number> {
  const r = await cli(['daemon', 'start'], home.env, { timeoutMs: 60_000 });
  expect(r.code, r.stderr).toBe(0);
  return daemonPid(home.home)!;
}

beforeAll(() => {
  h = tempHome('opfd-');
  install(h);
});

afterEach(() => {
  for (const f of followers.splice(0)) if (f.child.exitCode === null && f.child.pid) f.child.kill('SIGKILL');
});

afterAll(async () => {
  await h?.cleanup();
});

describe('--follow across daemon restarts', () => {
  it('logs --follow and inbox --follow go on after `daemon stop` + start and after kill -9, with no line twice; logs exits 0 when the run ends', async () => {
    const id = await start(h, ['relay']);
    await waitRun(h, id, (r) => r.status === 'waiting', 'the approval');
    const json = follow(['logs', id, '--follow', '--json'], h.env);
    const text = follow(['logs', id, '--follow'], h.env);
    const inbox = follow(['inbox', '--follow', '--json', '--run', id], h.env);
    await waitFor(() => json.out().includes('"approval.requested"') || json.out().includes('"hold"'), { what: 'the follower to catch up' });
    await waitFor(() => inbox.out().includes('"level"'), { what: 'the inbox follower to show the approval notification' });

    // 1: a clean stop, then a start
    const first = daemonPid(h.home)!;
    expect((await cli(['daemon', 'stop'], h.env)).code).toBe(0);
    await waitGone(first);
    await daemonStart(h);
    for (const f of [json, text, inbox]) await waitFor(() => f.err().includes('daemon restarted; following again'), { what: 'the reconnect notice' });

    // 2: kill -9, then a start
    const second = daemonPid(h.home)!;
    process.kill(second, 'SIGKILL');
    await waitGone(second);
    await daemonStart(h);
    for (const f of [json, text, inbox]) await waitFor(() => f.err().split('daemon restarted; following again').length === 3, { what: 'the second reconnect notice' });
    expect(alive(json.child.pid!) && alive(text.child.pid!)).toBe(true);

    // the run goes on: approving it lets it finish, and the log followers end with it
    expect((await cli(['approve', id], h.env)).code).toBe(0);
    expect(await exited(json, 'logs --follow --json')).toBe(0);
    expect(await exited(text, 'logs --follow')).toBe(0);
    await waitRun(h, id, (r) => r.status === 'succeeded', 'the run');

    // every event exactly once, in order, the same as the run's whole log
    const all = JSON.parse((await cli(['logs', id, '--json'], h.env)).stdout) as RunEventJson[];
    const streamed = json
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as RunEventJson & { notification?: { id: string } })
      .filter((e) => !e.notification);
    expect(streamed.map((e) => e.seq)).toEqual(all.map((e) => e.seq));
    expect(streamed.at(-1)?.type).toBe('run.succeeded');
    // the text follower printed what `logs` prints of the whole run once it ended: no line twice, none missing
    // (a loop's sample events have no line of their own, so the count differs from the JSON events')
    // (the completion notification may come after the run's last event, where the follower already ended)
    const lines = (out: string): string[] => out.trim().split('\n').filter((l) => !l.startsWith(' ')).sort();
    const isNote = (l: string): boolean => /^\S+\s+\[(info|warning|critical)\]/.test(l);
    const whole = await cli(['logs', id], h.env);
    expect(whole.code, whole.stderr).toBe(0);
    const followed = lines(text.out());
    expect(followed.filter((l) => !isNote(l))).toEqual(lines(whole.stdout).filter((l) => !isNote(l)));
    const noteLines = followed.filter(isNote);
    expect(noteLines.length).toBeGreaterThan(0);
    expect(new Set(noteLines).size).toBe(noteLines.length);
    for (const n of noteLines) expect(whole.stdout).toContain(n);
    expect(text.err().trim().split('\n')).toEqual(['daemon restarted; following again', 'daemon restarted; following again']);

    // the inbox follower saw the completion notification that came after both restarts, once
    await waitFor(() => /succeeded|completed|finished/i.test(inbox.out()), { what: 'the completion notification in inbox --follow' });
    const notes = inbox
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id?: string; delivery?: unknown })
      .filter((n) => !n.delivery);
    expect(new Set(notes.map((n) => n.id)).size).toBe(notes.length);
    expect(notes.length).toBeGreaterThanOrEqual(2);
    inbox.child.kill('SIGINT');
  }, 180_000);

  it('gives up with exit 1 and a clear message when the daemon does not come back within the timeout (flag or env)', async () => {
    const g = tempHome('opfg-');
    try {
      install(g);
      const id = await start(g, ['relay']);
      await waitRun(g, id, (r) => r.status === 'waiting', 'the approval');
      const logs = follow(['logs', id, '--follow', '--reconnect-timeout', '1s'], g.env);
      const inbox = follow(['inbox', '--follow'], { ...g.env, OPSTREAM_RECONNECT_TIMEOUT: '1s' });
      await waitFor(() => logs.out().includes('hold'), { what: 'the follower to catch up' });
      await waitFor(() => inbox.out().includes('hand over?') || inbox.out().includes('relay'), { what: 'the inbox follower' });
      expect((await cli(['daemon', 'stop'], g.env)).code).toBe(0);
      for (const [f, what] of [[logs, `opstream logs ${id} --follow`], [inbox, 'opstream inbox --follow']] as const) {
        expect(await exited(f, what)).toBe(1);
        const lines = f.err().trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(/^opstream: the daemon went away and did not come back within 1s .*opstream daemon start/);
        expect(lines[0]).toContain(what);
      }
      expect(daemonPid(g.home)).toBeNull(); // a follower never starts a daemon by itself
      const bad = await cli(['logs', id, '--follow', '--reconnect-timeout', 'soon'], g.env);
      expect(bad.code).toBe(2);
      expect(bad.stderr.trim()).toBe('opstream: --reconnect-timeout must be a duration such as 30s or 2m, not "soon"');
    } finally {
      await g.cleanup();
    }
  }, 120_000);
});

describe('--workflow filters read what start reads', () => {
  it('list, stats and schedules take the command word, the id and the name; an unknown one gets the nearest suggestion', async () => {
    const id = await start(h, ['relay']);
    for (const word of ['relay', 'relay_race', 'Relay Race']) {
      const l = await cli(['list', '--all', '--workflow', word, '--json'], h.env);
      expect(l.code, l.stderr).toBe(0);
      const runs = JSON.parse(l.stdout) as RunJson[];
      expect(runs.map((r) => r.id)).toContain(id);
      expect(new Set(runs.map((r) => r.workflow))).toEqual(new Set(['relay_race']));
      const active = await cli(['list', '--workflow', word, '--json'], h.env);
      expect((JSON.parse(active.stdout) as RunJson[]).map((r) => r.id)).toContain(id);
      const s = await cli(['stats', '--workflow', word, '--json'], h.env);
      expect(s.code, s.stderr).toBe(0);
      expect(JSON.parse(s.stdout).window.workflow).toBe('relay_race');
    }
    for (const cmd of [['list', '--workflow', 'rely'], ['stats', '--workflow', 'rely'], ['schedules', 'pause', 'nighty']]) {
      const r = await cli(cmd, h.env);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^opstream: no workflow or command named (rely|nighty); did you mean .*(relay|nightly)/);
    }
    const paused = await cli(['schedules', 'pause', 'nightly', '--json'], h.env);
    expect(paused.code, paused.stderr).toBe(0);
    expect(JSON.parse(paused.stdout)).toMatchObject({ workflow: 'nightly_check', paused: true });
    const resumed = await cli(['schedules', 'resume', 'Nightly Check', '--json'], h.env);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ workflow: 'nightly_check', paused: false });
    await cli(['cancel', id], h.env);
  }, 120_000);
});

describe('help --json, usage errors, demo builds', () => {
  it('help --json prints every command with summary, usage, flags and args; help COMMAND --json only that one', async () => {
    const all = await cli(['help', '--json'], h.env);
    expect(all.code, all.stderr).toBe(0);
    const doc = JSON.parse(all.stdout) as { commands: { command: string; summary: string; usage: string; flags: { name: string; type: string; char: string | null }[]; args: { name: string; required: boolean }[] }[] };
    const names = doc.commands.map((c) => c.command);
    expect(names).toEqual(expect.arrayContaining(['start', 'logs', 'list', 'daemon start', 'schedules pause', 'help']));
    const logs = doc.commands.find((c) => c.command === 'logs')!;
    expect(logs.summary).toMatch(/^Show a run's events/);
    expect(logs.usage).toBe('opstream logs ID [FLAGS] [--json]');
    expect(logs.args).toEqual([{ name: 'id', description: 'run id', required: true }]);
    expect(logs.flags).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'follow', char: 'f', type: 'boolean' }), expect.objectContaining({ name: 'reconnect-timeout', type: 'option' })]));
    const one = JSON.parse((await cli(['help', 'daemon', 'start', '--json'], h.env)).stdout) as typeof doc;
    expect(one.commands.map((c) => c.command)).toEqual(['daemon start']);
    const none = await cli(['help', 'nope', '--json'], h.env);
    expect(none.code).toBe(1);
    expect(none.stderr.trim()).toBe('opstream: no command named "nope"; `opstream help` lists them');
  });

  it('flag and argument errors are one readable line each (no tab, no split message), then the usage line; exit 2', async () => {
    const cases: [string[], string][] = [
      [['list', '--limit', 'abc'], 'opstream: --limit: expected an integer but received: abc'],
      [['inbox', '--limit', '0'], 'opstream: --limit: expected an integer greater than or equal to 1 but received: 0'],
      [['logs'], 'opstream: missing required argument ID (run id)'],
      [['stats', '--prometheus', '--json'], 'opstream: --json cannot also be provided when using --prometheus'],
      [['list', '--bogus'], 'opstream: Nonexistent flag: --bogus'],
    ];
    for (const [args, line] of cases) {
      const r = await cli(args, h.env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).not.toContain('\t');
      const lines = r.stderr.trim().split('\n');
      expect(lines, args.join(' ')).toEqual([line, `Usage: opstream ${args[0]} ${args[0] === 'logs' ? 'ID ' : ''}[FLAGS] [--json]`]);
    }
  });

  it('arguments come from the command line only: what is piped to stdin is not taken for a missing one', async () => {
    // as in `opstream list --json | jq -r '.[].id' | while read id; do opstream status; done`
    const status = await cli(['status'], h.env, { input: 'r_nosuch\n' });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout + status.stderr).not.toContain('r_nosuch');
    const logs = await cli(['logs'], h.env, { input: 'r_nosuch\n' });
    expect(logs.code).toBe(2);
    expect(logs.stderr.split('\n')[0]).toBe('opstream: missing required argument ID (run id)');
  });

  it('the demo scripts build without rewriting tracked files (oclif.manifest.json, schemas)', () => {
    // a scratch clone whose command source changed since its manifest was committed: a build that
    // regenerates the manifest would leave it modified
    const dir = mkdtempSync(join(tmpdir(), 'opdemo-'));
    try {
      for (const p of ['src', 'scripts', 'bin', 'workflows', 'schemas', 'package.json', 'tsconfig.json', 'oclif.manifest.json', '.gitignore']) cpSync(join(ROOT, p), join(dir, p), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
      const git = (...a: string[]): string => execFileSync('git', a, { cwd: dir, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
      git('init', '-q');
      const list = join(dir, 'src', 'commands', 'list.ts');
      writeFileSync(list, readFileSync(list, 'utf8').replace("'Include finished runs", "'Also include finished runs"));
      git('add', '-A');
      git('commit', '-qm', 'scratch');
      const scripts = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
      const builds = new Set(['demo:ai', 'demo:slack'].map((k) => scripts[k].split(' && tsx ')[0].replace(' >/dev/null', '')));
      const demoSh = /then say "building"; (.+?); fi/.exec(readFileSync(join(dir, 'scripts', 'demo.sh'), 'utf8'))![1];
      builds.add(demoSh.replace(' >/dev/null', ''));
      for (const b of builds) {
        execFileSync('sh', ['-c', b], { cwd: dir, stdio: 'pipe', env: { ...process.env, npm_config_update_notifier: 'false' } });
        expect(git('status', '--porcelain'), b).toBe('');
      }
      // it did build: the changed command is in the scratch dist, and that CLI runs
      expect(readFileSync(join(dir, 'dist', 'commands', 'list.js'), 'utf8')).toContain('Also include finished runs');
      expect(JSON.parse(execFileSync(process.execPath, [join(dir, 'bin', 'run.js'), 'help', 'list', '--json'], { encoding: 'utf8', env: h.env })).commands[0].command).toBe('list');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});

describe('human times and report titles', () => {
  let web: Server;
  afterAll(() => new Promise<void>((r) => (web ? web.close(() => r()) : r())));

  it('report is titled after the workflow (an SLO run is not a "Profiling report"); text output says local and relative times, ISO only in --json', async () => {
    web = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(web.address() as AddressInfo).port}/health`;
    const id = await start(h, ['slo', 'web', 'every', '1s', `url=${url}`, 'requests=2']);
    // a reader in India (UTC+05:30, no DST): times must be theirs
    const env = { ...h.env, TZ: 'Asia/Kolkata' };
    const report = await waitFor(
      async () => {
        const r = await cli(['report', id], env);
        return r.code === 0 ? r : null;
      },
      { what: 'a report of the SLO run', timeoutMs: 60_000 },
    );
    const body = report.stdout.split('\n').filter((l) => !l.startsWith('('));
    expect(body[0]).toMatch(new RegExp(`^SLO Monitoring report ${id} \\(slo_monitoring, (running|waiting)\\)$`));
    expect(report.stdout).not.toContain('Profiling report');
    expect(report.stdout).toMatch(/Window: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\+05:30 to/);
    const json = JSON.parse((await cli(['report', id, '--json'], env)).stdout) as { run: { workflow_name: string; started_at: string } };
    expect(json.run.workflow_name).toBe('SLO Monitoring');
    expect(json.run.started_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);

    const ISO = /\d{4}-\d\d-\d\dT\d\d:\d\d/;
    const RELATIVE = /(just now|\d+ s ago|\d+ min ago)/;
    const inbox = await cli(['inbox'], env);
    expect(inbox.stdout).not.toMatch(ISO);
    expect(inbox.stdout.split('\n')[1]).toMatch(new RegExp(`^${RELATIVE.source} `));
    const audit = await cli(['audit', '--run', id], env);
    expect(audit.stdout).not.toMatch(ISO);
    const startLine = audit.stdout.split('\n').find((l) => l.includes('runs.start'))!;
    const at = new Date((JSON.parse((await cli(['audit', '--run', id, '--json'], env)).stdout) as { at: string; action: string }[]).find((e) => e.action === 'runs.start')!.at);
    const local = new Date(at.getTime() + 330 * 60_000).toISOString().slice(11, 19); // the wall clock in Kolkata
    expect(startLine).toMatch(new RegExp(`^${local} +${RELATIVE.source} `));
    const schedules = await cli(['schedules'], env);
    expect(schedules.stdout).not.toMatch(ISO);
    expect(schedules.stdout).toMatch(/nightly_check .* \d\d:\d\d \(in \d+ (h|min|h \d+ min)\)/);
    const stats = await cli(['stats'], env);
    expect(stats.stdout).not.toMatch(ISO);
    expect(stats.stdout).not.toContain('UTC');
    expect(stats.stdout.split('\n')[0]).toMatch(/^Runs that ended since ([A-Z][a-z]{2} \d+ )?\d\d:\d\d \(7d\)/);
    await cli(['cancel', id], h.env);
  }, 120_000);
});
