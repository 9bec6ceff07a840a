import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/client/client.js';
import type { RunJson, ScheduleJson } from '../../src/protocol/methods/runs.js';
import { cli, daemonPid, tempHome, waitFor, type TempHome } from '../support/home.js';
import { waitOnDaemon } from '../support/runs.js';

// Schedules against a real daemon (CLI auto-start), real Bree cron jobs with seconds (`hasSeconds`),
// real worker threads. Crons fire every 2 seconds so the tests wait on real fire times, never on
// fixed sleeps: every wait is on a state the CLI shows, asked again when the daemon says a schedule
// fired or a run changed (or at least once a second), or on the wall clock passing a fire time
// while the daemon is down.

const EVERY_2S = '*/2 * * * * *';

function writeWorkflows(h: TempHome, files: Record<string, string>): void {
  const dir = join(h.home, 'workflows');
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, `${name}.yaml`), text);
}

/** A workflow whose runs finish at once (one notify step). */
function quick(id: string, schedule: string): string {
  return `id: ${id}\nschedule: ${schedule}\nsteps:\n  - id: say\n    notify: { level: info, text: "tick" }\n`;
}

/** A workflow whose runs stay active until approved (or cancelled). */
function held(id: string, schedule: string): string {
  return `id: ${id}\nschedule: ${schedule}\nsteps:\n  - id: hold\n    approval: { prompt: "go on?" }\n`;
}

