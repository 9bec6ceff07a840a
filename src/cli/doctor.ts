import { DaemonClient } from '../client/client.js';
import { LocalError } from '../client/errors.js';
import { ConfigError, formatProblem, loadConfig, type CompiledConfig, type CompiledMcpServer } from '../config/load.js';
import { resolvePaths } from '../config/paths.js';
import type { DaemonStatus } from '../protocol/index.js';
import { awsIdentity } from './aws-identity.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';
export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
}

const MIN_NODE: [number, number] = [20, 19];

function checkNode(): Check {
  const [maj, min] = process.versions.node.split('.').map(Number);
  const ok = maj > MIN_NODE[0] || (maj === MIN_NODE[0] && min >= MIN_NODE[1]);
  return { name: 'node', status: ok ? 'ok' : 'fail', detail: ok ? `v${process.versions.node}` : `v${process.versions.node}; OpStream needs >= ${MIN_NODE.join('.')}` };
}

/** Slack tokens: optional, but when given they must be of the right kind (a swapped pair is a classic mistake). */
export function checkSlack(config: CompiledConfig): Check[] {
  const s = config.slack;
  if (!s || (!s.app_token && !s.bot_token)) return [{ name: 'slack', status: 'skip', detail: 'not configured (optional): notifications go to the terminal' }];
  const out: Check[] = [];
  const kind = (t: string | undefined, prefix: string, what: string, name: string): void => {
    if (!t) out.push({ name, status: 'fail', detail: `${what} is missing` });
    else if (!t.startsWith(prefix)) out.push({ name, status: 'fail', detail: `${what} should start with ${prefix} (got ${t.slice(0, 5)}...)` });
    else out.push({ name, status: 'ok', detail: `${what} present (${prefix}...)` });
  };
  kind(s.app_token, 'xapp-', 'app-level token for Socket Mode', 'slack app_token');
  kind(s.bot_token, 'xoxb-', 'bot token for the Web API', 'slack bot_token');
  return out;
}

/**
 * Teams webhooks (`format: teams`): what kind of URL it is, without posting (a test post would be
 * a message in the channel). Classic Office 365 connector URLs are being retired by Microsoft;
 * a Workflows URL without its `sig` parameter was copied incompletely and will be refused.
 */
export function checkTeams(config: CompiledConfig): Check[] {
  return config.notify.webhooks
    .filter((w) => w.format === 'teams')
    .map((w): Check => {
      const name = `teams ${w.name}`;
      let url: URL;
      try {
        url = new URL(w.url);
      } catch {
        return { name, status: 'fail', detail: 'the url is not a valid URL' };
      }
      const host = url.hostname.toLowerCase();
      const where = `${url.protocol}//${host}${url.port ? `:${url.port}` : ''}`;
      if (/(^|\.)webhook\.office\.com$/.test(host) || host === 'outlook.office.com') return { name, status: 'warn', detail: `${where}: a classic Office 365 connector webhook, which Microsoft is retiring; create a Workflows webhook instead (README: Microsoft Teams)` };
      if (/(^|\.)(logic\.azure\.com|powerplatform\.com|powerautomate\.com)$/.test(host) || host === 'flow.microsoft.com') {
        if (!url.searchParams.get('sig')) return { name, status: 'fail', detail: `${where}: a Workflows webhook URL without its sig= parameter (copy the whole URL from the trigger "When a Teams webhook request is received")` };
        return { name, status: 'ok', detail: `${where}: a Teams Workflows webhook (cards are Adaptive Card 1.4)` };
      }
      if (url.protocol !== 'https:' && host !== '127.0.0.1' && host !== 'localhost' && host !== '[::1]') return { name, status: 'warn', detail: `${where}: not https; Teams and Workflows URLs are https` };
      return { name, status: 'warn', detail: `${where}: not a Teams or Workflows host (a relay?); it must accept Teams messages with Adaptive Card attachments` };
    });
}

