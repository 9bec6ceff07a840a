import { render } from 'ink';
import { App } from './App.js';
import { DashboardFeed, type FeedOptions } from './feed.js';

export { DashboardFeed } from './feed.js';
export { DashboardModel } from './model.js';
export { App } from './App.js';

export interface DashboardOptions extends FeedOptions {
  stdout?: NodeJS.WriteStream;
  stdin?: NodeJS.ReadStream;
  /** Use the terminal's alternate screen (restored on quit), as full-screen tools do. */
  altScreen?: boolean;
  /** Called after each frame is drawn, for the benchmark. */
  onRender?: (m: { renderTime: number }) => void;
  maxFps?: number;
}

/**
 * Runs the dashboard until the user quits. Throws (before drawing anything) when the first
 * connection to the daemon fails, so the command reports it as one line.
 */
export async function runDashboard(o: DashboardOptions = {}): Promise<void> {
  const stdout = o.stdout ?? process.stdout;
  const feed = new DashboardFeed(o);
  await feed.start();
  const alt = o.altScreen ?? true;
  if (alt) stdout.write('\u001b[?1049h\u001b[H');
  try {
    const app = render(<App feed={feed} />, { stdout, stdin: o.stdin ?? process.stdin, patchConsole: false, exitOnCtrlC: true, onRender: o.onRender, maxFps: o.maxFps ?? 30 });
    await app.waitUntilExit();
  } finally {
    feed.close();
    if (alt) stdout.write('\u001b[?1049l');
  }
}
