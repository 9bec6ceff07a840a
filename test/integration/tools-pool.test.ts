import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { probeServer } from '../../src/daemon/tools/probe.js';
import { ToolPool } from '../../src/daemon/tools/pool.js';
import { opsSpec } from '../../src/daemon/tools/server-specs.js';
import { waitFor } from '../support/home.js';
import { FAULT_SERVER, memoryLog, nodeSpec, npmServer } from '../support/tools-fixtures.js';

const pools: ToolPool[] = [];
const dirs: string[] = [];
function pool(...args: ConstructorParameters<typeof ToolPool>): ToolPool {
  const p = new ToolPool(...args);
  pools.push(p);
  return p;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.stop()));
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('tool pool against real MCP servers', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tools-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'hello.txt'), 'hello from the filesystem server\n');
  });

  it('discovers tools as server.tool from ops, memory, filesystem and everything, and calls them', async () => {
    const { log } = memoryLog();
    const p = pool(
      [
        opsSpec([]),
        nodeSpec('memory', [npmServer('server-memory')], { env: { MEMORY_FILE_PATH: join(dir, 'memory.json') } }),
        nodeSpec('fs', [npmServer('server-filesystem'), dir]),
        nodeSpec('everything', [npmServer('server-everything')]),
      ],
      { log },
    );
    p.warm();
    const names = (await p.list()).map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['ops.http_probe', 'ops.process_stats', 'ops.system_stats', 'ops.log_scan', 'ops.analyze_samples', 'ops.http_request', 'ops.run_command', 'memory.read_graph', 'fs.read_text_file', 'everything.echo']));
    expect(p.servers().every((s) => s.state === 'ready')).toBe(true);

    const created = await p.call({ tool: 'memory.create_entities', args: { entities: [{ name: 'db', entityType: 'service', observations: ['slow at 9am'] }] } });
    expect(created.error).toBeNull();
    const graph = await p.call({ tool: 'memory.read_graph' });
    expect(graph.ok).toBe(true);
    expect(graph.text).toContain('slow at 9am');

    const file = await p.call({ tool: 'fs.read_text_file', args: { path: join(dir, 'hello.txt') } });
    expect(file.ok).toBe(true);
    expect(file.text).toContain('hello from the filesystem server');

    const echo = await p.call({ tool: 'everything.echo', args: { message: 'hi' } });
    expect(echo.text).toBe('Echo: hi');

    // structured content is kept
    const weather = await p.call({ tool: 'everything.get-structured-content', args: { location: 'Chicago' } });
    expect(weather.ok).toBe(true);
    expect(weather.structured).toMatchObject({ temperature: expect.any(Number), conditions: expect.any(String) });

    // spawned once each, however many calls
    expect(p.servers().map((s) => s.spawns)).toEqual([1, 1, 1, 1]);
  });

  it('gives spawned servers only their configured env plus PATH, HOME and LANG', async () => {
    const { log } = memoryLog();
    const daemonEnv = { PATH: process.env.PATH, HOME: '/home/someone', LANG: 'C.UTF-8', SLACK_BOT_TOKEN: 'xoxb-secret', SLACK_APP_TOKEN: 'xapp-secret', AWS_SECRET_ACCESS_KEY: 'nope' };
    const p = pool([nodeSpec('fault', [FAULT_SERVER], { env: { REGION: 'eu-west-1' } }), nodeSpec('everything', [npmServer('server-everything')])], { log, baseEnv: daemonEnv });
    const r = await p.call({ tool: 'fault.env' });
    expect(Object.keys(JSON.parse(r.text)).sort()).toEqual(['HOME', 'LANG', 'PATH', 'REGION']);
    expect(JSON.parse(r.text).HOME).toBe('/home/someone');
    const e = await p.call({ tool: 'everything.get-env' });
    expect(e.text).not.toContain('xoxb-secret');
    expect(e.text).not.toContain('SLACK');
  });

  it('returns isError results as data and keeps structured content', async () => {
    const p = pool([nodeSpec('fault', [FAULT_SERVER])], { log: memoryLog().log });
    const r = await p.call({ tool: 'fault.fail' });
    expect(r).toMatchObject({ ok: false, isError: true, error: null, text: 'the thing is broken' });
    const s = await p.call({ tool: 'fault.structured' });
    expect(s).toMatchObject({ ok: true, structured: { n: 42 } });
    // the output schema is compiled when a result is first checked, not at tools/list: still checked
    const bad = await p.call({ tool: 'fault.structured', args: { bad: true } });
    expect(bad.ok).toBe(false);
    expect(JSON.stringify(bad.error)).toMatch(/does not match the tool's output schema/);
  });

  it('rejects unknown servers, unknown tools and bad names with clear errors', async () => {
    const p = pool([nodeSpec('fault', [FAULT_SERVER])], { log: memoryLog().log });
    expect((await p.call({ tool: 'nope.echo' })).error).toMatchObject({ code: 'not_found', message: expect.stringContaining('no MCP server "nope"') });
    expect((await p.call({ tool: 'fault.nope' })).error).toMatchObject({ code: 'not_found', message: expect.stringContaining('has no tool "nope"') });
    expect((await p.call({ tool: 'fault' })).error).toMatchObject({ code: 'not_found', message: expect.stringContaining('server.tool') });
  });

  it('validates arguments against the input schema before calling', async () => {
    const p = pool([nodeSpec('fault', [FAULT_SERVER])], { log: memoryLog().log });
    const bad = await p.call({ tool: 'fault.counter', args: { key: 5 } });
    expect(bad.error).toMatchObject({ code: 'invalid_params', retryable: false, message: expect.stringContaining('key: must be string') });
    const missing = await p.call({ tool: 'fault.echo', args: {} });
    expect(missing.error?.message).toContain('missing required property "text"');
    // the rejected call never reached the server: its counter starts at 1
    expect((await p.call({ tool: 'fault.counter', args: { key: 'a' } })).text).toBe('1');
  });

  it('reports a command that does not exist, and keeps serving other servers', async () => {
    const p = pool([nodeSpec('bad', [], { command: '/nonexistent/mcp-server' }), nodeSpec('fault', [FAULT_SERVER])], { log: memoryLog().log });
    p.warm();
    await p.settle();
    expect(p.servers()[0]).toMatchObject({ state: 'failed', reason: 'command not found: /nonexistent/mcp-server' });
    const r = await p.call({ tool: 'bad.anything' });
    expect(r.error).toMatchObject({ code: 'unavailable', retryable: true, message: expect.stringContaining('command not found: /nonexistent/mcp-server') });
    expect((await p.call({ tool: 'fault.echo', args: { text: 'still here' } })).text).toBe('still here');
  });

  it('reports a server that crashes on start with its stderr, and one that never finishes starting', async () => {
    const p = pool([nodeSpec('crashy', [FAULT_SERVER, '--crash-on-start']), nodeSpec('stuck', [FAULT_SERVER, '--hang-on-start'])], { log: memoryLog().log, startTimeoutMs: 1_500 });
    p.warm();
    // it is retried with backoff, so it is `failed` between attempts
    const crashy = await waitFor(() => p.servers().find((s) => s.name === 'crashy' && s.state === 'failed'), { what: 'crashy to fail' });
    const stuck = await waitFor(() => p.servers().find((s) => s.name === 'stuck' && s.state === 'failed'), { what: 'stuck to fail' });
    expect(crashy.reason).toContain('exited with code 3');
    expect(crashy.reason).toContain('cannot open its database');
    expect(stuck.reason).toContain('did not finish starting within 1500 ms');
  });

  it('fails a hanging call with a timeout, and kills and restarts a server that stopped answering', async () => {
    const { log, lines } = memoryLog();
    const p = pool([nodeSpec('fault', [FAULT_SERVER], { timeoutMs: 1_500 }), opsSpec([])], { log });
    const pid1 = (await p.call({ tool: 'fault.pid' })).text;

    // hangs, but still answers pings: the call fails, the server stays
    const hang = await p.call({ tool: 'fault.hang' });
    expect(hang.error).toMatchObject({ code: 'timeout', retryable: true, message: 'fault.hang did not answer within 1500 ms' });
    expect((await p.call({ tool: 'fault.pid' })).text).toBe(pid1);

    // blocks its event loop: the call fails, then the server is killed and replaced
    const freeze = await p.call({ tool: 'fault.freeze' });
    expect(freeze.error?.code).toBe('timeout');
    expect((await p.call({ tool: 'ops.system_stats', args: { top: 0, sample_ms: 50 } })).ok).toBe(true);
    await waitFor(() => lines.some((l) => l.msg === 'mcp server stopped answering; killing and restarting it'), { what: 'stuck detection' });
    await waitFor(() => p.servers()[0].state === 'ready' && p.servers()[0].spawns === 2, { what: 'restart' });
    const pid2 = (await p.call({ tool: 'fault.pid' })).text;
    expect(pid2).not.toBe(pid1);
  });

  it('restarts a server that crashes mid-call; the call fails as retryable', async () => {
    const p = pool([nodeSpec('fault', [FAULT_SERVER])], { log: memoryLog().log });
    const pid1 = (await p.call({ tool: 'fault.pid' })).text;
    const r = await p.call({ tool: 'fault.crash' });
    expect(r.error).toMatchObject({ code: 'unavailable', retryable: true });
    expect(r.error?.message).toContain('exited with code 7');
    // the next call waits for the immediate restart
    const again = await p.call({ tool: 'fault.pid' });
    expect(again.ok).toBe(true);
    expect(again.text).not.toBe(pid1);
    expect(p.servers()[0].spawns).toBe(2);
  });

  it('tolerates non-protocol output on stdout and sends stderr to the log', async () => {
    const { log, lines } = memoryLog();
    const p = pool([nodeSpec('fault', [FAULT_SERVER, '--noise-on-start'])], { log });
    expect((await p.call({ tool: 'fault.noise' })).text).toBe('after noise');
    expect((await p.call({ tool: 'fault.echo', args: { text: 'ok' } })).text).toBe('ok');
    expect(lines.some((l) => l.msg === 'ignored non-protocol output on the server stdout' && l.line === 'Starting fault server v1.0...')).toBe(true);
    expect(lines.some((l) => l.msg === 'mcp server stderr' && String(l.stderr).startsWith('fault server'))).toBe(true);
    expect(p.servers()[0].spawns).toBe(1);
  });

  it('caps a 50 MB result with a note that it was truncated', async () => {
    const p = pool([nodeSpec('fault', [FAULT_SERVER])], { log: memoryLog().log, maxResultBytes: 1024 * 1024 });
    const r = await p.call({ tool: 'fault.big', args: { mb: 50 } });
    expect(r.ok).toBe(true);
    expect(r.truncated).toBe(true);
    expect(r.bytes).toBeGreaterThan(50 * 1024 * 1024);
    expect(Buffer.byteLength(JSON.stringify(r.content))).toBeLessThan(1.1 * 1024 * 1024);
    expect(r.text).toMatch(/\[opstream: result truncated: the server returned 50\.0 MB, over the 1\.0 MB limit\]$/);
    // and the server keeps serving
    expect((await p.call({ tool: 'fault.echo', args: { text: 'after' } })).text).toBe('after');
  });

  it('refreshes the tool list on notifications/tools/list_changed', async () => {
    const p = pool([nodeSpec('fault', [FAULT_SERVER])], { log: memoryLog().log });
    expect(await p.call({ tool: 'fault.add_tool', args: { name: 'fresh' } })).toMatchObject({ ok: true });
    await waitFor(() => p.get('fault.fresh'), { what: 'fault.fresh to appear' });
    expect((await p.call({ tool: 'fault.fresh' })).error).toBeNull();
  });

  it('shares one execution between concurrent calls with the same idempotency key and sends the key in _meta', async () => {
    const p = pool([nodeSpec('fault', [FAULT_SERVER])], { log: memoryLog().log });
    const [a, b] = await Promise.all([p.call({ tool: 'fault.wipe', idempotencyKey: 'r1:s1:1' }), p.call({ tool: 'fault.wipe', idempotencyKey: 'r1:s1:1' })]);
    expect(a.text).toBe('1');
    expect(b.text).toBe('1');
    const meta = await p.call({ tool: 'fault.meta', idempotencyKey: 'r1:s2:1' });
    expect(JSON.parse(meta.text)).toMatchObject({ 'opstream/idempotency_key': 'r1:s2:1' });
  });

  it('spawns each server once for many concurrent callers, and records every call', async () => {
    const records: unknown[] = [];
    const p = pool([nodeSpec('fault', [FAULT_SERVER])], { log: memoryLog().log, onCall: (r) => records.push(r) });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => p.call({ tool: 'fault.echo', args: { text: String(i) } })));
    expect(results.every((r, i) => r.text === String(i))).toBe(true);
    expect(p.servers()[0].spawns).toBe(1);
    expect(records).toHaveLength(200);
    expect(records[0]).toMatchObject({ server: 'fault', tool: 'echo', ok: true, bytes: expect.any(Number), durationMs: expect.any(Number) });
  });
});

describe('probeServer (for opstream doctor)', () => {
  const compiled = (name: string, command: string, args: string[]) => ({ name, command, args, env: {}, headers: {}, timeout: '30s', trust: 'untrusted' as const, destructive: false, disabled: false, timeoutMs: 30_000, cacheMs: null, source: 'test' });

  it('starts a server, lists its tools and closes it', async () => {
    const r = await probeServer(compiled('fault', process.execPath, [FAULT_SERVER]), 20_000);
    expect(r).toMatchObject({ server: 'fault', ok: true, error: null });
    expect(r.tools.map((t) => t.name)).toContain('fault.echo');
  });

  it('says why a server cannot start', async () => {
    expect(await probeServer(compiled('bad', '/nonexistent/mcp', []), 5_000)).toMatchObject({ ok: false, error: 'command not found: /nonexistent/mcp', tools: [] });
    const crash = await probeServer(compiled('crashy', process.execPath, [FAULT_SERVER, '--crash-on-start']), 5_000);
    expect(crash.error).toContain('cannot open its database');
  });
});
