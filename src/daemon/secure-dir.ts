import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { maxSocketPathBytes } from '../config/paths.js';

/** A local error: it is about this machine's files, never sent on the wire. */
export class SetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SetupError';
  }
}

/**
 * Creates a private directory 0700, or checks an existing one: it must be a real directory owned
 * by this user that nobody else can write to, or another user could swap the socket under us (run
 * dir) or plant and read records and logs (data dir). `what` names it in the error.
 */
export function ensurePrivateDir(dir: string, what = 'socket directory'): void {
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    return;
  }
  if (!st.isDirectory()) throw new SetupError(`${dir} is not a directory; remove it or set OPSTREAM_HOME elsewhere`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw new SetupError(`${what} ${dir} belongs to uid ${st.uid}, not you (uid ${uid}); refusing to use it`);
  if ((st.mode & 0o022) !== 0) {
    throw new SetupError(`${what} ${dir} is writable by others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 700 ${dir}`);
  }
}

export function checkSocketPath(path: string): void {
  const bytes = Buffer.byteLength(path);
  const max = maxSocketPathBytes();
  if (bytes > max) throw new SetupError(`socket path ${path} is ${bytes} bytes, over this OS's limit of ${max}; set OPSTREAM_HOME (or XDG_RUNTIME_DIR) to a shorter directory`);
}
