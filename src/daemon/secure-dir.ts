import { chmodSync, lstatSync, mkdirSync, readdirSync, statSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { describeUid, maxSocketPathBytes, socketDirProblem, type Paths } from '../config/paths.js';

/** A local error: it is about this machine's files, never sent on the wire. */
export class SetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SetupError';
  }
}

const mode8 = (st: Stats): string => (st.mode & 0o777).toString(8);
const myUid = (): number | undefined => process.getuid?.();

/**
 * Refuses what another user owns (they could have planted or could still change it) and what
 * others can write to (OpenSSH's StrictModes rule); a file or directory of ours that others can
 * merely read is tightened, and `notices` says so (one line each, shown on the CLI's stderr and in
 * the daemon log).
 */
function checkOwned(path: string, st: Stats, what: string, private_: number, notices: string[] | null): void {
  const uid = myUid();
  if (uid === undefined) return;
  if (st.uid !== uid) throw new SetupError(`${what} ${path} belongs to ${describeUid(st.uid)}, not you (uid ${uid}); refusing to use it`);
  if ((st.mode & 0o022) !== 0) throw new SetupError(`${what} ${path} is writable by others (mode ${mode8(st)}); run: chmod ${private_.toString(8)} ${path}`);
  if (notices && (st.mode & 0o077) !== 0) {
    chmodSync(path, private_);
    notices.push(`tightened ${what} ${path} from mode ${mode8(st)} to ${private_.toString(8)} (only you may read it)`);
  }
}

/**
 * Creates a private directory 0700, or checks an existing one: it must be a real directory owned
 * by this user that nobody else can write to, or another user could swap the socket under us (run
 * dir) or plant and read records and logs (data dir). The last component is made with a plain
 * mkdir, so a directory someone else created first is found (EEXIST) and checked, never adopted.
 */
export function ensurePrivateDir(dir: string, what = 'socket directory', notices: string[] = []): void {
  mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new SetupError(`cannot create ${what} ${dir}: ${(e as Error).message}`);
  }
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new SetupError(`${dir} is not a directory; remove it or set OPSTREAM_HOME elsewhere`);
  checkOwned(dir, st, what, 0o700, notices);
}

export function checkSocketPath(path: string): void {
  const bytes = Buffer.byteLength(path);
  const max = maxSocketPathBytes();
  if (bytes > max) throw new SetupError(`socket path ${path} is ${bytes} bytes, over this OS's limit of ${max}; set OPSTREAM_HOME (or XDG_RUNTIME_DIR) to a shorter directory`);
}

/**
 * Everything under `root` (the store's files, logs, the pid file): directories 0700, files 0600,
 * whatever an older version or a looser umask left. Symlinks are not followed (pino-roll's
 * current.log points at a file that is itself in the walk).
 */
function tightenTree(root: string, notices: string[]): void {
  const uid = myUid();
  if (uid === undefined) return;
  let loose = 0;
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isSymbolicLink()) continue;
      try {
        const st = lstatSync(p);
        if (st.uid !== uid) throw new SetupError(`${p} belongs to ${describeUid(st.uid)}, not you (uid ${uid}); refusing to use it (give it back with chown, or remove it)`);
        if ((st.mode & 0o077) !== 0) {
          chmodSync(p, st.isDirectory() ? 0o700 : 0o600);
          loose++;
        }
        if (st.isDirectory()) walk(p);
      } catch (err) {
        // a daemon that already runs here may remove a store file under us: gone is fine
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  };
  walk(root);
  if (loose > 0) notices.push(`tightened ${loose} file(s) under ${root} to mode 600 (directories 700)`);
}

/**
 * config.yaml / mcp.json: never one another user owns or can change (it names the commands the
 * daemon spawns). Its read bits are left as the user set them: the config directory above it is
 * 0700, so nobody else can reach it anyway.
 */
function secureConfigFile(file: string): void {
  let st: Stats;
  try {
    st = statSync(file); // a symlinked config (dotfiles) is checked where it points
  } catch {
    return;
  }
  if (st.isFile()) checkOwned(file, st, 'config file', 0o600, null);
}

/**
 * The daemon's start-up check of every path it keeps (before it reads the config): refuses what
 * another user owns or can write, tightens what others can read, and returns the notices.
 */
export function securePaths(paths: Paths): string[] {
  const notices: string[] = [];
  checkSocketPath(paths.socket);
  let cst: Stats | null = null;
  try {
    cst = lstatSync(paths.configDir);
  } catch {
    // no config directory: nothing to read, nothing to protect
  }
  if (cst?.isDirectory()) {
    checkOwned(paths.configDir, cst, 'config directory', 0o700, notices);
    secureConfigFile(paths.configFile);
    secureConfigFile(paths.mcpFile);
  }
  // the run dir is checked like the client checks it (ancestors included), then created or tightened
  const problem = socketDirProblem(paths.runDir);
  if (problem) throw new SetupError(problem);
  ensurePrivateDir(paths.runDir, 'socket directory', notices);
  ensurePrivateDir(paths.dataDir, 'data directory', notices);
  ensurePrivateDir(paths.logDir, 'log directory', notices);
  tightenTree(paths.dataDir, notices);
  tightenTree(paths.runDir, notices);
  return notices;
}
