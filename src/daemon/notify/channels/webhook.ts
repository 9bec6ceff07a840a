import { createHmac } from 'node:crypto';
import { hostname } from 'node:os';
import type { CompiledWebhook } from '../../../config/load.js';
import { PACKAGE_VERSION } from '../../../protocol/index.js';
import type { Channel, DeliveryResult, Notification } from '../types.js';

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
 * POSTs each notification to one configured URL. 2xx confirms; 429 retries after Retry-After;
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

  constructor(private readonly hook: CompiledWebhook) {
    this.name = hook.name;
    this.timeoutMs = hook.timeoutMs;
  }

  async deliver(n: Notification, signal: AbortSignal): Promise<DeliveryResult> {
    const payload = this.hook.format === 'pagerduty' ? pagerDutyPayload(n, this.hook.routing_key ?? '') : jsonPayload(n);
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
    const text = res.ok ? '' : (await res.text().catch(() => '')).slice(0, 200).replace(/\s+/g, ' ');
    if (res.ok) {
      await res.body?.cancel().catch(() => undefined);
      return { kind: 'delivered', receipt: `HTTP ${res.status}` };
    }
    const what = `HTTP ${res.status}${text ? `: ${text}` : ''}`;
    if (res.status === 429) return { kind: 'retry', error: what, afterMs: retryAfterMs(res.headers.get('retry-after')) ?? undefined };
    if (res.status >= 500 || res.status === 408) return { kind: 'retry', error: what, afterMs: retryAfterMs(res.headers.get('retry-after')) ?? undefined };
    return { kind: 'failed', error: `${what} (permanent: a 4xx answer will not change by retrying; not retried; check the webhook's url)` };
  }

  /** Each notification stands alone, except PagerDuty's: a resolve must not overtake its trigger. */
  orderKey(n: Notification): string {
    return this.hook.format === 'pagerduty' ? `pd:${pagerDutyKey(n)}` : n.id;
  }

  describe(): { kind: string; target: string | null } {
    return { kind: this.hook.format === 'pagerduty' ? 'pagerduty' : 'webhook', target: safeUrl(this.hook.url) };
  }
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
