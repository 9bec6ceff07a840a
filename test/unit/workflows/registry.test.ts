import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configCatalog } from '../../../src/workflows/tool-catalog.js';
import { formatWorkflowProblem, loadWorkflows, shippedWorkflowsDir, validateWorkflowFile, validateWorkflowText, type WorkflowProblem } from '../../../src/workflows/registry.js';

let dir: string;
let shipped: string;
let user: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ops-wf-'));
  shipped = join(dir, 'shipped');
  user = join(dir, 'user');
  mkdirSync(shipped);
  mkdirSync(user);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const wf = (id: string, extra = ''): string => `id: ${id}\n${extra}steps:\n  - id: only\n    notify: { text: "hi from ${id}" }\n`;
// file:line: path: message (columns are checked through the CLI in test/integration/workflows-cli.test.ts)
const noColumn = (p: WorkflowProblem): string => formatWorkflowProblem({ ...p, column: null });
const lines = (text: string): string[] => validateWorkflowText(text, 'w.yaml').problems.map(noColumn);

describe('one file', () => {
  it('suggests the nearest key at any depth (unions and nested maps too), and no far-off guess', () => {
    const text = [
      'id: s',
      'schedule: { cron: "0 3 * * *", overlp: skip }',
      'steps:',
      '  - id: a',
      '    retry: { attemps: 3 }',
      '    agent: { prompt: go, tool: [ops.http_probe] }',
      '  - id: b',
      '    zzzzzz: 1',
      '    notify: { text: hi, levle: info }',
      '',
    ].join('\n');
    const problems = validateWorkflowText(text, 'w.yaml').problems;
    expect(problems.map((p) => [p.path, p.suggestion ?? null])).toEqual([
      ['schedule.overlp', 'overlap'],
      ['steps.0.retry.attemps', 'attempts'],
      ['steps.0.agent.tool', 'tools'],
      ['steps.1.zzzzzz', null],
      ['steps.1.notify.levle', 'level'],
    ]);
    expect(problems.map((p) => [p.line, p.column])).toEqual([
      [2, 32],
      [5, 14],
      [6, 26],
      [8, 5],
      [9, 25],
    ]);
  });

  it('broken YAML names the line', () => {
    expect(lines('id: a\nsteps:\n  - id: x\n   notify: hi\n')).toEqual(['w.yaml:4: invalid YAML: Sequence item without - indicator']);
    expect(lines('id: a\nid: b\nsteps: []\n')[0]).toMatch(/^w\.yaml:2: invalid YAML: .*unique/i);
  });

  it('empty or non-mapping files', () => {
    expect(lines('')).toEqual(['w.yaml:1: the file is empty; a workflow needs at least `id` and `steps`']);
    expect(lines('- a\n- b\n')[0]).toMatch(/one mapping/);
  });

  it('schema errors carry the YAML path and line', () => {
    const text = [
      'id: Bad Id', // 1
      'steps:', // 2
      '  - id: probe', // 3
      '    tool: ops.http_probe', // 4
      '    with: { url: "x" }', // 5
      '    retry: { attempts: 0 }', // 6
      '  - id: two', // 7
      '    wait: forever', // 8
      '  - id: three', // 9
      '    notify: { text: hi, colour: red }', // 10
      '  - id: four', // 11
      '    notify: { text: hi }', // 12
      '    wait: 5m', // 13
      'extra: 1', // 14
    ].join('\n');
    const got = lines(text);
    expect(got).toContain('w.yaml:1: id: use lowercase letters, digits, _ and - only');
    expect(got).toContainEqual(expect.stringMatching(/^w\.yaml:6: steps\.0\.retry\.attempts: /));
    expect(got).toContainEqual(expect.stringMatching(/^w\.yaml:8: steps\.1\.wait: /));
    expect(got).toContain('w.yaml:10: steps.2.notify.colour: unknown key "colour"');
    expect(got).toContain('w.yaml:11: steps.3: a step has exactly one kind, this one has wait and notify');
    expect(got).toContain('w.yaml:14: extra: unknown key "extra"');
  });

  it('duplicate step ids anywhere, including nested repeat and parallel', () => {
    const text = `id: a
steps:
  - id: loop
    repeat: { every: 1m, for: 1h }
    steps:
      - id: probe
        tool: ops.http_probe
  - id: fan
    parallel:
      - id: probe
        tool: ops.http_probe
      - id: loop
        wait: 1s
`;
    const got = lines(text);
    expect(got).toContain('w.yaml:10: steps.1.parallel.0.id: step id "probe" is already used at steps.0.steps.0; step ids must be unique in a workflow');
    expect(got).toContain('w.yaml:12: steps.1.parallel.1.id: step id "loop" is already used at steps.0; step ids must be unique in a workflow');
  });

  it('expressions that do not parse, unknown params and steps, agent tools not listed', () => {
    const text = `id: a
params:
  service: { type: string, required: true }
tools: [ops.http_probe]
steps:
  - id: probe
    tool: ops.http_probe
    with: { url: "{{ params.url }}", name: "{{ params.service }}" }
  - id: think
    when: "steps.probe.output.count >"
    agent:
      prompt: "look at {{ steps.probe.output }} and {{ steps.ghost.output }}"
      tools: [ops.http_probe, ops.process_stats]
  - id: loop
    repeat: { every: 1m, until: "{{ steps.loop.output | nosuchtransform( }}" }
    steps:
      - id: inner
        notify: { text: "{{ unclosed" }
`;
    const got = lines(text);
    expect(got).toContain('w.yaml:8: steps.0.with.url: params.url, which is not declared under params (declared: service)');
    expect(got).toContainEqual(expect.stringMatching(/^w\.yaml:10: steps\.1\.when: expression "steps\.probe\.output\.count >" does not parse: /));
    expect(got).toContain('w.yaml:12: steps.1.agent.prompt: steps.ghost, but there is no step with that id'.replace('steps.ghost,', '"steps.ghost.output" uses steps.ghost,'));
    expect(got).toContain('w.yaml:13: steps.1.agent.tools.1: agent tool "ops.process_stats" is not listed in the workflow\'s tools (ops.http_probe); agent steps may use only those');
    expect(got).toContainEqual(expect.stringMatching(/^w\.yaml:15: steps\.2\.repeat\.until: expression .* does not parse/));
    expect(got).toContainEqual(expect.stringMatching(/^w\.yaml:18: steps\.2\.steps\.0\.notify\.text: template .*missing closing \}\}/));
  });

  it('usage, defaults and schedules are checked against params', () => {
    const text = `id: a
command: go
usage: "<target> [for <howlong>]"
params:
  target: { type: string, required: true }
  n: { type: integer, default: many }
schedule: "*/5 * * * *"
steps:
  - id: x
    notify: { text: hi }
`;
    const got = lines(text);
    expect(got).toContain('w.yaml:3: usage: usage names <howlong>, which is not declared under params');
    expect(got).toContainEqual(expect.stringMatching(/^w\.yaml:6: params\.n\.default: default does not fit: param n expects a whole number/));
    expect(got).toContainEqual(expect.stringMatching(/^w\.yaml:7: schedule: scheduled runs would not start: required param\(s\) target/));
  });

  it('a missing file is a problem, not a crash', () => {
    expect(validateWorkflowFile(join(dir, 'nope.yaml')).problems[0].message).toBe('no such file');
  });
});

