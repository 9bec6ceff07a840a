import { describe, expect, it } from 'vitest';
import { escapeTeams, MAX_CARD_BYTES, secretKey, teamsMessage } from '../../src/daemon/notify/channels/teams-card.js';
import { teamsRefusal } from '../../src/daemon/notify/channels/webhook.js';
import type { Notification, RunJson } from '../../src/protocol/index.js';
import { secretValues } from '../../src/config/secrets.js';

const note = (over: Partial<Notification> = {}): Notification => ({
  id: '000001-r_abcd1234',
  at: '2026-12-04T17:00:00.000Z',
  run_id: 'r_abcd1234',
  workflow: 'slo',
  step: null,
  kind: 'notify',
  level: 'info',
  title: 'slo r_abcd1234: note',
  text: 'hello',
  channels: {},
  data: {},
  ...over,
});

const bodyText = (m: ReturnType<typeof teamsMessage>['message']): string => JSON.stringify(m.attachments[0].content.body);

describe('Teams cards', () => {
  it('escapes Markdown, mentions and line-start list or heading markers, and nothing else', () => {
    expect(escapeTeams('<at>Everyone</at> **x** _y_ [a](http://b) `c` ~d~ \\')).toBe('\\<at\\>Everyone\\</at\\> \\*\\*x\\*\\* \\_y\\_ \\[a\\](http://b) \\`c\\` \\~d\\~ \\\\');
    expect(escapeTeams('- one\n  + two\n3. three\n# four\nfive - six 7. eight')).toBe('\\- one\n  \\+ two\n3\\. three\n\\# four\nfive - six 7. eight');
    expect(escapeTeams('CPU 12% at 10:00, p95=212ms (ok)')).toBe('CPU 12% at 10:00, p95=212ms (ok)');
    expect(escapeTeams('engine_test.noop on checkout_api_ _x café_bar')).toBe('engine_test.noop on checkout_api\\_ \\_x café_bar');
  });

  it('stays under the size limit whatever it is given, and says it was cut', () => {
    const huge = '*'.repeat(200_000);
    const view = { id: 'r_abcd1234', workflow: 'slo', status: 'failed', outcome: 'failed', params: { service: huge }, steps: Array.from({ length: 300 }, (_, i) => ({ id: `s${i}`, label: `s${i}`, status: 'succeeded', attempts: 1, started_at: null, ended_at: null, output: null, error: null, measurements: [{ metric: `m${i}${huge.slice(0, 500)}`, value: i, unit: 'ms', threshold: 1, op: '<=', ok: false }] })), progress: { fraction: null, eta: null, basis: 'none', steps: { done: 0, total: 0 }, waiting: null }, error: huge } as unknown as RunJson;
    const out = teamsMessage({ n: note({ title: huge, text: huge }), view, mask: (t) => t });
    expect(out.bytes).toBeLessThanOrEqual(MAX_CARD_BYTES);
    expect(Buffer.byteLength(JSON.stringify(out.message))).toBeLessThan(28 * 1024);
    expect(out.truncated).toBe(true);
    expect(bodyText(out.message)).toMatch(/truncated/);
  });

  it('masks secrets and secret-named arguments of an approval; commands keep the run id as typed', () => {
    const n = note({ kind: 'approval', level: 'warning', data: { prompt: 'go?', next: { step: 'fix', tool: 'ops.restart', args: { password: 'p', url: 'https://x/?k=SECRETVALUE123' }, args_hash: 'ab12' } } });
    const out = teamsMessage({ n, view: null, mask: (t) => t.replaceAll('SECRETVALUE123', '[redacted:K]') });
    const text = bodyText(out.message);
    expect(text).not.toContain('SECRETVALUE123');
    expect(text).toContain('"title":"password","value":"\\\\[redacted\\\\]"');
    expect(text).toContain('"text":"opstream approve r_abcd1234"');
    expect(text).toContain('"text":"opstream reject r_abcd1234 --comment \\"why\\""');
  });

  it('knows a secret-named key by its words', () => {
    for (const k of ['password', 'api_key', 'apiKey', 'X-Auth-Token', 'db_pin', 'AWS_SECRET_ACCESS_KEY', 'routing_key', 'clientSecret']) expect(secretKey(k), k).toBe(true);
    for (const k of ['mapping', 'author', 'tokens_used', 'service', 'spinner', 'keyboard', 'key']) expect(secretKey(k), k).toBe(false);
  });

  it('reads the classic connector\'s "200 but failed" bodies', () => {
    expect(teamsRefusal('1')).toBeNull();
    expect(teamsRefusal('')).toBeNull();
    expect(teamsRefusal('Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413 with ContextId tcid=0..')).toBe(413);
    expect(teamsRefusal('Webhook message delivery failed with error: Error contacting Microsoft Teams endpoint')).toBe(500);
  });

  it("a Teams Workflows URL's sig is one of the daemon's secrets", () => {
    const s = secretValues({}, { webhooks: [{ format: 'teams', url: 'https://x.logic.azure.com/workflows/1/invoke?api-version=1&sig=S1Gvalue0123456789' }, { format: 'json', url: 'https://h.example/?sig=notateamsurl' }] });
    expect(s).toEqual([{ name: 'webhook.url sig', value: 'S1Gvalue0123456789' }]);
  });
});
