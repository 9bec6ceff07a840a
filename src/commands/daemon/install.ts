import { Flags } from '../../cli/oclif.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BaseCommand } from '../../cli/base-command.js';
import { serviceTarget } from '../../cli/service-unit.js';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'run.js');

function systemdUnit(env: NodeJS.ProcessEnv): string {
  const home = env.OPSTREAM_HOME ? `Environment=OPSTREAM_HOME=${env.OPSTREAM_HOME}\n` : '';
  return `[Unit]
Description=OpStream daemon (durable background workflows)

[Service]
Type=simple
ExecStart=${process.execPath} ${BIN} daemon start --foreground
${home}Restart=on-failure
RestartSec=2
# SIGTERM lets the daemon close its store and remove its socket
KillSignal=SIGTERM

[Install]
WantedBy=default.target
`;
}

function launchdPlist(env: NodeJS.ProcessEnv): string {
  const home = env.OPSTREAM_HOME ? `<key>EnvironmentVariables</key><dict><key>OPSTREAM_HOME</key><string>${env.OPSTREAM_HOME}</string></dict>` : '';
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>Label</key><string>dev.opstream.daemon</string>
<key>ProgramArguments</key><array><string>${process.execPath}</string><string>${BIN}</string><string>daemon</string><string>start</string><string>--foreground</string></array>
${home}<key>RunAtLoad</key><true/>
<key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>
</dict></plist>
`;
}

export default class DaemonInstall extends BaseCommand {
  static override description = 'Install a per-user service (systemd user unit or launchd agent) that starts the daemon at login.';
  static override flags = {
    print: Flags.boolean({ description: 'Print the unit file instead of writing it.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DaemonInstall);
    const env = process.env;
    const target = serviceTarget(env);
    const { file, enable } = target;
    const text = target.kind === 'systemd' ? systemdUnit(env) : launchdPlist(env);
    if (flags.print) {
      this.emit({ file, content: text }, () => text);
      return;
    }
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text, { mode: 0o644 });
    this.emit({ file, enable }, () => `wrote ${file}\nenable it with: ${enable}`);
  }
}
