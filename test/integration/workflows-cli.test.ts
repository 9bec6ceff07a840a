import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/client/client.js';
import { cli, daemonPid, tempHome, waitFor, type TempHome } from '../support/home.js';
import { npmServer } from '../support/tools-fixtures.js';

let h: TempHome;
let userDir: string;
let clients: DaemonClient[] = [];
beforeEach(() => {
  h = tempHome();
  userDir = join(h.home, 'workflows');
  mkdirSync(userDir);
});
afterEach(async () => {
  for (const c of clients) c.close();
  clients = [];
  await h.cleanup();
});

const wf = (id: string, extra = ''): string => `id: ${id}\n${extra}steps:\n  - id: only\n    notify: { text: "hi from ${id}" }\n`;

interface Listed {
  workflows: { id: string | null; command: string | null; usage: string | null; source: string; file: string; valid: boolean; overrides: string | null; problems: { line: number | null; path: string; message: string }[] }[];
  problems: unknown[];
}

describe('opstream workflows validate FILE (no daemon needed)', () => {
  it('exits 0 with one OK line for a valid file', async () => {
    const f = join(h.home, 'ok.yaml');
    writeFileSync(f, wf('fine', 'command: fine\nusage: "[<who>]"\nparams:\n  who: { type: string, default: me }\n'));
    const r = await cli(['workflows', 'validate', f], h.env);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout.trim().split('\n')).toEqual([`ok: ${f} (workflow fine, 1 top-level step(s))`]);
    expect(daemonPid(h.home)).toBeNull();
  });

  it('reports every problem of every layer in one pass, as file:line:column, with the nearest name (exit 1)', async () => {
    const f = join(h.home, 'bad.yaml');
    writeFileSync(
      f,
      [
        'id: bad',
        'nmae: Broken', // unknown key
        'tools: [ops.http_probe, ops.nope]', // unknown tool, nothing close
        'params:',
        '  service: { type: string, default: api }',
        'steps:',
        '  - id: a',
        '    wiat: 5m', // misspelt step kind
        '  - id: a', // duplicate id
        '    notify: { text: "{{ params.servce }}" }', // param reference
        '  - id: probe',
        '    tool: ops.http_prob', // unknown tool, close to a real one
        '    on_error: contine', // enum value
        '  - id: later',
        '    wait: 5 fortnights', // duration
        '    when: "{{ steps.prob.output.ok }}"', // step reference
        '  - id: c',
        '    agent: { prompt: "go {{ steps.probe.outptu }} {{ params.service", tools: [ops.other] }', // step field, template, agent tool
        '',
      ].join('\n'),
    );
    const r = await cli(['workflows', 'validate', f], h.env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([
      `${f}:2:1: nmae: unknown key "nmae"; did you mean "name"?`,
      `${f}:3:25: tools.1: no tool "ops.nope": server "ops" has analyze_samples, appsignals_facts, http_probe, http_request, log_scan, process_stats, run_command, system_stats`,
      `${f}:8:5: steps.0.wiat: unknown key "wiat"; did you mean "wait"?`,
      `${f}:9:5: steps.1.id: step id "a" is already used at steps.0; step ids must be unique in a workflow`,
      `${f}:10:15: steps.1.notify.text: params.servce, which is not declared under params; did you mean "params.service"?`,
      `${f}:12:5: steps.2.tool: no tool "ops.http_prob"; did you mean "ops.http_probe"?`,
      `${f}:13:5: steps.2.on_error: Invalid option: expected one of "fail"|"continue"|"continue_if_retryable"; did you mean "continue"?`,
      `${f}:15:5: steps.3.wait: expected a duration such as 30s, 5m, 2h or "2 hours"`,
      `${f}:16:5: steps.3.when: "steps.prob.output.ok" uses steps.prob, but there is no step with that id; did you mean "steps.probe"?`,
      `${f}:18:14: steps.4.agent.prompt: template "go {{ steps.probe.outptu }} {{ params.service": missing closing }}`,
      `${f}:18:79: steps.4.agent.tools.0: agent tool "ops.other" is not listed in the workflow's tools (ops.http_probe, ops.nope); agent steps may use only those`,
      `${f}:18:79: steps.4.agent.tools.0: no tool "ops.other": server "ops" has analyze_samples, appsignals_facts, http_probe, http_request, log_scan, process_stats, run_command, system_stats`,
    ]);
    const j = await cli(['workflows', 'validate', f, '--json'], h.env);
    expect(j.code).toBe(1);
    const out = JSON.parse(j.stdout) as { ok: boolean; id: string; problems: { path: string; line: number; column: number; suggestion?: string | null }[] };
    expect(out).toMatchObject({ ok: false, id: 'bad' });
    expect(out.problems).toHaveLength(12);
    expect(out.problems.filter((p) => p.suggestion).map((p) => [p.path, p.line, p.column, p.suggestion])).toEqual([
      ['nmae', 2, 1, 'name'],
      ['steps.0.wiat', 8, 5, 'wait'],
      ['steps.1.notify.text', 10, 15, 'params.service'],
      ['steps.2.tool', 12, 5, 'ops.http_probe'],
      ['steps.2.on_error', 13, 5, 'continue'],
      ['steps.3.when', 16, 5, 'steps.probe'],
    ]);
    expect(daemonPid(h.home)).toBeNull();
  });

  it('a step field and an unknown step kind: wiat -> wait, steps.x.outptu -> output, an unknown server', async () => {
    const f = join(h.home, 'typos.yaml');
    writeFileSync(f, ['id: typos', 'steps:', '  - id: pause', '    wiat: 5m', '  - id: tell', '    notify: { text: "{{ steps.pause.outptu }}" }', '  - id: probe', '    tool: opss.http_probe', ''].join('\n'));
    const r = await cli(['workflows', 'validate', f], h.env);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      `${f}:4:5: steps.0.wiat: unknown key "wiat"; did you mean "wait"?`,
      `${f}:6:15: steps.1.notify.text: "steps.pause.outptu" reads steps.pause.outptu; a step exposes output, status, error, attempts, started_at and ended_at; did you mean "steps.pause.output"?`,
      `${f}:8:5: steps.2.tool: no MCP server "opss" for tool "opss.http_probe"; did you mean "ops.http_probe"? (servers: ops; add others under mcpServers in config.yaml)`,
    ]);
  });

  it('broken YAML and a missing file', async () => {
    const f = join(h.home, 'broken.yaml');
    writeFileSync(f, 'id: x\nsteps:\n  - id: a\n   notify: hi\n');
    const r = await cli(['workflows', 'validate', f], h.env);
    expect(r).toMatchObject({ code: 1, stderr: `${f}:4:1: invalid YAML: Sequence item without - indicator\n` });
    const m = await cli(['workflows', 'validate', join(h.home, 'nope.yaml')], h.env);
    expect(m).toMatchObject({ code: 1, stderr: `${join(h.home, 'nope.yaml')}: no such file\n` });
  });
});

