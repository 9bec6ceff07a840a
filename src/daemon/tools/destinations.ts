import { realpathSync } from 'node:fs';
import { isIP } from 'node:net';
import { homedir } from 'node:os';
import { isAbsolute, resolve, sep } from 'node:path';
import { defaultPort, parseHostRule, type HostRule } from '../../config/allow-hosts.js';
import type { CompiledConfig } from '../../config/load.js';

/**
 * Where a run started from chat may reach (issue 19 item 7). A Slack operator must not be able to
 * make the daemon fetch cloud metadata or a localhost admin port and post the body to a channel, or
 * read /etc/shadow through a log scanner. So for runs whose trigger is not local, every URL and file
 * path in a tool's arguments is checked before the call:
 *
 * - URLs: the host (and port, when the pattern names one) must match `allow_hosts`, or be a
 *   destination the config itself names (services, webhooks, the LLM, MCP servers), or one written in
 *   the workflow file. Anything else is refused; unlisted is refused, not resolved and guessed at.
 * - File paths (args named path/file/log/dir/...): inside a `log_dirs` directory, or a file the
 *   config names (a service's `log:`), after resolving `..` and symlinks.
 *
 * Runs the local user starts (CLI, dashboard, schedules) are not limited: they could run the same
 * tools themselves.
 */

/** Triggers whose arguments the local user (or their own config) chose. */
export const LOCAL_TRIGGERS = new Set(['cli', 'tui', 'dashboard', 'schedule']);

/** Who asked for a tool call made for a run. */
export interface CallOrigin {
  run: string;
  workflow: string;
  trigger: string;
  actor: string;
  /** The run's workflow definition: URLs its author wrote in it are allowed. */
  def?: unknown;
}


const PATH_KEYS = /^(path|paths|file|files|filename|log|logs|log_file|log_path|dir|dirs|directory|cwd)$/i;
const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;


function ruleMatches(r: HostRule, host: string, port: number | null): boolean {
  if (r.host === '*') return true;
  if (r.port !== null && r.port !== port) return false;
  if (r.cidr) {
    const type = isIP(host);
    return type !== 0 && r.cidr.check(host, type === 4 ? 'ipv4' : 'ipv6');
  }
  if (r.wildcard) return host.endsWith(`.${r.host}`);
  return host === r.host;
}

/** Every http(s) URL and absolute path among a value's strings (deep). */
function stringsOf(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => stringsOf(x, out));
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => stringsOf(x, out));
  return out;
}

/** A URL's host (IPv6 without brackets) and effective port, or null when it is not a URL we check. */
function target(text: string): { host: string; port: number | null; protocol: string } | null {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return null;
  }
  const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return { host, port: u.port ? Number(u.port) : defaultPort(u.protocol), protocol: u.protocol };
}

function realish(p: string): string {
  const abs = resolve(p.startsWith('~/') ? `${homedir()}${p.slice(1)}` : p);
  try {
    return realpathSync(abs);
  } catch {
    return abs;
  }
}

export class Destinations {
  private readonly rules: HostRule[] = [];
  /** Origins the config names (host + port): always allowed. */
  private readonly named: HostRule[] = [];
  private readonly dirs: string[];
  private readonly files = new Set<string>();
  private readonly byDef = new WeakMap<object, HostRule[]>();
  /** What `allow_hosts` says, for messages. */
  private readonly listed: string;

  constructor(config: Pick<CompiledConfig, 'raw' | 'llm' | 'notify' | 'mcpServers'>) {
    const raw = config.raw as { allow_hosts?: string[]; log_dirs?: string[]; services?: Record<string, unknown>; slack?: { api_url?: string } };
    for (const p of raw.allow_hosts ?? []) {
      const r = parseHostRule(p);
      if (typeof r !== 'string') this.rules.push(r);
    }
    const urls = [config.llm?.host, config.llm?.base_url, raw.slack?.api_url, ...(config.notify?.webhooks ?? []).map((w) => w.url), ...Object.values(config.mcpServers ?? {}).map((s) => s.url)];
    const strings = stringsOf(raw.services ?? {});
    for (const u of [...urls, ...strings]) if (typeof u === 'string') this.addNamed(this.named, u);
    this.dirs = (raw.log_dirs ?? []).map((d) => realish(d));
    for (const s of strings) if (isAbsolute(s) && !URL_LIKE.test(s)) this.files.add(realish(s));
    this.listed = raw.allow_hosts?.length ? `allow_hosts is [${raw.allow_hosts.join(', ')}]` : 'allow_hosts is not set, so only destinations named in the config are allowed';
  }

  private addNamed(into: HostRule[], text: string): void {
    if (!URL_LIKE.test(text) || text.includes('{{')) return;
    const t = target(text);
    if (!t || !t.host) return;
    into.push({ host: t.host, wildcard: false, cidr: null, port: t.port, text });
  }

  private defRules(def: unknown): HostRule[] {
    if (!def || typeof def !== 'object') return [];
    let rules = this.byDef.get(def);
    if (!rules) {
      rules = [];
      for (const s of stringsOf(def)) for (const m of s.matchAll(/[a-z][a-z0-9+.-]*:\/\/[^\s"'{}<>]+/gi)) this.addNamed(rules, m[0]);
      this.byDef.set(def, rules);
    }
    return rules;
  }

  /** Whether a call made for this origin is limited at all. */
  limits(origin: CallOrigin | undefined): origin is CallOrigin {
    return origin !== undefined && !LOCAL_TRIGGERS.has(origin.trigger);
  }

  /** Null when `url` may be reached for this origin, else the reason it may not. */
  checkUrl(url: string, def?: unknown): string | null {
    const t = target(url);
    if (!t) return null;
    if (t.protocol === 'file:') return this.checkPath(decodeURIComponent(new URL(url).pathname));
    if (!t.host) return null;
    const shown = t.port !== null && t.port !== defaultPort(t.protocol) ? `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}` : t.host;
    if ([...this.rules, ...this.named, ...this.defRules(def)].some((r) => ruleMatches(r, t.host, t.port))) return null;
    return `host ${shown} is not in allow_hosts; ${this.listed} (runs started from chat may reach only those; add it to allow_hosts in config.yaml if it is safe)`;
  }

  /** Null when the file may be read for a chat origin, else why not. */
  checkPath(p: string): string | null {
    const real = realish(p);
    if (this.files.has(real)) return null;
    if (this.dirs.some((d) => real === d || real.startsWith(d.endsWith(sep) ? d : d + sep))) return null;
    const where = this.dirs.length ? `log_dirs is [${this.dirs.join(', ')}]` : 'log_dirs is not set';
    return `path ${p} is outside the log directories; ${where} (chat users may read files only there)`;
  }

  /** Every URL (any argument) and file path (path-like argument names) in a call's arguments. */
  checkArgs(args: Record<string, unknown>, def?: unknown): string | null {
    const visit = (v: unknown, key: string | null): string | null => {
      if (typeof v === 'string') {
        if (URL_LIKE.test(v)) return this.checkUrl(v.trim(), def);
        if (key !== null && PATH_KEYS.test(key) && v.trim() !== '' && (isAbsolute(v) || v.startsWith('~') || v.startsWith('.') || v.includes(sep))) return this.checkPath(v.trim());
        return null;
      }
      if (Array.isArray(v)) {
        for (const x of v) {
          const r = visit(x, key);
          if (r) return r;
        }
        return null;
      }
      if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          const r = visit(x, k);
          if (r) return r;
        }
      }
      return null;
    };
    return visit(args, null);
  }

}
