import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/client/client.js';
import { cli, daemonPid, tempHome, waitFor, type TempHome } from '../support/home.js';

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

  it('exits 1 and prints each problem as file:line: path: message', async () => {
    const f = join(h.home, 'bad.yaml');
    writeFileSync(
      f,
      [
        'id: bad',
        'tools: [ops.http_probe]',
        'steps:',
        '  - id: a',
        '    wait: 5 fortnights',
        '  - id: a',
        '    notify: { text: "{{ params.missing }}" }',
        '  - id: c',
        '    agent: { prompt: go, tools: [ops.other] }',
        '',
      ].join('\n'),
    );
    const r = await cli(['workflows', 'validate', f], h.env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`${f}:5: steps.0.wait: expected a duration such as 30s, 5m, 2h or "2 hours"\n`);
    // schema problems come first; once fixed, the cross-field checks speak
    writeFileSync(f, readFixed());
    const r2 = await cli(['workflows', 'validate', f], h.env);
    expect(r2.code).toBe(1);
    expect(r2.stderr.trim().split('\n')).toEqual([
      `${f}:6: steps.1.id: step id "a" is already used at steps.0; step ids must be unique in a workflow`,
      `${f}:7: steps.1.notify.text: params.missing, which is not declared under params`,
      `${f}:9: steps.2.agent.tools.0: agent tool "ops.other" is not listed in the workflow's tools (ops.http_probe); agent steps may use only those`,
    ]);
    const j = await cli(['workflows', 'validate', f, '--json'], h.env);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, id: 'bad', problems: [{ line: 6, path: 'steps.1.id' }, { line: 7 }, { line: 9 }] });
    expect(daemonPid(h.home)).toBeNull();
  });

  it('broken YAML and a missing file', async () => {
    const f = join(h.home, 'broken.yaml');
    writeFileSync(f, 'id: x\nsteps:\n  - id: a\n   notify: hi\n');
    const r = await cli(['workflows', 'validate', f], h.env);
    expect(r).toMatchObject({ code: 1, stderr: `${f}:4: invalid YAML: Sequence item without - indicator\n` });
    const m = await cli(['workflows', 'validate', join(h.home, 'nope.yaml')], h.env);
    expect(m).toMatchObject({ code: 1, stderr: `${join(h.home, 'nope.yaml')}: no such file\n` });
  });
});

function readFixed(): string {
  return [
    'id: bad',
    'tools: [ops.http_probe]',
    'steps:',
    '  - id: a',
    '    wait: 5m',
    '  - id: a',
    '    notify: { text: "{{ params.missing }}" }',
    '  - id: c',
    '    agent: { prompt: go, tools: [ops.other] }',
    '',
  ].join('\n');
}

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
    expect(t.stdout).toContain(`${join(userDir, 'broken.yaml')}:4: steps.0.wait: expected a duration`);
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
