import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { KvStore } from '../../src/daemon/store/kv.js';
import { PgStore } from '../../src/daemon/store/pg-store.js';
import { Store } from '../../src/daemon/store/store.js';
import { startTestPostgres, type TestPostgres } from './pg.js';

export interface Backend {
  name: 'LevelDB' | 'PostgreSQL';
  /** A fresh store of this backend (LevelDB in a temp dir; PostgreSQL: a database of the file's server), closed after the test. */
  open(): Promise<KvStore>;
}

/**
 * Both storage backends for a suite that runs the same tests on each (kv-conformance, repos):
 * registers the hooks that start one embedded PostgreSQL for the file (stopped by PID after it),
 * and close every store a test opened and remove its dirs after each test. `server()` is the
 * PostgreSQL for PostgreSQL-only tests; `track` closes a store the test opened itself.
 */
export function bothBackends(database: string): { backends: Backend[]; server(): TestPostgres; track<S extends KvStore>(s: S): S } {
  let server: TestPostgres | undefined;
  const dirs: string[] = [];
  const open: KvStore[] = [];
  beforeAll(async () => {
    server = await startTestPostgres();
  });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close().catch(() => undefined);
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  afterAll(async () => {
    await server?.stop();
  });
  const running = (): TestPostgres => {
    if (!server) throw new Error('the test PostgreSQL is not started (bothBackends registers its beforeAll)');
    return server;
  };
  const track = <S extends KvStore>(s: S): S => {
    open.push(s);
    return s;
  };
  const backends: Backend[] = [
    {
      name: 'LevelDB',
      open: async () => {
        const d = mkdtempSync(join(tmpdir(), `ops-${database}-`));
        dirs.push(d);
        return track(await Store.open(join(d, 'db')));
      },
    },
    { name: 'PostgreSQL', open: async () => track(await PgStore.open(await running().database(database), { executorId: 'exec-a' })) },
  ];
  return { backends, server: running, track };
}
