import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';

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
 * directories are used, with the runtime dir falling back to a per-user directory under /tmp.
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
    runDir = env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'opstream') : join('/tmp', `opstream-${userInfo().uid}`);
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
