import { createHash } from 'node:crypto';
import type { CacheRepo } from '../repos/cache.js';
import type { ResultCache } from './pool.js';
import type { ToolCallResult } from './types.js';

/** JSON with object keys sorted at every level, so `{a,b}` and `{b,a}` are the same arguments. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

/** What names a call's arguments in the cache (repos/cache.ts owns the key around it). */
export function argsDigest(args: Record<string, unknown>): string {
  return createHash('sha256').update(canonicalJson(args)).digest('hex');
}

interface Entry {
  stored_at: number;
  expires_at: number;
  result: ToolCallResult;
}

/**
 * Tool results in the cache repository (repos/cache.ts). Writes are loose (not fsynced): losing a cache
 * entry in a crash only costs a call. Expired entries are deleted when read.
 */
export class ToolResultCache implements ResultCache {
  readonly counts = { hits: 0, misses: 0, writes: 0 };

  constructor(
    private readonly repo: CacheRepo,
    private readonly now: () => number = Date.now,
  ) {}

  async get(server: string, tool: string, args: Record<string, unknown>): Promise<ToolCallResult | undefined> {
    const digest = argsDigest(args);
    const e = await this.repo.get<Entry>(server, tool, digest);
    if (e && e.expires_at > this.now()) {
      this.counts.hits++;
      return { ...e.result, cachedAt: e.stored_at };
    }
    this.counts.misses++;
    if (e) await this.repo.del(server, tool, digest).catch(() => undefined);
    return undefined;
  }

  async put(server: string, tool: string, args: Record<string, unknown>, result: ToolCallResult, ttlMs: number): Promise<void> {
    const t = this.now();
    await this.repo.put(server, tool, argsDigest(args), { stored_at: t, expires_at: t + ttlMs, result } satisfies Entry);
    this.counts.writes++;
  }
}
