import { describe, expect, it } from 'vitest';
import { LineDecoder } from '../../src/protocol/framing.js';

describe('LineDecoder', () => {
  it('splits frames across chunk boundaries and skips blank lines', () => {
    const d = new LineDecoder(100);
    expect(d.push(Buffer.from('{"a":1}\n{"b"'))).toEqual([{ kind: 'line', line: '{"a":1}' }]);
    expect(d.push(Buffer.from(':2}\n\n\n'))).toEqual([{ kind: 'line', line: '{"b":2}' }]);
  });

  it('reports an oversize frame once, as soon as it passes the cap, then recovers after its newline', () => {
    const d = new LineDecoder(10);
    expect(d.push(Buffer.from('0123456789AB'))).toEqual([{ kind: 'oversize', bytes: 12 }]);
    expect(d.push(Buffer.from('more bytes of the same frame'))).toEqual([]);
    expect(d.push(Buffer.from('tail\n{"ok":1}\n'))).toEqual([{ kind: 'line', line: '{"ok":1}' }]);
  });

  it('keeps multi-byte characters whole when a chunk splits them', () => {
    const d = new LineDecoder(100);
    const bytes = Buffer.from('"héllo ✓"\n');
    expect(d.push(bytes.subarray(0, 3))).toEqual([]);
    expect(d.push(bytes.subarray(3))).toEqual([{ kind: 'line', line: '"héllo ✓"' }]);
  });
});
