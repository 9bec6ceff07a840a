import { describe, expect, it } from 'vitest';
import { readFrame, readHello } from '../../src/client/frames.js';
import { HelloResult, ServerFrame } from '../../src/protocol/index.js';

// The CLI checks daemon frames by hand (no zod on its path); these must accept and reject exactly
// what the zod schemas in src/protocol do, and yield the same data.
const frames: unknown[] = [
  { id: 'c1', result: { t: 1 } },
  { id: 7, result: null },
  { id: 'c1', result: undefined },
  { id: 'c2', error: { code: 'not_found', message: 'no run r_1' } },
  { id: 'c2', error: { code: 'unavailable', message: 'busy', retryable: true, data: { a: 1 } } },
  { id: null, error: { code: 'bad_json', message: 'bad', retryable: false } },
  { event: 'run.updated', sub: 's1', data: { id: 'r_1' } },
  { event: 'run.updated', sub: 's1', data: null, extra: 1 },
  { id: 'c3', error: { code: 'made_up', message: 'x' } },
  { id: 'c3', error: { code: 'internal' } },
  { id: 'c3', error: { code: 'internal', message: 'x', retryable: 'yes' } },
  { id: '', result: 1 },
  { id: 'x'.repeat(65), result: 1 },
  { id: 1.5, result: 1 },
  { id: null, result: 1 },
  { id: 'c4' },
  { event: 'e', sub: 1, data: {} },
  { event: 'e', sub: 's' },
  [],
  'text',
  null,
  42,
];

function viaZod(v: unknown): unknown {
  const r = ServerFrame.safeParse(v);
  if (!r.success) return null;
  const m = r.data;
  if ('event' in m) return { kind: 'event', event: m.event, sub: m.sub, data: m.data };
  if ('error' in m) return { kind: 'error', id: m.id, error: m.error };
  return { kind: 'result', id: m.id, result: m.result };
}

describe('client frame checks (hand-written) agree with the protocol schemas', () => {
  it.each(frames.map((f) => [JSON.stringify(f) ?? String(f), f]))('%s', (_name, f) => {
    expect(readFrame(f)).toEqual(viaZod(f));
  });

  it('hello replies', () => {
    const good = { protocol: 1, version: '0.1.0', pid: 12, started_at: '2026-01-01T00:00:00.000Z', active_runs: 0 };
    const cases: unknown[] = [good, { ...good, extra: true }, { ...good, pid: 1.5 }, { ...good, version: 1 }, { ...good, active_runs: undefined }, null, []];
    for (const c of cases) {
      const z = HelloResult.safeParse(c);
      expect(readHello(c)).toEqual(z.success ? z.data : null);
    }
  });
});
