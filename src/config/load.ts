import { secretValues, type SecretValue } from './secrets.js';
import { existsSync, readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { parseDuration } from './duration.js';
import type { Paths } from './paths.js';
import { ConfigSchema, McpServerConfig, type RawConfig } from './schema.js';

export interface ConfigProblem {
  file: string;
  /** Dotted YAML/JSON path, e.g. `mcpServers.memory.command`. Empty for the whole file. */
  path: string;
  line: number | null;
  message: string;
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}${p.line ? `:${p.line}` : ''}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
  }
}

export interface CompiledMcpServer extends McpServerConfig {
  name: string;
  timeoutMs: number;
  cacheMs: number | null;
  /** Where it was configured, for error messages. */
  source: string;
}

/** Config after validation, defaults and derived values: compiled once, read everywhere. */
export interface CompiledConfig {
  raw: RawConfig;
  files: string[];
  mcpServers: Record<string, CompiledMcpServer>;
  llm: CompiledLlm | null;
  /** Null when no `slack:` section (or no token at all) is configured. */
  slack: CompiledSlack | null;
  /** Null when no `discord:` section is configured (a section without a token is refused by the bridge, not here). */
  discord: CompiledDiscord | null;
  notify: CompiledNotify;
  memory: { retentionMs: number | null };
  /** Milliseconds per kind; null: no rule, nothing of that kind is removed. */
  retention: CompiledRetention;
  ops: RawConfig['ops'];
  log: RawConfig['log'] & { maxBytes: number };
  /** The Prometheus endpoint, or null when `metrics.listen` is not set. */
  metrics: CompiledMetrics | null;
  /** Secret values (env vars named like secrets, the config's secret fields): masked wherever text leaves the daemon. */
  secrets: SecretValue[];
  /** Team mode's PostgreSQL (OPSTREAM_DATABASE_URL, else `database_url:`), or null: solo on LevelDB. */
  team: { url: string; masked: string } | null;
}

/** `postgres://user:***@host:port/db`: a database URL fit for logs and messages (also masks `?password=`). */
export function maskDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    if (u.searchParams.has('password')) u.searchParams.set('password', '***');
    return u.href;
  } catch {
    // not a URL the parser takes: mask whatever sits between `user:` and `@`
    return url.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@').replace(/(password=)[^&\s]*/gi, '$1***');
  }
}

/** The password a database URL carries (in its user info or as `?password=`), or null. */
export function databasePassword(url: string): string | null {
  try {
    const u = new URL(url);
    return (u.password ? decodeURIComponent(u.password) : null) ?? u.searchParams.get('password');
  } catch {
    return null;
  }
}

/**
 * Checks a team database URL's shape (the server itself is checked when the daemon connects). Each
 * problem is one line naming the URL, its password masked, so the user sees which value is meant.
 */
function compileTeam(env: NodeJS.ProcessEnv, raw: RawConfig, file: string, problems: ConfigProblem[]): { url: string; masked: string } | null {
  const fromEnv = env.OPSTREAM_DATABASE_URL?.trim();
  const url = fromEnv || raw.database_url?.trim();
  if (!url) return null;
  const masked = maskDatabaseUrl(url);
  const problem = (message: string): void => void problems.push({ file: fromEnv ? '(environment)' : file, path: fromEnv ? 'OPSTREAM_DATABASE_URL' : 'database_url', line: null, message: `${message}: ${masked}` });
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    problem('not a URL (expected postgres://user:password@host:5432/database)');
    return null;
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') problem(`team mode needs a PostgreSQL URL (postgres://user:password@host:5432/database), not ${u.protocol}//...`);
  else if (!u.hostname && !u.searchParams.get('host')) problem('the URL names no host (postgres://user:password@host:5432/database)');
  else if (u.pathname.length <= 1) problem('the URL names no database (postgres://user:password@host:5432/database)');
  return { url, masked };
}

