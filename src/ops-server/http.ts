/** Why a fetch failed, in words a user can act on (undici hides the reason in `cause`). */
export function fetchErrorText(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string; errors?: { code?: string }[] } };
  if (err?.name === 'TimeoutError') return 'timed out';
  const c = err?.cause;
  const code = c?.code ?? c?.errors?.[0]?.code;
  if (code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED)';
  if (code === 'ENOTFOUND') return 'host not found (ENOTFOUND)';
  if (code === 'ECONNRESET') return 'connection reset (ECONNRESET)';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `unreachable (${code})`;
  if (code) return `${c?.message ?? err.message} (${code})`;
  return c?.message ?? err?.message ?? String(e);
}

export function isTimeout(e: unknown): boolean {
  return (e as Error)?.name === 'TimeoutError' || (e as { cause?: { code?: string } })?.cause?.code === 'UND_ERR_HEADERS_TIMEOUT';
}

/** How many redirects a GET may follow, all within the origin of the URL it was given. */
export const MAX_REDIRECTS = 5;
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);

export interface Hop {
  status: number;
  url: string;
  location: string;
}

export interface Fetched {
  /** The last response received: a 3xx when a redirect was not followed. */
  res: Response;
  /** The URL that gave `res`. */
  finalUrl: string;
  /** `res`'s Location header, resolved against finalUrl (null when it has none). */
  location: string | null;
  /** The redirects followed, in order. */
  redirects: Hop[];
  /** Why the redirect in `res` was not followed, or null when `res` is not a redirect. */
  notFollowed: string | null;
}

/**
 * fetch that never lets a redirect carry a request somewhere it was not approved to go. Only a GET
 * follows redirects, at most MAX_REDIRECTS, and only while they stay on the origin (scheme, host
 * and port) of `url`; anything else (any other method, another origin, one hop too many) ends the
 * chain and the 3xx itself is the answer, with its Location and the reason. undici's own following
 * would re-send method, body and headers to any host, up to 20 times.
 */
export async function fetchWithinOrigin(url: string, init: RequestInit & { method: string }): Promise<Fetched> {
  const origin = new URL(url).origin;
  const redirects: Hop[] = [];
  let current = url;
  for (;;) {
    const res = await fetch(current, { ...init, redirect: 'manual' });
    const raw = REDIRECT_STATUS.has(res.status) ? res.headers.get('location') : null;
    if (raw === null) return { res, finalUrl: current, location: null, redirects, notFollowed: null };
    let next: URL;
    try {
      next = new URL(raw, current);
    } catch {
      return { res, finalUrl: current, location: raw, redirects, notFollowed: `the Location ${JSON.stringify(raw.slice(0, 200))} is not a URL` };
    }
    const answer = (why: string): Fetched => ({ res, finalUrl: current, location: next.href, redirects, notFollowed: why });
    if (init.method !== 'GET') return answer(`a ${init.method} request does not follow redirects; the ${res.status} is the answer`);
    if (next.origin !== origin) return answer(`the redirect leaves ${origin} for ${next.origin}; only redirects within the origin are followed`);
    if (redirects.length >= MAX_REDIRECTS) return answer(`more than ${MAX_REDIRECTS} redirects`);
    await res.body?.cancel().catch(() => undefined);
    redirects.push({ status: res.status, url: current, location: next.href });
    current = next.href;
  }
}

/** Reads a body up to `max` bytes and stops there (the rest is never buffered): a response cannot make us hold more than asked. */
export async function readCapped(res: Response, max: number): Promise<{ buf: Buffer; truncated: boolean }> {
  const parts: Buffer[] = [];
  let kept = 0;
  let truncated = false;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = max - kept;
      if (value.length > room) {
        if (room > 0) parts.push(Buffer.from(value.subarray(0, room)));
        kept += Math.max(0, room);
        truncated = true;
        await reader.cancel().catch(() => undefined);
        break;
      }
      parts.push(Buffer.from(value));
      kept += value.length;
    }
  }
  return { buf: Buffer.concat(parts), truncated };
}
