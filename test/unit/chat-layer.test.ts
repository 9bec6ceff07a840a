import { describe, expect, it } from 'vitest';
import { threadReply } from '../../src/daemon/chat/conversation.js';
import { digestView, quietHeading } from '../../src/daemon/chat/digest.js';
import { NEUTRAL_VOCABULARY } from '../../src/daemon/chat/intent.js';
import type { Notification, RunJson } from '../../src/protocol/index.js';

// The chat layer's pure parts, the same for every platform: what a message in a run's thread means,
// the neutral command words, and the digest view. (Through the daemon: discord-bridge, slack-*.)

const waiting = (kind: 'approval' | 'input'): RunJson => ({ id: 'r_abcd12', waiting_for: { kind, step: 'ask', prompt: 'Restart?' } }) as unknown as RunJson;

describe('threadReply', () => {
  it('a short yes/no decides the approval the run waits for, bound to its step, with what the refusal audit names', () => {
    const r = threadReply('r_abcd12', waiting('approval'), 'Fix it', false, 'in Discord');
    expect(r).toEqual({ kind: 'decide', decision: 'approved', step: 'ask', cmd: { kind: 'approve', run: 'r_abcd12', comment: '"Fix it" in Discord' }, what: 'r_abcd12 ask (thread reply "Fix it")' });
    expect(threadReply('r_abcd12', waiting('approval'), "don't", false, 'in Slack')).toMatchObject({ kind: 'decide', decision: 'rejected', cmd: { kind: 'reject' } });
  });

  it('a sentence that merely mentions fixing is a question, not a yes; people talking get no answer', () => {
    expect(threadReply('r_abcd12', waiting('approval'), 'can you fix it later?', false, 'in Slack')).toMatchObject({ kind: 'ask', cmd: { kind: 'ask', question: 'can you fix it later?' } });
    expect(threadReply('r_abcd12', waiting('approval'), 'lunch at noon', false, 'in Slack')).toEqual({ kind: 'ignore' });
    expect(threadReply('r_abcd12', waiting('approval'), 'lunch at noon', true, 'in Slack')).toMatchObject({ kind: 'ask' });
    expect(threadReply('r_abcd12', null, '', true, 'in Slack')).toEqual({ kind: 'ignore' });
  });

  it('where the run asks for input, any message is the answer', () => {
    expect(threadReply('r_abcd12', waiting('input'), 'yes, db-2', false, 'in Slack')).toEqual({ kind: 'respond', cmd: { kind: 'respond', run: 'r_abcd12', text: 'yes, db-2' }, what: 'r_abcd12 (thread reply)' });
  });
});

describe('the neutral vocabulary', () => {
  it('knows the layer\'s commands and their aliases, not Slack\'s own', () => {
    const v = NEUTRAL_VOCABULARY('discord');
    expect(v.commandOf('Stop')).toBe('cancel');
    expect(v.commandOf('status')).toBe('status');
    expect(v.commandOf('prefs')).toBeNull();
    expect(v.commandOf('schedules')).toBeNull();
  });
});

describe('digestView', () => {
  it('shows 20 entries, the first line only when it says more than the title, open approvals bound to their wait', () => {
    const n = (i: number, extra: Partial<Notification> = {}): Notification => ({ id: `n${String(i).padStart(3, '0')}`, title: `note ${i}`, text: i === 0 ? 'note 0' : `line of ${i}\nmore`, run_id: 'r_abcd12', ...extra }) as unknown as Notification;
    const entries = Array.from({ length: 23 }, (_, i) => n(i));
    const v = digestView(entries, quietHeading(23, { startSec: 0, endSec: 3600, timezone: 'UTC' }), new Map([['n001', { run: 'r_abcd12', step: 'ask', seq: 7 }]]));
    expect(v.heading).toBe('While it was quiet (00:00-01:00 UTC): 23 notifications');
    expect(v.items).toHaveLength(20);
    expect(v.more).toBe(3);
    expect(v.items[0].first).toBeNull();
    expect(v.items[1]).toMatchObject({ first: 'line of 1', approval: { run: 'r_abcd12', step: 'ask', seq: 7 } });
    expect(quietHeading(1, null)).toBe('While it was quiet: 1 notification');
  });
});
