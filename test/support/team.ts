import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonClient } from '../../src/client/client.js';
import { alive, cli, daemonPid, ROOT, waitGone, type TempHome } from './home.js';

/** Helpers of the team-mode tests: several daemons (homes) on one PostgreSQL, through the real CLI. */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- run JSON is read loosely in tests
export type Run = Record<string, any>;

export const TEAM_FIXTURES = join(ROOT, 'test', 'fixtures', 'team');

/** Copies the team fixture workflows into the home, pointed at the hit counter on `port`. */
export function installTeamWorkflows(h: TempHome, port: number, files: string[] = ['team-chain.yaml', 'team-gate.yaml']): void {
  mkdirSync(join(h.home, 'workflows'), { recursive: true });
  for (const f of files) writeFileSync(join(h.home, 'workflows', f), readFileSync(join(TEAM_FIXTURES, f), 'utf8').replaceAll('__PORT__', String(port)));
}

/** `opstream <args> --json` on a member; its parsed output, or an error with its stderr. */
export async function json<T = Run>(h: TempHome, args: string[], timeoutMs = 60_000): Promise<T> {
  const r = await cli([...args, '--json'], h.env, { timeoutMs });
  if (r.code !== 0) throw new Error(`opstream ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/**
 * Many runs read over one connection to a member's socket: the requests `status ID --json`
 * (runs.get) and `logs ID --json` (runs.events) make, without a CLI process per run. For the
 * checks that poll dozens of runs; what a person types stays the CLI. Never starts a daemon.
 */
async function overSocket<T>(h: TempHome, read: (c: DaemonClient) => Promise<T>): Promise<T> {
  const c = await DaemonClient.connect({ env: h.env, autoStart: false, client: 'test' });
  try {
    return await read(c);
  } finally {
    c.close();
  }
}

export function runsOf(h: TempHome, ids: string[]): Promise<Run[]> {
  return overSocket(h, (c) => Promise.all(ids.map((id) => c.request('runs.get', { id }) as Promise<Run>)));
}

export function eventsOf(h: TempHome, ids: string[]): Promise<Map<string, Run[]>> {
  return overSocket(h, async (c) => {
    const out = new Map<string, Run[]>();
    for (const id of ids) {
      const evs: Run[] = [];
      for (let after = 0; ; ) {
        const page = await c.request('runs.events', { id, after, limit: 1000 });
        evs.push(...(page.events as Run[]));
        if (page.events.length < 1000) break;
        after = page.events[page.events.length - 1].seq;
      }
      out.set(id, evs);
    }
    return out;
  });
}

export async function startDaemonOf(h: TempHome): Promise<void> {
  const r = await cli(['daemon', 'start'], h.env, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`daemon start: ${r.stderr}`);
}

/** The daemon's log (every file of its log dir). */
export function logText(h: TempHome): string {
  const dir = join(h.home, 'data', 'logs');
  return readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
}

/** A completed step never ran again: no step started after it succeeded, none succeeded twice. */
export function completedStepsRanOnce(evs: Run[]): string[] {
  const problems: string[] = [];
  const done = new Set<string>();
  for (const e of evs) {
    if (e.type === 'step.succeeded') {
      if (done.has(e.step)) problems.push(`${e.step} succeeded twice`);
      done.add(e.step);
    }
    if (e.type === 'step.started' && done.has(e.step)) problems.push(`${e.step} started again after it succeeded`);
  }
  return problems;
}

/** SIGKILL of a member's daemon, waited for until the process is gone. */
export async function killHard(h: TempHome): Promise<void> {
  const pid = daemonPid(h.home);
  if (pid === null || !alive(pid)) return;
  process.kill(pid, 'SIGKILL');
  await waitGone(pid);
}
