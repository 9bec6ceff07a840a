import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HitCounter } from '../support/engine-fixtures.js';
import { alive, cli, daemonPid, ROOT, tempHome, waitFor, waitGone, type TempHome } from '../support/home.js';
import { startTestPostgres, type TestPostgres } from '../support/pg.js';

/**
 * The kill test: runs spread over three daemons through the real CLI, one daemon killed
 * with SIGKILL at a random point (chosen by progress, not by time) and restarted, 20 times
 * (TEAM_KILLS); approvals answered from another daemon; a schedule ticking every two seconds
 * throughout. Then: no run lost, no completed step ran again, one decision per approval, one run
 * per tick.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- run JSON is read loosely here
type Run = Record<string, any>;

const KILLS = Number(process.env.TEAM_KILLS ?? 20);
const SEED = Number(process.env.TEAM_SEED ?? Date.now() % 100_000);
const FIX = join(ROOT, 'test', 'fixtures', 'team');

let pg: TestPostgres;
const hits = new HitCounter();
const members: TempHome[] = [];

/** mulberry32: a seeded random, so a failure can be replayed with TEAM_SEED. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(SEED);
const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];

async function json<T = unknown>(h: TempHome, args: string[]): Promise<T> {
  const r = await cli([...args, '--json'], h.env, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`opstream ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

function up(h: TempHome): boolean {
  const pid = daemonPid(h.home);
  return pid !== null && alive(pid);
}

/** Any member whose daemon runs (the CLI would start a stopped one: a test must not do that by accident). */
function live(): TempHome[] {
  return members.filter(up);
}

function totalHits(): number {
  let n = 0;
  for (const v of hits.hits.values()) n += v;
  return n;
}

function completedStepsRanOnce(evs: Run[]): string[] {
  const problems: string[] = [];
  const succeeded = new Set<string>();
  for (const e of evs) {
    if (e.type === 'step.succeeded') {
      if (succeeded.has(e.step)) problems.push(`${e.step} succeeded twice`);
      succeeded.add(e.step);
    }
    if (e.type === 'step.started' && succeeded.has(e.step)) problems.push(`${e.step} started again after it succeeded`);
  }
  return problems;
}

beforeAll(async () => {
  pg = await startTestPostgres();
  const url = await pg.database('kills');
  await hits.start();
  hits.release();
  for (let i = 0; i < 3; i++) {
    const h = tempHome('optk-');
    mkdirSync(join(h.home, 'workflows'), { recursive: true });
    for (const f of ['team-chain.yaml', 'team-gate.yaml', 'team-tick.yaml']) writeFileSync(join(h.home, 'workflows', f), readFileSync(join(FIX, f), 'utf8').replaceAll('__PORT__', String(hits.port)));
    h.env.OPSTREAM_DATABASE_URL = url;
    members.push(h);
    const r = await cli(['daemon', 'start'], h.env, { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`daemon start: ${r.stderr}`);
  }
}, 180_000);

afterAll(async () => {
  for (const h of members) await h.cleanup();
  await hits.stop();
  await pg?.stop();
}, 60_000);

describe(`team mode under ${KILLS} kills (seed ${SEED})`, () => {
  it('loses no run, repeats no completed step, decides each approval once, starts one run per tick', async () => {
    const chains: string[] = [];
    const gates: string[] = [];
    const decided = new Set<string>();
    for (let k = 0; k < KILLS; k++) {
      // new work on random live members
      for (let i = 0; i < 2; i++) chains.push((await json<Run>(pick(live()), ['start', 'team-chain'])).id);
      const starter = pick(live());
      gates.push((await json<Run>(starter, ['start', 'team-gate'])).id);
      // answer the approvals that wait, from a member that did not start them when one is up
      for (const id of gates) {
        if (decided.has(id)) continue;
        const from = pick(live());
        const r = await cli(['approve', id], from.env, { timeoutMs: 60_000 });
        if (r.code === 0) decided.add(id);
        else expect(r.stderr, `approve ${id}`).toMatch(/not waiting for an approval|already being answered|hosted by .*gone|try again/);
      }
      // a random point: after 1-4 more side effects anywhere
      const target = totalHits() + 1 + Math.floor(rand() * 4);
      await waitFor(() => totalHits() >= target, { what: 'progress before the kill', timeoutMs: 30_000 });
      const victim = pick(live());
      const pid = daemonPid(victim.home)!;
      process.kill(pid, 'SIGKILL');
      await waitGone(pid);
      const r = await cli(['daemon', 'start'], victim.env, { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
    }
    // the approvals still open get their answer now
    const any = members[0];
    await waitFor(async () => {
      for (const id of gates) {
        if (decided.has(id)) continue;
        const r = await cli(['approve', id], pick(live()).env, { timeoutMs: 60_000 });
        if (r.code === 0) decided.add(id);
      }
      return decided.size === gates.length;
    }, { what: 'every approval answered', timeoutMs: 60_000 });
    const ids = [...chains, ...gates];
    const runs = await waitFor(async () => {
      const all = await Promise.all(ids.map((id) => json<Run>(any, ['status', id])));
      return all.every((r) => r.status === 'succeeded') ? all : null;
    }, { what: 'every run succeeded', timeoutMs: 120_000 });
    expect(runs).toHaveLength(ids.length);
    for (const id of ids) {
      const evs = await json<Run[]>(any, ['logs', id]);
      expect(completedStepsRanOnce(evs), id).toEqual([]);
      for (const step of chains.includes(id) ? ['a', 'b', 'c'] : ['after']) {
        expect(hits.count(`/${id}/${step}`), `${id} ${step}`).toBe(evs.filter((e) => e.type === 'step.started' && e.step === step).length);
      }
    }
    for (const r of runs.filter((x) => gates.includes(x.id))) expect(r.decisions, r.id).toHaveLength(1);
    // one run per tick, team-wide
    const ticks = await json<Run[]>(any, ['list', '--all', '--workflow', 'team-tick']);
    expect(ticks.length).toBeGreaterThan(KILLS / 2);
    const fires = ticks.map((r) => r.scheduled_for);
    expect(new Set(fires).size, 'a tick started two runs').toBe(fires.length);
    // every member shows the team's one schedule (from the daemon that leads the scheduler)
    for (const h of members) {
      const list = await json<Run[]>(h, ['schedules']);
      expect(list.map((s) => s.workflow)).toContain('team-tick');
    }
  }, 600_000);
});
