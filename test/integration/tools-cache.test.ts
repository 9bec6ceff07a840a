import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../src/daemon/store/store.js';
import { CacheRepo } from '../../src/daemon/repos/cache.js';
import { canonicalJson, ToolResultCache } from '../../src/daemon/tools/cache.js';
import { ToolPool } from '../../src/daemon/tools/pool.js';
import { waitFor } from '../support/home.js';
import { FAULT_SERVER, memoryLog, nodeSpec, npmServer } from '../support/tools-fixtures.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(specs: Parameters<typeof nodeSpec>[2][] = [{}]) {
  const dir = mkdtempSync(join(tmpdir(), 'tcache-'));
  const store = await Store.open(join(dir, 'db'));
  let now = 1_000_000;
  const cache = new ToolResultCache(new CacheRepo(store), () => now);
  const pool = new ToolPool(
    specs.map((extra, i) => nodeSpec(i === 0 ? 'fault' : `fault${i}`, [FAULT_SERVER], extra)),
    { log: memoryLog().log, cache },
  );
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => store.close(), () => pool.stop());
  return { store, cache, pool, advance: (ms: number) => (now += ms) };
}

describe('tool result cache (LevelDB cache sublevel)', () => {
  it('serves a repeated call from the cache within the TTL, keyed by canonical arguments, and counts hits and misses', async () => {
    const { pool, cache, store, advance } = await setup();
    const first = await pool.call({ tool: 'fault.counter', args: { key: 'a', } , cacheTtlMs: 60_000 });
    expect(first).toMatchObject({ text: '1', cached: false });
    const again = await pool.call({ tool: 'fault.counter', args: { key: 'a' }, cacheTtlMs: 60_000 });
    expect(again).toMatchObject({ text: '1', cached: true });
    // other arguments, other entry
    expect((await pool.call({ tool: 'fault.counter', args: { key: 'b' }, cacheTtlMs: 60_000 })).text).toBe('2');
    // no TTL: not cached
    expect((await pool.call({ tool: 'fault.counter', args: { key: 'a' } })).text).toBe('3');
    advance(61_000);
    expect(await pool.call({ tool: 'fault.counter', args: { key: 'a' }, cacheTtlMs: 60_000 })).toMatchObject({ text: '4', cached: false });
    expect(cache.counts).toEqual({ hits: 1, misses: 3, writes: 3 });
    const keys = (await store.entries('cache')).map(([k]) => k);
    expect(keys.every((k) => k.startsWith('tool:fault:counter:'))).toBe(true);
  });

  it('canonical arguments ignore key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe(canonicalJson({ a: { c: null, d: [1, { x: 1, y: 2 }] }, b: 1 }));
  });

  it('never caches destructiveHint tools, tools the config marks destructive, or isError results', async () => {
    const { pool, cache } = await setup([{ destructive: ['counter'] }, { destructive: true }]);
    expect((await pool.call({ tool: 'fault.wipe', cacheTtlMs: 60_000 })).text).toBe('1');
    expect((await pool.call({ tool: 'fault.wipe', cacheTtlMs: 60_000 })).text).toBe('2');
    expect((await pool.call({ tool: 'fault.counter', cacheTtlMs: 60_000 })).text).toBe('3');
    expect((await pool.call({ tool: 'fault.counter', cacheTtlMs: 60_000 })).cached).toBe(false);
    expect((await pool.call({ tool: 'fault1.echo', args: { text: 'x' }, cacheTtlMs: 60_000 })).cached).toBe(false);
    expect((await pool.call({ tool: 'fault1.echo', args: { text: 'x' }, cacheTtlMs: 60_000 })).cached).toBe(false);
    expect(cache.counts.writes).toBe(0);
    const { pool: p2, cache: c2 } = await setup();
    await p2.call({ tool: 'fault.fail', cacheTtlMs: 60_000 });
    expect((await p2.call({ tool: 'fault.fail', cacheTtlMs: 60_000 })).cached).toBe(false);
    expect(c2.counts.writes).toBe(0);
  });

  it('uses the server TTL (config `cache:`) when the call gives none; a call TTL of 0 turns it off', async () => {
    const { pool } = await setup([{ cacheMs: 60_000 }]);
    expect((await pool.call({ tool: 'fault.counter' })).text).toBe('1');
    expect((await pool.call({ tool: 'fault.counter' })).cached).toBe(true);
    expect((await pool.call({ tool: 'fault.counter', cacheTtlMs: 0 })).text).toBe('2');
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s: Server = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('Streamable HTTP servers', () => {
  it('connects to a url server (server-everything in streamableHttp mode) and calls its tools', async () => {
    const port = await freePort();
    const child: ChildProcess = spawn(process.execPath, [npmServer('server-everything'), 'streamableHttp'], { env: { PATH: process.env.PATH, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
    cleanups.push(() => {
      child.kill('SIGKILL');
    });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    await waitFor(() => err.includes('listening'), { what: 'server-everything to listen' });
    const pool = new ToolPool([{ ...nodeSpec('web', []), transport: 'http', command: undefined, url: `http://127.0.0.1:${port}/mcp` }], { log: memoryLog().log });
    cleanups.push(() => pool.stop());
    const r = await pool.call({ tool: 'web.echo', args: { message: 'over http' } });
    expect(r.text).toBe('Echo: over http');
    expect(pool.servers()[0]).toMatchObject({ state: 'ready', transport: 'http', spawns: 1 });
  });

  it('reports an unreachable url server as failed with the reason', async () => {
    const port = await freePort();
    const pool = new ToolPool([{ ...nodeSpec('web', []), transport: 'http', command: undefined, url: `http://127.0.0.1:${port}/mcp` }], { log: memoryLog().log });
    cleanups.push(() => pool.stop());
    const r = await pool.call({ tool: 'web.echo', args: {} });
    expect(r.error).toMatchObject({ code: 'unavailable', retryable: true });
    expect(r.error!.message).toContain('ECONNREFUSED');
  });
});
