import { readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Checksum verification of a LevelDB directory, done by us because the bundled LevelDB opens with
 * paranoid checks off: a log record with a bad checksum is skipped (with the rest of its 32 KiB
 * block) and the store opens with data missing, and table blocks are read without their CRC.
 * Formats: leveldb/doc/log_format.md and table_format.md. A torn record at the very end of a log
 * is what a crash mid-append leaves, and is not corruption (LevelDB drops it as unacknowledged).
 */

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** LevelDB stores CRCs masked (a CRC of data that holds CRCs is otherwise weak). */
function unmask(masked: number): number {
  const rot = (masked - 0xa282ead8) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}

/** LevelDB's log format: 32 KiB blocks, each record behind a 7-byte header (crc, length, type). */
const BLOCK = 32768;
const HEADER = 7;

/** The first problem in a log-format file (`*.log`, `MANIFEST-*`), or null. */
export function verifyLogFile(buf: Buffer): string | null {
  let pos = 0;
  while (pos < buf.length) {
    const left = BLOCK - (pos % BLOCK);
    if (left < HEADER) {
      pos += left;
      continue;
    }
    if (pos + HEADER > buf.length) return null; // torn header at the end
    const len = buf.readUInt16LE(pos + 4);
    const type = buf[pos + 6];
    if (type === 0 && len === 0) {
      pos += left; // zero padding (preallocated space)
      continue;
    }
    if (HEADER + len > left) return `bad record length at offset ${pos}`;
    if (pos + HEADER + len > buf.length) return null; // torn record at the end
    if (type < 1 || type > 4) return `unknown record type ${type} at offset ${pos}`;
    const want = unmask(buf.readUInt32LE(pos));
    if (crc32c(buf, pos + 6, pos + HEADER + len) !== want) return `checksum mismatch at offset ${pos}`;
    pos += HEADER + len;
  }
  return null;
}

/** A CRC as LevelDB stores it (see `unmask`). */
const mask = (crc: number): number => ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;

// for the crash suite's torn-record fault (test/chaos/faults.ts), which writes this format too
export { BLOCK as LOG_BLOCK, HEADER as LOG_HEADER, mask as maskCrc };

/**
 * Rewrites a log (`*.log`) keeping only the records that pass their checksum, and says how many were
 * dropped (0: the file is left alone). Needed before LevelDB's repair: it reads logs with checksums
 * off, so a record torn by a power cut (a sector of zeros in it) would be applied, its garbage
 * written over intact, acknowledged values. Records are reassembled from their fragments and
 * written again in LevelDB's log format; a torn tail goes as LevelDB's own recovery would drop it.
 */
export function dropBadLogRecords(file: string): number {
  const buf = readFileSync(file);
  const good: Buffer[] = [];
  let frag: Buffer[] | null = null;
  let bad = 0;
  let pos = 0;
  while (pos + HEADER <= buf.length) {
    const left = BLOCK - (pos % BLOCK);
    if (left < HEADER) {
      pos += left;
      continue;
    }
    const len = buf.readUInt16LE(pos + 4);
    const type = buf[pos + 6];
    if (type === 0 && len === 0) {
      pos += left;
      continue;
    }
    if (HEADER + len > left) {
      bad++; // a garbled length: the rest of the block cannot be parsed (LevelDB drops it too)
      frag = null;
      pos += left;
      continue;
    }
    if (pos + HEADER + len > buf.length) break; // torn at the end
    const ok = type >= 1 && type <= 4 && crc32c(buf, pos + 6, pos + HEADER + len) === unmask(buf.readUInt32LE(pos));
    const data = Buffer.from(buf.subarray(pos + HEADER, pos + HEADER + len));
    pos += HEADER + len;
    if (!ok) {
      bad++;
      frag = null;
    } else if (type === 1) {
      good.push(data);
      frag = null;
    } else if (type === 2) frag = [data];
    else if (type === 3) frag?.push(data);
    else if (frag) {
      good.push(Buffer.concat([...frag, data]));
      frag = null;
    }
  }
  if (bad === 0) return 0;
  const out: Buffer[] = [];
  let off = 0;
  for (const rec of good) {
    let rest = rec;
    let first = true;
    do {
      if (BLOCK - off < HEADER) {
        out.push(Buffer.alloc(BLOCK - off));
        off = 0;
      }
      const n = Math.min(rest.length, BLOCK - off - HEADER);
      const last = n === rest.length;
      const header = Buffer.alloc(HEADER);
      header.writeUInt16LE(n, 4);
      header[6] = first && last ? 1 : first ? 2 : last ? 4 : 3;
      const body = rest.subarray(0, n);
      header.writeUInt32LE(mask(crc32c(Buffer.concat([header.subarray(6), body]))), 0);
      out.push(header, body);
      off += HEADER + n;
      rest = rest.subarray(n);
      first = false;
    } while (rest.length > 0);
  }
  writeFileSync(file, Buffer.concat(out));
  return bad;
}

function varint(buf: Uint8Array, at: { pos: number }): number {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (at.pos >= buf.length) throw new Error('truncated varint');
    const b = buf[at.pos++];
    result += (b & 0x7f) * mul;
    if (!(b & 0x80)) return result;
    mul *= 128;
  }
  throw new Error('bad varint');
}

