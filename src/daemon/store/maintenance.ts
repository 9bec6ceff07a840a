import { createHash } from 'node:crypto';
import { closeSync, cpSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Level } from 'level';
import pino from 'pino';
import { exitedUnreaped } from '../../config/pid-state.js';
import { emptySummary, finishedTotal, idOfIndexKey, INDEX_MARK, migrateRunIndex, SUMMARY_KEY, type RunsSummary } from '../repos/runs.js';
import { Store, StoreCorruptError, StoreLockedError } from './store.js';
import { badTables, dropBadLogRecords, salvageTable, verifyLogs, verifyTables, tableNames } from './verify.js';

/**
 * Offline and online care of the store: `opstream daemon repair`, `backup` and `restore`. Nothing
 * here deletes what it replaces: repair keeps a copy of the damaged files and restore moves the
 * store it replaces aside, and both say where.
 */

/** A maintenance refusal meant for the user (one line, says what to do). */
export class MaintenanceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MaintenanceError';
  }
}

function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-');
}

function daemonRunning(pidFile: string): number | null {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return null;
    process.kill(pid, 0);
    // a daemon that has exited but is not reaped yet (a slow init) is not running
    return exitedUnreaped(pid) ? null : pid;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? -1 : null;
  }
}

function refuseIfRunning(pidFile: string, what: string): void {
  const pid = daemonRunning(pidFile);
  if (pid !== null) throw new MaintenanceError(`the daemon is running${pid > 0 ? ` (pid ${pid})` : ''}; stop it first with \`opstream daemon stop\`, then ${what}`);
}

// ------------------------------------------------------------------ repair

export interface RepairReport {
  store: string;
  /** Where the files as they were before the repair were copied. */
  kept_copy: string;
  /** What the checksum check found before the repair (null: nothing). */
  damage: string | null;
  runs: { total: number; active: number; finished: number };
  /** Runs that were missing from the indexes and were indexed again. */
  reindexed: string[];
  /** Runs the indexes named but whose record did not survive. */
  lost: string[];
  /** Lost runs whose events survived (kept; `opstream status` cannot show them without a record). */
  lost_with_events: number;
  /** Surviving runs some of whose events were lost (their record says how many it had). */
  events_lost: { run: string; missing: number }[];
  /** Step rows of runs that did not survive (removed). */
  orphan_step_rows: number;
  /** Entries taken from the intact blocks of damaged tables. */
  salvaged_entries: number;
  /** Entries whose value did not decode (removed). */
  unreadable_entries: number;
  /** Timers put back for active runs that wait for one (their entry was lost). */
  timers_restored: number;
}

/**
 * What these commands write (the repaired or restored store, the copy kept aside, a backup) holds
 * every run's parameters and outputs: private to the user, as the daemon keeps it (0600 files, 0700
 * directories). They run in the CLI's process, whose umask is the shell's.
 */
function privateFiles(): void {
  process.umask(0o077);
}

/**
 * LevelDB's repair (it rebuilds the manifest from whatever table and log records pass their
 * checksums, dropping the rest), then a consistency pass over the run indexes, which are rebuilt
 * from the run records that survived. The daemon must be stopped.
 */
