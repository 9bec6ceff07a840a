import { createHmac } from 'node:crypto';
import { hostname } from 'node:os';
import type { CompiledWebhook } from '../../../config/load.js';
import { PACKAGE_VERSION, type RunJson } from '../../../protocol/index.js';
import type { Channel, DeliveryResult, Notification } from '../types.js';
import { teamsMessage } from './teams-card.js';

/** What a webhook needs from the daemon besides its config (Teams cards show the run view). */
export interface WebhookDeps {
  /** The run as every screen shows it, or null when it is gone. */
  runView(id: string): Promise<RunJson | null>;
  /** Masks every secret value the daemon knows. */
  mask(text: string): string;
}

const NO_DEPS: WebhookDeps = { runView: () => Promise.resolve(null), mask: (t) => t };

/**
 * The classic Teams connector answers 200 to everything it received and says in the body when
 * Teams itself refused the message: `Webhook message delivery failed with error: Microsoft Teams
 * endpoint returned HTTP error 429 with ContextId ...`. That body is the real status.
 */
export function teamsRefusal(body: string): number | null {
  if (!/delivery failed/i.test(body)) return null;
  const m = /HTTP error (\d{3})/i.exec(body);
  return m ? Number(m[1]) : 500;
}

/** The documented JSON payload (format: json). Receivers dedupe on `id` (also the Idempotency-Key header). */
export function jsonPayload(n: Notification): Record<string, unknown> {
  return {
    source: 'opstream',
    version: 1,
    id: n.id,
    at: n.at,
    kind: n.kind,
    level: n.level,
    title: n.title,
    text: n.text,
    run: n.run_id ? { id: n.run_id, workflow: n.workflow, step: n.step } : null,
    data: n.data,
  };
}

/**
 * The PagerDuty incident a notification belongs to: chosen when it was routed (notifier.ts), the
 * run id for a run's own alerts, a key per workflow and parameters for a failed run (so that the
 * next successful run of the same thing resolves it).
 */
export function pagerDutyKey(n: Notification): string {
  return typeof n.data.pagerduty_key === 'string' ? n.data.pagerduty_key : (n.run_id ?? n.id);
}

/**
 * PagerDuty Events API v2: a critical notification triggers an incident (see pagerDutyKey); only
 * a recovery of the same key resolves it, never the failure itself.
 */
export function pagerDutyPayload(n: Notification, routingKey: string): Record<string, unknown> {
  const action = n.data.pagerduty === 'resolve' ? 'resolve' : 'trigger';
  const body: Record<string, unknown> = { routing_key: routingKey, event_action: action, dedup_key: pagerDutyKey(n) };
  if (action === 'trigger') {
    body.payload = {
      summary: `${n.title}: ${n.text}`.slice(0, 1024),
      source: hostname(),
      severity: n.level === 'critical' ? 'critical' : n.level === 'warning' ? 'warning' : 'info',
      component: n.workflow ?? undefined,
      group: 'opstream',
      class: n.kind,
      custom_details: { text: n.text, run_id: n.run_id, step: n.step, notification_id: n.id },
    };
  }
  return body;
}

/** Seconds or an HTTP date, as Retry-After allows; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (!header) return null;
  if (/^\d+(\.\d+)?$/.test(header.trim())) return Math.round(Number(header) * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * POSTs each notification to one configured URL, as OpStream's JSON, a PagerDuty event or a Teams
 * Adaptive Card (teams-card.ts). 2xx confirms (for Teams: unless the classic connector's 200 body
 * says Teams refused it, see teamsRefusal); 429 retries after Retry-After;
 * 5xx, timeouts and refused connections retry with backoff; any other 4xx (a wrong URL, 410 Gone)
 * will not get better by itself and fails at once.
 *
 * Headers: `Idempotency-Key` (the notification id, stable across retries), `X-OpStream-Timestamp`
 * (unix seconds) and, with a `secret`, `X-OpStream-Signature: sha256=HEX` = HMAC-SHA256 of
 * `TIMESTAMP.BODY` so receivers can check origin and reject replays.
 */
export class WebhookChannel implements Channel {
  readonly name: string;
  readonly timeoutMs: number;
  readonly idempotent = true;

  constructor(
    private readonly hook: CompiledWebhook,
    private readonly deps: WebhookDeps = NO_DEPS,
  ) {
    this.name = hook.name;
    this.timeoutMs = hook.timeoutMs;
  }

