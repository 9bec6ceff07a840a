import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunJson } from '../../src/protocol/methods/runs.js';
import { corruptLogTail } from '../chaos/faults.js';
import { cli, daemonPid, tempHome, waitGone, zombie, type TempHome } from '../support/home.js';
import { start, waitRun } from '../support/runs.js';

const NAP = `id: nap
params:
  pause: { type: duration, default: 10ms }
  note: { type: string, default: "-" }
steps:
  - id: nap
    wait: "{{ params.pause }}"
`;

const homes: TempHome[] = [];
afterEach(async () => {
  for (const h of homes.splice(0)) await h.cleanup();
});

function home(): TempHome {
  const h = tempHome('opr-');
  homes.push(h);
  mkdirSync(join(h.home, 'workflows'), { recursive: true });
  writeFileSync(join(h.home, 'workflows', 'nap.yaml'), NAP);
  return h;
}

/** Finished runs whose params make the store span many table blocks. */
async function finishedRuns(h: TempHome, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await start(h, ['nap', `note=${i}${'x'.repeat(3000)}`]));
  for (const id of ids) await waitRun(h, id, (r) => r.status === 'succeeded', `run ${id} to finish`);
  return ids;
}

async function listAll(h: TempHome): Promise<RunJson[]> {
  const r = await cli(['list', '--all', '--json'], h.env);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as RunJson[];
}

async function stop(h: TempHome): Promise<void> {
  const r = await cli(['daemon', 'stop'], h.env);
  expect(r.code, r.stderr).toBe(0);
}

function garble(file: string, at: number): void {
  const buf = readFileSync(file);
  for (let i = 0; i < 16; i++) buf[at + i] ^= 0x5a;
  writeFileSync(file, buf);
}

const dbFiles = (h: TempHome, ext: string): string[] => readdirSync(join(h.home, 'data', 'db')).filter((f) => f.endsWith(ext)).map((f) => join(h.home, 'data', 'db', f));

describe('a corrupt store', () => {
  it('a garbled table file: the daemon refuses to start and names the way out; repair reports and the daemon starts with the surviving runs', async () => {
    const h = home();
    const ids = await finishedRuns(h, 8);
    await stop(h);
    // a start replays the log into a table file; the next stop leaves the runs in that table
    expect((await listAll(h)).length).toBe(8);
    await stop(h);
    const [table] = dbFiles(h, '.ldb').sort((a, b) => statSync(b).size - statSync(a).size);
    expect(table).toBeDefined();
    garble(table, Math.floor(statSync(table).size / 2));

    const refused = await cli(['list', '--all'], h.env);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain(`the store at ${join(h.home, 'data', 'db')} is corrupt`);
    expect(refused.stderr).toContain('opstream daemon repair');
    expect(refused.stderr).toContain('opstream daemon restore');
    expect(daemonPid(h.home)).toBeNull();

    const repair = await cli(['daemon', 'repair', '--json'], h.env, { timeoutMs: 60_000 });
    expect(repair.stderr).toBe('');
    expect(repair.code).toBe(0);
    const report = JSON.parse(repair.stdout);
    expect(report.damage).toMatch(/\.ldb: block checksum mismatch/);
    expect(existsSync(report.kept_copy)).toBe(true);
    // every run the indexes named is either recovered or reported lost
    const after = await listAll(h);
    const survivors = after.map((r) => r.id).sort();
    expect(report.runs.total).toBe(survivors.length);
    expect([...survivors, ...report.lost].sort()).toEqual([...ids].sort());
    // a run whose newest record was in the damaged block is back at its last surviving state
    // and goes on from there (its short wait fires again)
    for (const r of after) await waitRun(h, r.id, (x) => x.status === 'succeeded', `surviving run ${r.id} to be finished`);
    // a repaired store takes new work
    const more = await start(h, ['nap']);
    await waitRun(h, more, (r) => r.status === 'succeeded', 'a run after the repair');
  }, 180_000);

  it('a garbled log record (LevelDB alone would skip it silently): refused, then repaired', async () => {
    const h = home();
    await finishedRuns(h, 3);
    await stop(h);
    const [log] = dbFiles(h, '.log').sort((a, b) => statSync(b).size - statSync(a).size);
    expect(statSync(log).size).toBeGreaterThan(4000);
    garble(log, 2000);
    const refused = await cli(['status'], h.env);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/is corrupt \(\d+\.log: checksum mismatch at offset \d+\)/);
    expect(refused.stderr).toContain('opstream daemon repair');

    const repair = await cli(['daemon', 'repair'], h.env, { timeoutMs: 60_000 });
    expect(repair.code, repair.stderr).toBe(0);
    expect(repair.stdout).toMatch(/^repaired .*\(found: \d+\.log: checksum mismatch/);
    expect(repair.stdout).toMatch(/recovered: \d+ runs?/);
    await listAll(h);
  }, 180_000);

  it('a torn last record (a power cut mid-append: full length, a sector of zeros): refused, and repair keeps every acknowledged run', async () => {
    const h = home();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await start(h, ['nap', 'pause=1h', `note=${i}`]));
    for (const id of ids) await waitRun(h, id, (r) => r.status === 'waiting', `run ${id} to wait`);
    const pid = daemonPid(h.home)!;
    process.kill(pid, 'SIGKILL');
    await waitGone(pid);
    // the record the killed daemon was appending (never acknowledged): its second half never written
    expect(corruptLogTail(join(h.home, 'data', 'db'), 'bad_checksum', () => 0.5)).not.toBeNull();
    const refused = await cli(['status'], h.env);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/is corrupt \(\d+\.log: checksum mismatch at offset \d+\)/);
    expect(refused.stderr).toContain('opstream daemon repair');

    // LevelDB's repair alone replays that record (it reads logs without checksums) over the intact ones
    const repair = await cli(['daemon', 'repair', '--json'], h.env, { timeoutMs: 60_000 });
    expect(repair.stderr).toBe('');
    expect(repair.code).toBe(0);
    const report = JSON.parse(repair.stdout);
    expect(report.lost).toEqual([]);
    expect(report.unreadable_entries).toBe(0);
    const after = await listAll(h);
    expect(after.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect(after.every((r) => r.status === 'waiting')).toBe(true);
  }, 180_000);

  it('repair refuses while the daemon runs', async () => {
    const h = home();
    await finishedRuns(h, 1);
    const r = await cli(['daemon', 'repair'], h.env);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toMatch(/^opstream: the daemon is running \(pid \d+\); stop it first with `opstream daemon stop`, then repair$/);
  }, 120_000);

  it('a killed daemon its parent has not reaped yet (a zombie under a slow init) is not taken for a running one: refused as corrupt at once, repair goes ahead', async () => {
    const h = home();
    const id = await start(h, ['nap', 'pause=1h']);
    await waitRun(h, id, (r) => r.status === 'waiting', 'the run to wait');
    const pid = daemonPid(h.home)!;
    process.kill(pid, 'SIGKILL');
    await waitGone(pid);
    expect(corruptLogTail(join(h.home, 'data', 'db'), 'bad_checksum', () => 0.5)).not.toBeNull();
    // init reaps the detached daemon when it likes: a zombie we control stands in for it in the pid file
    const z = await zombie();
    try {
      writeFileSync(join(h.home, 'run', 'daemon.pid'), `${z.pid}\n`);
      const refused = await cli(['status'], h.env);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/is corrupt \(\d+\.log: checksum mismatch at offset \d+\)/);
      const repair = await cli(['daemon', 'repair', '--json'], h.env, { timeoutMs: 60_000 });
      expect(repair.stderr).toBe('');
      expect(repair.code).toBe(0);
      expect((await listAll(h)).map((r) => r.id)).toEqual([id]);
    } finally {
      z.end();
    }
  }, 120_000);
});

