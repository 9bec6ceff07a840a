import { EventEmitter } from 'node:events';

export type BusListener = (event: string, data: unknown) => void;

/**
 * In-process pub/sub from services to socket subscriptions. Topics are coarse (`runs`, `tools`,
 * `notifications`); a filter of string fields narrows what one subscriber sees (e.g. `{ run_id }`).
 */
export class Bus {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  publish(topic: string, event: string, data: Record<string, unknown>): void {
    this.emitter.emit(topic, event, data);
  }

  /** Whether anyone listens to the topic now (work only a listener needs can be skipped). */
  has(topic: string): boolean {
    return this.emitter.listenerCount(topic) > 0;
  }

  subscribe(topic: string, filter: Record<string, string> | undefined, fn: BusListener): () => void {
    const listener = (event: string, data: Record<string, unknown>): void => {
      if (filter) for (const [k, v] of Object.entries(filter)) if (String(data[k]) !== v) return;
      fn(event, data);
    };
    this.emitter.on(topic, listener);
    return () => this.emitter.off(topic, listener);
  }
}
