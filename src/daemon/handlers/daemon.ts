import { PACKAGE_VERSION, PROTOCOL_VERSION, WireError, type daemonMethods } from '../../protocol/index.js';
import { listAudit } from '../audit.js';
import { memoryOps } from '../repos/memory.js';
import type { HandlersFor } from './types.js';

function activeCount(counts: Record<string, number>): number {
  return (counts.queued ?? 0) + (counts.running ?? 0) + (counts.waiting ?? 0) + (counts.paused ?? 0);
}

export const daemonHandlers: HandlersFor<keyof typeof daemonMethods> = {
  async hello(_p, { ctx }) {
    return {
      protocol: PROTOCOL_VERSION,
      version: PACKAGE_VERSION,
      pid: process.pid,
      started_at: ctx.startedAt.toISOString(),
      active_runs: activeCount(await ctx.runCounts()),
    };
  },

  ping: () => ({ t: Date.now() }),

  async 'daemon.status'(_p, { ctx }) {
    return {
      pid: process.pid,
      version: PACKAGE_VERSION,
      protocol: PROTOCOL_VERSION,
      started_at: ctx.startedAt.toISOString(),
      uptime_ms: Date.now() - ctx.startedAt.getTime(),
      socket: ctx.paths.socket,
      data_dir: ctx.paths.dataDir,
      log_file: ctx.paths.logFile,
      config_file: ctx.config.files[0] ?? null,
      runs: await ctx.runCounts(),
      slack: ctx.slack ? ctx.slack.status() : { state: 'off' as const, last_message_at: null, reconnects: 0 },
      discord: ctx.discord ? ctx.discord.status() : { state: 'off' as const, error: null, reconnects: 0, last_dispatch_at: null, bot_user: null, application_id: null, guild_id: null, channel: null, command_registered: false },
      workers: ctx.engine.workerFigures,
      ...(ctx.team ? { team: await ctx.team.status() } : {}),
    };
  },

  async 'daemon.shutdown'(p, { ctx, actor }) {
    // a store that cannot write must not keep the daemon from stopping: the audit entry is then
    // only logged (shutdown writes nothing else; what was acknowledged is already on disk)
    await ctx.store.commit([], { actor, action: 'daemon.shutdown', target: `pid:${process.pid}` }).catch((err: unknown) => {
      if ((err as { code?: string }).code !== 'store_unwritable') throw err;
      ctx.log.warn({ actor, err: (err as Error).message }, 'daemon.shutdown not audited: the store cannot write');
    });
    ctx.requestShutdown(p.reason ?? `requested by ${actor}`);
    return { stopping: true as const };
  },

  subscribe(p, scope) {
    return { sub: scope.subscribe(p.topic, p.filter) };
  },

  unsubscribe(p, scope) {
    if (!scope.unsubscribe(p.sub)) throw new WireError('not_found', `no subscription ${p.sub} on this connection`);
    return { ok: true as const };
  },

  async 'memory.get'(p, { ctx }) {
    const e = await ctx.repos.memory.user(p.key);
    return { key: p.key, value: e?.value ?? null, updated_at: e?.updated_at ?? null };
  },

  async 'memory.set'(p, { ctx, actor }) {
    const updated_at = new Date().toISOString();
    await ctx.store.commit([memoryOps.user(p.key, { value: p.value ?? null, updated_at })], { actor, action: 'memory.set', target: `memory:${p.key}` });
    return { key: p.key, updated_at };
  },

  async 'memory.delete'(p, { ctx, actor }) {
    const existed = (await ctx.repos.memory.user(p.key)) !== undefined;
    if (existed) await ctx.store.commit([memoryOps.delUser(p.key)], { actor, action: 'memory.delete', target: `memory:${p.key}` });
    return { deleted: existed };
  },

  async 'memory.list'(p, { ctx }) {
    const rows = await ctx.repos.memory.users(p.prefix, p.limit);
    return { items: rows.map(([key, e]) => ({ key, value: e.value, updated_at: e.updated_at })) };
  },

  'audit.list': (p, { ctx }) => listAudit(ctx, p),
};
