import { Args, Flags } from '../../cli/oclif.js';
import { BaseCommand } from '../../cli/base-command.js';
import { LocalError } from '../../client/errors.js';
import { parseDuration } from '../../config/duration.js';

export default class ToolsCall extends BaseCommand {
  static override description = 'Call one MCP tool through the daemon and print its result (structured content as JSON when the tool gives it).';
  static override examples = [
    `<%= config.bin %> tools call ops.http_probe --args '{"url":"http://127.0.0.1:8080/health","count":20}'`,
    `<%= config.bin %> tools call memory.read_graph --json`,
  ];
  static override args = { tool: Args.string({ description: 'server.tool', required: true }) };
  static override flags = {
    args: Flags.string({ description: 'arguments as a JSON object', default: '{}' }),
    timeout: Flags.string({ description: 'call timeout, e.g. 30s (default: the server\'s)' }),
    cache: Flags.string({ description: 'reuse a cached result up to this old, e.g. 10m' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ToolsCall);
    let parsed: unknown;
    try {
      parsed = JSON.parse(flags.args);
    } catch (e) {
      throw new LocalError(`--args is not valid JSON: ${(e as Error).message}`, { exitCode: 2 });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new LocalError('--args must be a JSON object, e.g. \'{"url":"http://..."}\'', { exitCode: 2 });
    const ms = (flag: string, v: string | undefined): number | undefined => {
      if (v === undefined) return undefined;
      const n = parseDuration(v);
      if (n === null || n === undefined) throw new LocalError(`--${flag} must be a duration such as 30s or 5m`, { exitCode: 2 });
      return n;
    };
    const client = await this.client();
    const r = await client.request('tools.call', { tool: args.tool, args: parsed as Record<string, unknown>, timeout_ms: ms('timeout', flags.timeout), cache_ttl_ms: ms('cache', flags.cache) });
    this.emit(r, () => {
      const body = r.structured !== null && r.structured !== undefined ? JSON.stringify(r.structured, null, 2) : r.text;
      return body || (r.content.length ? JSON.stringify(r.content, null, 2) : '(empty result)');
    });
    if (r.is_error) {
      process.stderr.write(`opstream: ${args.tool} reported an error${this.jsonMode ? `: ${r.text.split('\n')[0]}` : ''}\n`);
      process.exitCode = 1;
    }
  }
}
