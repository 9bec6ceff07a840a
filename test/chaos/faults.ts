import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c, LOG_BLOCK as BLOCK, LOG_HEADER as HEADER, maskCrc as mask } from '../../src/daemon/store/verify.js';

/**
 * The "corrupt last record" fault of the crash suite: what a power cut leaves of the write that was
 * in flight at the end of LevelDB's newest log (leveldb/doc/log_format.md). A kill -9 alone never
 * tears a record (the kernel holds what was written), so after the kill the harness appends one:
 *
 *  - `torn_header`: the first 1-6 bytes of a record header;
 *  - `torn_record`: a whole header whose length runs past the end of the file (the rest never hit
 *    the disk);
 *  - `bad_checksum`: a record of full length whose bytes are not what its checksum says (a sector
 *    of it was not written).
 *
 * The payload is a copy of the log's last record, so it reads like the next batch. None of these is
 * a record that was acknowledged: a commit is acknowledged only after its fsync, and fsync'd bytes
 * survive a power cut, so the daemon may drop them (LevelDB does for the torn ones) or refuse to
 * start and point at `opstream daemon repair` (our checksum verification does for the garbled one).
 */
export const CORRUPTIONS = ['torn_header', 'torn_record', 'bad_checksum'] as const;
export type Corruption = (typeof CORRUPTIONS)[number];

/** The newest `NNNNNN.log` of a LevelDB directory, or null. */
export function newestLog(dir: string): string | null {
  const logs = readdirSync(dir)
    .filter((f) => /^\d+\.log$/.test(f))
    .sort((a, b) => Number(b.slice(0, -4)) - Number(a.slice(0, -4)));
  return logs.length ? join(dir, logs[0]) : null;
}

/** Where the last whole record of a log-format buffer starts, and its payload length. */
function lastRecord(buf: Buffer): { pos: number; len: number } | null {
  let pos = 0;
  let last: { pos: number; len: number } | null = null;
  while (pos + HEADER <= buf.length) {
    const left = BLOCK - (pos % BLOCK);
    if (left < HEADER) {
      pos += left;
      continue;
    }
    const len = buf.readUInt16LE(pos + 4);
    if (buf[pos + 6] === 0 && len === 0) {
      pos += left;
      continue;
    }
    if (pos + HEADER + len > buf.length) break;
    last = { pos, len };
    pos += HEADER + len;
  }
  return last;
}

/** Appends the torn or garbled record to the newest log; says what it did, or null without a log. */
export function corruptLogTail(dbDir: string, kind: Corruption, rnd: () => number): { file: string; at: number; bytes: number } | null {
  const file = newestLog(dbDir);
  if (!file) return null;
  const buf = readFileSync(file);
  const out: Buffer[] = [];
  let pos = buf.length;
  // a record never starts in a block's last bytes: the writer fills them with zeros
  if (BLOCK - (pos % BLOCK) < HEADER + 32) {
    out.push(Buffer.alloc(BLOCK - (pos % BLOCK)));
    pos += BLOCK - (pos % BLOCK);
  }
  const room = BLOCK - (pos % BLOCK) - HEADER;
  const last = lastRecord(buf);
  const payload = last && last.len >= 16 ? Buffer.from(buf.subarray(last.pos + HEADER, last.pos + HEADER + Math.min(last.len, room))) : Buffer.from(Array.from({ length: Math.min(64, room) }, () => Math.floor(rnd() * 256)));
  const header = Buffer.alloc(HEADER);
  header.writeUInt16LE(payload.length, 4);
  header[6] = 1; // FULL
  const typed = Buffer.concat([header.subarray(6), payload]);
  header.writeUInt32LE(mask(crc32c(typed)), 0);
  if (kind === 'torn_header') out.push(header.subarray(0, 1 + Math.floor(rnd() * (HEADER - 1))));
  else if (kind === 'torn_record') out.push(header, payload.subarray(0, Math.max(0, Math.min(payload.length - 1, Math.floor(payload.length * (0.1 + 0.8 * rnd()))))));
  else {
    // the second half never written (zeros), and a flipped byte in case it was zeros already
    const garbled = Buffer.from(payload);
    garbled.fill(0, Math.floor(garbled.length / 2));
    garbled[0] ^= 0xff;
    out.push(header, garbled);
  }
  const bytes = Buffer.concat(out);
  appendFileSync(file, bytes);
  return { file, at: buf.length, bytes: bytes.length };
}
