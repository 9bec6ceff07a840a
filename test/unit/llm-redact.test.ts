import { describe, expect, it } from 'vitest';
import { capToolOutput, compactMessages, estimatePromptTokens, redact, redactCount, redactMessages, type ChatMessage } from '../../src/daemon/llm/index.js';

describe('redact', () => {
  it.each([
    ['slack bot token', 'token is xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp ok', 'xoxb-', '[redacted:slack-token]'],
    ['slack user token', 'xoxp-1111111111-2222222222-abcdefabcdef', 'xoxp-', '[redacted:slack-token]'],
    ['slack app token', 'SLACK_APP=xapp-1-A0123456789-1234567890-abcdef0123', 'xapp-', '[redacted'],
    ['openai key', 'use sk-proj-AbCdEf0123456789AbCdEf0123456789 for that', 'sk-proj-AbCdEf', '[redacted:api-key]'],
    ['aws access key', 'aws id AKIAIOSFODNN7EXAMPLE in the log', 'AKIAIOSFODNN7EXAMPLE', '[redacted:aws-access-key]'],
    ['github token', 'remote https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com', 'ghp_abc', '[redacted:github-token]'],
    ['bearer header', 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc123def456', 'eyJhbGci', 'Bearer [redacted:credential]'],
    ['password=', 'mysql -h db password=hunter2 --batch', 'hunter2', 'password=[redacted:secret]'],
    ['json secret', '{"user":"app","db_password": "s3cr3t!", "port": 5432}', 's3cr3t', '"db_password": "[redacted:secret]"'],
    ['url password', 'DATABASE_URL=postgres://app:hunter2@db.internal:5432/app', 'hunter2', 'postgres://app:[redacted:password]@db.internal'],
    ['jwt', 'cookie eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U', 'dozjgNry', '[redacted:jwt]'],
  ])('masks a %s', (_name, input, secret, expected) => {
    const out = redact(input);
    expect(out).not.toContain(secret);
    expect(out).toContain(expected);
  });

  it('masks a whole PEM private key block', () => {
    const pem = ['-----BEGIN RSA PRIVATE KEY-----', 'MIIEowIBAAKCAQEA1234567890abcdef', 'ZmFrZSBrZXkgbWF0ZXJpYWw=', '-----END RSA PRIVATE KEY-----'].join('\n');
    const out = redact(`key:\n${pem}\nafter`);
    expect(out).toBe('key:\n[redacted:private-key]\nafter');
  });

  it('applies the configured extra patterns and counts every mask', () => {
    const r = redactCount('ticket ACME-1234 and ACME-99 with xoxb-1234567890-abcdefghij', [/ACME-\d+/g]);
    expect(r.text).toBe('ticket [redacted] and [redacted] with [redacted:slack-token]');
    expect(r.count).toBe(3);
  });

  it('accepts extra patterns compiled without the g flag', () => {
    expect(redact('a CODE-1 b CODE-2', [/CODE-\d/])).toBe('a [redacted] b [redacted]');
  });

  it('leaves ordinary operations text alone', () => {
    const text = 'max_tokens: 100, disk-usage 93%, Basic authentication failed for task-force; tokens used 512; skip-list ok';
    expect(redactCount(text)).toEqual({ text, count: 0 });
  });

  it('redacts message contents and string values inside replayed tool-call arguments', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'deploy with xoxb-1234567890-abcdefghij' },
      { role: 'assistant', content: '', tool_calls: [{ name: 'db.query', arguments: { dsn: 'postgres://app:hunter2@db:5432/x', n: 3, nested: { token: 'password=abc' } } }] },
    ];
    const r = redactMessages(messages, []);
    expect(JSON.stringify(r.messages)).not.toMatch(/hunter2|xoxb-1234|password=abc/);
    expect(r.messages[1].tool_calls?.[0].arguments.n).toBe(3);
    expect(r.count).toBe(3);
    // The input is not mutated: the run keeps what really happened.
    expect(messages[0].content).toContain('xoxb-');
  });
});