export interface CompiledMetrics {
  host: string;
  port: number;
  /** As written, for messages. */
  text: string;
  /** Scrapes must send `Authorization: Bearer <token>`; null: none asked (loopback only then). */
  token: string | null;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/**
 * `host:port` on a loopback address, or on any address when a bearer token guards it: metrics carry
 * workflow names and figures, so nothing off this machine reads them without the token.
 */
function compileMetrics(metrics: NonNullable<RawConfig['metrics']>, file: string, problems: ConfigProblem[]): CompiledMetrics | null {
  const listen = metrics.listen;
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = Number(listen.slice(i + 1));
  if (!LOOPBACK.has(host) && !/^127\.\d+\.\d+\.\d+$/.test(host) && !metrics.token) {
    problems.push({ file, path: 'metrics.listen', line: null, message: `metrics are served on a loopback address only (127.0.0.1, ::1 or localhost), not ${host}, unless metrics.token is set too (scrapes then send it as a bearer token)` });
    return null;
  }
  if (!Number.isInteger(port) || port > 65535) {
    problems.push({ file, path: 'metrics.listen', line: null, message: `port ${listen.slice(i + 1)} is not a port number (0-65535)` });
    return null;
  }
  return { host, port, text: listen, token: metrics.token ?? null };
}

export interface CompiledLlm extends NonNullable<RawConfig['llm']> {
  keepAliveMs: number;
  timeoutMs: number;
  waitUnavailableMs: number;
  /** `llm.redact` compiled (each checked when the config loads). */
  redactPatterns: RegExp[];
}

export interface CompiledSlack extends NonNullable<RawConfig['slack']> {
  pingTimeoutMs: number;
  idleTimeoutMs: number;
  postIntervalMs: number;
  updateIntervalMs: number;
  timeoutMs: number;
  /** `notifications.quiet_hours` as seconds after local midnight (end may be before start: over midnight). */
  quiet: { startSec: number; endSec: number; timezone: string } | null;
  /** `notifications.max_frequency` as N per window. */
  maxFrequency: { count: number; windowMs: number } | null;
}

export interface CompiledDiscord extends NonNullable<RawConfig['discord']> {
  updateIntervalMs: number;
  /** `notifications.quiet_hours` as seconds after local midnight, or null. */
  quiet: { startSec: number; endSec: number; timezone: string } | null;
}

export type CompiledWebhook = RawConfig['notify']['webhooks'][number] & { timeoutMs: number };

export interface CompiledNotify {
  desktop: 'auto' | 'on' | 'off';
  webhooks: CompiledWebhook[];
  /** `retention.notifications` (null: never removed). */
  retentionMs: number | null;
}

export const RETENTION_KINDS = ['runs', 'events', 'notifications', 'audit', 'cache', 'memory'] as const;
export type RetentionKind = (typeof RETENTION_KINDS)[number];
export type CompiledRetention = Record<RetentionKind, number | null>;
/** Rules in force when none is written: the notifications and memory defaults that predate `retention:`. */
const RETENTION_DEFAULTS: Partial<Record<RetentionKind, string>> = { notifications: '30d', memory: '365d' };

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces ${NAME} (and ${NAME:-default}) in every scalar string, recording unset names as problems. */
function interpolate(doc: Document, file: string, lines: LineCounter, env: NodeJS.ProcessEnv, problems: ConfigProblem[]): void {
  const visit = (node: unknown, path: (string | number)[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => visit(item, [...path, i]));
    } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
      node.value = node.value.replace(ENV_REF, (_all, name: string, fallback: string | undefined) => {
        const v = env[name];
        if (v !== undefined && v !== '') return v;
        if (fallback !== undefined) return fallback;
        problems.push({ file, path: path.join('.'), line: lineOf(node, lines), message: `environment variable ${name} is not set (write \${${name}:-} to allow it to be empty)` });
        return '';
      });
    }
  };
  visit(doc.contents, []);
}

function lineOf(node: unknown, lines: LineCounter): number | null {
  const range = (node as Node | undefined)?.range;
  return range ? lines.linePos(range[0]).line : null;
}

/** The line of the deepest node that exists along a zod issue path. */
function lineForPath(doc: Document, lines: LineCounter, path: PropertyKey[]): number | null {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as (string | number)[], true);
    const line = lineOf(node, lines);
    if (line !== null) return line;
  }
  return null;
}

export function zodProblems(error: z.ZodError, file: string, locate: (path: PropertyKey[]) => number | null, prefix: PropertyKey[] = []): ConfigProblem[] {
  return error.issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    // one problem per unknown key, located at the key itself rather than at its parent map
    if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => ({ file, path: [...path, k].map(String).join('.'), line: locate([...path, k]), message: `unknown key "${k}"` }));
    return [{ file, path: path.map(String).join('.'), line: locate(path), message: issue.message }];
  });
}

