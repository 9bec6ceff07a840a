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
 * PagerDuty Events API v2: a critical notification triggers an incident keyed by the run id, so
 * every alert of one run lands in one incident; the run's recovery or end resolves it.
 */
export function pagerDutyPayload(n: Notification, routingKey: string): Record<string, unknown> {
  const action = n.data.pagerduty === 'resolve' ? 'resolve' : 'trigger';
  const body: Record<string, unknown> = { routing_key: routingKey, event_action: action, dedup_key: n.run_id ?? n.id };
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
      const err = e as Error & { cause?: { code?: string; message?: string } };
      if (signal.aborted) return { kind: 'retry', error: `no answer within ${Math.round(this.timeoutMs / 1000)}s` };
      const why = err.cause?.code ?? err.cause?.message ?? err.message;
      return { kind: 'retry', error: `cannot reach ${safeUrl(this.hook.url)}: ${why}` };
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
    return { kind: 'failed', error: `${what} (a 4xx answer will not change by retrying; check the webhook's url)` };
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
