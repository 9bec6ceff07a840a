import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/config/duration.js';

describe('durations', () => {
  it.each([
    ['30s', 30_000], ['5m', 300_000], ['2h', 7_200_000], ['1h30m', 5_400_000], ['2 hours', 7_200_000],
    ['90 minutes', 5_400_000], ['1.5h', 5_400_000], ['250ms', 250], ['45', 45_000], ['1d', 86_400_000],
  ])('parses %s', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['forever', '', '5 parsecs', 'h', '-5m', '5m junk'])('rejects %j', (text) => expect(parseDuration(text)).toBeNull());

  it('formats compactly', () => {
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(999)).toBe('999ms');
    expect(formatDuration(0)).toBe('0ms');
  });
});