/** The Discord bot token, asked of Discord itself (GET /users/@me at discord.api_url): never printed. */
export async function checkDiscord(config: CompiledConfig): Promise<Check> {
  const d = config.discord;
  if (!d) return { name: 'discord', status: 'skip', detail: 'not configured (optional)' };
  if (!d.token) return { name: 'discord', status: 'fail', detail: 'discord.token is missing (write it as "${DISCORD_TOKEN}")' };
  try {
    const res = await fetch(`${d.api_url.replace(/\/$/, '')}/v10/users/@me`, { headers: { authorization: `Bot ${d.token}` }, signal: AbortSignal.timeout(10_000) });
    const body = (await res.json().catch(() => ({}))) as { username?: string; id?: string; message?: string };
    if (res.ok) return { name: 'discord', status: 'ok', detail: `token accepted (bot ${body.username ?? '?'}, id ${body.id ?? '?'})` };
    if (res.status === 401) return { name: 'discord', status: 'fail', detail: 'Discord refused the bot token (401 Unauthorized): reset it in the Developer Portal (Bot > Reset Token) and update DISCORD_TOKEN' };
    return { name: 'discord', status: 'warn', detail: `Discord answered ${res.status}${body.message ? ` ${body.message}` : ''}` };
  } catch (e) {
    return { name: 'discord', status: 'warn', detail: `Discord not reachable at ${d.api_url}: ${(e as Error).message}` };
  }
}

export async function checkOllama(config: CompiledConfig): Promise<Check> {
  if (!config.llm) return { name: 'ollama', status: 'skip', detail: 'no llm configured (optional): workflows use deterministic analysis' };
  // the daemon's own gateway, so doctor sees exactly what agent steps will (loaded only here)
  const [{ LlmGateway }, { pino }] = await Promise.all([import('../daemon/llm/index.js'), import('pino')]);
  const gw = new LlmGateway(config.llm, pino({ level: 'silent' }));
  const d = await gw.describe();
  await gw.stop();
  const where = `${d.provider} at ${d.host}`;
  if (!d.reachable) return { name: 'ollama', status: 'fail', detail: `${where} not reachable: ${d.error ?? 'no answer'}` };
  if (!d.pulled) return { name: 'ollama', status: 'warn', detail: `${where} reachable but ${d.error ?? `model ${d.model} is missing`}` };
  const ctx = d.context_length ? `context ${d.context_length} tokens${config.llm.num_ctx ? ` (num_ctx ${config.llm.num_ctx} sent)` : ''}` : 'context length unknown';
  if (d.tools === false) return { name: 'ollama', status: 'warn', detail: `${where} reachable, model ${d.model} present, but it does not support tools (agent steps with tools will refuse it); ${ctx}` };
  return { name: 'ollama', status: 'ok', detail: `${where} reachable, model ${d.model} present, tools ${d.tools === null ? 'unknown' : 'yes'}, ${ctx}` };
}

async function checkDaemon(): Promise<Check[]> {
  try {
    const c = await DaemonClient.connect({ autoStart: false, allowMismatch: true });
    const h = c.hello;
    const s = await c.request('daemon.status', {}).catch(() => null);
    c.close();
    const out: Check[] = [{ name: 'daemon', status: 'ok', detail: `running (pid ${h.pid}, v${h.version}, ${h.active_runs} active run(s))` }];
    const slack = s?.slack;
    if (slack && slack.state !== 'off') out.push(slackConnection(slack));
    return out;
  } catch (e) {
    if (e instanceof LocalError && /not running/.test(e.message)) return [{ name: 'daemon', status: 'warn', detail: 'not running; any command starts it (or: opstream daemon start)' }];
    return [{ name: 'daemon', status: 'fail', detail: (e as Error).message }];
  }
}

/** The daemon's Slack connection as it is now (tokens are checked from the config separately). */
export function slackConnection(s: NonNullable<DaemonStatus['slack']>): Check {
  const last = s.last_message_at ? `; last frame ${s.last_message_at}` : '';
  const rec = `; ${s.reconnects} reconnect(s)${s.last_disconnect ? `, last: ${s.last_disconnect}` : ''}`;
  if (s.state === 'connected') return { name: 'slack connection', status: 'ok', detail: `connected (Socket Mode)${last}${rec}` };
  if (s.state === 'failed' || s.state === 'stopped') return { name: 'slack connection', status: 'fail', detail: `${s.state}: ${s.error ?? 'no reason recorded'}` };
  return { name: 'slack connection', status: 'warn', detail: `${s.state}${last}${rec}${s.error ? `; ${s.error}` : ''}` };
}

