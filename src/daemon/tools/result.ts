import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

/** Default cap on what one result may carry into runs, the cache and the socket. */
export const DEFAULT_MAX_RESULT_BYTES = 1024 * 1024;

/**
 * Where a server may say whether an `isError` result is worth retrying: `_meta["opstream/retryable"]`
 * (the built-in ops server always does; src/ops-server/tool.ts RETRYABLE_META is the same key).
 */
export const RETRYABLE_META = 'opstream/retryable';

export interface NormalizedResult {
  isError: boolean;
  /** For `isError` results: what the server said about retrying, or null when it did not say. */
  retryable: boolean | null;
  content: unknown[];
  structured: unknown;
  text: string;
  bytes: number;
  truncated: boolean;
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${n} B`;
}

function truncateUtf8(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  // may cut a multi-byte character; the replacement char it leaves is acceptable in a truncated text
  return Buffer.from(s).subarray(0, Math.max(0, maxBytes)).toString('utf8');
}

/**
 * Turns a CallToolResult into what callers read, keeping it under `maxBytes`: text is cut, blocks
 * or structured content that do not fit are dropped, and a final text block says so.
 */
export function normalizeResult(raw: CallToolResult, maxBytes: number): NormalizedResult {
  const content = Array.isArray(raw.content) ? (raw.content as unknown[]) : [];
  const structured = raw.structuredContent ?? null;
  const bytes = Buffer.byteLength(JSON.stringify(raw));
  const isError = raw.isError === true;
  const said = raw._meta?.[RETRYABLE_META];
  const retryable = isError && typeof said === 'boolean' ? said : null;
  if (bytes <= maxBytes) return { isError, retryable, content, structured, text: joinText(content), bytes, truncated: false };

  let budget = maxBytes;
  let keptStructured: unknown = null;
  if (structured !== null) {
    const size = Buffer.byteLength(JSON.stringify(structured));
    if (size <= budget / 2) {
      keptStructured = structured;
      budget -= size;
    }
  }
  const out: unknown[] = [];
  for (const block of content) {
    const b = block as { type?: string; text?: string };
    if (budget <= 0) break;
    if (b.type === 'text' && typeof b.text === 'string') {
      const text = truncateUtf8(b.text, budget);
      budget -= Buffer.byteLength(text);
      out.push({ ...b, text });
    } else {
      const size = Buffer.byteLength(JSON.stringify(block));
      if (size <= budget) {
        out.push(block);
        budget -= size;
      } else out.push({ type: 'text', text: `[${b.type ?? 'block'} of ${formatBytes(size)} omitted]` });
    }
  }
  const note = `[opstream: result truncated: the server returned ${formatBytes(bytes)}, over the ${formatBytes(maxBytes)} limit${structured !== null && keptStructured === null ? '; structured content dropped' : ''}]`;
  out.push({ type: 'text', text: note });
  return { isError, retryable, content: out, structured: keptStructured, text: joinText(out), bytes, truncated: true };
}

function joinText(content: unknown[]): string {
  const parts: string[] = [];
  for (const c of content) {
    const b = c as { type?: string; text?: string };
    if (b.type === 'text' && typeof b.text === 'string') parts.push(b.text);
  }
  return parts.join('\n');
}