interface ParsedFile {
  value: unknown;
  locate: (path: PropertyKey[]) => number | null;
}

/** Parses YAML (JSON is YAML too), interpolates env vars, and keeps a way back from paths to lines. */
function parseFile(file: string, env: NodeJS.ProcessEnv, problems: ConfigProblem[]): ParsedFile | null {
  const text = readFileSync(file, 'utf8');
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) problems.push({ file, path: '', line: e.linePos?.[0]?.line ?? null, message: e.message.split('\n')[0] });
    return null;
  }
  interpolate(doc, file, lines, env, problems);
  return { value: doc.toJS() ?? {}, locate: (path) => lineForPath(doc, lines, path) };
}

/**
 * Loads config.yaml and mcp.json (Claude Desktop format) from the config dir. A missing file is
 * fine: everything has a default. Every problem found is reported at once, with file and line.
 */
export function loadConfig(paths: Paths, env: NodeJS.ProcessEnv = process.env): CompiledConfig {
  const problems: ConfigProblem[] = [];
  const files: string[] = [];
  let raw: RawConfig = ConfigSchema.parse({});
  let sources: Record<string, string> = {};

  if (existsSync(paths.configFile)) {
    files.push(paths.configFile);
    const parsed = parseFile(paths.configFile, env, problems);
    if (parsed) {
      const result = ConfigSchema.safeParse(parsed.value);
      if (result.success) {
        raw = result.data;
        sources = Object.fromEntries(Object.keys(raw.mcpServers).map((k) => [k, paths.configFile]));
      } else problems.push(...zodProblems(result.error, paths.configFile, parsed.locate));
    }
  }

  if (existsSync(paths.mcpFile)) {
    files.push(paths.mcpFile);
    const parsed = parseFile(paths.mcpFile, env, problems);
    if (parsed) {
      const v = parsed.value as { mcpServers?: unknown };
      if (typeof v !== 'object' || v === null || typeof v.mcpServers !== 'object' || v.mcpServers === null) {
        problems.push({ file: paths.mcpFile, path: '', line: 1, message: 'expected an object with an "mcpServers" object, as in Claude Desktop\'s config' });
      } else {
        for (const [name, server] of Object.entries(v.mcpServers as Record<string, unknown>)) {
          const result = McpServerConfig.safeParse(server);
          if (!result.success) {
            problems.push(...zodProblems(result.error, paths.mcpFile, parsed.locate, ['mcpServers', name]));
          } else if (raw.mcpServers[name]) {
            problems.push({ file: paths.mcpFile, path: `mcpServers.${name}`, line: parsed.locate(['mcpServers', name]), message: `server "${name}" is also defined in ${paths.configFile}; keep one` });
          } else {
            raw.mcpServers[name] = result.data;
            sources[name] = paths.mcpFile;
          }
        }
      }
    }
  }

  const mcpServers: Record<string, CompiledMcpServer> = {};
  for (const [name, s] of Object.entries(raw.mcpServers)) {
    if (name === 'ops') {
      problems.push({ file: sources[name], path: `mcpServers.${name}`, line: null, message: 'the name "ops" is reserved for the built-in ops server' });
      continue;
    }
    mcpServers[name] = { ...s, name, timeoutMs: parseDuration(s.timeout) ?? 30_000, cacheMs: s.cache ? parseDuration(s.cache) : null, source: sources[name] };
  }
  const maxBytes = parseSize(raw.log.max_size);
  if (maxBytes === null) problems.push({ file: paths.configFile, path: 'log.max_size', line: null, message: 'expected a size such as 10m or 500k' });

  let llm: CompiledLlm | null = null;
  if (raw.llm) {
    const l = raw.llm;
    const redactPatterns: RegExp[] = [];
    l.redact.forEach((src, i) => {
      try {
        redactPatterns.push(new RegExp(src, 'g'));
      } catch (e) {
        problems.push({ file: paths.configFile, path: `llm.redact.${i}`, line: null, message: `not a regular expression: ${(e as Error).message}` });
      }
    });
    if (l.provider === 'openai-compatible' && !l.base_url) problems.push({ file: paths.configFile, path: 'llm.base_url', line: null, message: 'provider openai-compatible needs base_url (e.g. http://127.0.0.1:1234/v1)' });
    llm = { ...l, keepAliveMs: parseDuration(l.keep_alive) ?? 30 * 60_000, timeoutMs: parseDuration(l.timeout) ?? 5 * 60_000, waitUnavailableMs: parseDuration(l.wait_unavailable) ?? 5 * 60_000, redactPatterns };
  }
  const seen = new Set<string>();
  for (const w of raw.notify.webhooks) {
    if (seen.has(w.name)) problems.push({ file: paths.configFile, path: 'notify.webhooks', line: null, message: `webhook name "${w.name}" is used twice` });
    if (['terminal', 'desktop', 'slack'].includes(w.name)) problems.push({ file: paths.configFile, path: 'notify.webhooks', line: null, message: `webhook name "${w.name}" is reserved for a built-in channel` });
    seen.add(w.name);
  }
  const retention = compileRetention(raw, paths.configFile, problems);
  const notify: CompiledNotify = {
    desktop: raw.notify.desktop,
    webhooks: raw.notify.webhooks.map((w) => ({ ...w, timeoutMs: parseDuration(w.timeout) ?? 10_000 })),
    retentionMs: retention.notifications,
  };

  const slack = raw.slack && (raw.slack.app_token || raw.slack.bot_token) ? compileSlack(raw.slack, paths.configFile, problems) : null;
  const discord = raw.discord ? { ...raw.discord, updateIntervalMs: parseDuration(raw.discord.update_interval) ?? 250, quiet: compileQuiet(raw.discord.notifications, 'discord', paths.configFile, problems) } : null;
  const metrics = raw.metrics ? compileMetrics(raw.metrics, paths.configFile, problems) : null;

  const team = compileTeam(env, raw, paths.configFile, problems);

  if (problems.length > 0) throw new ConfigError(problems.sort((a, b) => a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0)));
  const secrets = secretValues(env, { slack: raw.slack, discord: raw.discord, llm: raw.llm, webhooks: raw.notify.webhooks, mcpEnv: Object.values(raw.mcpServers).map((m) => m.env) });
  // the database password is masked wherever text leaves the daemon, like any other secret
  const dbPassword = team ? databasePassword(team.url) : null;
  if (dbPassword) secrets.push({ name: 'database_url password', value: dbPassword });
  return { team, raw, files, mcpServers, llm, slack, discord, notify, memory: { retentionMs: retention.memory }, retention, ops: raw.ops, log: { ...raw.log, maxBytes: maxBytes ?? 10 * 1024 * 1024 }, metrics, secrets };
}

