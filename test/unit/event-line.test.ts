import { describe, expect, it } from 'vitest';
import type { RunEventJson } from '../../src/protocol/index.js';
import { paint } from '../../src/ui/color.js';
import { eventLine, keyFigures } from '../../src/ui/events.js';
import { colorEnabled } from '../../src/ui/color.js';

const at = new Date(2030, 0, 2, 10, 11, 12).toISOString();
const now = new Date(2030, 0, 2, 12, 0, 0).getTime();
const ev = (e: Partial<RunEventJson> & Record<string, unknown>): RunEventJson => ({ seq: 1, at, run_id: 'r_abcd1234', type: 'x', ...e }) as RunEventJson;

describe('event lines', () => {
  it('say what happened with the key figures first', () => {
    const probe = { url: 'http://x/health', method: 'GET', started_at: at, duration_ms: 812, count: 20, responses: 20, ok: 19, errors: 1, timeouts: 0, status_codes: { 200: 19 }, latency_ms: { min: 3, mean: 9.123, p50: 8, p95: 20.5, p99: 30, max: 31 }, error_samples: [] };
    expect(eventLine(ev({ type: 'step.succeeded', step: 'probe', output: probe }), { now })).toBe('10:11:12  probe  succeeded  latency p95 20.5 ms, ok 19 of 20 requests, failed 1 request');
    expect(eventLine(ev({ type: 'step.waiting', step: 'fix', waiting_for: { kind: 'approval', step: 'fix', prompt: 'Apply?' } }), { now })).toBe('10:11:12  fix  waiting for approval: "Apply?"');
    expect(eventLine(ev({ type: 'step.failed', step: 'probe', error: 'boom\nstack', retry_at: at }), { now })).toBe('10:11:12  probe  failed: boom; retry at 10:11:12');
    expect(eventLine(ev({ type: 'approval.answered', step: 'fix', decision: 'rejected', by: 'cli:ann', comment: 'later' }), { now })).toBe('10:11:12  fix  rejected by cli:ann: "later"');
    expect(eventLine(ev({ type: 'step.succeeded', step: 'say', output: { delivered_to: ['terminal', 'ops'] } }), { now })).toBe('10:11:12  say  succeeded  delivered_to=terminal,ops');
    expect(eventLine(ev({ type: 'agent.turn', step: 'think', tokens: 812, model: 'qwen' }), { now })).toBe('10:11:12  think  agent.turn  tokens=812 model=qwen');
    expect(eventLine(ev({ type: 'run.created', params: { service: 'api' }, trigger: 'cli' }), { now: now + 86_400_000 })).toBe('01-02 10:11:12  run created (cli)  service=api');
    expect(keyFigures('x'.repeat(100))).toMatch(/^"x{57}\.\.\."$/);
  });

  it('colour only for terminals, never with NO_COLOR; cut at the given width', () => {
    const line = eventLine(ev({ type: 'run.failed', error: 'nope' }), { paint: paint(true), now, width: 20 });
    expect(line).toContain('\u001b[');
    expect(line.replace(/\u001b\[[0-9;]*m/g, '')).toBe('10:11:12  run faile…');
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
    expect(colorEnabled({ isTTY: false }, {})).toBe(false);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
  });
});
