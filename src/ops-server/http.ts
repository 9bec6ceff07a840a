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
