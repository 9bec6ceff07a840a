import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Store, StoreLockedError } from '../../src/daemon/store/store.js';

const dirs: string[] = [];
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ops-store-'));
  dirs.push(d);
  return join(d, 'db');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('Store', () => {
  it('groups concurrent commits into fewer synced batches, acknowledging each only after its batch', async () => {
    const s = await Store.open(dir());
    await Promise.all(Array.from({ length: 200 }, (_, i) => s.commit([{ type: 'put', sub: 'runs', key: `r${i}`, value: { i } }])));
    expect(s.stats.commits).toBe(200);
    expect(s.stats.batches).toBeLessThan(200);
    expect((await s.entries('runs')).length).toBe(200);
    await s.close();
  });

  it('writes the same bytes as the sublevels themselves do (its batch skips their per-op normalisation), and refuses an empty value', async () => {
    const d = dir();
    const s = await Store.open(d);
    const values: Record<string, unknown> = { a: { n: 1, text: 'é ✓ "quoted" \u0000' }, b: [1, 'two', { three: 3 }], c: 0, d: 'plain', e: false };
    await s.commit(Object.entries(values).map(([key, value]) => ({ type: 'put' as const, sub: 'runs' as const, key: `store:${key}`, value: value as never })));
    await s.commit([{ type: 'put', sub: 'events', key: 'gone', value: 1 }]);
    await s.commit([{ type: 'del', sub: 'events', key: 'gone' }]);
    // the same values through the public sublevel API, under other keys
    for (const [key, value] of Object.entries(values)) await s.sub('runs').put(`sublevel:${key}`, value as never);
    await expect(s.commit([{ type: 'put', sub: 'runs', key: 'x', value: null as never }])).rejects.toThrow(/cannot be null/);
    // refused alone: the store still writes
    await s.commit([{ type: 'put', sub: 'runs', key: 'after', value: 1 }]);
    expect(s.unwritable).toBeNull();
    await s.close();
    // raw keys and bytes at the root, no encodings: both ways wrote the same
    const { Level } = await import('level');
    const raw = new Level<string, string>(d, { valueEncoding: 'utf8' });
    const rows = Object.fromEntries(await raw.iterator().all());
    await raw.close();
    for (const [key, value] of Object.entries(values)) {
      expect(rows[`!runs!store:${key}`]).toBe(rows[`!runs!sublevel:${key}`]);
      expect(JSON.parse(rows[`!runs!store:${key}`])).toEqual(value);
    }
    expect(Object.keys(rows).some((k) => k.startsWith('!events!'))).toBe(false);
    expect(rows['!runs!x']).toBeUndefined();
  });

  it('writes the audit entry in the same batch as the change', async () => {
    const s = await Store.open(dir());
    await s.commit([{ type: 'put', sub: 'memory', key: 'k', value: 1 }], { actor: 'cli:me', action: 'memory.set', target: 'memory:k' });
    const audit = await s.entries<{ actor: string; action: string }>('audit');
    expect(audit).toHaveLength(1);
    expect(audit[0][1]).toMatchObject({ actor: 'cli:me', action: 'memory.set' });
    expect(s.stats.batches).toBe(1);
    await s.close();
  });

  it('a second handle on the same store is refused as locked', async () => {
    const d = dir();
    const s = await Store.open(d);
    await expect(Store.open(d)).rejects.toBeInstanceOf(StoreLockedError);
    await s.close();
    const again = await Store.open(d);
    await again.close();
  });

  it('refuses commits after close instead of losing them silently', async () => {
    const s = await Store.open(dir());
    await s.close();
    await expect(s.commit([{ type: 'put', sub: 'runs', key: 'x', value: 1 }])).rejects.toMatchObject({ code: 'unavailable' });
  });
});
