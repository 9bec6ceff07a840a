import { BaseCommand } from '../cli/base-command.js';
import { runDoctor, type CheckStatus } from '../cli/doctor.js';
import { LocalError } from '../client/errors.js';

const MARK: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL', skip: 'skip' };

export default class Doctor extends BaseCommand {
  static override description = 'Check Node, the daemon, the config, Slack tokens, the Ollama host and each MCP server.';

  async run(): Promise<void> {
    await this.parse(Doctor);
    const checks = await runDoctor();
    const failed = checks.filter((c) => c.status === 'fail');
    this.emit({ ok: failed.length === 0, checks }, () => checks.map((c) => `${MARK[c.status]}  ${c.name.padEnd(16)} ${c.detail}`).join('\n'));
    if (failed.length > 0) throw new LocalError(`${failed.length} check(s) failed`);
  }
}