export async function repairStore(paths: { dbDir: string; pidFile: string }): Promise<RepairReport> {
  privateFiles();
  refuseIfRunning(paths.pidFile, 'repair');
  const dir = paths.dbDir;
  if (!existsSync(join(dir, 'CURRENT')) && tableNames(dir).length === 0 && !readdirSafe(dir).some((n) => n.endsWith('.log'))) throw new MaintenanceError(`there is no store at ${dir} to repair`);
  const damage = verifyLogs(dir) ?? verifyTables(dir, tableNames(dir));
  const kept = `${dir}.before-repair-${stamp()}`;
  cpSync(dir, kept, { recursive: true, filter: (src) => basename(src) !== 'LOCK' });

  // what the indexes named before (they may be damaged too: read what can be read)
  const before = await readIndexIds(dir);
  // `level` is classic-level on Node (its typings cover the browser too, which has no repair)
  const levelRepair = (Level as unknown as { repair(location: string): Promise<void> }).repair.bind(Level);
  // LevelDB's repair replays logs without checking their records' checksums (a torn last record
  // would be applied, garbage over acknowledged values): the bad records go first
  for (const name of readdirSafe(dir)) if (/^\d+\.log$/.test(name)) dropBadLogRecords(join(dir, name));
  await levelRepair(dir);
  // LevelDB's repair reads tables without checking block checksums, so a damaged block that still
  // decompresses passes as data. Such a table is taken apart here: the entries of its intact
  // blocks are kept, the table goes (its copy is in `kept`), and they are written back below.
  const salvaged: { key: Buffer; value: Buffer | null }[] = [];
  const dropped = badTables(dir, tableNames(dir));
  for (const t of dropped) {
    salvaged.push(...salvageTable(readFileSync(join(dir, t.name))));
    rmSync(join(dir, t.name));
  }
  if (dropped.length) await levelRepair(dir);
  let store: Store;
  try {
    store = await Store.open(dir, { verify: true });
  } catch (e) {
    if (e instanceof StoreLockedError) throw new MaintenanceError(`the store at ${dir} is in use by a daemon; stop it first with \`opstream daemon stop\``);
    if (e instanceof StoreCorruptError) throw new MaintenanceError(`LevelDB's repair could not make ${dir} readable (${e.detail}); restore a backup with \`opstream daemon restore <backup> --force\` (the damaged files are kept in ${kept})`);
    throw e;
  }
  try {
    // the intact entries of dropped tables, where nothing newer is in the store (a key deleted
    // later may come back: the run indexes are rebuilt below, and the daemon drops stray timers)
    const raw = store.db as unknown as Level<Buffer, Buffer>;
    let salvagedEntries = 0;
    for (const e of salvaged) {
      if (!e.value) continue;
      if ((await raw.get(e.key, { keyEncoding: 'buffer', valueEncoding: 'buffer' } as never)) !== undefined) continue;
      await raw.put(e.key, e.value, { keyEncoding: 'buffer', valueEncoding: 'buffer' } as never);
      salvagedEntries++;
    }
    // entries that do not decode cannot be used by the daemon: removed and counted
    let unreadable = 0;
    const it = store.db.iterator({ keyEncoding: 'utf8', valueEncoding: 'utf8' } as never) as unknown as { nextv(n: number): Promise<[string, string][]>; close(): Promise<void> };
    const junk: string[] = [];
    try {
      for (;;) {
        const rows = await it.nextv(1000);
        if (rows.length === 0) break;
        for (const [k, v] of rows) {
          try {
            JSON.parse(v);
          } catch {
            junk.push(k);
          }
        }
      }
    } finally {
      await it.close();
    }
    for (const k of junk) await store.db.del(k, { keyEncoding: 'utf8' } as never);
    unreadable = junk.length;
    type Header = { status: string; seq?: number; waiting_for?: { step: string; until?: string } | null; timeout_at?: string | null };
    const headers = new Map<string, Header>();
    const rowsOf = new Map<string, string[]>();
    for await (const rows of store.pages<Header>('runs', {}, 5000)) {
      for (const [key, h] of rows) {
        const slash = key.indexOf('/');
        if (slash < 0) headers.set(key, h);
        else {
          const id = key.slice(0, slash);
          (rowsOf.get(id) ?? rowsOf.set(id, []).get(id)!).push(key);
        }
      }
    }
    const eventsOf = new Map<string, number>();
    for await (const rows of store.pages('events', {}, 5000)) {
      for (const [key] of rows) {
        const id = key.slice(0, key.lastIndexOf(':'));
        eventsOf.set(id, (eventsOf.get(id) ?? 0) + 1);
      }
    }
    // a run's record counts its events (seq): fewer found means some were in what could not be read
    // (retention may have removed a finished run's events on purpose: it marks the record so)
    const eventsLost: { run: string; missing: number }[] = [];
    for (const [id, h] of headers) {
      const have = eventsOf.get(id) ?? 0;
      if (typeof h.seq === 'number' && have < h.seq && !(h as { events_removed_at?: string }).events_removed_at) eventsLost.push({ run: id, missing: h.seq - have });
    }

    // the indexes are derived data: rebuild them from the records that survived
    const ops: Parameters<Store['commit']>[0] = [];
    for (const sub of ['active', 'created', 'ended'] as const) for (const key of await store.keys(sub)) ops.push({ type: 'del', sub, key });
    ops.push({ type: 'del', sub: 'meta', key: INDEX_MARK }, { type: 'del', sub: 'meta', key: SUMMARY_KEY });
    let orphanRows = 0;
    for (const [id, keys] of rowsOf) {
      if (headers.has(id)) continue;
      orphanRows += keys.length;
      for (const key of keys) ops.push({ type: 'del', sub: 'runs', key });
    }
    // a run back at an older state may wait for a timer whose entry went with a later state
    const timers = new Set(await store.keys('timers'));
    let timersRestored = 0;
    for (const [id, h] of headers) {
      if (!['queued', 'running', 'waiting', 'paused'].includes(h.status)) continue;
      if (h.waiting_for?.until && !timers.has(`${id}:step`)) {
        ops.push({ type: 'put', sub: 'timers', key: `${id}:step`, value: { run_id: id, kind: 'step', at: h.waiting_for.until, step: h.waiting_for.step } });
        timersRestored++;
      }
      if (h.timeout_at && !timers.has(`${id}:run_timeout`)) {
        ops.push({ type: 'put', sub: 'timers', key: `${id}:run_timeout`, value: { run_id: id, kind: 'run_timeout', at: h.timeout_at } });
        timersRestored++;
      }
    }
    await store.commit(ops, { actor: 'local:repair', action: 'daemon.repair', target: `store:${dir}` });
    const summary: RunsSummary = (await migrateRunIndex(store, pino({ level: 'silent' }))) ?? emptySummary();
    const lost = [...before].filter((id) => !headers.has(id)).sort();
    const reindexed = [...headers.keys()].filter((id) => !before.has(id)).sort();
    const finished = finishedTotal(summary);
    return {
      store: dir,
      kept_copy: kept,
      damage,
      runs: { total: headers.size, active: headers.size - finished, finished },
      reindexed,
      lost,
      lost_with_events: lost.filter((id) => eventsOf.has(id)).length,
      events_lost: eventsLost,
      orphan_step_rows: orphanRows,
      salvaged_entries: salvagedEntries,
      unreadable_entries: unreadable,
      timers_restored: timersRestored,
    };
  } finally {
    await store.close();
  }
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Run ids the `created` and `active` indexes name, read leniently from a store that may be damaged. */
async function readIndexIds(dir: string): Promise<Set<string>> {
  const ids = new Set<string>();
  // a copy, so that reading does not replay (and so rewrite) the damaged store before its repair
  const copy = `${dir}.inspect-${process.pid}`;
  rmSync(copy, { recursive: true, force: true });
  cpSync(dir, copy, { recursive: true, filter: (src) => basename(src) !== 'LOCK' });
  const db = new Level<string, unknown>(copy, { valueEncoding: 'json' });
  try {
    await db.open();
    for (const sub of ['created', 'active'] as const) {
      const it = db.sublevel<string, unknown>(sub, { valueEncoding: 'json' }).keys();
      try {
        for (;;) {
          const key = await it.next().catch(() => undefined);
          if (key === undefined) break;
          ids.add(sub === 'created' ? idOfIndexKey(key) : key);
        }
      } finally {
        await it.close().catch(() => undefined);
      }
    }
  } catch {
    // unreadable: the report then names no lost runs it cannot know of
  } finally {
    await db.close().catch(() => undefined);
    rmSync(copy, { recursive: true, force: true });
  }
  return ids;
}

// ------------------------------------------------------------------ backup

const FORMAT = 'opstream-backup';
const VERSION = 1;

export interface BackupReport {
  file: string;
  entries: number;
  bytes: number;
}

/** Where a backup goes: a directory gets a dated file in it; a file path is used as is (never overwritten). */
export function backupTarget(target: string): string {
  const abs = resolve(target);
  let isDir = false;
  try {
    isDir = statSync(abs).isDirectory();
  } catch {
    isDir = false;
  }
  const file = isDir ? join(abs, `opstream-backup-${stamp()}.jsonl`) : abs;
  if (existsSync(file)) throw new MaintenanceError(`${file} exists; a backup never overwrites a file (name a new file or a directory)`);
  if (!existsSync(dirname(file))) throw new MaintenanceError(`the directory ${dirname(file)} does not exist`);
  return file;
}

/**
 * A consistent copy of the whole store while the daemon keeps running: ONE LevelDB iterator, which
 * reads from the snapshot taken when it was created, so commits made meanwhile are either all in
 * the backup or not at all. JSON lines (a header, `[key, value]` per entry as stored, an end line
 * with the count and a SHA-256 of the lines before it), written to a temporary name, fsynced, then
 * renamed, so a backup file that exists is complete.
 */
export async function backupStore(store: Store, target: string): Promise<BackupReport> {
  const file = backupTarget(target);
  const tmp = `${file}.partial`;
  const fd = openSync(tmp, 'wx', 0o600);
  const hash = createHash('sha256');
  let bytes = 0;
  let entries = 0;
  const put = (line: string): void => {
    const b = Buffer.from(`${line}\n`);
    hash.update(b);
    let off = 0;
    while (off < b.length) off += writeSync(fd, b, off);
    bytes += b.length;
  };
  try {
    put(JSON.stringify({ format: FORMAT, version: VERSION, created_at: new Date().toISOString() }));
    const it = store.db.iterator({ keyEncoding: 'utf8', valueEncoding: 'utf8' } as never) as unknown as { nextv(n: number): Promise<[string, string][]>; close(): Promise<void> };
    try {
      for (;;) {
        const rows = await it.nextv(1000);
        if (rows.length === 0) break;
        for (const [k, v] of rows) put(JSON.stringify([k, v]));
        entries += rows.length;
      }
    } finally {
      await it.close();
    }
    const end = JSON.stringify({ end: true, entries, sha256: hash.digest('hex') });
    const b = Buffer.from(`${end}\n`);
    writeSync(fd, b);
    bytes += b.length;
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, file);
  return { file, entries, bytes };
}

/** Reads and checks a whole backup file; returns its entries. */
export function readBackup(file: string): { created_at: string; entries: [string, string][] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new MaintenanceError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const bad = (why: string): MaintenanceError => new MaintenanceError(`${file} is not a usable opstream backup: ${why}; nothing was changed`);
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length < 2) throw bad('it is empty or cut short');
  let head: { format?: unknown; version?: unknown; created_at?: unknown };
  try {
    head = JSON.parse(lines[0]);
  } catch {
    throw bad('the first line is not JSON');
  }
  if (head.format !== FORMAT) throw bad('it has no backup header');
  if (head.version !== VERSION) throw bad(`version ${String(head.version)} is not one this opstream reads`);
  let end: { end?: unknown; entries?: unknown; sha256?: unknown };
  try {
    end = JSON.parse(lines[lines.length - 1]);
  } catch {
    throw bad('it is cut short (no end line)');
  }
  if (end.end !== true) throw bad('it is cut short (no end line)');
  const hash = createHash('sha256');
  const entries: [string, string][] = [];
  for (let i = 0; i < lines.length - 1; i++) {
    hash.update(`${lines[i]}\n`);
    if (i === 0) continue;
    let row: unknown;
    try {
      row = JSON.parse(lines[i]);
    } catch {
      throw bad(`line ${i + 1} is not JSON`);
    }
    if (!Array.isArray(row) || row.length !== 2 || typeof row[0] !== 'string' || typeof row[1] !== 'string') throw bad(`line ${i + 1} is not an entry`);
    entries.push([row[0], row[1]]);
  }
  if (end.entries !== entries.length) throw bad(`it holds ${entries.length} entries, its end line says ${String(end.entries)}`);
  if (end.sha256 !== hash.digest('hex')) throw bad('its checksum does not match (the file was changed or damaged)');
  return { created_at: String(head.created_at), entries };
}

