import type { KvStore } from '../store/kv.js';
import type { StoreOp } from '../store/store.js';

/** The schedules' storage: `schedules  <workflow id>` -> the schedule's state (engine/scheduler.ts). */
export class SchedulesRepo<S = unknown> {
  constructor(private readonly store: KvStore) {}

  all(): Promise<[string, S][]> {
    return this.store.entries<S>('schedules');
  }

  putOp(workflow: string, state: S): StoreOp {
    return { type: 'put', sub: 'schedules', key: workflow, value: state as never };
  }
}
