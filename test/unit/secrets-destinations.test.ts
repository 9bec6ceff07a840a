import { describe, expect, it } from 'vitest';
import { parseHostRule } from '../../src/config/allow-hosts.js';
import { SecretMasker } from '../../src/daemon/llm/redact.js';
import { Destinations } from '../../src/daemon/tools/destinations.js';

describe('SecretMasker', () => {
  const m = new SecretMasker([
    { name: 'PIN', value: '4815162342' },
    { name: 'TOKEN', value: 'vlt-9f3k2m-77xq' },
    { name: 'SHORT', value: '123' },
  ]);

  it.each([
    ['4815162342', 'plain'],
    ['4,815,162,342', 'comma grouping'],
    ['4 815 162 342', 'space grouping'],
    ['4\u202f815\u202f162\u202f342', 'narrow no-break spaces'],
    ["4'815'162'342", 'Swiss grouping'],
    ['48151\n62342', 'a line break'],
  ])('masks %j (%s)', (shape) => {
    expect(m.text(`value: ${shape}!`).text).toBe('value: [redacted:PIN]!');
  });

  it('masks a token split across a line break, leaves short values and other numbers alone', () => {
    expect(m.text('t=vlt-9f3k2m-\n77xq').text).toBe('t=[redacted:TOKEN]');
    expect(m.text('123 and 4815 and 162342').text).toBe('123 and 4815 and 162342');
  });

  it('masks a secret number in raw values before anything formats it', () => {
    expect(m.value({ pin: 4815162342, other: 42, list: ['x 4,815,162,342'] })).toEqual({ pin: '[redacted:PIN]', other: 42, list: ['x [redacted:PIN]'] });
  });
});

describe('allow_hosts patterns', () => {
  it('rejects what is not a host, IP, CIDR or port', () => {
    expect(typeof parseHostRule('10.0.0.0/33')).toBe('string');
    expect(typeof parseHostRule('host:99999')).toBe('string');
    expect(typeof parseHostRule('http://x')).toBe('string');
  });

  const d = new Destinations({
    raw: { allow_hosts: ['*.corp.example', '10.20.0.0/16', '127.0.0.1:9090', '[::1]:8443'], log_dirs: ['/var/log/app'], services: { api: { url: 'http://127.0.0.1:8080/health', log: '/srv/api.log' } } } as never,
    llm: null,
    notify: { desktop: 'off', webhooks: [], retentionMs: null } as never,
    mcpServers: {},
  });

  it.each([
    ['http://svc.corp.example/x', true],
    ['http://corp.example/x', false],
    ['http://10.20.3.4:81/', true],
    ['http://10.21.0.1/', false],
    ['http://127.0.0.1:9090/metrics', true],
    ['http://127.0.0.1:8080/other', true],
    ['http://127.0.0.1:2375/containers', false],
    ['http://localhost:9090/', false],
    ['http://[::1]:8443/', true],
    ['http://169.254.169.254/latest/meta-data/', false],
    ['http://2852039166/', false],
    ['http://[::ffff:169.254.169.254]/', false],
  ])('%s allowed: %s', (url, ok) => {
    expect(d.checkUrl(url) === null).toBe(ok);
  });

  it('paths: inside log_dirs or named in the config, never out through ..', () => {
    expect(d.checkPath('/var/log/app/x.log')).toBeNull();
    expect(d.checkPath('/srv/api.log')).toBeNull();
    expect(d.checkPath('/var/log/app/../../../etc/shadow')).toContain('outside the log directories');
    expect(d.checkPath('/var/log/application.log')).toContain('outside the log directories');
  });
});