/** Snappy block decompression (the format LevelDB compresses table blocks with). */
export function snappyDecompress(src: Uint8Array): Uint8Array {
  const at = { pos: 0 };
  const n = varint(src, at);
  const out = new Uint8Array(n);
  let o = 0;
  while (at.pos < src.length) {
    const tag = src[at.pos++];
    const kind = tag & 3;
    if (kind === 0) {
      let len = tag >>> 2;
      if (len >= 60) {
        const bytes = len - 59;
        len = 0;
        for (let i = 0; i < bytes; i++) len |= src[at.pos++] << (8 * i);
      }
      len += 1;
      if (at.pos + len > src.length || o + len > n) throw new Error('bad snappy literal');
      out.set(src.subarray(at.pos, at.pos + len), o);
      at.pos += len;
      o += len;
      continue;
    }
    let len: number;
    let off: number;
    if (kind === 1) {
      len = ((tag >>> 2) & 7) + 4;
      off = ((tag >>> 5) << 8) | src[at.pos++];
    } else if (kind === 2) {
      len = (tag >>> 2) + 1;
      off = src[at.pos] | (src[at.pos + 1] << 8);
      at.pos += 2;
    } else {
      len = (tag >>> 2) + 1;
      off = (src[at.pos] | (src[at.pos + 1] << 8) | (src[at.pos + 2] << 16) | (src[at.pos + 3] << 24)) >>> 0;
      at.pos += 4;
    }
    if (off === 0 || off > o || o + len > n) throw new Error('bad snappy copy');
    for (let i = 0; i < len; i++, o++) out[o] = out[o - off];
  }
  if (o !== n) throw new Error('snappy length mismatch');
  return out;
}

interface Handle {
  offset: number;
  size: number;
}

/** Reads a block by handle, checking its trailer CRC; returns its (decompressed) contents. */
function readBlock(buf: Buffer, h: Handle): Uint8Array {
  const end = h.offset + h.size;
  if (end + 5 > buf.length) throw new Error(`block at ${h.offset} runs past the end of the file`);
  const type = buf[end];
  const want = unmask(buf.readUInt32LE(end + 1));
  if (crc32c(buf, h.offset, end + 1) !== want) throw new Error(`block checksum mismatch at offset ${h.offset}`);
  const raw = buf.subarray(h.offset, end);
  if (type === 0) return raw;
  if (type === 1) return snappyDecompress(raw);
  throw new Error(`unknown block compression ${type} at offset ${h.offset}`);
}

/** The values (block handles) of an index block's entries. */
function indexHandles(block: Uint8Array): Handle[] {
  const view = Buffer.from(block.buffer, block.byteOffset, block.byteLength);
  const restarts = view.readUInt32LE(view.length - 4);
  const limit = view.length - 4 - restarts * 4;
  if (limit < 0) throw new Error('bad index block');
  const out: Handle[] = [];
  const at = { pos: 0 };
  while (at.pos < limit) {
    varint(block, at); // shared key bytes
    const unshared = varint(block, at);
    const vlen = varint(block, at);
    at.pos += unshared;
    const v = { pos: at.pos };
    out.push({ offset: varint(block, v), size: varint(block, v) });
    at.pos += vlen;
  }
  return out;
}

const MAGIC_LO = 0x8b80fb57;
const MAGIC_HI = 0xdb477524;

