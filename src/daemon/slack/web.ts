import { ErrorCode, LogLevel, WebClient, type Logger as SlackLogger } from '@slack/web-api';
import type { Logger } from 'pino';
import type { CompiledSlack } from '../../config/load.js';
import { safeOutgoing } from './text.js';
import { FATAL_ERRORS } from './tokens.js';

/** The official clients log through this: their chatter goes to the daemon log at debug. */
export function slackLogger(log: Logger): SlackLogger {
  let level = LogLevel.INFO;
  return {
    debug: (...m: unknown[]) => log.debug(m.map(String).join(' ')),
    info: (...m: unknown[]) => log.debug(m.map(String).join(' ')),
    warn: (...m: unknown[]) => log.info(m.map(String).join(' ')),
    error: (...m: unknown[]) => log.warn(m.map(String).join(' ')),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

/**
 * The bot's Web API client. It never waits or retries by itself: a 429 is thrown at once
 * (`rejectRateLimitedCalls`; the client would otherwise pause its whole queue, so one busy channel
 * would stall every other) and network errors are not retried, so the outbox decides when to try
 * again, per Slack channel.
 */
export function webClient(s: Pick<CompiledSlack, 'bot_token' | 'api_url' | 'timeoutMs'>, log: Logger): WebClient {
  return new SafeWebClient(s.bot_token, {
    slackApiUrl: s.api_url ?? 'https://slack.com/api/',
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
    timeout: s.timeoutMs,
    logger: slackLogger(log),
  });
}

/**
 * Every post and edit goes through `apiCall` (the client binds its methods to it when built), so
 * this is the one place where the fallback text of every message is made unable to ping anyone.
 */
class SafeWebClient extends WebClient {
  override apiCall(method: string, options?: Record<string, unknown>): ReturnType<WebClient['apiCall']> {
    return super.apiCall(method, safeOutgoing(method, options));
  }
}

/** A failed Web API call, sorted: retry (after how long), give up, or the bridge must stop. */
export type CallFailure = { kind: 'retry'; error: string; afterMs?: number } | { kind: 'failed'; error: string; fatal: boolean; code: string | null };

/** Platform errors worth trying again later. */
const TRANSIENT = new Set(['internal_error', 'fatal_error', 'service_unavailable', 'request_timeout', 'ratelimited', 'rate_limited', 'team_added_to_org']);

export function classify(e: unknown, what: string): CallFailure {
  const err = e as { code?: string; data?: { error?: string }; retryAfter?: number; statusCode?: number; message?: string; original?: { message?: string; cause?: { code?: string } } };
  switch (err.code) {
    case ErrorCode.RateLimitedError: {
      const s = err.retryAfter ?? 1;
      return { kind: 'retry', error: `Slack rate limited ${what} (Retry-After ${s}s)`, afterMs: s * 1000 };
    }
    case ErrorCode.PlatformError: {
      const code = err.data?.error ?? 'unknown_error';
      if (TRANSIENT.has(code)) return { kind: 'retry', error: `Slack answered ${code} to ${what}` };
      return { kind: 'failed', error: `Slack refused ${what}: ${code}`, fatal: FATAL_ERRORS.has(code), code };
    }
    case ErrorCode.HTTPError: {
      const status = err.statusCode ?? 0;
      if (status >= 500 || status === 408) return { kind: 'retry', error: `Slack answered HTTP ${status} to ${what}` };
      return { kind: 'failed', error: `Slack answered HTTP ${status} to ${what}`, fatal: false, code: `http_${status}` };
    }
    case ErrorCode.RequestError: {
      const why = err.original?.cause?.code ?? err.original?.message ?? err.message ?? 'request failed';
      return { kind: 'retry', error: `cannot reach Slack for ${what}: ${why}` };
    }
    default:
      return { kind: 'retry', error: `${what} failed: ${err.message ?? String(e)}` };
  }
}

/** The platform error code of a failed call, or null. */
export function platformCode(e: unknown): string | null {
  const err = e as { code?: string; data?: { error?: string } };
  return err.code === ErrorCode.PlatformError ? (err.data?.error ?? null) : null;
}
