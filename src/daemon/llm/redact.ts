import type { SecretValue } from '../../config/secrets.js';
import type { ChatMessage, ToolCallData } from './types.js';

/**
 * Secrets masked before any text reaches a model (a local model still writes logs, caches prompts
 * and may be a shared server). The mask names the kind so the model can still reason ("a Slack
 * token was here") without seeing it. Order matters: the specific shapes run before the generic
 * `key=value` rule so a PEM block or a token keeps its precise label.
 */
interface Rule {
  kind: string;
  re: RegExp;
  /** Builds the replacement from the match; default `[redacted:kind]`. */
  replace?: (match: string, ...groups: string[]) => string;
}

const RULES: Rule[] = [
  { kind: 'private-key', re: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$)/g },
  { kind: 'slack-token', re: /\bxox[abposre]-[A-Za-z0-9-]{8,}/g },
  { kind: 'slack-token', re: /\bxapp-[A-Za-z0-9-]{8,}/g },
  { kind: 'slack-webhook', re: /https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9/_-]+/g },
  { kind: 'github-token', re: /\bgh[pousr]_[A-Za-z0-9]{20,}/g },
  { kind: 'github-token', re: /\bgithub_pat_[A-Za-z0-9_]{20,}/g },
  { kind: 'gitlab-token', re: /\bglpat-[A-Za-z0-9_-]{20,}/g },
  { kind: 'api-key', re: /\bsk-(?:proj-|ant-|live-)?[A-Za-z0-9_-]{16,}/g },
  { kind: 'stripe-key', re: /\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}/g },
  { kind: 'aws-access-key', re: /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b/g },
  { kind: 'google-api-key', re: /\bAIza[0-9A-Za-z_-]{35}\b/g },
  { kind: 'jwt', re: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g },
  // `Authorization: Bearer abc`, `Basic dXNlcjpwYXNz`: keep the scheme so the text still reads.
  // A credential has a digit or is long; this spares prose such as "Basic authentication".
  { kind: 'bearer', re: /\b(Bearer|Basic|Token)\s+(?:(?=[A-Za-z._~+/=-]*[0-9])[A-Za-z0-9._~+/=-]{8,}|[A-Za-z0-9._~+/=-]{24,})/g, replace: (_m, scheme: string) => `${scheme} [redacted:credential]` },
  // user:password@ in URLs (postgres://app:hunter2@db:5432).
  { kind: 'url-password', re: /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@[\]]+):([^\s@/[\]]+)@/gi, replace: (_m, pre: string) => `${pre}:[redacted:password]@` },
  // password=..., "api_key": "...", SECRET: ..., aws_secret_access_key = ...
  {
    kind: 'secret-value',
    re: /((["']?)\b[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?)\2\s*[=:]\s*)("[^"\n]*"|'[^'\n]*'|[^\s&,;"'}\]]+)/gi,
    replace: (m, prefix: string, _q: string, value: string) => {
      if (value.startsWith('[redacted')) return m;
      const quote = value.startsWith('"') || value.startsWith("'") ? value[0] : '';
      return `${prefix}${quote}[redacted:secret]${quote}`;
    },
  },
];

export interface RedactResult {
  text: string;
  /** How many secrets were masked. */
  count: number;
}

function asGlobal(re: RegExp): RegExp {
  return re.flags.includes('g') ? re : new RegExp(re.source, `${re.flags}g`);
}

/** Masks secrets in `text` and says how many it masked. */
export function redactCount(text: string, extra: readonly RegExp[] = [], secrets?: SecretMasker): RedactResult {
  // the known values first: a shape rule could otherwise cut one in two and leave half of it
  const known = secrets ? secrets.text(text) : { text, count: 0 };
  let count = known.count;
  let out = known.text;
  for (const rule of RULES) {
    out = out.replace(rule.re, (...args: unknown[]) => {
      const match = args[0] as string;
      const groups = args.slice(1).filter((g): g is string => typeof g === 'string' || g === undefined) as string[];
      const replaced = rule.replace ? rule.replace(match, ...groups) : `[redacted:${rule.kind}]`;
      if (replaced !== match) count++;
      return replaced;
    });
  }
  for (const re of extra) {
    out = out.replace(asGlobal(re), (match: string) => {
      if (match === '') return match;
      count++;
      return '[redacted]';
    });
  }
  return { text: out, count };
}

