import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, type TempHome } from './home.js';

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