describe('backup and restore', () => {
  it('a backup taken while the daemon runs restores into a fresh home with the runs there; restore checks the file and never overwrites silently', async () => {
    const h = home();
    const ids = await finishedRuns(h, 3);
    const waiting = await start(h, ['nap', 'pause=1h']);
    await waitRun(h, waiting, (r) => r.status === 'waiting', 'a run waiting');
    const dir = join(h.home, 'backups');
    mkdirSync(dir);
    const b = await cli(['daemon', 'backup', dir, '--json'], h.env);
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    const { file, entries } = JSON.parse(b.stdout);
    expect(file.startsWith(dir)).toBe(true);
    expect(entries).toBeGreaterThan(10);
    // the daemon kept serving
    expect((await listAll(h)).length).toBe(4);
    const again = await cli(['daemon', 'backup', file], h.env);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('never overwrites');

    const fresh = home();
    const restored = await cli(['daemon', 'restore', file], fresh.env, { timeoutMs: 60_000 });
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);
    const runs = await listAll(fresh);
    expect(runs.map((r) => r.id).sort()).toEqual([...ids, waiting].sort());
    expect(runs.find((r) => r.id === waiting)?.status).toBe('waiting');

    // a store with data is not replaced without --force (the daemon must be stopped first)
    const running = await cli(['daemon', 'restore', file], fresh.env);
    expect(running.stderr).toMatch(/the daemon is running/);
    await stop(fresh);
    const noForce = await cli(['daemon', 'restore', file], fresh.env);
    expect(noForce.code).not.toBe(0);
    expect(noForce.stderr).toContain('add --force');

    // a damaged backup is refused whole, and nothing changes
    const text = readFileSync(file, 'utf8');
    const damaged = join(dir, 'damaged.jsonl');
    writeFileSync(damaged, text.replace('succeeded', 'sucCeeded'));
    const bad = await cli(['daemon', 'restore', damaged, '--force'], fresh.env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/is not a usable opstream backup: its checksum does not match/);
    const cut = join(dir, 'cut.jsonl');
    writeFileSync(cut, text.slice(0, Math.floor(text.length / 2)));
    expect((await cli(['daemon', 'restore', cut, '--force'], fresh.env)).stderr).toMatch(/cut short|not JSON/);
    expect((await listAll(fresh)).length).toBe(4);
    await stop(fresh);

    const forced = await cli(['daemon', 'restore', file, '--force', '--json'], fresh.env);
    expect(forced.code, forced.stderr).toBe(0);
    expect(existsSync(JSON.parse(forced.stdout).moved_aside)).toBe(true);
    expect((await listAll(fresh)).length).toBe(4);
  }, 180_000);
});
