import { Command, Flags } from '@oclif/core';
import { DaemonClient, type ConnectOptions } from '../client/client.js';
import { LocalError } from '../client/errors.js';
import { ConfigError } from '../config/load.js';
import { isWireError } from '../protocol/index.js';

/**
 * Every command: a `--json` flag, a lazily opened daemon connection, and failures reported as one
 * line on stderr with a non-zero exit (config problems list one line each, with file and line).
 */
export abstract class BaseCommand extends Command {
  static override baseFlags = {
    json: Flags.boolean({ description: 'Print machine-readable JSON on stdout (and nothing else there).' }),
  };

  private daemonClient?: DaemonClient;

  protected get jsonMode(): boolean {
    return this.argv.includes('--json');
  }

  protected async client(opts: ConnectOptions = {}): Promise<DaemonClient> {
    this.daemonClient ??= await DaemonClient.connect(opts);
    return this.daemonClient;
  }

  /** Human text, or the data as JSON under --json. */
  protected emit(data: unknown, human: () => string): void {
    if (this.jsonMode) process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
    else {
      const text = human();
      if (text) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    }
  }

  protected override async catch(err: Error & { oclif?: { exit?: number } }): Promise<void> {
    let exit = 1;
    let message: string;
    if (err instanceof ConfigError) {
      message = `config has ${err.problems.length} problem(s):\n${err.message}`;
    } else if (isWireError(err)) {
      message = err.message;
      if (err.code === 'invalid_params' || err.code === 'not_found') exit = 1;
    } else if (err instanceof LocalError) {
      message = err.message;
      exit = err.opts.exitCode ?? 1;
    } else if (err.oclif?.exit !== undefined) {
      // oclif parse errors (unknown flag, missing arg): usage problems. The command did call
      // parse; marking it keeps oclif from adding a misleading "did not parse" warning.
      this.parsed = true;
      exit = err.oclif.exit === 0 ? 0 : 2;
      message = err.message.split('\n')[0];
    } else {
      message = err.message;
    }
    if (exit !== 0) process.stderr.write(`opstream: ${err instanceof ConfigError ? message : message.split('\n')[0]}\n`);
    process.exitCode = exit;
  }

  protected override async finally(err: Error | undefined): Promise<void> {
    this.daemonClient?.close();
    await super.finally(err);
  }
}