describe('a set of files', () => {
  it('a user file overrides a shipped one with the same id', () => {
    writeFileSync(join(shipped, 'a.yaml'), wf('alpha'));
    writeFileSync(join(shipped, 'b.yaml'), wf('beta'));
    writeFileSync(join(user, 'mine.yaml'), wf('alpha', 'name: Mine\n'));
    const set = loadWorkflows({ shipped, user });
    expect(set.problems).toEqual([]);
    expect(set.workflows.get('alpha')).toMatchObject({ source: 'user', file: join(user, 'mine.yaml'), overrides: join(shipped, 'a.yaml'), workflow: { name: 'Mine' } });
    expect(set.workflows.get('beta')).toMatchObject({ source: 'shipped' });
  });

  it('duplicate ids among user files: the second is a problem and is left out', () => {
    writeFileSync(join(user, 'a.yaml'), wf('same'));
    writeFileSync(join(user, 'b.yml'), wf('same', 'name: Second\n'));
    const set = loadWorkflows({ shipped, user });
    expect(set.workflows.get('same')?.file).toBe(join(user, 'a.yaml'));
    expect(set.problems.map(noColumn)).toEqual([`${join(user, 'b.yml')}:1: id: id "same" is already used by ${join(user, 'a.yaml')}; ids must be unique`]);
    expect(set.invalid).toMatchObject([{ file: join(user, 'b.yml'), id: 'same', source: 'user' }]);
  });

  it('duplicate command verbs, reserved verbs and verbs equal to another id', () => {
    writeFileSync(join(user, 'a.yaml'), wf('one', 'command: check\n'));
    writeFileSync(join(user, 'b.yaml'), wf('two', 'command: check\n'));
    writeFileSync(join(user, 'c.yaml'), wf('three', 'command: status\n'));
    writeFileSync(join(user, 'd.yaml'), wf('four', 'command: one\n'));
    const set = loadWorkflows({ shipped, user });
    expect(set.byCommand('check')?.workflow.id).toBe('one');
    expect([...set.workflows.keys()].sort()).toEqual(['one']);
    const msgs = set.problems.map(noColumn);
    expect(msgs).toContain(`${join(user, 'b.yaml')}:2: command: command "check" is already used by workflow one (${join(user, 'a.yaml')}); verbs must be unique`);
    expect(msgs).toContain(`${join(user, 'c.yaml')}:2: command: command "status" is an opstream command; pick another verb`);
    expect(msgs).toContain(`${join(user, 'd.yaml')}:2: command: command "one" is also the id of workflow one; pick another verb`);
  });

  it('a broken file is reported while the others load; a missing user dir is fine', () => {
    writeFileSync(join(shipped, 'good.yaml'), wf('good'));
    writeFileSync(join(shipped, 'bad.yaml'), 'id: bad\nsteps: [ {\n');
    writeFileSync(join(shipped, 'notes.txt'), 'not a workflow');
    const set = loadWorkflows({ shipped, user: join(dir, 'absent') });
    expect([...set.workflows.keys()]).toEqual(['good']);
    expect(set.invalid).toMatchObject([{ file: join(shipped, 'bad.yaml'), id: null }]);
  });

  it('the shipped dir is the package workflows/ folder and its files are valid', () => {
    expect(shippedWorkflowsDir()).toBe(join(__dirname, '..', '..', '..', 'workflows'));
    const set = loadWorkflows({ shipped: shippedWorkflowsDir(), user: join(dir, 'absent') });
    expect(set.problems.map(noColumn)).toEqual([]);
    expect(set.workflows.has('hello')).toBe(true);
    expect(readFileSync(join(shippedWorkflowsDir(), 'hello.yaml'), 'utf8')).toContain('yaml-language-server: $schema=');
  });

  it('a shipped workflow for an MCP server that is not configured (slo_appsignals) loads with one warning; a user file naming it is refused', () => {
    const catalog = configCatalog(null, 'no config');
    const complete = { ...catalog, complete: true };
    const set = loadWorkflows({ shipped: shippedWorkflowsDir(), user }, { tools: complete });
    expect(set.problems.map(noColumn)).toEqual([]);
    expect(set.workflows.has('slo_appsignals')).toBe(true);
    expect(set.warnings.filter((w) => w.message.includes('needs the MCP server "appsignals"')).map((w) => w.message)).toEqual([
      'workflow profile_appsignals needs the MCP server "appsignals": add it under mcpServers in config.yaml (README: AWS); until then it is refused at start',
      'workflow slo_appsignals needs the MCP server "appsignals": add it under mcpServers in config.yaml (README: AWS); until then it is refused at start',
    ]);
    writeFileSync(join(user, 'mine.yaml'), readFileSync(join(shippedWorkflowsDir(), 'slo_appsignals.yaml'), 'utf8').replace('id: slo_appsignals', 'id: mine').replace('command: slo-aws', 'command: mine'));
    const withUser = loadWorkflows({ shipped: shippedWorkflowsDir(), user }, { tools: complete });
    expect(withUser.workflows.has('mine')).toBe(false);
    expect(withUser.problems.some((p) => p.message.startsWith('no MCP server "appsignals"'))).toBe(true);
  });
});
