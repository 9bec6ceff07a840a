import type { StepState } from './types.js';

/**
 * A copy-on-write view of a run's step states for one commit. The engine applies a batch's events
 * to a draft of the run and makes the live record that draft only once the batch is on disk (the
 * live record never runs ahead of the store). Copying `steps` per commit made every step cost
 * O(steps in the run), so a long run went quadratic; this view keeps the batch's writes and deletes
 * apart and reads through to the live object, which `apply` updates once the batch is durable.
 *
 * The view behaves as a plain object for everything the reducer and its readers do (get, set,
 * `in`, delete, Object.keys/entries in the order a copied object would have), so they need not
 * know. Keys are step paths (strings); anything else reads as absent.
 */
export interface StepsDraft {
  steps: Record<string, StepState>;
  /** Writes the draft's changes into the live object (after the batch is durable). */
  apply(): void;
}

export function draftSteps(base: Record<string, StepState>): StepsDraft {
  const written = new Map<string, StepState>();
  const removed = new Set<string>();
  // keys that go to the end of the order: new paths, and paths deleted then set again (as in a
  // plain object, where a re-added key moves to the end)
  const appended = new Set<string>();
  const own = (k: string): boolean => Object.hasOwn(base, k);
  const has = (k: string): boolean => written.has(k) || (!removed.has(k) && own(k));
  const get = (k: string): StepState | undefined => (written.has(k) ? written.get(k) : removed.has(k) || !own(k) ? undefined : base[k]);
  const steps = new Proxy({} as Record<string, StepState>, {
    get: (_t, k) => (typeof k === 'string' ? get(k) : undefined),
    has: (_t, k) => typeof k === 'string' && has(k),
    set: (_t, k, v: StepState) => {
      if (typeof k !== 'string') return false;
      if (!has(k)) {
        // a new key, or one deleted in this draft: to the end, like a plain object
        appended.delete(k);
        appended.add(k);
      }
      written.set(k, v);
      return true;
    },
    deleteProperty: (_t, k) => {
      if (typeof k !== 'string') return true;
      written.delete(k);
      appended.delete(k);
      if (own(k)) removed.add(k);
      return true;
    },
    ownKeys: () => {
      const keys: string[] = [];
      for (const k of Object.keys(base)) if (!removed.has(k) && !appended.has(k)) keys.push(k);
      for (const k of appended) keys.push(k);
      return keys;
    },
    getOwnPropertyDescriptor: (_t, k) => (typeof k === 'string' && has(k) ? { value: get(k), writable: true, enumerable: true, configurable: true } : undefined),
    defineProperty: () => false,
  });
  return {
    steps,
    apply(): void {
      for (const k of removed) delete base[k];
      for (const k of appended) delete base[k];
      for (const [k, v] of written) if (!appended.has(k)) base[k] = v;
      for (const k of appended) base[k] = written.get(k)!;
      written.clear();
      removed.clear();
      appended.clear();
    },
  };
}
