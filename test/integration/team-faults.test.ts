import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pgLib from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HitCounter } from '../support/engine-fixtures.js';
import { cli, daemonPid, tempHome, waitFor, waitGone, type TempHome } from '../support/home.js';
import { freePort, startTestPostgres, type TestPostgres } from '../support/pg.js';
import { completedStepsRanOnce, eventsOf, installTeamWorkflows, json, logText, runsOf, startDaemonOf, type Run } from '../support/team.js';

/**
 * Team mode's bad input through the real daemon and CLI (issue 21, "Bad input"): unusable database
 * URLs, a database that goes away mid-run and comes back, a member of another OpStream version, and
 * `team migrate` of a solo home into a running team.
 */

let pg: TestPostgres;
let url: string;
const hits = new HitCounter();
const homes: TempHome[] = [];

function home(opts: { team?: boolean; env?: NodeJS.ProcessEnv } = {}): TempHome {
  const h = tempHome('opf-');
  homes.push(h);
  installTeamWorkflows(h, hits.port);
  if (opts.team !== false) h.env.OPSTREAM_DATABASE_URL = url;
  Object.assign(h.env, opts.env ?? {});
  return h;
}



/** Every file under `dir` (logs, store, pid), as text: a secret must be in none of them. */
function filesContaining(dir: string, needle: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && readFileSync(p).includes(needle)) out.push(p);
    }
  };
  walk(dir);
  return out;
}



/**
 * A command while the team database is away either answers, or is refused in one line that says
 * the database cannot be reached and that trying again is the fix (never a hang: the CLI's timeout).
 */
function text0(r: { code: number; stdout: string; stderr: string }): string {
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

function oneRetryableLineOr(r: { code: number; stdout: string; stderr: string }, answered: (j: Run) => void): void {
  if (r.code === 0) return answered(JSON.parse(r.stdout) as Run);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/team database postgres\S+ cannot be reached: |cannot write to postgres\S+: .*the daemon retries by itself/);
  expect(lines[0]).toContain('***');
}

async function ownerRows(ids: string[]): Promise<Map<string, { executor: string | null; epoch: number }>> {
  const c = new pgLib.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ run_id: string; executor: string | null; epoch: string }>('SELECT run_id, executor, epoch FROM opstream.run_owner WHERE run_id = ANY($1::text[])', [ids]);
    return new Map(rows.map((r) => [r.run_id, { executor: r.executor, epoch: Number(r.epoch) }]));
  } finally {
    await c.end();
  }
}

async function dbUp(): Promise<boolean> {
  const c = new pgLib.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  pg = await startTestPostgres();
  url = await pg.database('faults');
  await hits.start();
  hits.release();
}, 120_000);

afterAll(async () => {
  for (const h of homes) await h.cleanup();
  await hits.stop();
  await pg?.stop();
}, 60_000);

describe('team mode: bad input', () => {
  it('an unusable database URL: one clear line with the URL masked and the reason, no password anywhere, nothing left running', async () => {
    const refused = await freePort();
    const u = new URL(url);
    const cases: Array<{ url: string; pw: string; reason: RegExp; masked?: string }> = [
      { url: `postgres://opstream:Bad-Pw-1@db.example:99999/ops`, pw: 'Bad-Pw-1', reason: /not a URL/ },
      { url: `mysql://opstream:Bad-Pw-2@127.0.0.1:3306/ops`, pw: 'Bad-Pw-2', reason: /PostgreSQL URL/ },
      { url: `postgres://opstream:Bad-Pw-3@127.0.0.1:5432`, pw: 'Bad-Pw-3', reason: /no database/ },
      { url: `postgres://opstream:Bad-Pw-4@127.0.0.1:${refused}/ops`, pw: 'Bad-Pw-4', reason: /connection refused/, masked: `postgres://opstream:***@127.0.0.1:${refused}/ops` },
      { url: `postgres://postgres:Bad-Pw-5@127.0.0.1:${u.port}${u.pathname}`, pw: 'Bad-Pw-5', reason: /password authentication failed/, masked: `postgres://postgres:***@127.0.0.1:${u.port}${u.pathname}` },
    ];
    // each case its own home, all at once
    await Promise.all(cases.map(async (c) => {
      const h = home({ env: { OPSTREAM_DATABASE_URL: c.url } });
      // the explicit start, and (for a server that refuses us) a command that starts the daemon by itself
      for (const args of c.masked ? [['daemon', 'start'], ['list']] : [['daemon', 'start']]) {
        const r = await cli(args, h.env, { timeoutMs: 60_000 });
        const what = `${c.url} / ${args.join(' ')}: ${r.stderr}`;
        expect(r.code, what).not.toBe(0);
        // a URL of the wrong shape is a config problem (the config's usual one problem, one line
        // under its count); a database that refuses us is one line
        const lines = r.stderr.trim().split('\n').filter((l) => !/^opstream: config has 1 problem\(s\):$/.test(l));
        expect(lines, what).toHaveLength(1);
        expect(lines[0], what).toMatch(c.reason);
        expect(lines[0], what).toContain(c.masked ?? '***');
        expect(r.stdout + r.stderr, what).not.toContain(c.pw);
        // the daemon that reported the refusal exits right after it (nothing is left running)
        const pid = daemonPid(h.home);
        if (pid !== null) await waitGone(pid, 10_000);
        const again = await cli(['daemon', 'status'], h.env);
        expect(again.stderr, what).toMatch(/not running/);
      }
      expect(filesContaining(h.home, c.pw), c.url).toEqual([]);
    }));
  });
});