async function json<T>(h: TempHome, args: string[]): Promise<T> {
  const r = await cli([...args, '--json'], h.env, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`opstream ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

const schedules = (h: TempHome): Promise<ScheduleJson[]> => json<ScheduleJson[]>(h, ['schedules']);
const scheduleOf = async (h: TempHome, wf: string): Promise<ScheduleJson> => {
  const s = (await schedules(h)).find((x) => x.workflow === wf);
  if (!s) throw new Error(`no schedule for ${wf}`);
  return s;
};
const runsOf = (h: TempHome, wf: string): Promise<RunJson[]> => json<RunJson[]>(h, ['list', '--all', '--workflow', wf, '--limit', '10000']);

/** Schedules firing or skipping, runs changing: when a check through the CLI is asked again. */
const CHANGES: Parameters<typeof waitOnDaemon>[1] = [['schedules', undefined], ['runs', undefined]];

/** Waits until `check` (through the CLI) holds, asking again when the daemon reports a change. */
function waitCli<T>(h: TempHome, check: () => Promise<T | null>, what: string): Promise<T> {
  return waitOnDaemon(h, CHANGES, check, what, 60_000);
}

/** Waits until the schedule has recorded a fire time (fired or skipped) later than `after`. */
async function waitFireAfter(h: TempHome, wf: string, after: string, what: string): Promise<ScheduleJson> {
  return waitCli(h, async () => {
    const s = await scheduleOf(h, wf);
    return s.last_fire && Date.parse(s.last_fire) > Date.parse(after) ? s : null;
  }, what);
}

async function waitRuns(h: TempHome, wf: string, ok: (runs: RunJson[]) => boolean, what: string): Promise<RunJson[]> {
  return waitCli(h, async () => {
    const runs = await runsOf(h, wf);
    return ok(runs) ? runs : null;
  }, what);
}

function expectNoDoubleFire(runs: RunJson[]): void {
  const times = runs.map((r) => r.scheduled_for).filter((t): t is string => typeof t === 'string');
  expect(new Set(times).size, `fire times: ${times.sort().join(', ')}`).toBe(times.length);
}

describe('engine: schedules through the CLI and a real daemon', () => {
  let h: TempHome | null = null;

  afterEach(async () => {
    await h?.cleanup();
    h = null;
  });

  it('fires a seconds cron on time, lists it with the next fire time, and pauses/resumes it (audited)', async () => {
    h = tempHome('osc-');
    writeWorkflows(h, {
      tick: quick('tick', `{ cron: "${EVERY_2S}", overlap: allow, catch_up: none }`),
      // noon in India (UTC+5:30, no DST) is 06:30 UTC whatever the daemon's own zone
      noon: quick('noon', '{ cron: "0 0 12 * * *", timezone: "Asia/Kolkata", catch_up: none }'),
      mars: quick('mars', '{ cron: "0 0 12 * * *", timezone: "Mars/Olympus_Mons" }'),
      plain: 'id: plain\nsteps:\n  - id: say\n    notify: { level: info, text: "x" }\n' });

    const runs = await waitRuns(h, 'tick', (rs) => rs.filter((r) => r.status === 'succeeded').length >= 2, 'two scheduled runs');
    for (const r of runs) {
      expect(r.trigger).toBe('schedule');
      expect(r.catch_up).toBe(false);
      // on a cron time (even second) and not before it
      const at = Date.parse(r.scheduled_for!);
      expect(at % 2000).toBe(0);
      expect(Date.parse(r.created_at)).toBeGreaterThanOrEqual(at);
    }
    expectNoDoubleFire(runs);

    const list = await schedules(h);
    // the schedule with an unknown timezone is refused (logged), not armed
    expect(list.map((s) => s.workflow)).toEqual(['noon', 'tick']);
    const noon = list[0];
    expect(noon.timezone).toBe('Asia/Kolkata');
    expect(noon.next_fire).toMatch(/T06:30:00\.000Z$/);
    expect(Date.parse(noon.next_fire!) - Date.now()).toBeLessThanOrEqual(24 * 3600_000);
    const s = list[1];
    expect(s).toMatchObject({ cron: EVERY_2S, overlap: 'allow', catch_up: 'none', paused: false });
    expect(s.next_fire).not.toBeNull();
    expect(Date.parse(s.next_fire!) % 2000).toBe(0);
    expect(Date.parse(s.next_fire!)).toBeGreaterThan(Date.parse(s.last_fire!));
    const table = await cli(['schedules'], h.env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/tick/);
    expect(table.stdout).toContain(EVERY_2S);

    const paused = await json<ScheduleJson>(h, ['schedules', 'pause', 'tick']);
    expect(paused).toMatchObject({ workflow: 'tick', paused: true, next_fire: null });
    // pause is ordered after any fire in flight: once it answers, nothing new starts
    const settled = await runsOf(h, 'tick');
    // three more fire times pass on the wall clock while paused
    const until = Date.now() + 6_500;
    await waitFor(() => Date.now() > until, { timeoutMs: 30_000, what: 'fire times to pass while paused' });
    const whilePaused = await runsOf(h, 'tick');
    expect(whilePaused.length).toBe(settled.length);
    expect((await scheduleOf(h, 'tick')).paused).toBe(true);

    const again = await cli(['schedules', 'pause', 'tick'], h.env);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already paused/);
    const unknown = await cli(['schedules', 'pause', 'plain'], h.env);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/plain has no active schedule/);

    const resumed = await json<ScheduleJson>(h, ['schedules', 'resume', 'tick']);
    expect(resumed.paused).toBe(false);
    expect(resumed.next_fire).not.toBeNull();
    const after = await waitRuns(h, 'tick', (rs) => rs.length >= whilePaused.length + 2, 'runs after resume');
    // the paused time is not caught up: the new runs are all for fire times after the resume
    const fresh = after.filter((r) => !whilePaused.some((p) => p.id === r.id));
    for (const r of fresh) expect(Date.parse(r.scheduled_for!)).toBeGreaterThan(until - 6_500);
    expectNoDoubleFire(after);

    const c = await DaemonClient.connect({ env: h.env, autoStart: false });
    try {
      const audit = await c.request('audit.list', { limit: 200 });
      const actions = audit.items.filter((a) => a.target === 'schedule:tick').map((a) => a.action);
      expect(actions).toContain('schedules.pause');
      expect(actions).toContain('schedules.resume');
      // the refused second pause records nothing
      expect(actions.filter((a) => a === 'schedules.pause')).toHaveLength(1);
    } finally {
      c.close();
    }
  }, 180_000);

  it('overlap: skip starts nothing while a scheduled run is active, queue starts it after, allow runs side by side', async () => {
    h = tempHome('oso-');
    writeWorkflows(h, {
      skipper: held('skipper', `{ cron: "${EVERY_2S}", overlap: skip, catch_up: none }`),
      queuer: held('queuer', `{ cron: "${EVERY_2S}", overlap: queue, catch_up: none }`),
      allower: held('allower', `{ cron: "${EVERY_2S}", overlap: allow, catch_up: none }`),
    });

    // skip: the first run waits for approval; later fire times pass without a second run
    const [first] = await waitRuns(h, 'skipper', (rs) => rs.some((r) => r.status === 'waiting'), 'the first skipper run');
    await waitFireAfter(h, 'skipper', first.scheduled_for!, 'a skipped fire time');
    const s2 = await scheduleOf(h, 'skipper');
    await waitFireAfter(h, 'skipper', s2.last_fire!, 'another skipped fire time');
    expect((await runsOf(h, 'skipper')).map((r) => r.id)).toEqual([first.id]);
    // once it is done, the next fire time starts a new run
    expect((await cli(['approve', first.id], h.env)).code).toBe(0);
    const skipRuns = await waitRuns(h, 'skipper', (rs) => rs.length >= 2, 'a skipper run after the first ended');
    expect(skipRuns.filter((r) => r.id !== first.id).every((r) => Date.parse(r.scheduled_for!) > Date.parse(s2.last_fire!))).toBe(true);

    // queue: the next fire time's run is created but queued until the active one ends
    const qRuns = await waitRuns(h, 'queuer', (rs) => rs.some((r) => r.status === 'waiting') && rs.some((r) => r.status === 'queued'), 'a queued queuer run');
    expect(qRuns.filter((r) => r.status === 'waiting')).toHaveLength(1);
    const active = qRuns.find((r) => r.status === 'waiting')!;
    const queued = qRuns.filter((r) => r.status === 'queued').sort((a, b) => a.created_at.localeCompare(b.created_at))[0];
    await cli(['schedules', 'pause', 'queuer'], h.env);
    expect((await cli(['approve', active.id], h.env)).code).toBe(0);
    await waitRuns(h, 'queuer', (rs) => rs.find((r) => r.id === queued.id)?.status === 'waiting', 'the queued run to start after the first');
    expect((await runsOf(h, 'queuer')).filter((r) => r.status === 'waiting')).toHaveLength(1);

    // allow: scheduled runs wait side by side
    const aRuns = await waitRuns(h, 'allower', (rs) => rs.filter((r) => r.status === 'waiting').length >= 2, 'two allower runs at once');
    expect(aRuns.every((r) => r.trigger === 'schedule')).toBe(true);

    for (const wf of ['skipper', 'queuer', 'allower']) expectNoDoubleFire(await runsOf(h, wf));
    await cli(['schedules', 'pause', 'skipper'], h.env);
    await cli(['schedules', 'pause', 'allower'], h.env);
  }, 180_000);

  it('after a stopped daemon: none starts nothing for missed times, latest one catch-up run, all each missed one up to max_catch_up; fire times survive restarts', async () => {
    h = tempHome('osk-');
    writeWorkflows(h, {
      'cu-none': quick('cu-none', `{ cron: "${EVERY_2S}", overlap: allow, catch_up: none }`),
      'cu-latest': quick('cu-latest', `{ cron: "${EVERY_2S}", overlap: allow, catch_up: latest }`),
      'cu-all': quick('cu-all', `{ cron: "${EVERY_2S}", overlap: allow, catch_up: all, max_catch_up: 3 }`),
    });
    const wfs = ['cu-none', 'cu-latest', 'cu-all'];
    for (const wf of wfs) await waitRuns(h, wf, (rs) => rs.length >= 1, `a first ${wf} run`);

    expect((await cli(['daemon', 'stop'], h.env)).code).toBe(0);
    // the fire times the store remembers; the daemon is down, so read them back after the restart
    const stoppedAt = Date.now();
    // at least five fire times (10s of a 2s cron) pass while it is down
    await waitFor(() => Date.now() > stoppedAt + 10_500, { timeoutMs: 60_000, what: 'fire times to be missed' });
    const startedAt = Date.now();
    expect((await cli(['daemon', 'start'], h.env, { timeoutMs: 60_000 })).code).toBe(0);

    const before = new Map<string, RunJson[]>();
    for (const wf of wfs) before.set(wf, await runsOf(h, wf));
    const lastBefore = new Map<string, number>();
    for (const wf of wfs) {
      const fires = before.get(wf)!.filter((r) => Date.parse(r.created_at) < stoppedAt).map((r) => Date.parse(r.scheduled_for!));
      lastBefore.set(wf, Math.max(...fires));
    }
    // each schedule now runs again on its own
    for (const wf of wfs) await waitRuns(h, wf, (rs) => rs.some((r) => !r.catch_up && Date.parse(r.created_at) >= startedAt), `a regular ${wf} run after the restart`);

    const missedWindow = (wf: string, r: RunJson): boolean => Date.parse(r.scheduled_for!) > lastBefore.get(wf)! && Date.parse(r.scheduled_for!) <= startedAt;
    const none = await runsOf(h, 'cu-none');
    expect(none.filter((r) => r.catch_up)).toEqual([]);
    expect(none.filter((r) => missedWindow('cu-none', r))).toEqual([]);

    const latest = await runsOf(h, 'cu-latest');
    const latestCatch = latest.filter((r) => r.catch_up);
    expect(latestCatch).toHaveLength(1);
    expect(Date.parse(latestCatch[0].scheduled_for!)).toBeGreaterThan(lastBefore.get('cu-latest')! + 8_000);
    expect(latest.filter((r) => missedWindow('cu-latest', r) && !r.catch_up)).toEqual([]);

    const all = await runsOf(h, 'cu-all');
    const allCatch = all.filter((r) => r.catch_up);
    // the last max_catch_up (3) of the >= 5 missed times run; a fire time that passes while the
    // daemon arms its jobs is caught up by the first tick, so one more is possible
    expect(allCatch.length).toBeGreaterThanOrEqual(3);
    expect(allCatch.length).toBeLessThanOrEqual(4);
    const since = all.filter((r) => Date.parse(r.scheduled_for!) > lastBefore.get('cu-all')!).map((r) => Date.parse(r.scheduled_for!)).sort((a, b) => a - b);
    // the oldest missed times were dropped (bounded), the rest ran: one run per cron time, no holes
    expect(since[0]).toBeGreaterThanOrEqual(lastBefore.get('cu-all')! + 6_000);
    for (let i = 1; i < since.length; i++) expect(since[i] - since[i - 1]).toBe(2_000);
    expect(Date.parse(allCatch.map((r) => r.scheduled_for!).sort()[0])).toBe(since[0]);

    for (const wf of wfs) expectNoDoubleFire(await runsOf(h, wf));

    // a second restart right away: nothing (or at most the fire times that really passed) is re-fired
    const lastFires = new Map<string, string>();
    for (const s of await schedules(h)) lastFires.set(s.workflow, s.last_fire!);
    expect((await cli(['daemon', 'stop'], h.env)).code).toBe(0);
    expect((await cli(['daemon', 'start'], h.env, { timeoutMs: 60_000 })).code).toBe(0);
    for (const s of await schedules(h)) expect(Date.parse(s.last_fire!)).toBeGreaterThanOrEqual(Date.parse(lastFires.get(s.workflow)!));
    for (const wf of wfs) await waitRuns(h, wf, (rs) => rs.some((r) => Date.parse(r.scheduled_for!) > Date.parse(lastFires.get(wf)!) + 2_000), `${wf} firing after the second restart`);
    for (const wf of wfs) {
      const runs = await runsOf(h, wf);
      expectNoDoubleFire(runs);
      // each restart catches up at most max_catch_up (3) plus the one passing while jobs are armed;
      // how many times were missed depends on how long the restart took (a busy machine: more)
      expect(runs.filter((r) => r.catch_up).length).toBeLessThanOrEqual(wf === 'cu-all' ? allCatch.length + 4 : wf === 'cu-latest' ? 2 : 0);
    }
    for (const wf of wfs) await cli(['schedules', 'pause', wf], h.env);
  }, 240_000);

  it('a schedule turned off and on again by editing its file is not caught up for the time it was off', async () => {
    h = tempHome('osr-');
    const on = quick('rl', `{ cron: "${EVERY_2S}", overlap: allow, catch_up: all, max_catch_up: 5 }`);
    writeWorkflows(h, { rl: on });
    await waitRuns(h, 'rl', (rs) => rs.length >= 1, 'a first run');
    writeWorkflows(h, { rl: quick('rl', `{ cron: "${EVERY_2S}", overlap: allow, catch_up: all, max_catch_up: 5, enabled: false }`) });
    await waitCli(h, async () => !(await schedules(h!)).some((s) => s.workflow === 'rl'), 'the reload to disarm the schedule');
    const offAt = Date.now();
    await waitFor(() => Date.now() > offAt + 6_500, { timeoutMs: 30_000, what: 'fire times to pass while disabled' });
    const before = await runsOf(h, 'rl');
    writeWorkflows(h, { rl: on });
    await waitCli(h, async () => (await schedules(h!)).some((s) => s.workflow === 'rl'), 'the reload to arm the schedule again');
    const after = await waitRuns(h, 'rl', (rs) => rs.length >= before.length + 2, 'runs after it was enabled again');
    expect(after.filter((r) => r.catch_up)).toEqual([]);
    expect(after.filter((r) => Date.parse(r.scheduled_for!) > offAt + 1_000 && Date.parse(r.scheduled_for!) < offAt + 6_000)).toEqual([]);
    expectNoDoubleFire(after);
    await cli(['schedules', 'pause', 'rl'], h.env);
  }, 180_000);

  it('after the machine slept (daemon SIGSTOPped past several fire times): all catches up the gap, latest fires once', async () => {
    h = tempHome('osz-');
    writeWorkflows(h, {
      'sl-all': quick('sl-all', `{ cron: "${EVERY_2S}", overlap: allow, catch_up: all, max_catch_up: 3 }`),
      'sl-latest': quick('sl-latest', `{ cron: "${EVERY_2S}", overlap: allow, catch_up: latest }`),
    });
    for (const wf of ['sl-all', 'sl-latest']) await waitRuns(h, wf, (rs) => rs.length >= 1, `a first ${wf} run`);
    const pid = daemonPid(h.home)!;
    process.kill(pid, 'SIGSTOP');
    const frozenAt = Date.now();
    try {
      // at least four fire times pass while its timers are frozen
      await waitFor(() => Date.now() > frozenAt + 9_000, { timeoutMs: 60_000, what: 'fire times to pass while frozen' });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const wokeAt = Date.now();
    const woke = async (wf: string): Promise<RunJson[]> => waitRuns(h!, wf, (rs) => rs.some((r) => !r.catch_up && Date.parse(r.scheduled_for!) >= frozenAt + 8_000), `a ${wf} run for a time after the freeze`);

    const all = await woke('sl-all');
    const gap = all.filter((r) => r.catch_up && Date.parse(r.scheduled_for!) > frozenAt && Date.parse(r.scheduled_for!) < wokeAt);
    expect(gap).toHaveLength(3);
    expectNoDoubleFire(all);

    const latest = await woke('sl-latest');
    expect(latest.filter((r) => r.catch_up)).toEqual([]);
    // only the latest time of the frozen stretch ran (the wake-up tick), the others did not
    expect(latest.filter((r) => Date.parse(r.scheduled_for!) > frozenAt + 1_000 && Date.parse(r.scheduled_for!) < frozenAt + 7_000)).toEqual([]);
    expectNoDoubleFire(latest);
    expect(daemonPid(h.home)).toBe(pid);
    for (const wf of ['sl-all', 'sl-latest']) await cli(['schedules', 'pause', wf], h.env);
  }, 180_000);
});
