import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CompiledConfig, CompiledMcpServer } from '../../config/load.js';

/** The env var through which the built-in ops server receives `ops.allowed_commands` (a JSON array). */
export const OPS_ALLOWED_ENV = 'OPSTREAM_OPS_ALLOWED_COMMANDS';

/** What the pool needs to run one server; compiled once from config (or built in, for `ops`). */
export interface ServerSpec {
  name: string;
  transport: 'stdio' | 'http';
  command?: string;
  args: string[];
  /** Only the configured env; the base (PATH, HOME, LANG) is added at spawn time. */
  env: Record<string, string>;
  cwd?: string;
  url?: string;
  headers: Record<string, string>;
  timeoutMs: number;
  cacheMs: number | null;
  trusted: boolean;
  /** Config says: `true` = every tool destructive, or the tool names (without prefix). */
  destructive: boolean | string[];
  disabled: boolean;
  builtin: boolean;
  source: string;
}

/** Variables a spawned server gets from the daemon's own environment; nothing else leaks. */
export const BASE_ENV_VARS = ['PATH', 'HOME', 'LANG'] as const;

/** The spawned environment: the minimal base plus what the config gives (config wins). */
export function serverEnv(configured: Record<string, string>, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of BASE_ENV_VARS) {
    const v = from[k];
    if (v !== undefined && !v.startsWith('()')) env[k] = v;
  }
  return { ...env, ...configured };
}

/**
 * Where the compiled ops server's launcher lives (ops-server/launch.ts: the bundled server when the
 * build made it): beside this module in dist/, or dist/ when running from src/ (tests).
 */
export function opsServerEntry(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, '..', '..', 'ops-server', 'launch.js');
  if (existsSync(beside)) return beside;
  return join(here, '..', '..', '..', 'dist', 'ops-server', 'launch.js');
}

export function specFromConfig(s: CompiledMcpServer): ServerSpec {
  return {
    name: s.name,
    transport: s.url ? 'http' : 'stdio',
    command: s.command,
    args: s.args,
    env: s.env,
    cwd: s.cwd,
    url: s.url,
    headers: s.headers,
    timeoutMs: s.timeoutMs,
    cacheMs: s.cacheMs,
    trusted: s.trust === 'trusted',
    destructive: s.destructive,
    disabled: s.disabled,
    builtin: false,
    source: s.source,
  };
}

export function opsSpec(allowedCommands: string[]): ServerSpec {
  return {
    name: 'ops',
    transport: 'stdio',
    command: process.execPath,
    args: [opsServerEntry()],
    env: { [OPS_ALLOWED_ENV]: JSON.stringify(allowedCommands) },
    headers: {},
    timeoutMs: 5 * 60_000, // http_probe and run_command bound themselves; this is a backstop
    cacheMs: null,
    trusted: true,
    destructive: false,
    disabled: false,
    builtin: true,
    source: '(built in)',
  };
}

/** Every server the daemon knows: the built-in `ops` first, then the configured ones. */
export function serverSpecs(config: CompiledConfig): ServerSpec[] {
  return [opsSpec(config.ops.allowed_commands), ...Object.values(config.mcpServers).map(specFromConfig)];
}
