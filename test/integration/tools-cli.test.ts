import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, daemonPid, processes, tempHome, waitFor, type TempHome } from '../support/home.js';
import { FAULT_SERVER, npmServer } from '../support/tools-fixtures.js';

const homes: TempHome[] = [];
afterEach(async () => {
  await Promise.all(homes.splice(0).map((h) => h.cleanup()));
});

function setup(): TempHome {
  const h = tempHome('otc-');
  homes.push(h);
  writeFileSync(
    join(h.home, 'config.yaml'),
    [
      'mcpServers:',
      '  fault:',
      `    command: ${JSON.stringify(process.execPath)}`,
      `    args: [${JSON.stringify(FAULT_SERVER)}]`,
      '    timeout: 5s',
      '  broken:',
      '    command: /nonexistent/mcp-server',
      'ops:',
      '  allowed_commands: ["echo hi"]',
    ].join('\n'),
  );
  // pasted from Claude Desktop: mcp.json beside config.yaml
  writeFileSync(join(h.home, 'mcp.json'), JSON.stringify({ mcpServers: { memory: { command: process.execPath, args: [npmServer('server-memory')], env: { MEMORY_FILE_PATH: join(h.home, 'mem.json') } } } }));
  return h;
}

describe('opstream tools', () => {
  it('starts a server when first needed: none with the daemon, those a run names with the run, the rest at a listing', async () => {
    const h = setup();
    mkdirSync(join(h.home, 'workflows'), { recursive: true });
    writeFileSync(join(h.home, 'workflows', 'echo-later.yaml'), ['id: echo-later', 'steps:', '  - id: ask', '    approval: { prompt: "Go?" }', '  - id: say', '    tool: fault.echo', '    with: { text: hi }'].join('\n'));
    expect((await cli(['daemon', 'start'], h.env)).code).toBe(0);
    const pid = daemonPid(h.home)!;
    // the daemon's children: its MCP servers
    const servers = (): string[] => processes().filter((p) => p.ppid === pid).map((p) => p.cmdline);
    // nothing asked for a tool: no server, and `daemon status` says the daemon serves
    expect((await cli(['status'], h.env)).code).toBe(0);
    expect(servers()).toEqual([]);
    // a run that will call fault.echo (after its approval) starts that server, and only it
    const run = await cli(['start', 'echo-later', '--json'], h.env);
    expect(run.code, run.stderr).toBe(0);
    await waitFor(() => servers().some((c) => c.includes('mcp-fault-server')), { what: 'the fault server to start with the run' });
    expect(servers().some((c) => c.includes('ops-server') || c.includes('server-memory'))).toBe(false);
    // a listing starts the rest and waits for them
    const r = await cli(['tools', '--json'], h.env);
    const out = JSON.parse(r.stdout) as { servers: { name: string; state: string }[] };
    expect(Object.fromEntries(out.servers.map((s) => [s.name, s.state]))).toEqual({ ops: 'ready', fault: 'ready', broken: 'failed', memory: 'ready' });
    expect(servers().some((c) => c.includes('ops-server'))).toBe(true);
  });


  it('lists servers with their state (failed ones with the reason) and tools with input schemas', async () => {
    const h = setup();
    const r = await cli(['tools', '--json'], h.env);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { servers: { name: string; state: string; reason: string | null }[]; tools: { name: string; input_schema: { properties?: object } }[] };
    expect(out.servers.map((s) => s.name)).toEqual(['ops', 'fault', 'broken', 'memory']);
    expect(out.servers.find((s) => s.name === 'ops')?.state).toBe('ready');
    expect(out.servers.find((s) => s.name === 'memory')?.state).toBe('ready');
    expect(out.servers.find((s) => s.name === 'broken')).toMatchObject({ state: 'failed', reason: 'command not found: /nonexistent/mcp-server' });
    expect(out.tools.find((t) => t.name === 'ops.http_probe')?.input_schema.properties).toHaveProperty('url');
    expect(out.tools.some((t) => t.name === 'memory.read_graph')).toBe(true);

    const human = await cli(['tools'], h.env);
    expect(human.stdout).toMatch(/broken\s+failed\s+-\s+stdio\s+command not found: \/nonexistent\/mcp-server/);
    expect(human.stdout).toContain('ops.http_probe(url, count');
  });

  it('calls a tool through the daemon and prints its result', async () => {
    const h = setup();
    const r = await cli(['tools', 'call', 'ops.run_command', '--args', '{"command":"echo hi"}', '--json'], h.env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, is_error: false, structured: { stdout: 'hi\n', exit_code: 0 } });
    const plain = await cli(['tools', 'call', 'fault.echo', '--args', '{"text":"hello"}'], h.env);
    expect(plain).toMatchObject({ code: 0, stdout: 'hello\n' });
    // the same server process answered both times
    const stats = await cli(['tools', 'call', 'fault.pid'], h.env);
    const again = await cli(['tools', 'call', 'fault.pid'], h.env);
    expect(again.stdout).toBe(stats.stdout);
  });

  it('fails with one clear line for bad input, and the daemon keeps serving', async () => {
    const h = setup();
    const cases: [string[], RegExp][] = [
      [['tools', 'call', 'fault.echo', '--args', '{not json'], /^opstream: --args is not valid JSON/],
      [['tools', 'call', 'fault.echo', '--args', '[1]'], /^opstream: --args must be a JSON object/],
      [['tools', 'call', 'nosuch.tool'], /^opstream: no MCP server "nosuch"/],
      [['tools', 'call', 'fault.nope'], /^opstream: server "fault" has no tool "nope"/],
      [['tools', 'call', 'fault.echo', '--args', '{"text":3}'], /^opstream: fault.echo: arguments do not match its input schema: text: must be string/],
      [['tools', 'call', 'broken.x'], /^opstream: server "broken" is not available: command not found/],
      [['tools', 'call', 'fault.hang', '--timeout', '1s'], /^opstream: fault.hang did not answer within 1000 ms/],
      [['tools', 'call', 'fault.fail'], /^opstream: fault.fail reported an error/],
      [['tools', 'call', 'ops.log_scan', '--args', '{"path":"/nonexistent/app.log"}'], /^opstream: ops.log_scan reported an error/],
    ];
    for (const [args, err] of cases) {
      const r = await cli(args, h.env);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr, args.join(' ')).toMatch(err);
    }
    const fine = await cli(['tools', 'call', 'fault.echo', '--args', '{"text":"alive"}'], h.env);
    expect(fine.stdout).toBe('alive\n');
    const missing = await cli(['tools', 'call', 'ops.log_scan', '--args', '{"path":"/nonexistent/app.log"}'], h.env);
    expect(missing.stdout).toContain('no such file: /nonexistent/app.log');
  });
});
