import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Alarms } from '../../src/daemon/engine/timers.js';

// The clock is vitest's fake one: the heap's behaviour over days, not seconds of real waiting.
describe('Alarms (one timer and a heap for every durable timer)', () => {
  beforeEach(() => void vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => void vi.useRealTimers());

  const collect = (): { fired: [string, number][]; alarms: Alarms } => {
    const fired: [string, number][] = [];
    return { fired, alarms: new Alarms((k) => fired.push([k, Date.now()])) };
  };

  it('fires each alarm once, in time order, at its time', () => {
    const { fired, alarms } = collect();
    alarms.set('c', 1_000_300);
    alarms.set('a', 1_000_100);
    alarms.set('b', 1_000_200);
    expect(alarms.size).toBe(3);
    vi.advanceTimersByTime(99);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1_000);
    expect(fired).toEqual([
      ['a', 1_000_100],
      ['b', 1_000_200],
      ['c', 1_000_300],
    ]);
    expect(alarms.size).toBe(0);
    expect(alarms.has('a')).toBe(false);
  });

  it('a cleared alarm never fires; a re-armed one fires at its new time only', () => {
    const { fired, alarms } = collect();
    alarms.set('gone', 1_000_050);
    alarms.set('moved', 1_000_060);
    alarms.set('kept', 1_000_070);
    alarms.clear('gone');
    alarms.set('moved', 1_000_500);
    expect(alarms.has('gone')).toBe(false);
    vi.advanceTimersByTime(1_000);
    expect(fired).toEqual([
      ['kept', 1_000_070],
      ['moved', 1_000_500],
    ]);
  });

  it('an alarm earlier than the armed one fires first; a past or unreadable time fires at once', () => {
    const { fired, alarms } = collect();
    alarms.set('late', 1_010_000);
    alarms.set('early', 1_000_010);
    alarms.set('past', 900_000);
    alarms.set('nan', Number.NaN);
    vi.advanceTimersByTime(0);
    expect(fired.map(([k]) => k).sort()).toEqual(['nan', 'past']);
    vi.advanceTimersByTime(10);
    expect(fired.at(-1)).toEqual(['early', 1_000_010]);
    vi.advanceTimersByTime(10_000);
    expect(fired.at(-1)).toEqual(['late', 1_010_000]);
  });

  it('waits past setTimeout\'s ~24.8-day limit in steps', () => {
    const { fired, alarms } = collect();
    const at = 1_000_000 + 40 * 86_400_000;
    alarms.set('far', at);
    vi.advanceTimersByTime(2 ** 31 - 1);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(at - Date.now());
    expect(fired).toEqual([['far', at]]);
  });

  it('a handler may arm and clear alarms while others fire', () => {
    const fired: string[] = [];
    const alarms: Alarms = new Alarms((k) => {
      fired.push(k);
      if (k === 'first') {
        alarms.set('later', Date.now() + 5);
        alarms.clear('second');
      }
    });
    alarms.set('first', 1_000_010);
    alarms.set('second', 1_000_020);
    vi.advanceTimersByTime(100);
    expect(fired).toEqual(['first', 'later']);
  });

  it('10,000 alarms at random times, many re-armed: each fires once, in order, at its last time', () => {
    const { fired, alarms } = collect();
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const want = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      const key = `r${i % 4_000}`;
      const t = 1_000_000 + Math.floor(rnd() * 7_200_000);
      alarms.set(key, t);
      want.set(key, t);
    }
    for (let i = 0; i < 500; i++) {
      alarms.clear(`r${i}`);
      want.delete(`r${i}`);
    }
    expect(alarms.size).toBe(want.size);
    vi.advanceTimersByTime(7_300_000);
    expect(fired.length).toBe(want.size);
    for (const [k, t] of fired) expect(t).toBe(want.get(k));
    for (let i = 1; i < fired.length; i++) expect(fired[i][1]).toBeGreaterThanOrEqual(fired[i - 1][1]);
  });

  it('clearAll leaves nothing armed', () => {
    const { fired, alarms } = collect();
    alarms.set('a', 1_000_010);
    alarms.clearAll();
    vi.advanceTimersByTime(1_000);
    expect(fired).toEqual([]);
    expect(alarms.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