describe('opstream workflows (through the daemon)', () => {
  it('lists shipped and user workflows, overrides and problems; --json has every field', async () => {
    writeFileSync(join(userDir, 'hello.yaml'), wf('hello', 'name: My hello\ncommand: hi\nusage: "[<to>]"\nparams:\n  to: { type: string, default: you }\n'));
    writeFileSync(join(userDir, 'nightly.yaml'), wf('nightly', 'schedule: "0 3 * * *"\n'));
    writeFileSync(join(userDir, 'twin.yaml'), wf('nightly'));
    writeFileSync(join(userDir, 'broken.yaml'), 'id: broken\nsteps:\n  - id: a\n    wait: never\n');

    const r = await cli(['workflows', '--json'], h.env);
    expect(r.code, r.stderr).toBe(0);
    const listed = JSON.parse(r.stdout) as Listed;
    const byFile = new Map(listed.workflows.map((w) => [w.file, w]));
    expect(byFile.get(join(userDir, 'hello.yaml'))).toMatchObject({ id: 'hello', command: 'hi', usage: '[<to>]', source: 'user', valid: true, overrides: expect.stringMatching(/workflows\/hello\.yaml$/), problems: [] });
    expect(byFile.get(join(userDir, 'nightly.yaml'))).toMatchObject({ id: 'nightly', schedule: '0 3 * * *', valid: true });
    expect(byFile.get(join(userDir, 'twin.yaml'))).toMatchObject({ id: 'nightly', valid: false, problems: [{ path: 'id', line: 1, message: expect.stringMatching(/already used/) }] });
    expect(byFile.get(join(userDir, 'broken.yaml'))).toMatchObject({ id: 'broken', valid: false, problems: [{ path: 'steps.0.wait', line: 4 }] });
    // (shipped files are another test's business; count only ours)
    expect(listed.problems.filter((p) => (p as { file: string }).file.startsWith(userDir))).toHaveLength(2);

    const t = await cli(['workflows'], h.env);
    expect(t.code).toBe(0);
    const lines = t.stdout.split('\n');
    expect(lines[0]).toMatch(/^ID\s+COMMAND\s+SCHEDULE\s+SOURCE\s+PROBLEMS$/);
    expect(lines.find((l) => l.startsWith('hello '))).toMatch(/hi \[<to>\]\s+-\s+user \(overrides shipped\)\s+ok/);
    expect(lines.find((l) => l.startsWith('nightly '))).toMatch(/0 3 \* \* \*\s+user\s+ok/);
    expect(lines.find((l) => l.startsWith('broken '))).toMatch(/1 problem\(s\)/);
    expect(t.stdout).toContain(`${join(userDir, 'broken.yaml')}:4:5: steps.0.wait: expected a duration`);
  });

  it('reloads when a file changes, and on workflows.reload (audited)', async () => {
    const c = await DaemonClient.connect({ env: h.env, client: 'test' });
    clients.push(c);
    const first = await c.request('workflows.list', {});
    expect(first.workflows.map((w) => w.id)).toContain('hello');
    const shippedValid = first.workflows.filter((w) => w.valid).length;

    writeFileSync(join(userDir, 'fresh.yaml'), wf('fresh'));
    await waitFor(async () => (await c.request('workflows.list', {})).workflows.some((w) => w.id === 'fresh'), { what: 'fresh workflow picked up by the watcher' });

    writeFileSync(join(userDir, 'fresh.yaml'), 'id: fresh\nsteps: nope\n');
    await waitFor(async () => (await c.request('workflows.list', {})).workflows.some((w) => w.id === 'fresh' && !w.valid), { what: 'broken edit noticed' });

    const r = await c.request('workflows.reload', {});
    expect(r.workflows).toBe(shippedValid);
    expect(r.problems.filter((p) => p.file.startsWith(userDir))).toMatchObject([{ file: join(userDir, 'fresh.yaml'), path: 'steps' }]);
    const audit = await c.request('audit.list', { limit: 10 });
    expect(audit.items.map((a) => a.action)).toContain('workflows.reload');

    const v = await c.request('workflows.validate', { text: 'id: t\nsteps:\n  - id: a\n    wait: 1s\n    notify: { text: x }\n', name: 'pasted.yaml' });
    expect(v).toMatchObject({ ok: false, id: 't', problems: [{ file: 'pasted.yaml', line: 3, path: 'steps.0' }] });
  });
});

