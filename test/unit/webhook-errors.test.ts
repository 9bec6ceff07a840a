import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyFetchError, malformedHost } from '../../src/daemon/notify/channels/webhook.js';

// What a webhook's failed request means for its notification: the real errors of Node's fetch,
// sorted into "fix the config" (permanent, not retried) and "try again later" (transient).

async function fetchError(url: string): Promise<unknown> {
  try {
    await fetch(url, { method: 'POST', body: '{}', signal: AbortSignal.timeout(10_000) });
  } catch (e) {
    return e;
  }
  throw new Error(`${url} answered`);
}

describe('webhook delivery errors', () => {
  let dir: string;
  let server: ReturnType<typeof createServer>;
  let port = 0;

  beforeAll(async () => {
    // a certificate for another name than the one the webhook uses
    dir = mkdtempSync(join(tmpdir(), 'opwh-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=hooks.example.com', '-addext', 'subjectAltName=DNS:hooks.example.com'], { stdio: 'ignore' });
    server = createServer({ key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) }, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('a bad port, an unknown scheme and a malformed host are permanent, with a reason', async () => {
    const bad = classifyFetchError(await fetchError('http://127.0.0.1:9/x'), 'http://127.0.0.1:9/x');
    expect(bad).toMatchObject({ kind: 'failed' });
    expect((bad as { error: string }).error).toMatch(/port 9 is blocked by the fetch standard \(bad port\).*permanent/);
    expect(classifyFetchError(await fetchError('ftp://127.0.0.1/x'), 'ftp://127.0.0.1/x')).toMatchObject({ kind: 'failed', error: expect.stringMatching(/scheme ftp is not http or https/) });
    expect(classifyFetchError(await fetchError('http://bad_host/x'), 'http://bad_host/x')).toMatchObject({ kind: 'failed', error: expect.stringMatching(/host name "bad_host" is malformed/) });
    expect(classifyFetchError(new TypeError('Failed to parse URL from http://x:99999', { cause: Object.assign(new TypeError('Invalid URL'), { code: 'ERR_INVALID_URL' }) }), 'http://x:99999')).toMatchObject({ kind: 'failed', error: expect.stringMatching(/not a valid URL/) });
  });

  it('a certificate for another name (or from no trusted CA) is permanent', async () => {
    const url = `https://127.0.0.1:${port}/hook`;
    const r = classifyFetchError(await fetchError(url), url);
    expect(r).toMatchObject({ kind: 'failed', error: expect.stringMatching(/^cannot use https:\/\/127\.0\.0\.1:\d+\/hook: TLS: .*permanent/) });
  });

  it('a refused connection is transient', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const free = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const url = `http://127.0.0.1:${free}/x`;
    expect(classifyFetchError(await fetchError(url), url)).toMatchObject({ kind: 'retry', error: expect.stringMatching(/ECONNREFUSED/) });
  });

  it('tells malformed host names from well-formed ones and IP literals', () => {
    for (const h of ['bad_host', 'a..b', '-x.example.com', 'x.invalid', 'invalid']) expect(malformedHost(h), h).toBe(true);
    for (const h of ['hooks.example.com', 'localhost', '127.0.0.1', '[::1]', 'events.pagerduty.com.']) expect(malformedHost(h), h).toBe(false);
  });
});
