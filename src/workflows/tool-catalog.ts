import type { CompiledConfig } from '../config/load.js';
import { opsTools } from '../ops-server/tools/index.js';

/**
 * The tools a workflow may name, per MCP server, for checking `tool:`, `tools:` and
 * `agent.tools` before anything runs. A server whose tools could not be asked (the daemon is not
 * running, the server failed or is disabled) is known by name only: its tool names are not
 * checked, and the check says so instead of guessing.
 */
export interface ToolCatalog {
  servers: Map<string, ServerTools>;
  /**
   * False when the list of servers itself may be incomplete (config.yaml could not be read):
   * then a server name the catalog does not know is reported as unchecked, not as a problem.
   */
  complete: boolean;
  /** Say (as warnings) which servers' tools were not checked; the daemon's loader stays quiet. */
  noteUnchecked: boolean;
}

export type ServerTools = { tools: ReadonlySet<string>; reason?: undefined } | { tools: null; reason: string };

/** The built-in `ops` server's tools: part of this build, so always known without asking. */
export function builtinOpsTools(): ReadonlySet<string> {
  return new Set(opsTools.map((t) => t.name));
}

/**
 * What config alone knows: the built-in tools, and the names of the configured servers with
 * `reason` for not knowing their tools. `config` null: config.yaml could not be read.
 */
export function configCatalog(config: CompiledConfig | null, reason: string, opts: { noteUnchecked?: boolean } = {}): ToolCatalog {
  const servers = new Map<string, ServerTools>([['ops', { tools: builtinOpsTools() }]]);
  for (const [name, s] of Object.entries(config?.mcpServers ?? {})) servers.set(name, { tools: null, reason: s.disabled ? 'the server is disabled in config' : reason });
  return { servers, complete: config !== null, noteUnchecked: opts.noteUnchecked ?? true };
}

/** One server as the daemon reports it (`tools.list`), with the tools it listed. */
export interface DaemonServerTools {
  name: string;
  state: string;
  reason: string | null;
  tools: string[];
}

/**
 * What the daemon knows: every server it runs; a ready one with the tools it listed, any other
 * with why it could not be asked. Config-only servers the daemon does not run stay unchecked.
 */
export function daemonCatalog(config: CompiledConfig | null, servers: DaemonServerTools[]): ToolCatalog {
  const cat = configCatalog(config, 'the daemon does not run it (restart the daemon after changing config.yaml)');
  for (const s of servers) {
    if (s.name === 'ops') continue; // this build's own list: the same code the daemon runs
    if (s.state === 'ready') cat.servers.set(s.name, { tools: new Set(s.tools) });
    else cat.servers.set(s.name, { tools: null, reason: `the server could not be asked (it is ${s.state}${s.reason ? `: ${s.reason}` : ''})` });
  }
  cat.complete = true;
  return cat;
}

/**
 * Why a workflow cannot start with this config: an MCP server its `tools` name is not configured
 * (or disabled). A shipped workflow for an optional server (slo_appsignals needs `appsignals`) loads
 * without it; its start is refused here in one line rather than failing at the first call. Null: it can start.
 */
export function missingServerReason(workflow: { id: string; tools: readonly string[] }, config: Pick<CompiledConfig, 'mcpServers'>): string | null {
  const servers = [...new Set(workflow.tools.map((t) => t.split('.')[0]))].filter((s) => s !== 'ops');
  const missing = servers.filter((s) => !config.mcpServers[s]);
  const disabled = servers.filter((s) => config.mcpServers[s]?.disabled);
  if (missing.length === 0 && disabled.length === 0) return null;
  const aws = [...missing, ...disabled].includes('appsignals') ? ' (README: "AWS: CloudWatch Application Signals")' : ' (README: mcpServers)';
  if (missing.length > 0) {
    const names = missing.map((s) => `"${s}"`).join(', ');
    return `workflow ${workflow.id} needs the MCP server ${names}, which is not configured: add it under mcpServers.${missing[0]} in config.yaml${aws}`;
  }
  return `workflow ${workflow.id} needs the MCP server ${disabled.map((s) => `"${s}"`).join(', ')}, which is disabled in config.yaml (mcpServers.${disabled[0]}.disabled: true)`;
}
