import { lstatSync, readFileSync, realpathSync, type Stats } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface Paths {
  /** Directory holding config.yaml, mcp.json and the user's workflows/. */
  configDir: string;
  configFile: string;
  mcpFile: string;
  workflowsDir: string;
  /** LevelDB lives in dataDir/db. */
  dataDir: string;
  dbDir: string;
  logDir: string;
  logFile: string;
  /** 0700 directory holding the socket and the pid file. */
  runDir: string;
  socket: string;
  pidFile: string;
}

/**
 * OPSTREAM_HOME, when set, holds everything (tests set it to a temp dir). Otherwise the XDG base
 * directories are used. Without XDG_RUNTIME_DIR the socket lives in `run/` under the user's own
 * state directory: a fixed name under /tmp (the old `/tmp/opstream-UID`) can be created first by
 * any local user, who then owns the directory our socket would sit in.
 */
export function resolvePaths(env: NodeJS.ProcessEnv = process.env): Paths {
  const home = env.OPSTREAM_HOME;
  let configDir: string;
  let dataDir: string;
  let runDir: string;
  if (home) {
    configDir = home;
    dataDir = join(home, 'data');
    runDir = join(home, 'run');
  } else {
    const h = env.HOME || homedir();
    configDir = join(env.XDG_CONFIG_HOME || join(h, '.config'), 'opstream');
    dataDir = join(env.XDG_STATE_HOME || join(h, '.local', 'state'), 'opstream');
    runDir = env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'opstream') : join(dataDir, 'run');
  }
  return {
    configDir,
    configFile: join(configDir, 'config.yaml'),
    mcpFile: join(configDir, 'mcp.json'),
    workflowsDir: join(configDir, 'workflows'),
    dataDir,
    dbDir: join(dataDir, 'db'),
    logDir: join(dataDir, 'logs'),
    // pino-roll writes daemon.N.log files and keeps this link on the live one
    logFile: join(dataDir, 'logs', 'current.log'),
    runDir,
    socket: join(runDir, 'opstream.sock'),
    pidFile: join(runDir, 'daemon.pid'),
  };
}

/** sun_path is 108 bytes on Linux and 104 on macOS/BSD, both including the trailing NUL. */
export function maxSocketPathBytes(platform: NodeJS.Platform = process.platform): number {
  return platform === 'linux' ? 107 : 103;
}

/**
 * `nobody (uid 65534)`: the name from /etc/passwd where it is listed there (Node has no getpwuid;
 * macOS keeps most users in Directory Services), else just the uid. Only used in error messages.
 */
export function describeUid(uid: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && Number(f[2]) === uid && f[2] !== '') return `${f[0]} (uid ${uid})`;
    }
  } catch {
    // no /etc/passwd: the uid alone still names the owner
  }
  return `uid ${uid}`;
}

const mode8 = (st: Stats): string => (st.mode & 0o777).toString(8);

/**
 * Why the socket directory `dir` must not be used, or null when it may be (or does not exist yet:
 * the daemon creates it). The client asks before it connects and the daemon before it binds, the
 * way OpenSSH's StrictModes checks ~/.ssh: the directory must be a real directory (no symlink)
 * owned by this user and writable by nobody else, and each directory above it must be owned by
 * this user or root and not writable by others unless sticky (/tmp), so that nobody else can
 * rename it away and put their own in its place.
 */
export function socketDirProblem(dir: string, uid: number | undefined = process.getuid?.()): string | null {
  if (uid === undefined) return null; // Windows: no uids (and no Unix socket directory)
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return ancestorProblem(dir, uid);
    return `cannot check socket directory ${dir}: ${(e as Error).message}`;
  }
  if (!st.isDirectory()) return `socket directory ${dir} is not a directory${st.isSymbolicLink() ? ' (a symbolic link)' : ''}; remove it or set OPSTREAM_HOME elsewhere`;
  if (st.uid !== uid) return `socket directory ${dir} belongs to ${describeUid(st.uid)}, not you (uid ${uid}); refusing to use it (someone else may have created it; remove it or set OPSTREAM_HOME elsewhere)`;
  if ((st.mode & 0o022) !== 0) return `socket directory ${dir} is writable by others (mode ${mode8(st)}); run: chmod 700 ${dir}`;
  return ancestorProblem(dir, uid);
}

function ancestorProblem(dir: string, uid: number): string | null {
  // From the nearest directory above that exists, resolved: a symlink in the path is checked where
  // it leads (the kernel follows it too); what does not exist yet will be created by us, 0700.
  let real: string | null = null;
  for (let d = dirname(dir); ; d = dirname(d)) {
    try {
      real = realpathSync(d);
      break;
    } catch {
      if (dirname(d) === d) return null;
    }
  }
  for (let d = real; ; d = dirname(d)) {
    let st: Stats;
    try {
      st = lstatSync(d);
    } catch (e) {
      return `cannot check ${d} above socket directory ${dir}: ${(e as Error).message}`;
    }
    if (st.uid !== uid && st.uid !== 0) return `socket directory ${dir} is inside ${d}, which belongs to ${describeUid(st.uid)}, so they could replace it; refusing to use it (set OPSTREAM_HOME or XDG_RUNTIME_DIR to a directory of your own)`;
    if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) return `socket directory ${dir} is inside ${d}, which others can write to (mode ${mode8(st)}), so they could replace it; refusing to use it (run: chmod go-w ${d})`;
    if (dirname(d) === d) return null;
  }
}