describe('capToolOutput', () => {
  it('returns text within the cap unchanged', () => {
    expect(capToolOutput('short result', 4096, 0.25)).toBe('short result');
  });

  it('cuts to share x num_ctx tokens (~4 chars each) with a visible marker that counts what was cut', () => {
    const text = `HEAD${'x'.repeat(20_000)}TAIL`;
    const out = capToolOutput(text, 4096, 0.25); // 1024 tokens ~ 4096 chars
    expect(out.length).toBeLessThanOrEqual(4096);
    const m = /\[\.\.\. truncated (\d+) of (\d+) chars; the full result is kept in the run\]/.exec(out);
    expect(m).not.toBeNull();
    expect(Number(m![2])).toBe(text.length);
    // What was kept plus what was cut adds up to the original.
    const kept = out.length - m![0].length - 2; // the marker sits on its own line
    expect(Number(m![1]) + kept).toBe(text.length);
    expect(out.startsWith('HEAD')).toBe(true);
    expect(out.endsWith('TAIL')).toBe(true);
  });

  it('is idempotent, so capping an already capped result changes nothing', () => {
    const once = capToolOutput('y'.repeat(50_000), 2048, 0.25);
    expect(capToolOutput(once, 2048, 0.25)).toBe(once);
  });

  it('never splits a surrogate pair', () => {
    const out = capToolOutput('😀'.repeat(5000), 1024, 0.25);
    expect(out).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
  });
});

describe('compactMessages', () => {
  const conversation = (turns: number, toolChars: number): ChatMessage[] => {
    const ms: ChatMessage[] = [
      { role: 'system', content: 'You are an ops assistant.' },
      { role: 'user', content: 'Find out why checkout latency rose at 14:00.' },
    ];
    for (let i = 0; i < turns; i++) {
      ms.push({ role: 'assistant', content: `Step ${i}: probing.`, tool_calls: [{ name: 'ops.http_probe', arguments: { url: `https://svc-${i}.internal/health` } }] });
      ms.push({ role: 'tool', tool_name: 'ops.http_probe', content: `result ${i}: ${'z'.repeat(toolChars)}` });
    }
    return ms;
  };

  it('returns the messages as they are when they fit', () => {
    const ms = conversation(2, 100);
    expect(compactMessages(ms, 0, 10_000)).toEqual({ messages: ms, report: null });
  });

  it('drops older tool outputs first and keeps the task and the latest turn whole', () => {
    const ms = conversation(6, 2000);
    const budget = estimatePromptTokens(ms) - 1200;
    const { messages, report } = compactMessages(ms, 0, budget);
    expect(estimatePromptTokens(messages)).toBeLessThanOrEqual(budget);
    expect(messages.slice(0, 2)).toEqual(ms.slice(0, 2));
    expect(messages.at(-1)).toEqual(ms.at(-1));
    expect(messages.some((m) => /^\[older tool output dropped: \d+ chars\]$/.test(m.content))).toBe(true);
    expect(report).toMatchObject({ tool_outputs_dropped: expect.any(Number), messages_summarized: 0 });
  });

  it('folds older turns into one summary note when dropping outputs is not enough', () => {
    const ms = conversation(12, 400);
    const budget = 400;
    const { messages, report } = compactMessages(ms, 0, budget);
    expect(estimatePromptTokens(messages)).toBeLessThanOrEqual(budget);
    expect(report!.messages_summarized).toBeGreaterThan(0);
    const note = messages.find((m) => m.content.startsWith('[Context note from OpStream'));
    expect(note?.content).toContain('ops.http_probe');
    expect(messages[1].content).toBe('Find out why checkout latency rose at 14:00.');
    expect(messages.at(-1)).toEqual(ms.at(-1));
  });
});
