import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempHome, type TempHome } from '../support/home.js';
import { start, waitRun, stepOf } from '../support/runs.js';

// The built-in ops server as users meet it: through the daemon (`opstream tools call`, workflow steps).

const homes: TempHome[] = [];
afterEach(async () => {
  await Promise.all(homes.splice(0).map((h) => h.cleanup()));
});

function home(): TempHome {
  const h = tempHome('oss-');
  homes.push(h);
  return h;
}

interface Hit {
  method: string;
  path: string;
}

/** A loopback HTTP server that records every request and answers by path (redirects included). */
async function recorder(route: (path: string, base: string) => { status: number; location?: string }): Promise<{ server: Server; base: string; hits: Hit[] }> {
  const hits: Hit[] = [];
  let base = '';
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const path = req.url ?? '/';
      hits.push({ method: req.method ?? '', path });
      const r = route(path, base);
      res.writeHead(r.status, r.location ? { location: r.location } : {}).end(`answer of ${path}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, base, hits };
}

async function toolCall(h: TempHome, tool: string, args: Record<string, unknown>): Promise<{ code: number; out: Record<string, unknown> | null; stderr: string }> {
  const r = await cli(['tools', 'call', tool, '--args', JSON.stringify(args), '--json'], h.env, { timeoutMs: 60_000 });
  let out: Record<string, unknown> | null = null;
  try {
    out = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    // an error before any result: stderr says why
  }
  return { code: r.code, out, stderr: r.stderr };
}

describe('tool failures say whether a retry may help (issue 18.13)', () => {
  it('a missing pid fails the step once with a clear error; a refused connection is retried', async () => {
    const h = home();
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}/`;
    await new Promise<void>((r) => dead.close(() => r()));
    const missing = 2 ** 22 + 7; // above Linux's pid_max: no such process
    mkdirSync(join(h.home, 'workflows'));
    writeFileSync(
      join(h.home, 'workflows', 'nopid.yaml'),
      ['id: nopid', 'steps:', '  - id: stats', '    tool: ops.process_stats', `    with: { pid: ${missing}, sample_ms: 50 }`, '    retry: { attempts: 3, delay: 100ms }'].join('\n') + '\n',
    );
    writeFileSync(
      join(h.home, 'workflows', 'refused.yaml'),
      ['id: refused', 'steps:', '  - id: call', '    tool: ops.http_request', `    with: { url: "${deadUrl}", timeout_ms: 2000 }`, '    retry: { attempts: 2, delay: 100ms }'].join('\n') + '\n',
    );

    const nopid = await start(h, ['nopid']);
    const failed = await waitRun(h, nopid, (r) => r.status === 'failed', 'the nopid run to fail');
    expect(stepOf(failed, 'stats')).toMatchObject({ status: 'failed', attempts: 1 });
    expect(failed.error).toContain(`no process with pid ${missing}`);

    const refused = await start(h, ['refused']);
    const retried = await waitRun(h, refused, (r) => r.status === 'failed', 'the refused run to fail');
    expect(stepOf(retried, 'call')).toMatchObject({ status: 'failed', attempts: 2 });
    expect(retried.error).toContain('connection refused');
  });
});

