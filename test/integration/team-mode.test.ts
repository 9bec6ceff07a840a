import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pgLib from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/client/client.js';
import { HitCounter } from '../support/engine-fixtures.js';
import { cli, daemonPid, tempHome, waitFor, type TempHome } from '../support/home.js';
import { completedStepsRanOnce, installTeamWorkflows, json, runsOf, startDaemonOf, killHard, logText, type Run } from '../support/team.js';
import { startTestPostgres, type TestPostgres } from '../support/pg.js';
import { startWebhookReceiver } from '../support/webhook-receiver.js';

/**
 * Team mode through the real CLI: three daemons (three homes) on one real PostgreSQL, each its own
 * socket and LevelDB lock, sharing runs, decisions, schedules and memory; daemons killed with
 * SIGKILL and restarted while runs are in flight.
 */

type Ev = Run;

let pg: TestPostgres;
let url: string;
const hits = new HitCounter();
const members: TempHome[] = [];
let hook: Awaited<ReturnType<typeof startWebhookReceiver>>;

function install(h: TempHome, how: 'env' | 'config'): void {
  installTeamWorkflows(h, hits.port);
  // every member delivers to the same webhook; one names the database in its config file (with
  // ${ENV}), the others in the environment
  const notify = `notify:\n  desktop: off\n  webhooks:\n    - { name: hook, url: "${hook.url}" }\n`;
  if (how === 'config') {
    writeFileSync(join(h.home, 'config.yaml'), `database_url: \${TEAM_DB_URL}\n${notify}`);
    h.env.TEAM_DB_URL = url;
  } else {
    writeFileSync(join(h.home, 'config.yaml'), notify);
    h.env.OPSTREAM_DATABASE_URL = url;
  }
}


async function startRun(h: TempHome, wf: string): Promise<string> {
  const r = await json<Run>(h, ['start', wf]);
  return r.id as string;
}

async function status(h: TempHome): Promise<Run> {
  return json<Run>(h, ['daemon', 'status']);
}

async function events(h: TempHome, id: string): Promise<Ev[]> {
  return json<Ev[]>(h, ['logs', id]);
}



beforeAll(async () => {
  pg = await startTestPostgres();
  url = await pg.database('team');
  await hits.start();
  hits.release();
  hook = await startWebhookReceiver([200]);
  for (let i = 0; i < 3; i++) {
    const h = tempHome('opt-');
    install(h, i === 2 ? 'config' : 'env');
    members.push(h);
  }
  // started one after another: the first creates the schemas, the others find them
  for (const h of members) {
    await startDaemonOf(h);
  }
}, 180_000);

afterAll(async () => {
  for (const h of members) await h.cleanup();
  await hits.stop();
  await hook?.close();
  await pg?.stop();
}, 60_000);

