import { LlmError } from './errors.js';

/**
 * At most `limit` holders at once, the rest wait in arrival order. One per model: Ollama serves
 * OLLAMA_NUM_PARALLEL (default 1) requests per model and answers 503 when its own queue is full,
 * so we queue here, where a waiting call costs nothing and can be cancelled.
 */
export class FifoLimiter {
  private active = 0;
  private readonly waiting: Array<{ grant: () => void; fail: (e: unknown) => void }> = [];

  constructor(private readonly limit: number) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves with a release function (call it exactly once); rejects with 'aborted' if `signal` fires first. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const release = once(() => {
      this.active--;
      const next = this.waiting.shift();
      if (next) next.grant();
    });
    if (this.active < this.limit && this.waiting.length === 0) {
      this.active++;
      return Promise.resolve(release);
    }
    return new Promise((resolve, reject) => {
      const entry = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          this.active++;
          resolve(release);
        },
        fail: reject,
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(abortError(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  /** Fails every waiter (on stop). */
  rejectAll(e: unknown): void {
    for (const w of this.waiting.splice(0)) w.fail(e);
  }
}

function once(fn: () => void): () => void {
  let called = false;
  return () => {
    if (called) return;
    called = true;
    fn();
  };
}

function abortError(signal: AbortSignal): unknown {
  const reason: unknown = signal.reason;
  if (reason instanceof LlmError) return reason;
  return new LlmError({ code: 'aborted', message: 'the model call was cancelled while waiting for its turn', retryable: false });
}