/**
 * `retention:` per kind, with `notify.retention` and `memory.retention` as deprecated aliases of
 * `retention.notifications` and `retention.memory` (both given is a problem: which one counts would
 * be a guess). `never`, or no rule for a kind without a default, means nothing of it is removed.
 */
function compileRetention(raw: RawConfig, file: string, problems: ConfigProblem[]): CompiledRetention {
  const written: Partial<Record<RetentionKind, string>> = { ...raw.retention };
  const aliases: [RetentionKind, string | undefined, string][] = [
    ['notifications', raw.notify.retention, 'notify.retention'],
    ['memory', raw.memory.retention, 'memory.retention'],
  ];
  for (const [kind, value, path] of aliases) {
    if (value === undefined) continue;
    if (written[kind] !== undefined) problems.push({ file, path, line: null, message: `${path} is an old name of retention.${kind}, which is also set; keep retention.${kind}` });
    else written[kind] = value;
  }
  const out = {} as CompiledRetention;
  for (const kind of RETENTION_KINDS) {
    const text = written[kind] ?? RETENTION_DEFAULTS[kind];
    out[kind] = text === undefined || text.trim().toLowerCase() === 'never' ? null : parseDuration(text);
  }
  return out;
}

/** "22:00" or "22:00:30" as seconds after midnight; null when out of range. */
export function clockSeconds(text: string): number | null {
  const m = /^(\d\d):(\d\d)(?::(\d\d))?$/.exec(text);
  if (!m) return null;
  const [h, min, sec] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  return h < 24 && min < 60 && sec < 60 ? h * 3600 + min * 60 + sec : null;
}

