import type { CallRecord } from './types.js';

export interface ToolStat {
  tool: string;
  calls: number;
  ok: number;
  is_error: number;
  failed: number;
  cached: number;
  total_ms: number;
  max_ms: number;
  bytes: number;
  last_at: string | null;
}

/** Per-tool aggregates plus the most recent calls, in memory; the service persists the aggregates. */
export class CallStats {
  private readonly byTool = new Map<string, ToolStat>();
  private readonly recentRing: CallRecord[] = [];

  constructor(private readonly keep = 200) {}

  load(saved: ToolStat[] | undefined): void {
    for (const s of saved ?? []) this.byTool.set(s.tool, { ...s });
  }

  add(r: CallRecord): void {
    const name = `${r.server}.${r.tool}`;
    let s = this.byTool.get(name);
    if (!s) {
      s = { tool: name, calls: 0, ok: 0, is_error: 0, failed: 0, cached: 0, total_ms: 0, max_ms: 0, bytes: 0, last_at: null };
      this.byTool.set(name, s);
    }
    s.calls++;
    if (r.ok) s.ok++;
    if (r.isError) s.is_error++;
    if (r.error) s.failed++;
    if (r.cached) s.cached++;
    s.total_ms += r.durationMs;
    s.max_ms = Math.max(s.max_ms, r.durationMs);
    s.bytes += r.bytes;
    s.last_at = r.at;
    this.recentRing.push(r);
    if (this.recentRing.length > this.keep) this.recentRing.shift();
  }

  tools(): ToolStat[] {
    return [...this.byTool.values()].sort((a, b) => a.tool.localeCompare(b.tool));
  }

  recent(limit = 50): CallRecord[] {
    return this.recentRing.slice(-limit);
  }
}
