import { WireError, type toolsMethods } from '../../protocol/index.js';
import type { HandlersFor } from './types.js';

export const toolsHandlers: HandlersFor<keyof typeof toolsMethods> = {
  async 'tools.list'(_p, { ctx }) {
    const tools = await ctx.tools.list();
    return {
      servers: ctx.tools.servers(),
      tools: tools.map((t) => ({
        name: t.name,
        server: t.server,
        tool: t.tool,
        title: t.title,
        description: t.description,
        input_schema: t.inputSchema,
        output_schema: t.outputSchema,
        annotations: t.annotations as Record<string, unknown>,
        destructive: t.destructive,
        trusted: t.trusted,
      })),
    };
  },

  async 'tools.call'(p, { ctx, actor }) {
    const r = await ctx.tools.call({ tool: p.tool, args: p.args, cacheTtlMs: p.cache_ttl_ms, timeoutMs: p.timeout_ms });
    // A tool that may change the world leaves an audit entry; read-only ones do not change state.
    const info = ctx.tools.get(p.tool);
    if (!r.error && !(info?.annotations.readOnlyHint === true && !info.destructive)) {
      await ctx.store.commit([], { actor, action: 'tools.call', target: `tool:${p.tool}` });
    }
    if (r.error) throw new WireError(r.error.code, r.error.message, { retryable: r.error.retryable });
    return {
      ok: r.ok,
      is_error: r.isError,
      server: r.server,
      tool: r.tool,
      content: r.content,
      structured: r.structured,
      text: r.text,
      duration_ms: r.durationMs,
      bytes: r.bytes,
      cached: r.cached,
      truncated: r.truncated,
    };
  },

  'tools.stats'(p, { ctx }) {
    const svc = ctx.tools;
    return {
      tools: svc.stats.tools(),
      recent: svc.stats.recent(p.recent).map((r) => ({ at: r.at, server: r.server, tool: r.tool, duration_ms: r.durationMs, ok: r.ok, is_error: r.isError, error: r.error, bytes: r.bytes, cached: r.cached })),
      cache: { ...svc.cache.counts },
      servers: svc.servers().map((s) => ({ name: s.name, state: s.state, spawns: s.spawns })),
    };
  },
};