  async deliver(n: Notification, signal: AbortSignal): Promise<DeliveryResult> {
    const payload = await this.payload(n);
    const body = JSON.stringify(payload);
    const ts = Math.floor(Date.now() / 1000).toString();
    const headers: Record<string, string> = {
      ...this.hook.headers,
      'content-type': 'application/json',
      'user-agent': `opstream/${PACKAGE_VERSION}`,
      'idempotency-key': n.id,
      'x-opstream-timestamp': ts,
    };
    if (this.hook.secret) headers['x-opstream-signature'] = `sha256=${createHmac('sha256', this.hook.secret).update(`${ts}.${body}`).digest('hex')}`;
    let res: Response;
    try {
      res = await fetch(this.hook.url, { method: 'POST', headers, body, signal, redirect: 'error' });
    } catch (e) {
      if (signal.aborted) return { kind: 'retry', error: `no answer within ${Math.round(this.timeoutMs / 1000)}s` };
      return classifyFetchError(e, this.hook.url);
    }
    // the body is read (and capped) only for the error text; a receiver's body is never trusted further
    const teams = this.hook.format === 'teams';
    if (res.ok && !teams) {
      await res.body?.cancel().catch(() => undefined);
      return { kind: 'delivered', receipt: `HTTP ${res.status}` };
    }
    const text = (await readCapped(res, 2048)).slice(0, 300).replace(/\s+/g, ' ').trim();
    let status = res.status;
    let what = `HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`;
    if (res.ok) {
      const refused = teamsRefusal(text);
      if (refused === null) return { kind: 'delivered', receipt: `HTTP ${res.status}` };
      status = refused;
      what = `HTTP ${res.status} but Teams refused the message (${refused}): ${text.slice(0, 200)}`;
    }
    const after = retryAfterMs(res.headers.get('retry-after')) ?? undefined;
    if (status === 429) return { kind: 'retry', error: what, afterMs: after };
    if (status >= 500 || status === 408) return { kind: 'retry', error: what, afterMs: after };
    const hint = teams && status === 413 ? 'the card is too large for Teams' : teams && status === 400 ? 'Teams refused the card' : "check the webhook's url";
    return { kind: 'failed', error: `${what} (permanent: a 4xx answer will not change by retrying; not retried; ${hint})` };
  }

  private async payload(n: Notification): Promise<unknown> {
    if (this.hook.format === 'pagerduty') return pagerDutyPayload(n, this.hook.routing_key ?? '');
    if (this.hook.format !== 'teams') return jsonPayload(n);
    // the run as it is now, from the one projection every screen uses (a run removed by retention: none)
    const view = n.run_id ? await this.deps.runView(n.run_id).catch(() => null) : null;
    return teamsMessage({ n, view, mask: (t) => this.deps.mask(t) }).message;
  }

  /** Each notification stands alone, except PagerDuty's: a resolve must not overtake its trigger. */
  orderKey(n: Notification): string {
    return this.hook.format === 'pagerduty' ? `pd:${pagerDutyKey(n)}` : n.id;
  }

  describe(): { kind: string; target: string | null } {
    return { kind: this.hook.format === 'json' ? 'webhook' : this.hook.format, target: safeUrl(this.hook.url) };
  }
}

/** A receiver's body, read only up to `max` bytes (it is never trusted further than an error text). */
async function readCapped(res: Response, max: number): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < max) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // a body cut off mid-way: what arrived is enough for an error text
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, max);
}

/** TLS failures that only a config change fixes (the receiver's name or its CA), not time. */
const TLS_PERMANENT = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT']);

/**
 * A host name that can never resolve: a label that is empty, too long, or has characters outside
 * letters, digits and hyphens (or starts/ends with a hyphen), or the reserved `.invalid` TLD
 * (RFC 6761). A well-formed name that does not resolve may be a VPN or resolver problem: retried.
 */
export function malformedHost(host: string): boolean {
  if (host.startsWith('[') || /^\d{1,3}(\.\d{1,3}){3}$/.test(host)) return false; // an IP literal
  const h = host.replace(/\.$/, '').toLowerCase();
  if (!h || h.length > 253 || h === 'invalid' || h.endsWith('.invalid')) return true;
  return h.split('.').some((l) => !/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(l));
}

/**
 * Whether a request that got no HTTP answer is worth trying again. Permanent: the URL cannot be
 * used at all (unparsable, a scheme fetch does not speak, a port the fetch standard blocks such as
 * 1, 9 or 25), the host name is malformed, or TLS says the certificate is not for this name or not
 * from a trusted CA. Transient: refused or reset connections, unreachable networks, DNS failures of
 * well-formed names, expired certificates (the receiver renews them).
 */
export function classifyFetchError(e: unknown, url: string): DeliveryResult {
  const err = e as Error & { cause?: { code?: string; message?: string; hostname?: string } };
  const code = err.cause?.code;
  const msg = err.cause?.message ?? err.message;
  const where = safeUrl(url);
  const permanent = (why: string): DeliveryResult => ({ kind: 'failed', error: `cannot use ${where}: ${why} (permanent: not retried; fix notify.webhooks url)` });
  if (code === 'ERR_INVALID_URL' || /^Failed to parse URL/.test(err.message)) return permanent('not a valid URL');
  if (msg === 'bad port') return permanent(`port ${portOf(url)} is blocked by the fetch standard (bad port)`);
  if (msg === 'unknown scheme' || /scheme must be/i.test(msg)) return permanent(`the scheme ${schemeOf(url)} is not http or https`);
  if (code && TLS_PERMANENT.has(code)) return permanent(`TLS: ${msg}`);
  // no such name, or the resolver could not say: a name that is malformed will never resolve
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL') {
    const host = err.cause?.hostname ?? hostOf(url);
    if (malformedHost(host)) return permanent(`the host name "${host}" is malformed and can never resolve`);
  }
  return { kind: 'retry', error: `cannot reach ${where}: ${code ?? msg}` };
}

function portOf(u: string): string {
  try {
    const url = new URL(u);
    return url.port || (url.protocol === 'https:' ? '443' : '80');
  } catch {
    return '?';
  }
}

function schemeOf(u: string): string {
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(u);
  return m ? m[1] : '(none)';
}

function hostOf(u: string): string {
  try {
    return new URL(u).hostname;
  } catch {
    return '';
  }
}

/** The URL without credentials or query (which may carry tokens), for error texts. */
export function safeUrl(u: string): string {
  try {
    const url = new URL(u);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return '(bad url)';
  }
}