/**
 * Starts every MCP server (the built-in `ops` one and each configured one) the way the daemon
 * would, lists its tools and stops it again. Disabled servers are reported, not started.
 */
export async function checkMcpServers(config: CompiledConfig, timeoutMs = 15_000): Promise<Check[]> {
  // loaded here only: the MCP SDK is not needed by any other CLI command path
  const { probeServer } = await import('../daemon/tools/probe.js');
  const { opsServerEntry } = await import('../daemon/tools/server-specs.js');
  const ops: CompiledMcpServer = {
    name: 'ops', command: process.execPath, args: [opsServerEntry()], env: {}, headers: {}, timeout: '30s', timeoutMs: 30_000,
    trust: 'trusted', cacheMs: null, destructive: false, disabled: false, source: '(built in)',
  };
  const servers = [ops, ...Object.values(config.mcpServers)];
  return Promise.all(
    servers.map(async (s): Promise<Check> => {
      const name = `mcp ${s.name}`;
      if (s.disabled) return { name, status: 'skip', detail: 'disabled in config' };
      const r = await probeServer(s, Math.min(timeoutMs, s.timeoutMs));
      if (r.ok && s.name === 'appsignals') return appsignalsTools(r.tools.map((t) => t.tool), Math.round(r.durationMs));
      return r.ok
        ? { name, status: 'ok', detail: `started in ${Math.round(r.durationMs)} ms, ${r.tools.length} tool(s)` }
        : { name, status: 'fail', detail: `${r.error ?? 'did not start'} (${s.source})` };
    }),
  );
}

/** The tools the shipped slo_appsignals / profile_appsignals workflows call (release 0.1.40's names). */
const APPSIGNALS_TOOLS = ['list_slis', 'audit_slos', 'search_transaction_spans', 'query_service_metrics'];

function appsignalsTools(tools: string[], ms: number): Check {
  const missing = APPSIGNALS_TOOLS.filter((t) => !tools.includes(t));
  const listing = [...tools].sort().join(', ');
  if (missing.length > 0) return { name: 'mcp appsignals', status: 'fail', detail: `started in ${ms} ms but lacks ${missing.join(', ')} that slo_appsignals/profile_appsignals call (is it awslabs.cloudwatch-applicationsignals-mcp-server 0.1.40 or later?); it has: ${listing}` };
  return { name: 'mcp appsignals', status: 'ok', detail: `started in ${ms} ms, ${tools.length} tool(s): ${listing}` };
}

/** With mcpServers.appsignals: the AWS identity, region and endpoint the server would use (no secrets). */
export async function checkAws(config: CompiledConfig): Promise<Check[]> {
  const s = config.mcpServers.appsignals;
  if (!s || s.disabled) return [];
  const { serverEnv } = await import('../daemon/tools/server-specs.js');
  const id = awsIdentity(serverEnv(s.env));
  return [{ name: 'aws identity', status: id.status, detail: id.detail }];
}

/** Runs every check. */
export async function runDoctor(): Promise<Check[]> {
  const checks: Check[] = [checkNode()];
  const paths = resolvePaths();
  let config: CompiledConfig | null = null;
  try {
    config = loadConfig(paths);
    checks.push({ name: 'config', status: 'ok', detail: config.files.length ? config.files.join(', ') : `none (embedded defaults; would read ${paths.configFile})` });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const p of e.problems) checks.push({ name: 'config', status: 'fail', detail: formatProblem(p) });
  }
  checks.push(...(await checkDaemon()));
  if (config) {
    checks.push(...checkSlack(config));
    checks.push(...checkTeams(config));
    checks.push(await checkDiscord(config));
    checks.push(await checkOllama(config));
    checks.push(...(await checkMcpServers(config)));
    checks.push(...(await checkAws(config)));
  } else {
    checks.push({ name: 'slack, teams, discord, ollama, mcp', status: 'skip', detail: 'skipped until the config is valid' });
  }
  return checks;
}
