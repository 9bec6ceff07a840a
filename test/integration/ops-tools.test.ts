import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolPool } from '../../src/daemon/tools/pool.js';
import { opsServerEntry, opsSpec } from '../../src/daemon/tools/server-specs.js';
import { memoryLog } from '../support/tools-fixtures.js';

// The built-in ops server, spawned from dist/ like the daemon does, called through the pool.
let pool: ToolPool;
let http: Server;
let base: string;
let deadUrl: string;
let dir: string;
const seen: { method: string; headers: IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'opstools-'));
  pool = new ToolPool([opsSpec(['echo hello', '/^sleep \\d+$/', 'false'])], { log: memoryLog().log });
  http = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method!, headers: req.headers, body });
      if (req.url === '/fail') res.writeHead(503).end('down');
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, path: req.url }));
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  deadUrl = `http://127.0.0.1:${(dead.address() as { port: number }).port}/`;
  await new Promise<void>((r) => dead.close(() => r()));
});
afterAll(async () => {
  await pool.stop();
  await new Promise<void>((r) => http.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

describe('ops.http_probe', () => {
  it('reports latency percentiles and status codes', async () => {
    const r = await pool.call({ tool: 'ops.http_probe', args: { url: `${base}/health`, count: 20, concurrency: 4 } });
    expect(r.ok).toBe(true);
    expect(r.structured).toMatchObject({ count: 20, responses: 20, ok: 20, errors: 0, timeouts: 0, status_codes: { '200': 20 } });
    const lat = (r.structured as { latency_ms: Record<string, number> }).latency_ms;
    expect(lat.p50).toBeLessThanOrEqual(lat.p95);
    expect(lat.p95).toBeLessThanOrEqual(lat.p99);
    expect(lat.p99).toBeLessThanOrEqual(lat.max);
    const mixed = await pool.call({ tool: 'ops.http_probe', args: { url: `${base}/fail`, count: 3 } });
    expect(mixed.structured).toMatchObject({ status_codes: { '503': 3 }, ok: 0 });
  });

  it('gives a clear error for an unreachable URL', async () => {
    const r = await pool.call({ tool: 'ops.http_probe', args: { url: deadUrl, count: 3 } });
    expect(r).toMatchObject({ ok: false, isError: true });
    expect(r.text).toContain('did not answer: connection refused (ECONNREFUSED) (3 of 3 requests failed)');
    const data = await pool.call({ tool: 'ops.http_probe', args: { url: deadUrl, count: 2, fail_if_unreachable: false } });
    expect(data.structured).toMatchObject({ errors: 2, responses: 0 });
  });

  it('rejects a URL that is not http(s) before calling', async () => {
    const r = await pool.call({ tool: 'ops.http_probe', args: { url: 'not a url' } });
    expect(r.error?.code).toBe('invalid_params');
  });
});

describe('ops.process_stats and ops.system_stats', () => {
  it('samples a process by pid and by name', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'opstream-test-sleeper'], { stdio: 'ignore' });
    try {
      const r = await pool.call({ tool: 'ops.process_stats', args: { pid: child.pid, sample_ms: 100 } });
      expect(r.ok).toBe(true);
      expect(r.structured).toMatchObject({ pid: child.pid, count: 1, rss_bytes: expect.any(Number), threads: expect.any(Number), cpu_percent: expect.any(Number), open_fds: expect.any(Number) });
      const byName = await pool.call({ tool: 'ops.process_stats', args: { name: 'opstream-test-sleeper', sample_ms: 100 } });
      expect((byName.structured as { processes: { pid: number }[] }).processes.map((p) => p.pid)).toContain(child.pid);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('gives a clear error for a missing pid or name', async () => {
    expect((await pool.call({ tool: 'ops.process_stats', args: { pid: 2 ** 22 + 7 } })).text).toBe(`no process with pid ${2 ** 22 + 7}`);
    expect((await pool.call({ tool: 'ops.process_stats', args: { name: 'no-such-process-xyz' } })).text).toContain('no process named "no-such-process-xyz"');
    expect((await pool.call({ tool: 'ops.process_stats', args: {} })).isError).toBe(true);
  });

  it('reports load, cpu, memory, disks and top processes', async () => {
    const r = await pool.call({ tool: 'ops.system_stats', args: { top: 3, sample_ms: 100 } });
    expect(r.ok).toBe(true);
    const s = r.structured as { memory: { total_bytes: number }; disks: unknown[]; top_cpu: unknown[]; cpus: number };
    expect(s.memory.total_bytes).toBeGreaterThan(0);
    expect(s.cpus).toBeGreaterThan(0);
    expect(s.top_cpu.length).toBeLessThanOrEqual(3);
  });
});

describe('ops.log_scan', () => {
  it('counts pattern matches with first/last occurrence, errors per minute and top messages', async () => {
    const file = join(dir, 'app.log');
    writeFileSync(
      file,
      [
        '2026-01-05T10:00:01Z INFO started',
        '2026-01-05T10:00:02Z ERROR db timeout after 3000 ms (conn 17)',
        '2026-01-05T10:00:40Z ERROR db timeout after 3001 ms (conn 4)',
        '2026-01-05T10:01:03Z WARN slow',
        '2026-01-05T10:01:09Z ERROR payment failed for order 991',
        '{"time":1767607330000,"level":50,"msg":"fatal: out of memory"}',
      ].join('\n') + '\n',
    );
    const r = await pool.call({ tool: 'ops.log_scan', args: { path: file, patterns: ['ERROR', 'fatal'] } });
    expect(r.ok).toBe(true);
    const s = r.structured as { error_count: number; lines_scanned: number; patterns: { pattern: string; count: number; first: { line: number }; last: { line: number } }[]; errors_per_minute: { minute: string; errors: number }[]; top_messages: { count: number; message: string }[] };
    expect(s.lines_scanned).toBe(6);
    expect(s.error_count).toBe(4);
    expect(s.patterns[0]).toMatchObject({ pattern: 'ERROR', count: 3, first: { line: 2 }, last: { line: 5 } });
    expect(s.errors_per_minute.find((m) => m.minute === '2026-01-05T10:00Z')?.errors).toBe(2);
    expect(s.top_messages[0].count).toBe(2); // the two db timeouts fold into one message
  });

  it('finds the same lines as a per-line match over many lines, anchors and several patterns included', async () => {
    const file = join(dir, 'many.log');
    const lines = Array.from({ length: 12_345 }, (_, i) => (i % 97 === 0 ? `ERROR job ${i} failed` : i % 89 === 0 ? `job ${i} hit a timeout` : `INFO job ${i} ok timeout=${i}s`));
    writeFileSync(file, `${lines.join('\n')}\n`);
    const patterns = ['^ERROR', 'timeout$', '(?i)JOB 1\\d{3} '];
    const r = await pool.call({ tool: 'ops.log_scan', args: { path: file, patterns, case_sensitive: true } });
    expect(r.ok, r.text).toBe(true);
    const s = r.structured as { lines_scanned: number; error_count: number; patterns: { count: number; first: { line: number } | null; last: { line: number } | null }[] };
    const js = [/^ERROR/, /timeout$/, /JOB 1\d{3} /i];
    expect(s.lines_scanned).toBe(lines.length);
    expect(s.error_count).toBe(lines.filter((l) => js.some((re) => re.test(l))).length);
    js.forEach((re, k) => {
      const at = lines.map((l, i) => (re.test(l) ? i + 1 : 0)).filter(Boolean);
      expect(s.patterns[k]).toMatchObject({ count: at.length, first: { line: at[0] }, last: { line: at[at.length - 1] } });
    });
  });

  it('gives a clear error for a missing file or a bad pattern', async () => {
    expect((await pool.call({ tool: 'ops.log_scan', args: { path: join(dir, 'missing.log') } })).text).toBe(`no such file: ${join(dir, 'missing.log')}`);
    expect((await pool.call({ tool: 'ops.log_scan', args: { path: dir } })).text).toContain('is not a regular file');
    writeFileSync(join(dir, 'x.log'), 'a\n');
    expect((await pool.call({ tool: 'ops.log_scan', args: { path: join(dir, 'x.log'), patterns: ['('] } })).text).toContain('is not a valid regular expression');
  });
});

describe('ops.http_request', () => {
  it('makes one call with method, headers and JSON body, and is marked destructive', async () => {
    const r = await pool.call({ tool: 'ops.http_request', args: { url: `${base}/restart`, method: 'POST', json: { service: 'api' }, headers: { 'x-test': '1' } }, idempotencyKey: 'r9:fix:1' });
    expect(r.structured).toMatchObject({ status: 200, ok: true, json: { ok: true, path: '/restart' } });
    const last = seen[seen.length - 1];
    expect(last).toMatchObject({ method: 'POST', body: '{"service":"api"}' });
    expect(last.headers['idempotency-key']).toBe('r9:fix:1');
    expect(last.headers['x-test']).toBe('1');
    expect(pool.get('ops.http_request')?.destructive).toBe(true);
  });

  it('gives a clear error for an unreachable URL', async () => {
    const r = await pool.call({ tool: 'ops.http_request', args: { url: deadUrl } });
    expect(r.isError).toBe(true);
    expect(r.text).toContain('failed: connection refused (ECONNREFUSED)');
  });
});

describe('ops.run_command', () => {
  it('runs allowlisted commands (exact or /regex/) without a shell and refuses others', async () => {
    const ok = await pool.call({ tool: 'ops.run_command', args: { command: 'echo hello' } });
    expect(ok.structured).toMatchObject({ exit_code: 0, stdout: 'hello\n', timed_out: false });
    const denied = await pool.call({ tool: 'ops.run_command', args: { command: 'echo hello; rm -rf /' } });
    expect(denied.isError).toBe(true);
    expect(denied.text).toContain('command not allowed');
    const failing = await pool.call({ tool: 'ops.run_command', args: { command: 'false' } });
    expect(failing.text).toContain('exited with code 1');
    const slow = await pool.call({ tool: 'ops.run_command', args: { command: 'sleep 30', timeout_ms: 300 } });
    expect(slow.text).toContain('timed out after 300 ms and was killed');
    expect(pool.get('ops.run_command')?.destructive).toBe(true);
  });

  it('refuses everything when no allowlist is configured', async () => {
    const p = new ToolPool([opsSpec([])], { log: memoryLog().log });
    try {
      const r = await p.call({ tool: 'ops.run_command', args: { command: 'echo hello' } });
      expect(r.text).toContain('no commands are allowed');
    } finally {
      await p.stop();
    }
  });
});

describe('ops.analyze_samples', () => {
  it('is served by the ops server', async () => {
    const t = pool.get('ops.analyze_samples') ?? (await pool.list()).find((x) => x.name === 'ops.analyze_samples');
    expect(t?.annotations.readOnlyHint).toBe(true);
  });
});

describe('the ops server on its own', () => {
  it('serves any MCP client over stdio, with the allowlist from --allow', async () => {
    const client = new Client({ name: 'other-client', version: '1' });
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [opsServerEntry(), '--allow', 'echo standalone'], stderr: 'ignore' }));
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(['analyze_samples', 'appsignals_facts', 'http_probe', 'http_request', 'log_scan', 'process_stats', 'run_command', 'system_stats']);
      expect(tools.find((t) => t.name === 'run_command')?.annotations?.destructiveHint).toBe(true);
      const r = await client.callTool({ name: 'run_command', arguments: { command: 'echo standalone' } });
      expect(r.structuredContent).toMatchObject({ stdout: 'standalone\n' });
      const bad = await client.callTool({ name: 'http_probe', arguments: { url: 'ftp://x' } });
      expect(bad.isError).toBe(true);
      // failures say whether the same call may succeed later
      const gone = await client.callTool({ name: 'process_stats', arguments: { pid: 2 ** 22 + 7 } });
      expect(gone).toMatchObject({ isError: true, _meta: { 'opstream/retryable': false } });
      const refused = await client.callTool({ name: 'http_request', arguments: { url: deadUrl } });
      expect(refused).toMatchObject({ isError: true, _meta: { 'opstream/retryable': true } });
    } finally {
      await client.close();
    }
  });
});