describe('team mode: a team of two', () => {
  let a: TempHome;
  let b: TempHome;

  beforeAll(async () => {
    a = home();
    b = home();
    await startDaemonOf(a);
    await startDaemonOf(b);
    await waitFor(async () => (await json(a, ['daemon', 'status'])).team.members.filter((m: Run) => m.state === 'live').length === 2, { what: 'two live members' });
  }, 120_000);

  it('the database goes away mid-run: the daemons keep answering, refuse what needs it in one retryable line, reconnect, and every run finishes with no step run twice and no hand-over', async () => {
    const execA = (await json(a, ['daemon', 'status'])).team.executor as string;
    const execB = (await json(b, ['daemon', 'status'])).team.executor as string;
    const chains: Array<{ id: string; host: string }> = [];
    for (let i = 0; i < 3; i++) {
      chains.push({ id: (await json(a, ['start', 'team-chain'])).id, host: execA });
      chains.push({ id: (await json(b, ['start', 'team-chain'])).id, host: execB });
    }
    const gate = (await json(a, ['start', 'team-gate'])).id as string;
    await waitFor(async () => chains.every(({ id }) => hits.count(`/${id}/a`) >= 1) && (await json(a, ['status', gate])).status === 'waiting', { what: 'every chain past its first probe, the gate waiting', timeoutMs: 30_000 });

    const back = pg.restart!({ downMs: 5000 });
    await waitFor(async () => !(await dbUp()), { what: 'the database down' });

    // while it is down: status answers (this daemon's runs from memory), what needs the database is refused in one line
    // a decision from b about a's run: b cannot learn who hosts it now. Refused in one retryable
    // line, and nothing recorded (it is approved below, once)
    const early = await cli(['approve', gate], b.env, { timeoutMs: 30_000 });
    oneRetryableLineOr(early, () => undefined);
    const approved = early.code === 0;
    const st = await cli(['daemon', 'status', '--json'], a.env, { timeoutMs: 20_000 });
    expect(st.code, st.stderr).toBe(0);
    // a run a hosts is shown from memory
    const shownA = await cli(['status', gate, '--json'], a.env, { timeoutMs: 20_000 });
    expect(shownA.code, shownA.stderr).toBe(0);
    expect(JSON.parse(shownA.stdout).status).toBe('waiting');
    expect(text0(await cli(['daemon', 'status'], a.env, { timeoutMs: 20_000 }))).toMatch(/database: unreachable since .*reconnecting/);
    const text = await cli(['daemon', 'status'], b.env, { timeoutMs: 20_000 });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/team mode, database postgres(ql)?:\/\/postgres:\*\*\*@/);
    expect(text.stdout).toMatch(/members: +2 live/);
    const acknowledged: string[] = [];
    const started = await cli(['start', 'team-chain', '--json'], b.env, { timeoutMs: 30_000 });
    oneRetryableLineOr(started, (j) => acknowledged.push(j.id));
    oneRetryableLineOr(await cli(['list', '--all', '--json'], b.env, { timeoutMs: 30_000 }), (j) => expect(Array.isArray(j)).toBe(true));

    await back;
    // both reconnect by themselves: the gate, hosted by a, is approved from b (if that was refused above)
    let last = '';
    if (!approved) await waitFor(async () => {
      const r = await cli(['approve', gate], b.env, { timeoutMs: 30_000 });
      last = r.stderr;
      return r.code === 0 ? r : null;
    }, { what: 'the approval forwarded once the database is back', timeoutMs: 30_000 }).catch((e: Error) => {
      throw new Error(`${e.message}: ${last}`);
    });
    const ids = [...chains.map((c) => c.id), gate, ...acknowledged];
    await waitFor(async () => (await runsOf(b, ids)).every((r) => r.status === 'succeeded'), { what: 'every run succeeded after the outage', timeoutMs: 60_000 });
    const events = await eventsOf(a, ids);
    for (const id of ids) expect(completedStepsRanOnce(events.get(id)!), id).toEqual([]);
    // the members did not declare each other dead over the database's outage: every run is still on
    // the daemon that started it, at the epoch of its creation
    const owners = await ownerRows(chains.map((c) => c.id));
    for (const c of chains) expect(owners.get(c.id), c.id).toEqual({ executor: c.host, epoch: 1 });
    for (const h of [a, b]) expect(logText(h), 'a member was declared gone over the database outage').not.toMatch(/team member gone/);
    const members = (await json(a, ['daemon', 'status'])).team.members as Run[];
    expect(members.filter((m) => m.state === 'live').map((m) => m.executor).sort()).toEqual([execA, execB].sort());
  });
});

