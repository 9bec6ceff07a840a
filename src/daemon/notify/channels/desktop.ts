import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Channel, DeliveryResult, Notification } from '../types.js';

/** The OS command that shows a notification here, or null when there is none. */
export function desktopCommand(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string | null {
  const name = platform === 'darwin' ? 'osascript' : platform === 'linux' ? 'notify-send' : null;
  if (!name) return null;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}

/** A desktop session is there to show notifications (a headless server or CI has none). */
export function hasDesktopSession(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): boolean {
  if (platform === 'darwin') return !env.SSH_CONNECTION || Boolean(env.TERM_PROGRAM);
  if (platform === 'linux') return Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
  return false;
}

/** Title as the user sees it first: critical notifications and approvals say so up front. */
export function desktopTitle(n: Notification): string {
  if (n.kind === 'approval') return `OpStream: approval needed: ${n.title}`;
  if (n.kind === 'input') return `OpStream: answer needed: ${n.title}`;
  if (n.level === 'critical') return `OpStream: CRITICAL: ${n.title}`;
  return `OpStream: ${n.title}`;
}

/**
 * OS notifications through the OS's own command (notify-send on Linux, osascript on macOS), run
 * without a shell. The command exiting 0 is the confirmation; a desktop without a notification
 * server makes notify-send fail, which is retried a few times and then recorded as failed.
 */
export class DesktopChannel implements Channel {
  readonly name = 'desktop';
  readonly timeoutMs = 10_000;
  readonly maxAttempts = 3;

  constructor(
    private readonly command: string | null,
    private readonly platform: NodeJS.Platform = process.platform,
  ) {}

  /** Each notification stands alone: one that fails to show does not hold up the next. */
  orderKey(n: Notification): string {
    return n.id;
  }

  describe(): { kind: string; target: string | null } {
    return { kind: 'desktop', target: this.command };
  }

  deliver(n: Notification, signal: AbortSignal): Promise<DeliveryResult> {
    if (!this.command) {
      const what = this.platform === 'darwin' ? 'osascript' : 'notify-send (Debian/Ubuntu: apt install libnotify-bin)';
      return Promise.resolve({ kind: 'failed', error: `no ${what} on PATH; set notify.desktop: off to stop trying` });
    }
    const title = desktopTitle(n);
    const body = n.text.length > 1000 ? `${n.text.slice(0, 1000)}…` : n.text;
    const args =
      this.platform === 'darwin'
        ? ['-e', 'on run argv', '-e', 'display notification (item 2 of argv) with title (item 1 of argv)', '-e', 'end run', title, body]
        : ['--app-name=OpStream', `--urgency=${n.level === 'critical' ? 'critical' : n.level === 'warning' ? 'normal' : 'low'}`, title, body];
    return new Promise((resolve) => {
      execFile(this.command!, args, { signal, timeout: this.timeoutMs, maxBuffer: 64 * 1024 }, (err, _stdout, stderr) => {
        if (!err) return resolve({ kind: 'delivered', receipt: `${this.platform === 'darwin' ? 'osascript' : 'notify-send'} exit 0` });
        const why = String(stderr || err.message).trim().split('\n')[0].slice(0, 300);
        resolve({ kind: 'retry', error: `${this.command} failed: ${why}` });
      });
    });
  }
}
