/**
 * One model call's lifeline: a fetch that (a) aborts after `idleMs` without a byte (a hung server
 * or a stalled stream), (b) follows the caller's and the gateway's cancel signals, and (c) checks
 * every NDJSON line, because the official Ollama client skips malformed lines with a console
 * warning and turns `{"error"}` lines into a plain Error: we record what really happened so the
 * failure gets the right code.
 */
export class CallWatch {
  readonly controller = new AbortController();
  /** Set when the idle timer fired. */
  timedOut = false;
  /** Set when a cancel signal (caller or gateway stop) fired; holds its reason. */
  cancelled: { reason: unknown } | null = null;
  /** The first line of an NDJSON body that was not JSON. */
  malformedLine: string | null = null;
  /** The message of an `{"error": ...}` line in an NDJSON body (HTTP 200, failure mid-stream). */
  errorLine: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** The response body was read to its end: nothing is left to cut off. */
  private bodyDone = false;
  private readonly detach: Array<() => void> = [];

  constructor(
    readonly idleMs: number,
    signals: Array<AbortSignal | undefined>,
  ) {
    for (const s of signals) {
      if (!s) continue;
      if (s.aborted) {
        this.cancel(s.reason);
        continue;
      }
      const onAbort = () => this.cancel(s.reason);
      s.addEventListener('abort', onAbort, { once: true });
      this.detach.push(() => s.removeEventListener('abort', onAbort));
    }
    this.touch();
  }

  private cancel(reason: unknown): void {
    if (this.controller.signal.aborted) return;
    this.cancelled = { reason };
    this.clearTimer();
    this.controller.abort(reason);
  }

  /** Restarts the idle timer: called on the response head and on every body chunk. */
  touch(): void {
    if (this.controller.signal.aborted) return;
    // one timer per call, re-armed in place: a streamed answer touches it on every chunk
    if (this.timer) {
      this.timer.refresh();
      return;
    }
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(new Error(`no response for ${this.idleMs} ms`));
    }, this.idleMs);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Ends the watch: stops the timer and aborts the connection if the body was not read to its end. */
  dispose(): void {
    this.clearTimer();
    for (const d of this.detach.splice(0)) d();
    // aborting a finished request costs as much as a small call; only a body left unread needs it
    if (!this.bodyDone && !this.controller.signal.aborted) this.controller.abort(new Error('call finished'));
  }

  /** A fetch for the official client (`new Ollama({ fetch })`) or our own requests. */
  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    // the client's own signal (its abort()) is forwarded to ours: AbortSignal.any is slow on Node 20
    const outer = init?.signal;
    if (outer) {
      if (outer.aborted) this.cancel(outer.reason);
      else {
        const onAbort = (): void => this.cancel(outer.reason);
        outer.addEventListener('abort', onAbort, { once: true });
        this.detach.push(() => outer.removeEventListener('abort', onAbort));
      }
    }
    const res = await fetch(input, { ...init, signal: this.controller.signal });
    this.touch();
    if (!res.body || res.status === 204 || res.status === 304) return res;
    const ndjson = (res.headers.get('content-type') ?? '').includes('ndjson');
    const decoder = new TextDecoder();
    let pending = '';
    const inspect = (line: string): Error | null => {
      if (!line.trim()) return null;
      try {
        const obj = JSON.parse(line) as { error?: unknown };
        if (obj && typeof obj === 'object' && 'error' in obj && this.errorLine === null) this.errorLine = String(obj.error);
        return null;
      } catch {
        this.malformedLine = line.length > 200 ? `${line.slice(0, 200)}...` : line;
        return new Error(`malformed JSON line in the response stream: ${this.malformedLine}`);
      }
    };
    const watched = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform: (chunk, ctl) => {
          this.touch();
          if (ndjson) {
            pending += decoder.decode(chunk, { stream: true });
            const lines = pending.split('\n');
            pending = lines.pop() ?? '';
            for (const line of lines) {
              const bad = inspect(line);
              if (bad) return ctl.error(bad);
            }
          }
          ctl.enqueue(chunk);
        },
        flush: (ctl) => {
          this.bodyDone = true;
          if (!ndjson) return;
          const bad = inspect(pending + decoder.decode());
          if (bad) ctl.error(bad);
        },
      }),
    );
    return new Response(watched, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}
