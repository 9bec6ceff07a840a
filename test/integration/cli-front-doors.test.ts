import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunEventJson, RunJson } from '../../src/protocol/index.js';
import { alive, BIN, cli, daemonPid, tempHome, waitFor, waitGone, type TempHome } from '../support/home.js';
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
    const textLines = text.out().trim().split('\n').filter((l) => !l.startsWith(' '));
    expect(new Set(textLines).size).toBe(textLines.length);
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