/** The first problem in a table file (`*.ldb`, `*.sst`): every block's checksum, or null. */
export function verifyTableFile(buf: Buffer): string | null {
  try {
    if (buf.length < 48) return 'file too short for a table footer';
    const f = buf.length - 48;
    if (buf.readUInt32LE(buf.length - 8) !== MAGIC_LO || buf.readUInt32LE(buf.length - 4) !== MAGIC_HI) return 'bad table magic number';
    const at = { pos: f };
    const meta = { offset: varint(buf, at), size: varint(buf, at) };
    const index = { offset: varint(buf, at), size: varint(buf, at) };
    readBlock(buf, meta);
    for (const h of indexHandles(readBlock(buf, index))) readBlock(buf, h);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

function readIfPresent(file: string): Buffer | null {
  try {
    return readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null; // removed by a compaction meanwhile
    throw e;
  }
}

/** The log-format files: what LevelDB replays at open (verify BEFORE opening, which rewrites them). */
export function verifyLogs(dir: string): string | null {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return null; // a new store
  }
  for (const name of names.sort()) {
    if (!name.endsWith('.log') && !name.startsWith('MANIFEST-')) continue;
    const buf = readIfPresent(join(dir, name));
    const bad = buf && verifyLogFile(buf);
    if (bad) return `${name}: ${bad}`;
  }
  return null;
}

/** The table files among `names` (listed before the open; tables are immutable once written). */
export function verifyTables(dir: string, names: string[]): string | null {
  for (const name of names) {
    if (!name.endsWith('.ldb') && !name.endsWith('.sst')) continue;
    const buf = readIfPresent(join(dir, name));
    const bad = buf && verifyTableFile(buf);
    if (bad) return `${name}: ${bad}`;
  }
  return null;
}

export function tableNames(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => n.endsWith('.ldb') || n.endsWith('.sst'));
  } catch {
    return [];
  }
}

/** Each table file among `names` with its problem (all of them, not the first). */
export function badTables(dir: string, names: string[]): { name: string; problem: string }[] {
  const out: { name: string; problem: string }[] = [];
  for (const name of names) {
    const buf = readIfPresent(join(dir, name));
    const problem = buf && verifyTableFile(buf);
    if (problem) out.push({ name, problem });
  }
  return out;
}

/**
 * The newest entry per key from the blocks of a damaged table whose checksums pass (the blocks
 * that fail are what is lost). `value` null: the key was deleted at that point.
 */
export function salvageTable(buf: Buffer): { key: Buffer; value: Buffer | null }[] {
  const out = new Map<string, { key: Buffer; value: Buffer | null }>();
  let handles: Handle[];
  try {
    const at = { pos: buf.length - 48 };
    varint(buf, at);
    varint(buf, at);
    handles = indexHandles(readBlock(buf, { offset: varint(buf, at), size: varint(buf, at) }));
  } catch {
    return []; // no index: nothing can be located
  }
  for (const h of handles) {
    let block: Uint8Array;
    try {
      block = readBlock(buf, h);
    } catch {
      continue;
    }
    try {
      const view = Buffer.from(block.buffer, block.byteOffset, block.byteLength);
      const restarts = view.readUInt32LE(view.length - 4);
      const limit = view.length - 4 - restarts * 4;
      const at = { pos: 0 };
      let last = Buffer.alloc(0);
      while (at.pos < limit) {
        const shared = varint(block, at);
        const unshared = varint(block, at);
        const vlen = varint(block, at);
        const key = Buffer.concat([last.subarray(0, shared), view.subarray(at.pos, at.pos + unshared)]);
        at.pos += unshared;
        const value = Buffer.from(view.subarray(at.pos, at.pos + vlen));
        at.pos += vlen;
        last = key;
        // an internal key: the user key, then 8 bytes of (sequence << 8 | type); newest first
        const user = key.subarray(0, key.length - 8);
        const type = key[key.length - 8];
        const id = user.toString('latin1');
        if (!out.has(id)) out.set(id, { key: Buffer.from(user), value: type === 1 ? value : null });
      }
    } catch {
      // a block that passed its checksum but does not parse: skip what is left of it
    }
  }
  return [...out.values()];
}

/**
 * Tables never change once written, so each is checked once: the names and sizes of tables that
 * passed are remembered with their size and mtime beside the store (`<db>.verified.json`), and a
 * start checks only new or changed ones
 * (a restart of a large store then costs what its new tables cost). Log files are checked at every
 * start. The file is a cache: losing it only means checking everything again.
 */
export function verifyTablesOnce(dir: string, names: string[]): string | null {
  const cacheFile = `${dir}.verified.json`;
  let cache: Record<string, string> = {};
  try {
    cache = JSON.parse(readFileSync(cacheFile, 'utf8')) as Record<string, string>;
  } catch {
    cache = {};
  }
  const next: Record<string, string> = {};
  for (const name of names) {
    let size: string;
    try {
      // size and modification time: a file written to since (by anything) is checked again
      const st = statSync(join(dir, name));
      size = `${st.size}:${st.mtimeMs}`;
    } catch {
      continue; // removed by a compaction meanwhile
    }
    if (cache[name] !== size) {
      const bad = verifyTables(dir, [name]);
      if (bad) return bad;
    }
    next[name] = size;
  }
  try {
    writeFileSync(`${cacheFile}.tmp`, JSON.stringify(next), { mode: 0o600 });
    renameSync(`${cacheFile}.tmp`, cacheFile);
  } catch {
    // a full disk: checked again next time
  }
  return null;
}
