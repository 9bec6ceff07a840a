import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/home.js';

/** The waits of this file: generous, as three members and DBOS share a busy CI machine with other suites. */
function waitLong<T>(check: () => T | Promise<T>, opts: { timeoutMs?: number; what?: string } = {}): Promise<NonNullable<T>> {
  return waitFor(check, { ...opts, timeoutMs: Math.max(opts.timeoutMs ?? 0, 60_000) });
}
import { startTestPostgres, type TestPostgres } from '../support/pg.js';

/**
 * The team runtime (src/daemon/team) with real PostgreSQL and real processes: each member is its
 * own process (DBOS is a per-process singleton) running test/support/team-node.mjs on dist/.
 * Host bodies append "start <run> <executor>" / "done <run> <executor>" to a shared file.
 */

const NODE = join(import.meta.dirname, '..', 'support', 'team-node.mjs');

interface Line {
  ev: string;
  t: number;
  [k: string]: unknown;
}

class Member {
  readonly lines: Line[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  executor = '';
  private buf = '';

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const l = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        if (l.trim()) this.lines.push(JSON.parse(l) as Line);
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => void this.stderr.push(d));
    this.exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  }

  send(cmd: Record<string, unknown>): void {
    this.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
  }

  find(pred: (l: Line) => boolean): Line | undefined {
    return this.lines.find(pred);
  }

  async wait(pred: (l: Line) => boolean, what: string, timeoutMs = 30_000): Promise<Line> {
    return waitLong(() => this.find(pred), { what: `${this.name}: ${what} (stderr: ${this.stderr.join('').slice(-500)})`, timeoutMs });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
}

let pg: TestPostgres;
let url: string;
let dir: string;
let stepsFile: string;
const started: Member[] = [];

