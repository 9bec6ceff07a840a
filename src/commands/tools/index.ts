import { Flags } from '../../cli/oclif.js';
import { BaseCommand } from '../../cli/base-command.js';
import { table } from '../../ui/format.js';

export default class Tools extends BaseCommand {
  static override description = 'List MCP servers (ready / starting / failed with the reason) and their tools. --json includes input schemas.';
  static override examples = ['<%= config.bin %> tools', '<%= config.bin %> tools --server ops', '<%= config.bin %> tools --json'];
  static override flags = {
    server: Flags.string({ description: 'only this server' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Tools);
    const client = await this.client();
    const res = await client.request('tools.list', {});
    const servers = flags.server ? res.servers.filter((s) => s.name === flags.server) : res.servers;
    if (flags.server && servers.length === 0) throw new Error(`no MCP server "${flags.server}" (known: ${res.servers.map((s) => s.name).join(', ')})`);
    const tools = res.tools.filter((t) => servers.some((s) => s.name === t.server));
    this.emit({ servers, tools }, () => {
      const out: string[] = [];
      out.push(table(['SERVER', 'STATE', 'TOOLS', 'TRANSPORT', 'DETAIL'], servers.map((s) => [s.name, s.state, s.state === 'ready' ? s.tools : '-', s.transport, s.reason ?? (s.builtin ? 'built in' : s.source)])));
      for (const s of servers) {
        const own = tools.filter((t) => t.server === s.name);
        if (own.length === 0) continue;
        out.push('', `${s.name}:`);
        for (const t of own) {
          const props = Object.keys((t.input_schema.properties as Record<string, unknown> | undefined) ?? {});
          const flagsText = [t.destructive ? 'destructive' : '', t.annotations.readOnlyHint ? 'read-only' : ''].filter(Boolean).join(', ');
          out.push(`  ${t.name}(${props.join(', ')})${flagsText ? ` [${flagsText}]` : ''}${t.description ? `  ${firstLine(t.description)}` : ''}`);
        }
      }
      return out.join('\n');
    });
  }
}

function firstLine(s: string): string {
  const line = s.split('\n')[0];
  return line.length > 100 ? `${line.slice(0, 97)}...` : line;
}
