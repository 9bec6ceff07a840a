import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { afterEach, describe, expect, it } from 'vitest';
import { corruptLogTail } from '../chaos/faults.js';
import { crc32c, dropBadLogRecords, verifyLogFile, verifyTableFile } from '../../src/daemon/store/verify.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A real LevelDB directory: a log with `n` synced records, or (after a reopen) a table holding them. */
async function realStore(n: number, reopen: boolean): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'opv-'));
  dirs.push(dir);
  let db = new Level<string, string>(dir);
  await db.open();
  for (let i = 0; i < n; i++) await db.put(`k${i.toString().padStart(5, '0')}`, `value ${i} ${'y'.repeat(200)}`, { sync: true });
  await db.close();
  if (reopen) {
    db = new Level<string, string>(dir);
    await db.open(); // replays the log into a table
    await db.close();
  }
  return dir;
}

const fileOf = (dir: string, ext: string): string => join(dir, readdirSync(dir).find((f) => f.endsWith(ext))!);

describe('store checksum verification', () => {
  it('crc32c matches the standard check value', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it('a LevelDB log passes whole and with a torn tail, and fails with a flipped byte inside', async () => {
    const log = readFileSync(fileOf(await realStore(300, false), '.log'));
    expect(log.length).toBeGreaterThan(40_000);
    expect(verifyLogFile(log)).toBeNull();
    expect(verifyLogFile(log.subarray(0, log.length - 100))).toBeNull(); // a crash mid-append
    const bad = Buffer.from(log);
    bad[20_000] ^= 0xff;
    expect(verifyLogFile(bad)).toMatch(/checksum mismatch|bad record length|unknown record type/);
  });

  it('dropBadLogRecords keeps every intact record, fragments of big ones included, and drops the bad ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opv-'));
    dirs.push(dir);
    const db = new Level<string, string>(dir);
    await db.open();
    const want = new Map<string, string>();
    for (let i = 0; i < 40; i++) {
      // every 7th value spans several 32 KiB blocks (FIRST/MIDDLE/LAST fragments)
      const v = `value ${i} ${(i % 7 === 0 ? 'z' : 'y').repeat(i % 7 === 0 ? 80_000 : 300)}`;
      want.set(`k${i}`, v);
      await db.put(`k${i}`, v, { sync: true });
    }
    await db.close();
    const log = fileOf(dir, '.log');
    const intact = readFileSync(log);
    expect(dropBadLogRecords(log)).toBe(0); // nothing bad: left alone
    expect(readFileSync(log).equals(intact)).toBe(true);

    // a bad record in the middle and a torn, garbled one at the end
    const mid = Buffer.from(intact);
    const at = intact.indexOf('value 3 ');
    mid[at + 50] ^= 0xff;
    writeFileSync(log, mid);
    expect(corruptLogTail(dir, 'bad_checksum', () => 0.5)).not.toBeNull();
    expect(verifyLogFile(readFileSync(log))).toMatch(/checksum mismatch/);
    expect(dropBadLogRecords(log)).toBe(2);
    expect(verifyLogFile(readFileSync(log))).toBeNull();

    const back = new Level<string, string>(dir);
    await back.open();
    try {
      for (const [k, v] of want) expect(await back.get(k), k).toBe(k === 'k3' ? undefined : v);
    } finally {
      await back.close();
    }
  });

  it('a LevelDB table passes, and fails with a flipped byte in a block', async () => {
    const table = readFileSync(fileOf(await realStore(300, true), '.ldb'));
    expect(verifyTableFile(table)).toBeNull();
    const bad = Buffer.from(table);
    bad[Math.floor(bad.length / 3)] ^= 0xff;
    expect(verifyTableFile(bad)).toMatch(/checksum mismatch/);
    expect(verifyTableFile(table.subarray(0, table.length - 10))).toMatch(/magic|short/);
  });
});