describe('team mode: another version, and a solo home migrated in', () => {
  let a: TempHome;
  let b: TempHome;
  let execA: string;

  beforeAll(async () => {
    a = home();
    b = home();
    await startDaemonOf(a);
    await startDaemonOf(b);
    execA = (await json(a, ['daemon', 'status'])).team.executor;
  }, 120_000);

  it('a member of another version: status says so on both sides; its runs wait for its version after it dies, and status says how many', async () => {
    const other = '9.9.9-faults';
    const c = home({ env: { OPSTREAM_TEST_PACKAGE_VERSION: other } });
    await startDaemonOf(c);
    const sc = await json(c, ['daemon', 'status']);
    expect(sc.version).toBe(other);
    const execC = sc.team.executor as string;
    const gate = (await json(c, ['start', 'team-gate'])).id as string;
    await waitFor(async () => (await json(a, ['status', gate])).status === 'waiting', { what: 'the gate waiting, seen from a' });
    // both sides see the other's version among the members, and the run of the other version
    const sa = await waitFor(async () => {
      const s = await json(a, ['daemon', 'status']);
      return s.team.members.some((m: Run) => m.executor === execC && m.state === 'live') ? s : null;
    }, { what: 'c live in a\'s status' });
    const mine = sa.team.members.find((m: Run) => m.self).version as string;
    expect(sa.team.members.find((m: Run) => m.executor === execC).version).toContain(other);
    expect(mine).not.toContain(other);
    expect(sc.team.members.find((m: Run) => m.executor === execA)?.version ?? mine).toBe(mine);
    expect(sa.team.other_versions).toEqual([{ version: expect.stringContaining(other), count: 1 }]);

    // c dies: a and b, of another version, cannot run its host workflow; they leave it waiting for
    // a daemon of c's version, and say so instead of stalling silently
    const pid = daemonPid(c.home)!;
    process.kill(pid, 'SIGKILL');
    await waitGone(pid);
    for (const h of [a, b]) {
      // nobody of its version is left to take it over: it stays a member whose heartbeat stopped
      await waitFor(async () => (await json(h, ['daemon', 'status'])).team.members.some((m: Run) => m.executor === execC && m.state === 'stale'), { what: 'c seen as stale', timeoutMs: 20_000 });
      const text = (await cli(['daemon', 'status'], h.env)).stdout;
      expect(text).toMatch(new RegExp(`waiting: +1 run\\(s\\) hosted by version \\S*${other.replace(/\./g, '\\.')}`));
    }
    // a decision about it does not hang: one line naming its host (TeamService.forward gives up after 10 s)
    const refused = await cli(['approve', gate], a.env, { timeoutMs: 30_000 });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trim().split('\n'), refused.stderr).toHaveLength(1);
    expect(refused.stderr).toContain(execC);
    expect((await ownerRows([gate])).get(gate)).toEqual({ executor: execC, epoch: 1 });
    expect((await json(b, ['status', gate])).status).toBe('waiting');

    // its version comes back: it takes its run up again, and an approval from a reaches it
    await startDaemonOf(c);
    await waitFor(async () => (await cli(['approve', gate], a.env)).code === 0, { what: 'the approval from a, hosted by c', timeoutMs: 30_000 });
    await waitFor(async () => (await json(b, ['status', gate])).status === 'succeeded', { what: 'the gate succeeded on c' });
    expect((await ownerRows([gate])).get(gate)?.executor).toBe(execC);
    const stop = await cli(['daemon', 'stop'], c.env);
    expect(stop.code, stop.stderr).toBe(0);
  });

  it('team migrate: a stopped solo home\'s runs join the team, the unfinished ones are taken over and finish; idempotent; refused while its daemon runs', async () => {
    const s = home({ team: false });
    writeFileSync(join(s.home, 'workflows', 'team-nap.yaml'), `id: team-nap\ndescription: Waits on a timer, then probes once.\nsteps:\n  - id: nap\n    wait: 15s\n  - id: after\n    tool: ops.http_probe\n    with: { url: "http://127.0.0.1:${hits.port}/{{ run.id }}/after", count: 1 }\n`);
    await startDaemonOf(s);
    // the timer first, long enough to still be waiting when the home is migrated (it fires on the team)
    const nap = (await json(s, ['start', 'team-nap'])).id as string;
    const done = (await json(s, ['start', 'team-chain'])).id as string;
    const gate = (await json(s, ['start', 'team-gate'])).id as string;
    await waitFor(async () => (await json(s, ['status', done])).status === 'succeeded' && (await json(s, ['status', gate])).status === 'waiting' && (await json(s, ['status', nap])).status === 'waiting', {
      what: 'the solo runs: one finished, one waiting for approval, one on its timer',
      timeoutMs: 30_000,
    });

    const busy = await cli(['team', 'migrate', '--database-url', url], s.env);
    expect(busy.code).not.toBe(0);
    expect(busy.stderr.trim().split('\n'), busy.stderr).toHaveLength(1);
    expect(busy.stderr).toMatch(/stop it first/);
    expect((await json<Run[]>(a, ['list', '--all', '--limit', '200'])).map((r) => r.id)).not.toContain(done);

    const stopped = await cli(['daemon', 'stop'], s.env);
    expect(stopped.code, stopped.stderr).toBe(0);
    const first = await json(s, ['team', 'migrate', '--database-url', url]);
    expect(first.activeRuns.sort()).toEqual([gate, nap].sort());
    expect(first.copied.runs).toBeGreaterThan(0);
    expect(JSON.stringify(first)).not.toContain('opstream-test');

    for (const h of [a, b]) {
      const ids = (await json<Run[]>(h, ['list', '--all', '--limit', '200'])).map((r) => r.id);
      for (const id of [done, gate, nap]) expect(ids, id).toContain(id);
    }
    const shown = await json(b, ['status', done]);
    expect(shown.status).toBe('succeeded');
    expect(Object.keys(shown.steps ?? {}).length || shown.steps?.length).toBeGreaterThanOrEqual(3);
    // taken over by a daemon of the team within seconds: the timer fires there, the approval comes from b
    await waitFor(async () => [...(await ownerRows([gate, nap])).values()].every((o) => o.executor !== null), { what: 'the unfinished runs hosted by the team', timeoutMs: 15_000 });
    const approved = await cli(['approve', gate], b.env);
    expect(approved.code, approved.stderr).toBe(0);
    await waitFor(async () => (await json(a, ['status', gate])).status === 'succeeded' && (await json(a, ['status', nap])).status === 'succeeded', { what: 'both migrated runs finished on the team', timeoutMs: 30_000 });
    expect(hits.count(`/${gate}/after`)).toBe(1);
    expect(hits.count(`/${nap}/after`)).toBe(1);
    for (const id of [done, gate, nap]) expect(completedStepsRanOnce(await json<Run[]>(a, ['logs', id])), id).toEqual([]);

    // again: nothing new is copied, nothing is handed over twice
    const again = await json(s, ['team', 'migrate', '--database-url', url]);
    expect(Object.entries(again.copied as Record<string, number>).filter(([, n]) => n > 0)).toEqual([]);
    expect(again.activeRuns).toEqual([]);

    // what the solo daemon remembered of its finished run is found from the team
    for (const h of [a, b]) {
      await waitFor(async () => (await json<Run[]>(h, ['memory', 'search', 'team-chain', '--limit', '200'])).some((x) => x.id === done), { what: 'the migrated run found by memory search on a member' });
    }
  });
});
