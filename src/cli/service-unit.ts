import { homedir } from 'node:os';
import { join } from 'node:path';
import { LocalError } from '../client/errors.js';

/** Where `daemon install` writes the per-user service and how it is switched on and off. */
export interface ServiceTarget {
  kind: 'systemd' | 'launchd';
  file: string;
  enable: string;
  /** argv lists run by `daemon uninstall` before the file is removed (best effort). */
  disable: string[][];
  /** Run after the file is removed. */
  after: string[][];
}

export function serviceTarget(env: NodeJS.ProcessEnv = process.env, platform = process.platform): ServiceTarget {
  if (platform === 'linux') {
    return {
      kind: 'systemd',
      file: join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config'), 'systemd', 'user', 'opstream.service'),
      enable: 'systemctl --user daemon-reload && systemctl --user enable --now opstream.service',
      disable: [['systemctl', '--user', 'disable', '--now', 'opstream.service']],
      after: [['systemctl', '--user', 'daemon-reload']],
    };
  }
  if (platform === 'darwin') {
    const file = join(env.HOME || homedir(), 'Library', 'LaunchAgents', 'dev.opstream.daemon.plist');
    return { kind: 'launchd', file, enable: `launchctl load -w ${file}`, disable: [['launchctl', 'unload', '-w', file]], after: [] };
  }
  throw new LocalError(`daemon install supports Linux (systemd) and macOS (launchd), not ${platform}`);
}