describe('tool names against the tool catalog (a real MCP server: server-memory)', () => {
  const memoryConfig = (): void =>
    writeFileSync(
      join(h.home, 'config.yaml'),
      [
        'mcpServers:',
        '  memory:',
        `    command: ${JSON.stringify(process.execPath)}`,
        `    args: [${JSON.stringify(npmServer('server-memory'))}]`,
        `    env: { MEMORY_FILE_PATH: ${JSON.stringify(join(h.home, 'memory.json'))} }`,
        '  broken:',
        '    command: /nonexistent/mcp-server',
        '',
      ].join('\n'),
    );
  const usesTools = (id: string, ...tools: string[]): string =>
    [`id: ${id}`, 'steps:', ...tools.flatMap((t, i) => [`  - id: s${i}`, `    tool: ${t}`]), ''].join('\n');

  it('offline it checks ops tools and server names, and says which servers it could not ask; with the daemon it checks their tools', async () => {
    memoryConfig();
    const good = join(h.home, 'good.yaml');
    writeFileSync(good, usesTools('good', 'memory.read_graph', 'ops.system_stats'));
    const typo = join(h.home, 'typo.yaml');
    writeFileSync(typo, usesTools('typo', 'memory.read_grahp', 'memry.search_nodes', 'broken.anything'));

    // no daemon: memory's tools cannot be known; that is said, and it is not an error
    const off = await cli(['workflows', 'validate', good], h.env);
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout.trim()).toBe(`ok: ${good} (workflow good, 2 top-level step(s))`);
    expect(off.stderr.trim()).toBe(`warning: ${good}:4:5: steps.0.tool: tools of MCP server "memory" were not checked: the daemon is not running, so the server was not asked (start it with \`opstream daemon start\` to check them)`);
    const offTypo = await cli(['workflows', 'validate', typo, '--json'], h.env);
    expect(offTypo.code).toBe(1);
    const offOut = JSON.parse(offTypo.stdout) as { problems: { path: string; message: string; suggestion: string | null }[]; warnings: { path: string; message: string }[] };
    expect(offOut.problems).toEqual([expect.objectContaining({ path: 'steps.1.tool', message: expect.stringMatching(/^no MCP server "memry" for tool "memry.search_nodes"; did you mean "memory.search_nodes"\?/), suggestion: 'memory.search_nodes' })]);
    expect(offOut.warnings.map((w) => w.path)).toEqual(['steps.0.tool', 'steps.2.tool']);
    expect(daemonPid(h.home)).toBeNull();

    // with the daemon: memory's real tool list is used; a server that failed is named with why
    const st = await cli(['daemon', 'start'], h.env);
    expect(st.code, st.stderr).toBe(0);
    const on = await cli(['workflows', 'validate', good], h.env);
    expect(on).toMatchObject({ code: 0, stderr: '' });
    const onTypo = await cli(['workflows', 'validate', typo], h.env);
    expect(onTypo.code).toBe(1);
    const lines = onTypo.stderr.trim().split('\n');
    expect(lines.filter((l) => !l.startsWith('warning: '))).toEqual([
      `${typo}:4:5: steps.0.tool: no tool "memory.read_grahp"; did you mean "memory.read_graph"?`,
      `${typo}:6:5: steps.1.tool: no MCP server "memry" for tool "memry.search_nodes"; did you mean "memory.search_nodes"? (servers: ops, memory, broken; add others under mcpServers in config.yaml)`,
    ]);
    expect(lines.filter((l) => l.startsWith('warning: '))).toEqual([expect.stringMatching(new RegExp(`^warning: ${typo}:8:5: steps\\.2\\.tool: tools of MCP server "broken" were not checked: the server could not be asked \\(it is failed: `))]);

    // the daemon's own validate (a pasted text) answers the same
    const c = await DaemonClient.connect({ env: h.env, client: 'test', autoStart: false });
    clients.push(c);
    const v = await c.request('workflows.validate', { text: usesTools('t', 'memory.create_entitys'), name: 'pasted.yaml' });
    expect(v).toMatchObject({ ok: false, problems: [{ path: 'steps.0.tool', line: 4, column: 5, suggestion: 'memory.create_entities' }] });
  });

  it('`workflows` shows unknown tools too: ops tools and servers when loading (the file is refused), configured servers\' tools once they list them', async () => {
    memoryConfig();
    writeFileSync(join(userDir, 'nope.yaml'), usesTools('nope', 'ops.nope'));
    writeFileSync(join(userDir, 'typo.yaml'), usesTools('typo', 'memory.read_grahp'));
    writeFileSync(join(userDir, 'fine.yaml'), usesTools('fine', 'memory.read_graph'));
    const st = await cli(['daemon', 'start'], h.env);
    expect(st.code, st.stderr).toBe(0);
    const c = await DaemonClient.connect({ env: h.env, client: 'test', autoStart: false });
    clients.push(c);
    await waitFor(async () => (await c.request('tools.list', {})).servers.find((s) => s.name === 'memory')?.state === 'ready', { what: 'the memory server ready' });
    const r = await cli(['workflows', '--json'], h.env);
    expect(r.code, r.stderr).toBe(0);
    const byId = new Map((JSON.parse(r.stdout) as Listed).workflows.map((w) => [w.id, w]));
    expect(byId.get('nope')).toMatchObject({ valid: false, problems: [{ path: 'steps.0.tool', line: 4, message: expect.stringMatching(/^no tool "ops.nope": server "ops" has /) }] });
    expect(byId.get('typo')).toMatchObject({ valid: true, problems: [{ path: 'steps.0.tool', line: 4, message: 'no tool "memory.read_grahp"; did you mean "memory.read_graph"?' }] });
    expect(byId.get('fine')).toMatchObject({ valid: true, problems: [] });
    const t = await cli(['workflows'], h.env);
    expect(t.stdout.split('\n').find((l) => l.startsWith('typo '))).toMatch(/1 problem\(s\)$/);
    expect(t.stdout.split('\n').find((l) => l.startsWith('fine '))).toMatch(/ok$/);
    expect(t.stdout).toContain(`${join(userDir, 'typo.yaml')}:4:5: steps.0.tool: no tool "memory.read_grahp"; did you mean "memory.read_graph"?`);
  });
});
