import { expect } from 'vitest';
import type { RunJson } from '../../src/protocol/methods/runs.js';
import { cli, waitFor, type TempHome } from './home.js';

/** `opstream start ...` through the real CLI; returns the run id. */
export async function start(h: TempHome, args: string[]): Promise<string> {
  const r = await cli(['start', ...args, '--json'], h.env, { timeoutMs: 60_000 });
  expect(r.stderr, r.stderr).toBe('');
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as RunJson).id;
}

export async function getRun(h: TempHome, id: string): Promise<RunJson> {
  const r = await cli(['status', id, '--json'], h.env, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`status ${id} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as RunJson;
}

/** Polls `opstream status ID --json` until `ok` holds (runs emit no event a CLI could block on here). */
export function waitRun(h: TempHome, id: string, ok: (r: RunJson) => boolean, what: string, timeoutMs = 90_000): Promise<RunJson> {
  return waitFor(
    async () => {
      const r = await getRun(h, id);
      if (!ok(r) && ['failed', 'cancelled'].includes(r.status)) throw new Error(`run ${id} ${r.status} while waiting for ${what}: ${r.error}`);
      return ok(r) ? r : null;
    },
    { timeoutMs, what },
  );
}

export function stepOf(run: RunJson, id: string): RunJson['steps'][number] | undefined {
  return run.steps.find((s) => s.id === id);
}