// ------------------------------------------------------------------ restore

export interface RestoreReport {
  store: string;
  backup: string;
  backup_created_at: string;
  entries: number;
  /** Where the store that was replaced went (null: there was none). */
  moved_aside: string | null;
}

async function storeHasData(dir: string): Promise<boolean | 'unreadable'> {
  if (!existsSync(dir) || readdirSafe(dir).length === 0) return false;
  const db = new Level<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  try {
    await db.open({ createIfMissing: false } as never);
    const [first] = await db.keys({ limit: 1 }).all();
    return first !== undefined;
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause;
    if (cause?.code === 'LEVEL_LOCKED') throw new MaintenanceError(`the store at ${dir} is in use by a daemon; stop it first with \`opstream daemon stop\``);
    return 'unreadable';
  } finally {
    await db.close().catch(() => undefined);
  }
}

/**
 * Puts a backup in place of the store (daemon stopped). The backup is checked whole before
 * anything changes; an existing store is replaced only with `force`, and is moved aside, not
 * deleted.
 */
export async function restoreStore(paths: { dbDir: string; pidFile: string }, file: string, force: boolean): Promise<RestoreReport> {
  privateFiles();
  refuseIfRunning(paths.pidFile, 'restore');
  const backup = readBackup(resolve(file));
  const dir = paths.dbDir;
  const has = await storeHasData(dir);
  if (has && !force) {
    throw new MaintenanceError(`the store at ${dir} ${has === 'unreadable' ? 'exists (and cannot be read)' : 'holds data'}; add --force to replace it (it is moved aside, not deleted)`);
  }
  const fresh = `${dir}.restoring-${process.pid}`;
  rmSync(fresh, { recursive: true, force: true });
  const db = new Level<string, string>(fresh, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  try {
    await db.open();
    for (let i = 0; i < backup.entries.length; i += 1000) {
      const chunk = backup.entries.slice(i, i + 1000);
      await db.batch(
        chunk.map(([key, value]) => ({ type: 'put' as const, key, value })),
        { sync: i + 1000 >= backup.entries.length },
      );
    }
    if (backup.entries.length === 0) await db.put('!meta!store:restored', JSON.stringify({ at: new Date().toISOString() }), { sync: true } as never);
  } catch (e) {
    await db.close().catch(() => undefined);
    rmSync(fresh, { recursive: true, force: true });
    throw e;
  }
  await db.close();
  let aside: string | null = null;
  if (existsSync(dir)) {
    aside = `${dir}.before-restore-${stamp()}`;
    renameSync(dir, aside);
  }
  renameSync(fresh, dir);
  return { store: dir, backup: resolve(file), backup_created_at: backup.created_at, entries: backup.entries.length, moved_aside: aside };
}

/** A backup with the daemon stopped: the same snapshot, taken through a handle of our own. */
export async function backupOffline(dbDir: string, target: string): Promise<BackupReport> {
  privateFiles();
  let store: Store;
  try {
    store = await Store.open(dbDir, { verify: true });
  } catch (e) {
    if (e instanceof StoreLockedError) throw new MaintenanceError(`the store at ${dbDir} is in use by a daemon that does not answer; try again, or stop it first`);
    if (e instanceof StoreCorruptError) throw new MaintenanceError(e.message);
    throw e;
  }
  try {
    return await backupStore(store, target);
  } finally {
    await store.close();
  }
}
