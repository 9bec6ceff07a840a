// Nothing here may import zod or yaml (see DaemonClient's `validateResults`) nor `@oclif/core`'s
// index (see ./oclif.ts): this module is on the path of every CLI call.
import type { Input, ParserOutput } from '@oclif/core/interfaces';
import { DaemonClient, parseTimeout, type ConnectOptions } from '../client/client.js';
import { LocalError } from '../client/errors.js';
import type { ConfigError } from '../config/load.js';
import { isWireError } from '../protocol/wire-error.js';
import { Command, Flags } from './oclif.js';

// oclif's own FlagOutput / ArgOutput, which its interfaces entry does not export
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type FlagOutput = { [name: string]: any };
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ArgOutput = { [name: string]: any };

/**
 * By name, not instanceof: importing config/load.js (yaml + zod) only to recognise its error would
 * cost every command that import. ConfigError sets `name` and carries `problems`.
 */
function isConfigError(e: unknown): e is ConfigError {
  return e instanceof Error && e.name === 'ConfigError' && Array.isArray((e as { problems?: unknown }).problems);
}

/**
 * Every command: a `--json` flag, a lazily opened daemon connection, and failures reported as one
 * line on stderr with a non-zero exit (config problems list one line each, with file and line).
 */
export abstract class BaseCommand extends Command {
  static override baseFlags = {
    json: Flags.boolean({ description: 'Print machine-readable JSON on stdout (and nothing else there).' }),
    timeout: Flags.string({
      description: 'How long to wait for each answer of the daemon, e.g. 30s or 2m; 0 waits without a limit (default: $OPSTREAM_TIMEOUT, else 30s). Following (--follow, the dashboard) is not limited.',
      helpValue: 'DURATION',
    }),
  };

  private daemonClient?: DaemonClient;
  /** `--timeout` in ms, when given (a command with its own --timeout, such as `tools call`, keeps it). */
  protected timeoutFlagMs?: number;

  protected override async parse<F extends FlagOutput, B extends FlagOutput, A extends ArgOutput>(options?: Input<F, B, A>, argv?: string[]): Promise<ParserOutput<F, B, A>> {
    // Arguments come from the command line only. oclif otherwise reads an absent argument from a
    // stdin that is not a terminal: `opstream status` inside a `while read` loop took the loop's
    // next line as its run id, and a call with an open, silent stdin waited 10 ms for it.
    for (const arg of Object.values((options ?? this.ctor).args ?? {})) arg.ignoreStdin = true;
    const out = await super.parse(options, argv);
    const own = (this.constructor as { flags?: Record<string, unknown> }).flags?.timeout;
    const text = (out.flags as { timeout?: unknown }).timeout;
    if ((own === undefined || own === BaseCommand.baseFlags.timeout) && typeof text === 'string') this.timeoutFlagMs = parseTimeout(text, '--timeout');
    return out;
  }

  protected get jsonMode(): boolean {
    return this.argv.includes('--json');
  }

  protected async client(opts: ConnectOptions = {}): Promise<DaemonClient> {
    if (!this.daemonClient) {
      this.daemonClient = await DaemonClient.connect({ requestTimeoutMs: this.timeoutFlagMs, ...opts });
      // permissions the daemon tightened as it started for this call: said once, on stderr
      for (const notice of this.daemonClient.notices) process.stderr.write(`opstream: ${notice}\n`);
    }
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
    if (isConfigError(err)) {
      message = `config has ${err.problems.length} problem(s):\n${err.message}`;
    } else if (isWireError(err)) {
      message = err.message;
      if (err.code === 'invalid_params' || err.code === 'not_found') exit = 1;
    } else if (err instanceof LocalError) {
      message = err.message;
      exit = err.opts.exitCode ?? 1;
    } else if (err.oclif?.exit !== undefined) {
      // oclif parse errors (unknown flag, missing arg): usage problems, shown whole with the usage
      // line. The command did call parse; marking it keeps oclif from adding a "did not parse" warning.
      this.parsed = true;
      exit = err.oclif.exit === 0 ? 0 : 2;
      if (exit !== 0) {
        process.stderr.write(`${usageProblems(err.message).map((l) => `opstream: ${l}\n`).join('')}Usage: ${this.usageLine()}\n`);
        process.exitCode = exit;
        return;
      }
      message = err.message.split('\n')[0];
    } else {
      message = err.message;
    }
    if (exit !== 0) process.stderr.write(`opstream: ${isConfigError(err) ? message : message.split('\n')[0]}\n`);
    process.exitCode = exit;
  }

  /** `opstream status [ID] [--json]`, from the command's own args and flags. */
  private usageLine(): string {
    const ctor = this.constructor as typeof BaseCommand & { args?: Record<string, { required?: boolean }>; flags?: Record<string, unknown> };
    const args = Object.entries(ctor.args ?? {}).map(([name, a]) => (a.required ? name.toUpperCase() : `[${name.toUpperCase()}]`));
    const flags = Object.keys(ctor.flags ?? {}).length ? ' [FLAGS]' : '';
    return `opstream ${(this.id ?? '').replaceAll(':', ' ')} ${args.join(' ')}${flags} [--json]`.replace(/\s+/g, ' ').trim();
  }

  protected override async finally(err: Error | undefined): Promise<void> {
    this.daemonClient?.close();
    await super.finally(err);
  }
}

/**
 * oclif's parse error text as one readable line per problem. oclif writes a flag's problem on two
 * lines joined by a tab ("Parsing --limit \n\tExpected an integer..."), lists several under "The
 * following errors occurred:", names missing args in a table and ends with "See more help with
 * --help"; people (and scripts reading stderr) get `--limit: expected an integer...` instead.
 */
export function usageProblems(message: string): string[] {
  const lines = message
    .split('\n')
    .map((l) => l.replace(/\s+/g, ' ').trim())
    .filter((l) => l !== '' && !/^See more help with --help$/i.test(l));
  if (lines.length === 0) return ['bad usage'];
  const [head, ...rest] = lines;
  const sentence = (t: string): string => t.charAt(0).toLowerCase() + t.slice(1);
  const parsing = /^Parsing (--?[\w-]+)$/.exec(head);
  if (parsing) return [`${parsing[1]}: ${sentence(rest.join(' ') || 'cannot read its value')}`];
  const missing = /^Missing \d+ required args?:?$/.exec(head);
  if (missing) {
    return rest.map((l) => {
      const [name, ...desc] = l.split(' ');
      return `missing required argument ${name.toUpperCase()}${desc.length ? ` (${desc.join(' ')})` : ''}`;
    });
  }
  if (/^The following errors? occurred:?$/.test(head) && rest.length) return rest.map((l) => l.replace(/^--([\w-]+)=true cannot/, '--$1 cannot'));
  return [lines.join(' ')];
}