function spawnMember(name: string, opts: { home?: string; version?: string; url?: string } = {}): Member {
  const child = spawn(process.execPath, [NODE], {
    env: {
      ...process.env,
      TEAM_URL: opts.url ?? url,
      TEAM_HOME: opts.home ?? join(dir, `home-${name}`),
      TEAM_VERSION: opts.version ?? 'test-1',
      TEAM_STEPS: stepsFile,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const m = new Member(name, child);
  started.push(m);
  return m;
}

async function ready(m: Member): Promise<Member> {
  const l = await m.wait((x) => x.ev === 'ready' || x.ev === 'error', 'ready');
  if (l.ev === 'error') throw new Error(`${m.name} failed to start: ${String(l.message)}`);
  m.executor = String(l.executor);
  return m;
}

const steps = (): string[][] =>
  readFileSync(stepsFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '));
const startsOf = (run: string): string[] => steps().filter(([k, r]) => k === 'start' && r === run).map((s) => s[2]!);

/** Sends a query op and waits for its answer (the next line of that kind). */
async function ask(m: Member, op: string): Promise<Line> {
  const n = m.lines.filter((l) => l.ev === op).length;
  m.send({ op });
  return waitLong(() => m.lines.filter((l) => l.ev === op)[n], { what: `${m.name}: ${op}` });
}

let callSeq = 0;
async function call(from: Member, target: string, method: string, params: unknown, timeoutMs = 10_000): Promise<Line> {
  const id = ++callSeq;
  from.send({ op: 'call', id, target, method, params, actor: { user: 'alice' }, timeoutMs });
  return from.wait((l) => l.ev === 'reply' && l.id === id, `reply ${id}`, timeoutMs + 20_000);
}

beforeAll(async () => {
  pg = await startTestPostgres();
  url = await pg.database('team');
  dir = mkdtempSync(join(tmpdir(), 'ops-team-'));
  stepsFile = join(dir, 'steps.log');
  writeFileSync(stepsFile, '');
});

afterAll(async () => {
  for (const m of started) if (m.alive) m.child.kill('SIGKILL');
  await Promise.all(started.map((m) => m.exited));
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('team runtime: three members on one PostgreSQL', { timeout: 180_000 }, () => {
  let a: Member, b: Member, c: Member;
  let victim: Member;
  let survivors: Member[];

  it('three members start (concurrent first launch migrates once) and answer each other, error codes included', async () => {
    [a, b, c] = await Promise.all([ready(spawnMember('a')), ready(spawnMember('b')), ready(spawnMember('c'))]);
    expect(new Set([a.executor, b.executor, c.executor]).size).toBe(3);

    const ok = await call(a, b.executor, 'echo', { x: 1 });
    expect(ok).toMatchObject({ ok: true, value: { params: { x: 1 }, actor: { user: 'alice' }, by: b.executor } });
    console.log(`request a -> b answered in ${Number(ok.ms).toFixed(1)} ms`);

    const err = await call(c, a.executor, 'fail', { code: 'conflict', message: 'already answered by bob', retryable: false });
    expect(err).toMatchObject({ ok: false, name: 'WireError', code: 'conflict', message: 'already answered by bob', retryable: false });
    const unknown = await call(b, c.executor, 'nope', {});
    expect(unknown).toMatchObject({ ok: false, code: 'unknown_method' });
    // taken but not answered in time: unavailable, and not retryable (it may have been applied)
    const slow = await call(a, c.executor, 'slow', { ms: 1500 }, 300);
    expect(slow).toMatchObject({ ok: false, code: 'unavailable', retryable: false });
    expect(String(slow.message)).toContain('may have been applied');
  });

  it('a wrong password is refused with one clear line that does not show it', async () => {
    const bad = new URL(url);
    bad.password = 'not-the-password';
    const m = spawnMember('badpw', { url: bad.href });
    const l = await m.wait((x) => x.ev === 'error' || x.ev === 'ready', 'refusal');
    expect(l.ev).toBe('error');
    expect(String(l.message)).toMatch(/^cannot use the team database postgres(ql)?:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/team_\d+: password authentication failed/);
    expect(String(l.message)).not.toContain('not-the-password');
    expect((await m.exited).code).toBe(3);
  });

  it('a second process with the same executor id is refused with one clear line', async () => {
    const dup = spawnMember('dup', { home: join(dir, 'home-a') });
    const l = await dup.wait((x) => x.ev === 'error' || x.ev === 'ready', 'refusal');
    expect(l.ev).toBe('error');
    expect(String(l.message)).toContain(`another OpStream daemon with executor id ${a.executor} is running`);
    expect(String(l.message)).not.toContain('\n');
    expect((await dup.exited).code).toBe(3);
    // the original is untouched
    expect((await call(b, a.executor, 'echo', 1)).ok).toBe(true);
  });

  it('kill -9 of the member hosting runs and leading: each run re-hosted exactly once by one survivor, the singleton moves', async () => {
    for (const m of [a, b, c]) m.send({ op: 'singleton', name: 'scheduler' });
    const leader = await waitLong(() => [a, b, c].find((m) => m.find((l) => l.ev === 'leader' && l.name === 'scheduler')), { what: 'a scheduler leader' });
    victim = leader;
    survivors = [a, b, c].filter((m) => m !== victim);
    expect(survivors.some((m) => m.find((l) => l.ev === 'leader'))).toBe(false);

    const runs = ['r1', 'r2', 'r3'];
    for (const run of runs) victim.send({ op: 'host', run });
    // hosting twice is idempotent: no second body
    victim.send({ op: 'host', run: 'r1' });
    await waitLong(() => victim.lines.filter((l) => l.ev === 'hosted').length === 4 && runs.every((r) => startsOf(r).length === 1), { what: 'runs hosted on the victim' });
    expect(runs.map((r) => startsOf(r))).toEqual(runs.map(() => [victim.executor]));

    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    await victim.exited;

    // exactly one survivor saw it go and took it over
    await waitLong(() => survivors.some((m) => m.find((l) => l.ev === 'team' && l.type === 'taken-over' && l.executor === victim.executor)), { what: 'take-over' });
    const takers = survivors.filter((m) => m.find((l) => l.ev === 'team' && l.type === 'gone' && l.executor === victim.executor));
    expect(takers).toHaveLength(1);
    const taker = takers[0]!;
    const gone = taker.find((l) => l.ev === 'team' && l.type === 'gone')!;
    const recovered = taker.find((l) => l.ev === 'team' && l.type === 'recovered')!;
    expect([...(recovered.workflows as string[])].sort()).toEqual(runs.map((r) => `host:${r}`));

    await waitLong(() => runs.every((r) => startsOf(r).length === 2), { what: 'each run re-hosted' });
    const reStarts = survivors.flatMap((m) => m.lines.filter((l) => l.ev === 'start'));
    const lastStart = Math.max(...reStarts.map((l) => l.t));
    console.log(
      `kill -9 -> detected ${gone.t - killedAt} ms; detected -> ${runs.length} runs re-hosted ${lastStart - gone.t} ms (recover() returned after ${recovered.t - gone.t} ms); kill -> re-hosted ${lastStart - killedAt} ms`,
    );

    // the singleton moved to a survivor
    const newLeader = await waitLong(() => survivors.find((m) => m.find((l) => l.ev === 'leader' && l.name === 'scheduler')), { what: 'new scheduler leader' });
    console.log(`kill -9 -> new scheduler leader ${newLeader.find((l) => l.ev === 'leader')!.t - killedAt} ms (epoch ${String(newLeader.find((l) => l.ev === 'leader')!.epoch)})`);
    expect(survivors.filter((m) => m.find((l) => l.ev === 'leader'))).toHaveLength(1);

    // finish the runs where they now live: each ends once, nothing starts again
    for (const run of runs) {
      const host = survivors.find((m) => m.find((l) => l.ev === 'start' && l.run === run))!;
      expect(host.executor).toBe(startsOf(run)[1]);
      host.send({ op: 'finish', run });
    }
    await waitLong(() => runs.every((r) => steps().some(([k, x]) => k === 'done' && x === r)), { what: 'runs done' });
    for (const r of runs) {
      expect(startsOf(r)).toHaveLength(2);
      expect(steps().filter(([k, x]) => k === 'done' && x === r)).toHaveLength(1);
    }

    // status: the dead member is shown dead, the leader is a survivor
    const members = (await ask(survivors[0]!, 'members')).list as Array<{ executor: string; state: string }>;
    expect(members.find((m) => m.executor === victim.executor)?.state).toBe('dead');
    expect(members.filter((m) => m.state === 'live').map((m) => m.executor).sort()).toEqual(survivors.map((m) => m.executor).sort());
    const leaders = (await ask(survivors[0]!, 'leaders')).map as Record<string, string | null>;
    expect(leaders.scheduler).toBe(newLeader.executor);
  });

  it('a request to a dead member fails as unavailable (retryable) after its timeout, and was never run', async () => {
    const r = await call(survivors[0]!, victim.executor, 'echo', { late: true }, 800);
    expect(r).toMatchObject({ ok: false, code: 'unavailable', retryable: true });
    expect(Number(r.ms)).toBeGreaterThanOrEqual(750);
  });

  it('the killed member comes back with the same executor id: it rejoins and re-runs nothing that moved', async () => {
    const back = await ready(spawnMember('back', { home: join(dir, `home-${victim.name}`) }));
    expect(back.executor).toBe(victim.executor);
    const members = (await ask(back, 'members')).list as Array<{ executor: string; state: string }>;
    expect(members.find((m) => m.executor === victim.executor)?.state).toBe('live');
    expect((await call(survivors[0]!, back.executor, 'echo', 'hi')).ok).toBe(true);
    back.send({ op: 'stop' });
    expect((await back.exited).code).toBe(0);
    // its clean stop is taken over (nothing to move) by one survivor, as 'left'
    await waitLong(() => survivors.find((m) => m.find((l) => l.ev === 'team' && l.type === 'taken-over' && l.executor === back.executor && l.state === 'left')), {
      what: 'comeback left',
    });
    expect(back.find((l) => l.ev === 'start')).toBeUndefined();
  });

  it('a cleanly stopped member hands its runs over (marked left, not dead)', async () => {
    const [s, other] = survivors as [Member, Member];
    for (const run of ['r4', 'r5']) s.send({ op: 'host', run });
    await waitLong(() => startsOf('r4').length === 1 && startsOf('r5').length === 1, { what: 'r4 r5 hosted' });
    s.send({ op: 'stop' });
    expect((await s.exited).code).toBe(0);
    const taken = await other.wait((l) => l.ev === 'team' && l.type === 'taken-over' && l.executor === s.executor, 'take-over of the stopped member');
    expect(taken.state).toBe('left');
    await waitLong(() => startsOf('r4').length === 2 && startsOf('r5').length === 2, { what: 'r4 r5 re-hosted' });
    expect([...startsOf('r4'), ...startsOf('r5')]).toEqual([s.executor, other.executor, s.executor, other.executor]);
    // the survivor now leads whatever the stopped member led
    await other.wait((l) => l.ev === 'leader' && l.name === 'scheduler', 'scheduler on the last survivor');
    survivors = [other];
  });

  it('version skew: a member of another version does not adopt the runs of a gone member; one of the same version does', async () => {
    const t = survivors[0]!;
    const v2 = await ready(spawnMember('v2', { version: 'test-2' }));
    for (const run of ['r6', 'r7']) t.send({ op: 'host', run });
    await waitLong(() => startsOf('r6').length === 1 && startsOf('r7').length === 1, { what: 'r6 r7 hosted' });
    t.child.kill('SIGKILL');
    await t.exited;
    // the other version sees them waiting for their version (r4, r5, r6, r7 are PENDING on test-1)...
    await waitLong(
      async () => {
        const l = await ask(v2, 'pending-other');
        return (l.list as Array<{ version: string; count: number }>).find((p) => p.version === 'test-1' && p.count === 4);
      },
      { what: 'v2 reports 4 workflows waiting for test-1' },
    );
    // ...and a newcomer of the right version takes them over
    const d = await ready(spawnMember('d'));
    await waitLong(() => startsOf('r6').length === 2 && startsOf('r7').length === 2, { what: 'r6 r7 re-hosted by the newcomer' });
    expect(startsOf('r6')[1]).toBe(d.executor);
    expect(d.find((l) => l.ev === 'team' && l.type === 'taken-over' && l.executor === t.executor)).toBeTruthy();
    // the other version never touched them
    expect(v2.find((l) => l.ev === 'start')).toBeUndefined();
    expect(v2.find((l) => l.ev === 'team' && l.type === 'gone')).toBeUndefined();
    await waitLong(() => startsOf('r4').length === 3 && startsOf('r5').length === 3, { what: 'r4 r5 re-hosted again' });
    for (const r of ['r1', 'r2', 'r3', 'r6', 'r7']) expect(startsOf(r)).toHaveLength(2);
    for (const r of ['r4', 'r5', 'r6', 'r7']) d.send({ op: 'finish', run: r });
    await waitLong(() => ['r4', 'r5', 'r6', 'r7'].every((r) => steps().some(([k, x]) => k === 'done' && x === r)), { what: 'r4-r7 done' });
    d.send({ op: 'stop' });
    v2.send({ op: 'stop' });
    expect((await d.exited).code).toBe(0);
    expect((await v2.exited).code).toBe(0);
  });

  it('a member killed while alone resumes its runs when it comes back with the same id', async () => {
    const z = await ready(spawnMember('z'));
    z.send({ op: 'host', run: 'r8' });
    await waitLong(() => startsOf('r8').length === 1, { what: 'r8 hosted' });
    z.child.kill('SIGKILL');
    await z.exited;
    const z2 = await ready(spawnMember('z2', { home: join(dir, 'home-z') }));
    expect(z2.executor).toBe(z.executor);
    await waitLong(() => startsOf('r8').length === 2, { what: 'r8 resumed by its comeback' });
    expect(startsOf('r8')).toEqual([z.executor, z.executor]);
    z2.send({ op: 'finish', run: 'r8' });
    await z2.wait((l) => l.ev === 'done' && l.run === 'r8', 'r8 done');
    z2.send({ op: 'stop' });
    expect((await z2.exited).code).toBe(0);
  });

  it('a member that stops heartbeating while its lock is held (asleep) is cut off and its runs move; it rejoins on waking', async () => {
    const [x, y] = await Promise.all([ready(spawnMember('x')), ready(spawnMember('y'))]);
    x.send({ op: 'host', run: 'r9' });
    await waitLong(() => startsOf('r9').length === 1, { what: 'r9 hosted' });
    const frozenAt = Date.now();
    x.child.kill('SIGSTOP');
    const gone = await y.wait((l) => l.ev === 'team' && l.type === 'gone' && l.executor === x.executor, 'the asleep member cut off', 30_000);
    await waitLong(() => startsOf('r9').length === 2, { what: 'r9 re-hosted' });
    expect(startsOf('r9')).toEqual([x.executor, y.executor]);
    console.log(`SIGSTOP -> cut off and detected ${gone.t - frozenAt} ms (stale limit 3000 ms)`);
    x.child.kill('SIGCONT');
    await x.wait((l) => l.ev === 'team' && l.type === 'lost', 'lost its session');
    await x.wait((l) => l.ev === 'team' && l.type === 'rejoined', 'rejoined');
    const members = (await ask(y, 'members')).list as Array<{ executor: string; state: string }>;
    expect(members.find((m) => m.executor === x.executor)?.state).toBe('live');
    y.send({ op: 'finish', run: 'r9' });
    await y.wait((l) => l.ev === 'done' && l.run === 'r9', 'r9 done');
    x.send({ op: 'stop' });
    y.send({ op: 'stop' });
    expect((await x.exited).code).toBe(0);
    expect((await y.exited).code).toBe(0);
  });
});