describe('ops.http_request and redirects (issue 19.6)', () => {
  let a: Awaited<ReturnType<typeof recorder>>;
  let other: Awaited<ReturnType<typeof recorder>>;
  let h: TempHome; // one daemon for these three
  beforeAll(async () => {
    h = tempHome('oss-');
    other = await recorder(() => ({ status: 200 }));
    a = await recorder((path, base) => {
      if (path === '/post307') return { status: 307, location: '/landed' };
      const hop = /^\/(five|six)\/(\d+)$/.exec(path);
      if (hop) {
        const n = Number(hop[2]);
        const last = hop[1] === 'five' ? 5 : 6;
        return n < last ? { status: 302, location: `${base}/${hop[1]}/${n + 1}` } : { status: 200 };
      }
      if (path === '/away') return { status: 302, location: `${other.base}/stolen` };
      return { status: 200 };
    });
  });
  afterAll(async () => {
    await h.cleanup();
    for (const s of [a.server, other.server]) await new Promise<void>((r) => s.close(() => r()));
  });

  it('a POST to a 307 is not followed: one request, the 307 is the answer with its location', async () => {
    const r = await toolCall(h, 'ops.http_request', { url: `${a.base}/post307`, method: 'POST', json: { restart: true } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.out?.structured).toMatchObject({ status: 307, ok: false, url: `${a.base}/post307`, final_url: `${a.base}/post307`, location: `${a.base}/landed`, redirects: [] });
    expect(String((r.out?.structured as { redirect_not_followed: string }).redirect_not_followed)).toContain('a POST request does not follow redirects');
    expect(a.hits.filter((x) => x.path === '/post307')).toEqual([{ method: 'POST', path: '/post307' }]);
    expect(a.hits.some((x) => x.path === '/landed')).toBe(false);
  });

  it('a GET follows up to 5 redirects within the origin and refuses the 6th; it never leaves the origin', async () => {
    const five = await toolCall(h, 'ops.http_request', { url: `${a.base}/five/0` });
    expect(five.code, five.stderr).toBe(0);
    const s5 = five.out?.structured as { status: number; final_url: string; location: string | null; redirects: unknown[]; redirect_not_followed: string | null };
    expect(s5).toMatchObject({ status: 200, final_url: `${a.base}/five/5`, location: null, redirect_not_followed: null });
    expect(s5.redirects).toHaveLength(5);

    const six = await toolCall(h, 'ops.http_request', { url: `${a.base}/six/0` });
    const s6 = six.out?.structured as typeof s5;
    expect(s6).toMatchObject({ status: 302, final_url: `${a.base}/six/5`, location: `${a.base}/six/6`, redirect_not_followed: 'more than 5 redirects' });
    expect(a.hits.filter((x) => x.path.startsWith('/six/')).map((x) => x.path)).toEqual(['/six/0', '/six/1', '/six/2', '/six/3', '/six/4', '/six/5']);

    const away = await toolCall(h, 'ops.http_request', { url: `${a.base}/away`, headers: { authorization: 'Bearer only-for-a' } });
    expect(away.out?.structured).toMatchObject({ status: 302, final_url: `${a.base}/away`, location: `${other.base}/stolen` });
    expect(String((away.out?.structured as typeof s5).redirect_not_followed)).toContain(`leaves ${a.base} for ${other.base}`);
    expect(other.hits).toEqual([]);
  });

  it('reads a response body only up to max_body_bytes: an endless body is cut, not buffered until the timeout', async () => {
    const endless = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = (): void => {
        while (res.write(chunk));
        res.once('drain', pump);
      };
      pump();
      res.on('close', () => res.removeAllListeners('drain'));
    });
    await new Promise<void>((r) => endless.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(endless.address() as AddressInfo).port}/`;
      const r = await toolCall(h, 'ops.http_request', { url, max_body_bytes: 100_000, timeout_ms: 120_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.out?.structured).toMatchObject({ status: 200, body_bytes: 100_000, body_truncated: true });
    } finally {
      endless.closeAllConnections();
      await new Promise<void>((r) => endless.close(() => r()));
    }
  });

  it('ops.http_probe counts a redirect as the answer and never follows it', async () => {
    const before = a.hits.length;
    const r = await toolCall(h, 'ops.http_probe', { url: `${a.base}/away`, count: 3 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.out?.structured).toMatchObject({ status_codes: { '302': 3 } });
    expect(a.hits.length - before).toBe(3);
    expect(other.hits).toEqual([]);
  });
});

describe('ops.log_scan patterns and sizes (issue 19.8)', () => {
  it('a catastrophic pattern returns while another ops call answers; unsupported syntax and oversized tails are refused clearly', async () => {
    const h = home();
    const file = join(h.home, 'evil.log');
    // each line makes JavaScript's backtracking engine take 2^40 steps for (a+)+$
    writeFileSync(file, `${Array.from({ length: 200 }, () => `${'a'.repeat(40)}b`).join('\n')}\nthe end aaaa\n`);
    const [scan, other] = await Promise.all([
      toolCall(h, 'ops.log_scan', { path: file, patterns: ['(a+)+$'] }),
      toolCall(h, 'ops.process_stats', { pid: process.pid, sample_ms: 50 }),
    ]);
    expect(scan.code, scan.stderr).toBe(0);
    expect(scan.out?.structured).toMatchObject({ lines_scanned: 201, error_count: 1, patterns: [{ pattern: '(a+)+$', count: 1, first: { line: 201 } }] });
    expect(other.code, other.stderr).toBe(0);
    expect(other.out?.structured).toMatchObject({ pid: process.pid });

    const behind = await toolCall(h, 'ops.log_scan', { path: file, patterns: ['(?<=x)a'] });
    expect(behind.code).toBe(1);
    expect(behind.out?.text).toContain('uses lookbehind ((?<= and (?<!), which log patterns do not support');
    const backref = await toolCall(h, 'ops.log_scan', { path: file, patterns: ['(a)\\1'] });
    expect(backref.out?.text).toContain('uses backreferences');

    const huge = await toolCall(h, 'ops.log_scan', { path: file, tail_bytes: 512 * 1024 * 1024 });
    expect(huge.code).not.toBe(0);
    expect(huge.stderr).toMatch(/^opstream: ops\.log_scan: arguments do not match its input schema: tail_bytes: must be <= 67108864/);

    // a scan over its time limit is stopped, and the server goes on answering
    const heavy = Array.from({ length: 50 }, (_, i) => `[a-z]{1,50}[^x]{0,200}q${i}[\\w\\s]{1,300}(?:e|f|g){1,100}`);
    const slow = await toolCall(h, 'ops.log_scan', { path: file, patterns: heavy, timeout_ms: 300 });
    expect(slow.out?.text).toContain('was stopped after 300 ms');
    const after = await toolCall(h, 'ops.log_scan', { path: file, patterns: ['the end'] });
    expect(after.out?.structured).toMatchObject({ error_count: 1 });
  });
});
