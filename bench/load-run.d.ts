// Types of bench/load-run.js for test/integration/load-small.test.ts.
export interface LoadOptions {
  home: string;
  env: NodeJS.ProcessEnv;
  slack: { appToken: string; botToken: string; apiUrl: string; waitForConnection(n: number, timeoutMs?: number): Promise<unknown> };
  waiting: number;
  clients: number;
  starts: number;
  log?: (msg: string) => void;
}

export interface LoadResult {
  attempted: number;
  acked: number;
  /** Ack latencies of the acknowledged starts, sorted, ms. */
  ackMs: number[];
  errors: string[];
  /** Acknowledged run ids missing from the store after the daemon stopped. */
  startedLost: string[];
  /** Waiting runs missing from the store (or no longer active) after the daemon stopped. */
  waitingLost: number;
  waitingBefore: number;
  /** Acknowledged runs in the store that are not waiting on their timer (`id:status`). */
  notWaiting: string[];
  slackState: string;
  loadSeconds: number;
}

export function runLoad(o: LoadOptions): Promise<LoadResult>;
