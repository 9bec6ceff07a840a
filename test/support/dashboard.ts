import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, waitFor, type TempHome } from './home.js';

export const DASH_FIXTURES = join(ROOT, 'test', 'fixtures', 'dashboard');

/** Copies the dashboard fixture workflows (gate, ticker) into a home's workflows dir. */
export function installDashboardWorkflows(h: TempHome, names = ['gate.yaml', 'ticker.yaml']): void {
  mkdirSync(join(h.home, 'workflows'), { recursive: true });
  for (const n of names) copyFileSync(join(DASH_FIXTURES, n), join(h.home, 'workflows', n));
}

/** Ink decides at import time whether it runs in CI (then it only writes a last frame): a terminal test is not CI. */
export function notInCi(): void {
  for (const k of ['CI', 'CONTINUOUS_INTEGRATION']) delete process.env[k];
}

/** Key sequences as a terminal sends them. */
export const KEY = { up: '\u001b[A', down: '\u001b[B', enter: '\r', escape: '\u001b', backspace: '\u007f' } as const;

/** The Ink dashboard on a real daemon's socket, rendered by ink-testing-library (100 columns). */
export interface MountedDashboard {
  frame(): string;
  press(key: string): void;
  /** The terminal becomes `columns` wide (a resize event, as a real terminal sends). */
  resize(columns: number): void;
  /** Waits until the screen shows every one of `texts` (the screen is all a user sees); returns it. */
  screen(texts: (string | RegExp)[], what: string, timeoutMs?: number): Promise<string>;
  stop(): void;
}

/**
 * Mounts the dashboard against the daemon of `env`. Ink, React and the components are imported
 * here, lazily: Ink reads CI at import time, so the test file calls notInCi() first.
 */
export async function mountDashboard(env: NodeJS.ProcessEnv, opts: { tickMs?: number } = {}): Promise<MountedDashboard> {
  const ink = await import('ink-testing-library');
  const dash = await import('../../src/ui/dashboard/index.js');
  const react = await import('react');
  const feed = new dash.DashboardFeed({ env, autoStart: false });
  await feed.start();
  const app = ink.render(react.createElement(dash.App, { feed, tickMs: opts.tickMs ?? 200 }));
  const frame = (): string => app.lastFrame() ?? '';
  return {
    frame,
    press: (key) => app.stdin.write(key),
    resize(columns) {
      Object.defineProperty(app.stdout, 'columns', { value: columns, configurable: true });
      app.stdout.emit('resize');
    },
    async screen(texts, what, timeoutMs = 30_000) {
      const shown = (): boolean => texts.every((t) => (typeof t === 'string' ? frame().includes(t) : t.test(frame())));
      try {
        return await waitFor(() => (shown() ? frame() : null), { what, timeoutMs });
      } catch (e) {
        throw new Error(`${(e as Error).message}; the screen:\n${frame()}`);
      }
    },
    stop() {
      app.unmount();
      feed.close();
    },
  };
}