export function validTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** `<section>.notifications.quiet_hours` and `timezone` (Discord's; Slack's are compiled in compileSlack). */
function compileQuiet(n: { quiet_hours?: string; timezone?: string } | undefined, section: string, file: string, problems: ConfigProblem[]): CompiledDiscord['quiet'] {
  if (n?.timezone && !validTimezone(n.timezone)) problems.push({ file, path: `${section}.notifications.timezone`, line: null, message: `unknown time zone "${n.timezone}" (use an IANA name such as Europe/Berlin)` });
  if (!n?.quiet_hours) return null;
  const [a, b] = n.quiet_hours.split('-').map(clockSeconds);
  if (a === null || b === null || a === b) {
    problems.push({ file, path: `${section}.notifications.quiet_hours`, line: null, message: 'expected two different times of day, HH:MM-HH:MM (e.g. 22:00-08:00)' });
    return null;
  }
  return { startSec: a, endSec: b, timezone: n.timezone ?? 'UTC' };
}

const WINDOW_MS: Record<string, number> = { second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000 };

function compileSlack(s: NonNullable<RawConfig['slack']>, file: string, problems: ConfigProblem[]): CompiledSlack {
  const n = s.notifications;
  let quiet: CompiledSlack['quiet'] = null;
  if (n?.quiet_hours) {
    const [a, b] = n.quiet_hours.split('-').map(clockSeconds);
    if (a === null || b === null || a === b) problems.push({ file, path: 'slack.notifications.quiet_hours', line: null, message: 'expected two different times of day, HH:MM-HH:MM (e.g. 22:00-08:00)' });
    else quiet = { startSec: a, endSec: b, timezone: n.timezone ?? 'UTC' };
  }
  if (n?.timezone && !validTimezone(n.timezone)) problems.push({ file, path: 'slack.notifications.timezone', line: null, message: `unknown time zone "${n.timezone}" (use an IANA name such as Europe/Berlin)` });
  let maxFrequency: CompiledSlack['maxFrequency'] = null;
  if (n?.max_frequency) {
    const [count, per] = n.max_frequency.split('/');
    if (Number(count) < 1) problems.push({ file, path: 'slack.notifications.max_frequency', line: null, message: 'expected at least 1 per window' });
    else maxFrequency = { count: Number(count), windowMs: WINDOW_MS[per] };
  }
  const ping = parseDuration(s.ping_timeout) ?? 15_000;
  const idle = parseDuration(s.idle_timeout) ?? 90_000;
  // the client pings every ping_timeout/3; a watchdog shorter than a few of those trips on a healthy idle connection
  if (idle < ping) problems.push({ file, path: 'slack.idle_timeout', line: null, message: `must be at least slack.ping_timeout (${s.ping_timeout}); twice that or more is safer` });
  if (s.api_url && !s.api_url.endsWith('/')) problems.push({ file, path: 'slack.api_url', line: null, message: 'must end in "/" (e.g. https://slack.com/api/)' });
  return {
    ...s,
    pingTimeoutMs: ping,
    idleTimeoutMs: idle,
    postIntervalMs: parseDuration(s.post_interval) ?? 1000,
    updateIntervalMs: parseDuration(s.update_interval) ?? 1000,
    timeoutMs: parseDuration(s.timeout) ?? 20_000,
    quiet,
    maxFrequency,
  };
}

function parseSize(s: string): number | null {
  const m = /^\s*(\d+)\s*([kmg]?)b?\s*$/i.exec(s);
  if (!m) return null;
  return Number(m[1]) * ({ '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as Record<string, number>)[m[2].toLowerCase()];
}

/** The names a notify step's `channel` may use with this config (workflows/registry.ts ChannelNames). */
export function channelNames(config: CompiledConfig): { targets: ReadonlySet<string>; slack: ReadonlySet<string> | null } {
  const targets = new Set(['terminal', 'desktop', ...config.notify.webhooks.map((w) => w.name)]);
  const s = config.slack;
  const slack = s && s.app_token && s.bot_token ? new Set(['default', 'critical', 'dm', ...Object.keys(s.channels ?? {})]) : null;
  return { targets, slack };
}