/**
 * Masks secrets: built-in token shapes (Slack xoxb-/xoxp-/xapp-, `sk-...`, AWS AKIA..., GitHub
 * ghp_..., PEM private keys, `Bearer ...`, `password=...`, URL passwords, JWTs, ...) plus the
 * config's `llm.redact` patterns (each whole match becomes `[redacted]`).
 */
export function redact(text: string, extra: readonly RegExp[] = []): string {
  return redactCount(text, extra).text;
}

function redactValue(v: unknown, extra: readonly RegExp[], counter: { n: number }, secrets?: SecretMasker): unknown {
  if (typeof v === 'string') {
    const r = redactCount(v, extra, secrets);
    counter.n += r.count;
    return r.text;
  }
  if (secrets && (typeof v === 'number' || typeof v === 'bigint')) return secrets.value(v);
  if (Array.isArray(v)) return v.map((x) => redactValue(x, extra, counter, secrets));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactValue(x, extra, counter, secrets)]));
  return v;
}

/** Redacts every message's content and the string values inside replayed tool-call arguments. */
export function redactMessages(messages: readonly ChatMessage[], extra: readonly RegExp[], secrets?: SecretMasker): { messages: ChatMessage[]; count: number } {
  const counter = { n: 0 };
  const out = messages.map((m) => {
    const r = redactCount(m.content, extra, secrets);
    counter.n += r.count;
    const next: ChatMessage = { ...m, content: r.text };
    if (m.tool_calls) next.tool_calls = m.tool_calls.map((tc): ToolCallData => ({ ...tc, arguments: redactValue(tc.arguments, extra, counter, secrets) as Record<string, unknown> }));
    return next;
  });
  return { messages: out, count: counter.n };
}

// ---------------------------------------------------------------------------------------------
// Known secret values (issue 19 item 11)

/** Shorter values would mask ordinary words and numbers. */
const MIN_SECRET = 6;

/**
 * Characters that formatting puts inside a value: digit grouping (1,234,567 / 1 234 567 / 1.234.567 /
 * 1'234'567, with narrow or no-break spaces), and line breaks or spaces where text was wrapped or split.
 */
const SPLIT = "[\\s,.'_\\u00a0\\u2009\\u202f\\u2019-]*";

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/**
 * The secret values the daemon knows (from the environment and the config), masked wherever they
 * appear: as they are, digit-grouped or split across whitespace and line breaks, and as raw numbers
 * in structured values, so nothing formats a secret number into a shape no pattern would match.
 */
export class SecretMasker {
  private readonly res: { name: string; re: RegExp; value: string }[] = [];

  constructor(values: readonly SecretValue[]) {
    const seen = new Set<string>();
    // longest first: a value containing another is masked whole
    for (const v of [...values].sort((a, b) => b.value.length - a.value.length)) {
      const value = v.value.trim();
      if (value.length < MIN_SECRET || seen.has(value)) continue;
      seen.add(value);
      const chars = [...value].map(escapeRe);
      this.res.push({ name: v.name, value, re: new RegExp(chars.join(SPLIT), 'g') });
    }
  }

  get size(): number {
    return this.res.length;
  }

  /** Masks every known secret in `text`, in any of its formatted shapes. */
  text(text: string): RedactResult {
    let count = 0;
    let out = text;
    for (const s of this.res) {
      if (!out.includes(s.value[0])) continue;
      out = out.replace(s.re, () => {
        count++;
        return `[redacted:${s.name}]`;
      });
    }
    return { text: out, count };
  }

  /** Masks secrets in raw values, before anything formats them: strings, and numbers whose digits are a secret. */
  value<T>(v: T): T {
    if (this.res.length === 0) return v;
    return this.walk(v) as T;
  }

  private walk(v: unknown): unknown {
    if (typeof v === 'string') return this.text(v).text;
    if (typeof v === 'number' || typeof v === 'bigint') {
      const digits = String(v);
      const hit = this.res.find((s) => digits.includes(s.value) || (/^[\d.,\s]+$/.test(s.value) && s.value.replace(/[^\d]/g, '') === digits.replace(/[^\d]/g, '')));
      return hit ? `[redacted:${hit.name}]` : v;
    }
    if (Array.isArray(v)) return v.map((x) => this.walk(x));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.walk(x)]));
    return v;
  }
}
