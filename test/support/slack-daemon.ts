import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, type RunningDaemon } from '../../src/daemon/main.js';
import type { RunJson } from '../../src/protocol/index.js';
import { tempHome, waitFor, type TempHome } from './home.js';
import { startSlackLoopback, type LoopbackMessage, type SlackLoopback, type SlackLoopbackOptions } from './slack-loopback.js';

/**
 * A real daemon (in this process, or as a child for kill -9 tests) wired to a loopback Slack.
 * People: alice (admin), bob (operator), vic (viewer), eve (a stranger: default_role none).
 * Channels: #ops-alerts (default), #incidents (critical), #general.
 */
export const PEOPLE = {
  alice: 'U0ALICE',
  bob: 'U0BOB',
  vic: 'U0VIC',
  eve: 'U0EVE',
} as const;

export const LOOPBACK_OPTS: SlackLoopbackOptions = {
  channels: [
    { id: 'C0OPSALERTS', name: 'ops-alerts' },
    { id: 'C0INCIDENTS', name: 'incidents' },
    { id: 'C0GENERAL', name: 'general' },
    { id: 'D0BOB', user: 'U0BOB' },
  ],
  users: [
    { id: 'U0ALICE', name: 'alice', real_name: 'Alice Example', tz: 'Europe/Berlin', tz_offset: 3600 },
    { id: 'U0BOB', name: 'bob', real_name: 'Bob Example', tz: 'America/New_York', tz_offset: -18000 },
    { id: 'U0VIC', name: 'vic', tz: 'UTC', tz_offset: 0 },
    { id: 'U0EVE', name: 'eve', tz: 'UTC', tz_offset: 0 },
  ],
};

export interface SlackSetup {
  h: TempHome;
  lb: SlackLoopback;
  /** Set when started in-process. */
  d: RunningDaemon | null;
  close(): Promise<void>;
}

/** The `slack:` section for this loopback; `extra` lines are appended inside it (indented by two). */
export function slackConfig(lb: SlackLoopback, extra: string[] = [], top = ''): string {
  return [
    'notify:',
    '  desktop: off',
    'slack:',
    `  app_token: "${lb.appToken}"`,
    `  bot_token: "${lb.botToken}"`,
    `  api_url: "${lb.apiUrl}"`,
    '  channels: { default: "#ops-alerts", critical: "#incidents" }',
    '  users: { U0ALICE: admin, U0BOB: operator, U0VIC: viewer }',
    '  default_role: none',
    // low timeouts keep reconnect tests short; 2 s pongs survive a busy 2-core box
    '  ping_timeout: 2s',
    '  idle_timeout: 6s',
    '  post_interval: 20ms',
    '  update_interval: 50ms',
    ...extra.map((l) => `  ${l}`),
    top,
  ].join('\n');
}

export function writeWorkflows(h: TempHome, files: Record<string, string>): void {
  mkdirSync(join(h.home, 'workflows'), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(h.home, 'workflows', name), text);
}

export interface SetupOptions {
  lb?: SlackLoopbackOptions;
  /** Extra lines inside `slack:`. */
  slack?: string[];
  /** Replaces the whole config (gets the loopback). */
  config?: (lb: SlackLoopback) => string;
  workflows?: Record<string, string>;
  /** Start the daemon in this process (default) or leave it to the CLI (child process). */
  inProcess?: boolean;
}

export async function setupSlack(o: SetupOptions = {}): Promise<SlackSetup> {
  const lb = await startSlackLoopback({ ...LOOPBACK_OPTS, ...o.lb });
  const h = tempHome('ops-sl-');
  h.env.OPSTREAM_ENGINE_FAULTS = '1';
  writeFileSync(join(h.home, 'config.yaml'), o.config ? o.config(lb) : slackConfig(lb, o.slack));
  writeWorkflows(h, o.workflows ?? {});
  let d: RunningDaemon | null = null;
  if (o.inProcess !== false) {
    const out = await startDaemon(h.env);
    if (out.kind !== 'started') throw new Error('a daemon is already running in this home');
    d = out.daemon;
  }
  const setup: SlackSetup = {
    h,
    lb,
    d,
    async close() {
      // the daemon first (its Socket Mode client), then Slack, then the home; `d` may have been
      // replaced by a restart. Never leave an in-process daemon's pid file for cleanup(): it would
      // signal this very process.
      await setup.d?.stop();
      await h.cleanup();
      await lb.close();
    },
  };
  return setup;
}

/** Until the bridge says it is connected (and the loopback has said hello). */
export async function connected(s: SlackSetup, nth = 1): Promise<void> {
  await s.lb.waitForConnection(nth, 30_000);
  if (s.d) await waitFor(() => s.d?.ctx.slack?.status().state === 'connected', { what: 'the bridge to be connected', timeoutMs: 30_000 });
}

export async function runOf(s: SlackSetup, id: string): Promise<RunJson> {
  if (!s.d) throw new Error('in-process only');
  return s.d.ctx.engine.get(id);
}

export async function waitRunStatus(s: SlackSetup, id: string, ok: (r: RunJson) => boolean, what: string, timeoutMs = 60_000): Promise<RunJson> {
  return waitFor(
    async () => {
      const r = await runOf(s, id);
      return ok(r) ? r : null;
    },
    { what, timeoutMs },
  );
}

/** A top-level message (a thread parent carries its own ts as thread_ts once it has replies). */
export function isTop(m: Pick<LoopbackMessage, 'ts' | 'thread_ts'>): boolean {
  return !m.thread_ts || m.thread_ts === m.ts;
}

/** All the text a message shows (blocks, with button labels and values). */
export function shown(m: Pick<LoopbackMessage, 'text' | 'blocks'>): string {
  return JSON.stringify(m.blocks ?? []) + m.text;
}

/** The value of the button with this action_id in a message. */
export function buttonValue(m: LoopbackMessage, actionId: string): string {
  for (const b of m.blocks ?? []) {
    for (const e of ((b as { elements?: { action_id?: string; value?: string }[] }).elements ?? [])) if (e.action_id === actionId && e.value) return e.value;
  }
  throw new Error(`no ${actionId} button in ${shown(m)}`);
}

export function hasButton(m: LoopbackMessage, actionId: string): boolean {
  return (m.blocks ?? []).some((b) => ((b as { elements?: { action_id?: string }[] }).elements ?? []).some((e) => e.action_id === actionId));
}