describe('team mode', () => {
  it('every member says team mode, with the database (password masked), its executor id and the live members', async () => {
    const all = await waitFor(async () => {
      const s = await Promise.all(members.map(status));
      return s.every((x) => x.team?.members.filter((m: Run) => m.state === 'live').length === 3) ? s : null;
    }, { what: 'three live members', timeoutMs: 30_000 });
    const executors = new Set(all.map((s) => s.team.executor));
    expect(executors.size).toBe(3);
    for (const s of all) {
      expect(s.team.mode).toBe('team');
      expect(s.team.database).toContain('***');
      expect(s.team.database).not.toContain('opstream-test');
      expect(s.team.members.filter((m: Run) => m.self)).toHaveLength(1);
    }
    // one leader per singleton, the same seen from every member
    const leaders = await waitFor(async () => {
      const l = (await Promise.all(members.map(status))).map((s) => s.team.leaders);
      return l.every((x) => x.scheduler && x.notifier && x.scheduler === l[0].scheduler && x.notifier === l[0].notifier) ? l[0] : null;
    }, { what: 'the scheduler and notifier singletons led' });
    expect(executors.has(leaders.scheduler)).toBe(true);
    const text = await cli(['daemon', 'status'], members[0].env);
    expect(text.stdout).toMatch(/team mode, database postgres(ql)?:\/\/postgres:\*\*\*@127\.0\.0\.1/);
    expect(text.stdout).toContain(all[0].team.executor);
    expect(text.stdout).toMatch(/members: +3 live/);
    expect(text.stdout + text.stderr).not.toContain('opstream-test');
  });

  it('a run started on one member is listed, shown and followed on every member, with who started it', async () => {
    const [a, b, c] = members;
    const id = await startRun(a, 'team-gate');
    const execA = (await status(a)).team.executor;
    const listed = await waitFor(async () => (await json<Run[]>(b, ['list'])).find((r) => r.id === id && r.status === 'waiting'), { what: 'the run listed on b' });
    expect(listed.started_on).toBe(execA);
    expect(listed.started_by).toMatch(/^cli:/);
    const table = await cli(['list'], c.env);
    expect(table.stdout).toContain('STARTED BY');
    expect(table.stdout).toContain(`@${execA}`);
    const shown = await json<Run>(c, ['status', id]);
    expect(shown.waiting_for?.kind).toBe('approval');
    // the dashboard's snapshot (runs.watch) on another member holds the run, as state and as JSON
    const client = await DaemonClient.connect({ env: c.env, autoStart: false, client: 'test' });
    try {
      const w = await client.request('runs.watch', { snapshot: true, states: true });
      expect((w.states ?? []).map((s) => s.id)).toContain(id);
      const j = await client.request('runs.watch', { snapshot: true, states: false });
      expect(j.runs.find((r) => r.id === id)?.status).toBe('waiting');
    } finally {
      client.close();
    }
    const all = await json<Run[]>(c, ['list', '--all']);
    expect(all.map((r) => r.id)).toContain(id);
    // report finds the run on another member (a gate has no analysis: its clear one-line refusal)
    const report = await cli(['report', id], b.env);
    expect(report.stderr).toContain(`run ${id} is waiting`);

    // approve on c while b follows the run's log: b sees the host's events as they happen
    const follow = cli(['logs', id, '--follow', '--json'], b.env, { timeoutMs: 60_000 });
    await waitFor(async () => (await status(b)).runs.waiting >= 1, { what: 'b counts the waiting run' });
    const ok = await cli(['approve', id, '--comment', 'quokka rollback'], c.env);
    expect(ok.code, ok.stderr).toBe(0);
    const followed = await follow;
    expect(followed.code, followed.stderr).toBe(0);
    const types = followed.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((x) => x.type).map((x) => x.type);
    expect(types).toContain('approval.answered');
    expect(types[types.length - 1]).toBe('run.succeeded');
    expect(hits.count(`/${id}/after`)).toBe(1);
    // memory is the team's: the run ended on a, and recall on b and c finds it
    for (const h of [b, c]) await waitFor(async () => (await json<Run[]>(h, ['memory', 'search', 'quokka'])).some((s) => s.id === id), { what: 'the summary in recall on another member' });
  });

  it('the first decision wins exactly once across members; the others are told it was already decided', async () => {
    const [a, b, c] = members;
    const id = await startRun(b, 'team-gate');
    await waitFor(async () => (await json<Run>(a, ['status', id])).status === 'waiting', { what: 'waiting' });
    const answers = await Promise.all([cli(['approve', id], a.env), cli(['reject', id, '--comment', 'no'], c.env), cli(['approve', id], b.env)]);
    const won = answers.filter((r) => r.code === 0);
    expect(won).toHaveLength(1);
    for (const lost of answers.filter((r) => r.code !== 0)) expect(lost.stderr).toMatch(/not waiting for an approval|already being answered/);
    const run = await waitFor(async () => {
      const r = await json<Run>(c, ['status', id]);
      return ['succeeded', 'failed'].includes(r.status) ? r : null;
    }, { what: 'the run ends' });
    expect(run.decisions).toHaveLength(1);
    // one decision in the team's audit, whichever member it is read from
    const audit = await json<Run[]>(a, ['audit', '--run', id]);
    expect(audit.filter((x) => /runs\.(approve|reject)/.test(x.action))).toHaveLength(1);
  });

  it('a member killed with SIGKILL: its runs go on on the survivors; no completed step runs again; it rejoins', async () => {
    const [a, b, c] = members;
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await startRun(c, 'team-chain'));
    // and more that wait for a person than a survivor takes over at once (16): certainly
    // unfinished when their host dies
    const gates: string[] = [];
    const client = await DaemonClient.connect({ env: c.env, autoStart: false, client: 'test' });
    try {
      for (let i = 0; i < 24; i++) gates.push((await client.request('runs.start', { workflow: 'team-gate', args: [] })).id);
    } finally {
      client.close();
    }
    // every run past its first side effect, so there is something that must not run again
    await waitFor(async () => ids.every((id) => hits.count(`/${id}/a`) >= 1), { what: 'first probes', timeoutMs: 30_000 });
    await waitFor(async () => (await runsOf(a, gates)).every((r) => r.status === 'waiting'), { what: 'gates waiting' });
    const execC = (await status(c)).team.executor;
    await killHard(c);
    const killedAt = new Date().toISOString();
    // decided on another member after the death: whoever hosts them now asks nobody to wait for c
    const decider = await DaemonClient.connect({ env: a.env, autoStart: false, client: 'test' });
    try {
      for (const id of gates) await decider.request('runs.approve', { id });
    } finally {
      decider.close();
    }
    const all = new Set([...ids, ...gates]);
    const done = await waitFor(async () => {
      const runs = (await json<Run[]>(a, ['list', '--all'])).filter((r) => all.has(r.id));
      return runs.length === all.size && runs.every((r) => r.status === 'succeeded') ? runs : null;
    }, { what: 'every run of the killed member succeeded on a survivor', timeoutMs: 60_000 });
    expect(done).toHaveLength(ids.length + gates.length);
    const reader = await DaemonClient.connect({ env: b.env, autoStart: false, client: 'test' });
    try {
      for (const id of gates) {
        const { events: evs } = await reader.request('runs.events', { id, after: 0, limit: 1000 });
        expect(evs[evs.length - 1].at > killedAt, 'the gate finished after its host died').toBe(true);
        expect(hits.count(`/${id}/after`)).toBe(1);
      }
    } finally {
      reader.close();
    }
    for (const id of ids) {
      const evs = await events(b, id);
      expect(completedStepsRanOnce(evs), id).toEqual([]);
      // each step's side effect happened as often as the step started (at most the one in flight twice)
      for (const step of ['a', 'b', 'c']) expect(hits.count(`/${id}/${step}`)).toBe(evs.filter((e) => e.type === 'step.started' && e.step === step).length);
    }
    const after = await status(a);
    expect(after.team.members.find((m: Run) => m.executor === execC)?.state ?? 'gone').not.toBe('live');
    // it comes back, rejoins, and re-runs nothing
    const r = await cli(['daemon', 'start'], c.env, { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    await waitFor(async () => (await status(a)).team.members.filter((m: Run) => m.state === 'live').length === 3, { what: 'c rejoined' });
    for (const id of ids) expect(hits.count(`/${id}/c`)).toBe((await events(a, id)).filter((e) => e.type === 'step.started' && e.step === 'c').length);
    // stats are the team's: the four runs ended on the survivors, and every member counts them
    for (const h of members) {
      const s = await json<Run>(h, ['stats']);
      expect(s.workflows.find((w: Run) => w.workflow === 'team-chain'), 'team-chain in stats').toMatchObject({ runs: 4, succeeded: 4 });
    }
  }, 150_000);

  it('a member frozen (a closed laptop) is cut off, its runs go on elsewhere, and when it wakes its late writes are refused', async () => {
    const [a, b] = members;
    const ids = [await startRun(a, 'team-chain'), await startRun(a, 'team-chain')];
    await waitFor(async () => ids.every((id) => hits.count(`/${id}/a`) >= 1), { what: 'first probes', timeoutMs: 30_000 });
    const pid = daemonPid(a.home)!;
    const execA = (await status(a)).team.executor;
    process.kill(pid, 'SIGSTOP');
    try {
      // its heartbeat goes stale: a survivor ends its database session and takes its runs
      await waitFor(async () => (await status(b)).team.members.find((m: Run) => m.executor === execA)?.state !== 'live', { what: 'the frozen member cut off', timeoutMs: 30_000 });
      await waitFor(async () => ids.every((id) => hits.count(`/${id}/c`) >= 1), { what: 'the runs finished by survivors', timeoutMs: 60_000 });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const runs = await waitFor(async () => {
      const all = await runsOf(b, ids);
      return all.every((r) => r.status === 'succeeded') ? all : null;
    }, { what: 'both runs succeeded', timeoutMs: 60_000 });
    expect(runs).toHaveLength(2);
    // it woke up: its runs' next writes were refused (fenced) and it dropped them, then rejoined
    const log = (): string => logText(a);
    await waitFor(() => ids.every((id) => log().includes(id) && /taken over by another daemon/.test(log())), { what: 'the woken member dropped the runs it lost', timeoutMs: 30_000 });
    await waitFor(async () => (await status(b)).team.members.filter((m: Run) => m.state === 'live').length === 3, { what: 'the woken member rejoined', timeoutMs: 60_000 });
    for (const id of ids) {
      const evs = await events(b, id);
      expect(completedStepsRanOnce(evs), id).toEqual([]);
      expect(evs.filter((e) => e.type === 'run.succeeded')).toHaveLength(1);
      for (const step of ['a', 'b', 'c']) expect(hits.count(`/${id}/${step}`)).toBe(evs.filter((e) => e.type === 'step.started' && e.step === step).length);
    }
  }, 150_000);

  it('a notification its host could not deliver before it died is delivered by a survivor, once', async () => {
    const [a, b, c] = members;
    // the receiver is down: the hosts keep their notifications pending (retrying)
    hook.setScript([503]);
    const waiting = await startRun(a, 'team-gate');
    const ended = await startRun(b, 'team-gate');
    await waitFor(async () => (await json<Run>(c, ['status', ended])).status === 'waiting', { what: 'waiting' });
    expect((await cli(['approve', ended], c.env)).code).toBe(0);
    await waitFor(async () => (await json<Run>(c, ['status', ended])).status === 'succeeded', { what: 'the second run ended (on b)' });
    const about = (id: string) => hook.received.filter((h) => JSON.stringify(h.json).includes(id));
    // both hosts tried: the approval request (a's waiting run) and the completion (b's ended run)
    await waitFor(() => about(waiting).length > 0 && about(ended).some((h) => /complet|succeeded/i.test(h.body)), { what: 'both hosts tried to deliver', timeoutMs: 30_000 });
    await killHard(a);
    await killHard(b);
    hook.setScript([200]);
    // c took both over: the waiting run (its notifications go with it) and what b had not delivered
    const delivered = (id: string, what: RegExp) => hook.accepted().filter((h) => JSON.stringify(h.json).includes(id) && what.test(h.body));
    await waitFor(() => delivered(waiting, /approv/i).length > 0 && delivered(ended, /complet|succeeded/i).length > 0, { what: 'both delivered by the survivor', timeoutMs: 90_000 });
    for (const [id, what] of [[waiting, /approv/i], [ended, /complet|succeeded/i]] as const) {
      const keys = hook.received.filter((h) => h.status !== null && h.status < 300 && JSON.stringify(h.json).includes(id) && what.test(h.body)).map((h) => String(h.headers['idempotency-key']));
      expect(new Set(keys).size, `${id}: one notification`).toBe(1);
      expect(keys, `${id}: accepted once`).toHaveLength(1);
    }
    for (const h of [a, b]) expect((await cli(['daemon', 'start'], h.env, { timeoutMs: 60_000 })).code).toBe(0);
    await waitFor(async () => (await status(c)).team.members.filter((m: Run) => m.state === 'live').length === 3, { what: 'all back' });
  }, 150_000);

  it('a take-over the database refuses is tried again, not dropped: the run is hosted once the database takes the claim', async () => {
    const [a, b, c] = members;
    const id = await startRun(a, 'team-gate');
    await waitFor(async () => (await json<Run>(b, ['status', id])).status === 'waiting', { what: 'the run waiting on a' });
    // the database refuses the survivors' claim of this run with a real server error (what a full
    // disk gives): a trigger on the owner table, dropped once a survivor has met it
    const db = new pgLib.Client({ connectionString: url });
    await db.connect();
    try {
      await db.query(`CREATE FUNCTION public.refuse_claim() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.run_id = '${id}' THEN RAISE EXCEPTION 'could not extend file (test)' USING ERRCODE = '53100'; END IF; RETURN NEW; END $$`);
      await db.query('CREATE TRIGGER refuse_claim BEFORE UPDATE ON opstream.run_owner FOR EACH ROW EXECUTE FUNCTION public.refuse_claim()');
      await killHard(a);
      await waitFor(() => [b, c].some((h) => logText(h).split('\n').some((l) => l.includes(id) && l.includes('taking a run over failed; trying again'))), { what: 'a survivor met the refusal', timeoutMs: 30_000 });
    } finally {
      await db.query('DROP TRIGGER IF EXISTS refuse_claim ON opstream.run_owner');
      await db.query('DROP FUNCTION IF EXISTS public.refuse_claim()');
      await db.end();
    }
    // hosted again: the approval reaches the run (refused, with nothing recorded, until it is loaded) and it ends
    await waitFor(async () => (await cli(['approve', id], b.env)).code === 0, { what: 'the run approved on its new host', timeoutMs: 30_000 });
    const run = await waitFor(async () => {
      const r = await json<Run>(c, ['status', id]);
      return r.status === 'succeeded' ? r : null;
    }, { what: 'the run ends' });
    expect(run.decisions).toHaveLength(1);
    expect(hits.count(`/${id}/after`)).toBe(1);
    expect((await cli(['daemon', 'start'], a.env, { timeoutMs: 60_000 })).code).toBe(0);
    await waitFor(async () => (await status(b)).team.members.filter((m: Run) => m.state === 'live').length === 3, { what: 'all back' });
  }, 150_000);
});
