import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunJson } from '../../src/protocol/methods/runs.js';
import { injectedDisk, tmpfsDisk, type FullableDisk } from '../support/disk.js';
import { cli, daemonPid, killDaemon, tempHome, waitFor, type TempHome } from '../support/home.js';
import { getRun, start, waitRun } from '../support/runs.js';

const NAP = `id: nap
params:
  pause: { type: duration, default: 1s }
steps:
  - id: nap
    wait: "{{ params.pause }}"
`;

function logText(h: TempHome): string {
  const dir = join(h.home, 'data', 'logs');
  return readdirSync(dir)
    .filter((f) => /^daemon\.\d+\.log$/.test(f))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('');
}

async function listAll(h: TempHome): Promise<RunJson[]> {
  const r = await cli(['list', '--all', '--json'], h.env);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as RunJson[];
}

let h: TempHome | undefined;
let disk: FullableDisk | undefined;

afterEach(async () => {
  if (h) await killDaemon(h.home);
  disk?.dispose();
  await h?.cleanup();
  h = undefined;
  disk = undefined;
});

async function fullDiskStory(make: (h: TempHome) => FullableDisk): Promise<void> {
  h = tempHome('opf-');
  disk = make(h);
  mkdirSync(join(h.home, 'workflows'), { recursive: true });
  writeFileSync(join(h.home, 'workflows', 'nap.yaml'), NAP);

  const finished = await start(h, ['nap', 'pause=1s']);
  await waitRun(h, finished, (r) => r.status === 'succeeded', 'the first run to finish');
  // waiting on a timer while the disk fills up
  const napping = await start(h, ['nap', 'pause=6s']);
  await waitRun(h, napping, (r) => r.status === 'waiting', 'the second run to wait');
  const pid = daemonPid(h.home);
  disk.full();

  // a start on a full disk: a small write may still fit in the log's last page, so some starts can
  // be acknowledged (and are then on disk); the first refused one must say why and leave nothing
  const acknowledged: string[] = [];
  let refused: { code: number; stderr: string; stdout: string } | undefined;
  for (let i = 0; i < 200 && !refused; i++) {
    const r = await cli(['start', 'nap', 'pause=1h', '--json'], h.env);
    if (r.code === 0) acknowledged.push((JSON.parse(r.stdout) as RunJson).id);
    else refused = r;
  }
  expect(refused, 'a start on a full disk is refused').toBeDefined();
  expect(refused!.stdout).toBe('');
  expect(refused!.stderr.trim()).toMatch(new RegExp(`^opstream: cannot write to ${join(h.home, 'data', 'db')}: no space left on device`));
  expect(refused!.stderr.trim().split('\n')).toHaveLength(1);
  // refused again at once, by the same message, while reads keep working
  const again = await cli(['start', 'nap'], h.env);
  expect(again.code).not.toBe(0);
  expect(again.stderr).toContain('no space left on device');
  const during = await listAll(h);
  expect(during.map((r) => r.id).sort()).toEqual([finished, napping, ...acknowledged].sort());
  expect((await getRun(h, finished)).status).toBe('succeeded');

  // the timer fires on the full disk: it is parked, and the run still shows what is on disk
  await waitFor(() => logText(h!).includes(`"run":"${napping}"`) && /timer parked: the store cannot write/.test(logText(h!)), { what: 'the timer to fire and be parked', timeoutMs: 60_000 });
  expect((await getRun(h, napping)).status).toBe('waiting');

  // space returns: the daemon resumes by itself (same process), the parked timer fires
  disk.free();
  await waitRun(h, napping, (r) => r.status === 'succeeded', 'the parked timer to fire once space returned', 60_000);
  expect(daemonPid(h.home)).toBe(pid);
  const later = await start(h, ['nap', 'pause=1s']);

  // full again: `daemon stop` returns promptly and cleanly
  disk.full();
  await waitFor(async () => (await cli(['start', 'nap'], h!.env)).code !== 0, { what: 'a refused start' });
  const stop = await cli(['daemon', 'stop'], h.env, { timeoutMs: 10_000 });
  expect(stop.stderr).toBe('');
  expect(stop.code).toBe(0);

  // after a restart with space: everything acknowledged is there, nothing else
  disk.free();
  const after = await listAll(h);
  expect(after.map((r) => r.id).sort()).toEqual([finished, napping, later, ...acknowledged].sort());
  expect(after.find((r) => r.id === finished)?.status).toBe('succeeded');
  expect(after.find((r) => r.id === napping)?.status).toBe('succeeded');
}

describe('a full disk under the store', () => {
  it('with an injected write error (the test hook): refuses new work clearly, serves reads, resumes by itself, stops promptly', async () => {
    await fullDiskStory(injectedDisk);
  }, 180_000);

  it('on a real full filesystem (a small tmpfs; the injected error where mounting is not permitted)', async () => {
    await fullDiskStory((home) => tmpfsDisk(home) ?? injectedDisk(home));
  }, 180_000);
});
