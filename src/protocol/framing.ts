/** Frames larger than this are refused; the connection stays usable after the next newline. */
export const MAX_FRAME_BYTES = 1024 * 1024;

export type Frame = { kind: 'line'; line: string } | { kind: 'oversize'; bytes: number };

/**
 * Splits a byte stream into newline-delimited frames without ever buffering more than the cap:
 * an oversize frame is reported once, as soon as it passes the cap, and its remaining bytes are
 * dropped up to its newline.
 */
export class LineDecoder {
  private parts: Buffer[] = [];
  private size = 0;
  private discarding = false;

  constructor(private readonly maxBytes = MAX_FRAME_BYTES) {}

  push(chunk: Buffer): Frame[] {
    const out: Frame[] = [];
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start);
      const end = nl === -1 ? chunk.length : nl;
      const piece = chunk.subarray(start, end);
      if (this.discarding) {
        // dropped: the rest of an oversize frame
      } else if (this.size + piece.length > this.maxBytes) {
        // Report at once, not at the newline: a client that never sends one must still hear why.
        out.push({ kind: 'oversize', bytes: this.size + piece.length });
        this.discarding = true;
        this.parts = [];
        this.size = 0;
      } else if (piece.length > 0) {
        this.parts.push(piece);
        this.size += piece.length;
      }
      if (nl === -1) break;
      if (this.discarding) {
        this.discarding = false;
      } else if (this.size > 0) {
        const line = Buffer.concat(this.parts, this.size).toString('utf8');
        this.parts = [];
        this.size = 0;
        if (line.trim().length > 0) out.push({ kind: 'line', line });
      }
      start = nl + 1;
    }
    return out;
  }
}

export function encodeFrame(msg: unknown): string {
  return `${JSON.stringify(msg)}\n`;
}
