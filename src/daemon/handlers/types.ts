import type { MethodName, Params, Result } from '../../protocol/index.js';
import type { DaemonContext } from '../context.js';

/** Per-request facts a handler may need beyond its params. */
export interface RequestScope {
  ctx: DaemonContext;
  /** Who asked, for audit entries: `cli:alice`, `slack:U0123`. */
  actor: string;
  /** Starts pushing bus events on this connection; returns the subscription id. */
  subscribe(topic: string, filter: Record<string, string> | undefined): string;
  unsubscribe(sub: string): boolean;
  /** `runs.watch`: replays the feed after `cursor` (when given), then streams it live on this connection. */
  watch(cursor: number | undefined): Promise<{ sub: string; cursor: number }>;
}

export type Handler<M extends MethodName> = (params: Params<M>, scope: RequestScope) => Promise<Result<M>> | Result<M>;
export type HandlersFor<K extends MethodName> = { [M in K]: Handler<M> };
