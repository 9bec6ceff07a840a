import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, daemonPid, alive, tempHome, type TempHome } from '../support/home.js';

// A corpus of broken workflow files (test/fuzz/corpus): each must be refused with one line per
// problem, `file:line[:column]: ...`, by `opstream workflows validate FILE`, be listed as a problem by the
// daemon when dropped in the user's workflows dir, and never run.

const CORPUS = fileURLToPath(new URL('./corpus/', import.meta.url));

/** What each file must be refused for: the line and (part of) the message of one of its problems. */
const EXPECT: Record<string, [number, RegExp]> = {
  'bad-cron-hour.yaml': [2, /schedule: cron "0 25 \* \* \*": "25" is out of range for the hour/],
  'bad-cron-object.yaml': [2, /schedule\.cron: cron "not a cron at all": "not" is not a valid minute/],
  'bad-cron.yaml': [2, /schedule: cron "99 \* \* \* \* \*": "99" is out of range for the second/],
  'bad-duration.yaml': [4, /steps\.0\.wait: expected a duration/],
  'bad-indentation.yaml': [3, /invalid YAML: /],
  'bad-template-syntax.yaml': [4, /steps\.0\.notify\.text: expression "params\.x \+" does not parse/],
  'bad-tool-name.yaml': [4, /steps\.0\.tool: expected "server\.tool"/],
  'bad-when-expression.yaml': [4, /steps\.0\.when: expression .* does not parse/],
  'billion-laughs.yaml': [2, /invalid YAML: Excessive alias count/],
  'binary.yaml': [3, /binary data/],
  'deep-nesting.yaml': [5, /invalid YAML: /],
  'duplicate-nested-step-ids.yaml': [8, /steps\.1\.steps\.0\.id: step id "a" is already used at steps\.0/],
  'duplicate-step-ids.yaml': [5, /steps\.1\.id: step id "a" is already used/],
  'duplicate-step-key.yaml': [5, /invalid YAML: Map keys must be unique/],
  'duplicate-top-key.yaml': [2, /invalid YAML: Map keys must be unique/],
  'empty.yaml': [1, /the file is empty/],
  'enum-without-values.yaml': [3, /params\.x\.values: an enum param needs `values`/],
  'id-bad-chars.yaml': [1, /id: use lowercase letters/],
  'id-not-a-string.yaml': [1, /id: .*expected string/],
  'invalid-utf8.yaml': [4, /not valid UTF-8/],
  'merge-key-unknown-field.yaml': [5, /steps\.0\.bogus: unknown key "bogus"/],
  'missing-step-id.yaml': [3, /steps\.0\.id: .*expected string/],
  'missing-steps.yaml': [1, /steps: .*expected array/],
  'missing-workflow-id.yaml': [1, /id: .*expected string/],
  'negative-duration.yaml': [4, /steps\.0\.timeout: expected a duration/],
  'no-kind.yaml': [3, /steps\.0: a step needs exactly one of/],
  'only-comment.yaml': [1, /the file is empty/],
  'repeat-without-steps.yaml': [3, /steps\.0\.steps: a repeat needs `steps`/],
  'steps-not-a-list.yaml': [2, /steps: .*expected array/],
  'tabs.yaml': [3, /invalid YAML: Tabs are not allowed/],
  'top-level-list.yaml': [1, /holds one mapping/],
  'top-level-scalar.yaml': [1, /holds one mapping/],
  'two-documents.yaml': [4, /invalid YAML: .*multiple documents/],
  'two-kinds.yaml': [3, /steps\.0: a step has exactly one kind, this one has wait and notify/],
  'unclosed-flow.yaml': [4, /invalid YAML: /],
  'unclosed-template.yaml': [4, /missing closing \}\}/],
  'unclosed.json': [2, /invalid YAML: /],
  'unknown-alias.yaml': [4, /invalid YAML: Unresolved alias/],
  'unknown-param-field.yaml': [3, /params\.x\.colour: unknown key "colour"/],
  'unknown-param-in-template.yaml': [4, /params\.nope, which is not declared under params/],
  'unknown-param-type.yaml': [3, /params\.x\.type: /],
  'unknown-step-in-template.yaml': [4, /steps\.ghost, but there is no step with that id/],
  'unknown-step-kind.yaml': [4, /steps\.0\.sleep: unknown key "sleep"/],
  'unknown-top-key.yaml': [5, /stepz: unknown key "stepz"/],
  'unterminated-string.yaml': [5, /invalid YAML: Missing closing "quote/],
  'with-on-wait-step.yaml': [5, /steps\.0\.with: `with` belongs to tool steps/],
  'wrong-type-retry.yaml': [4, /steps\.0\.retry\.attempts: .*expected number/],
  // made by the test (not kept in git): 3 MB of valid-looking steps
  'huge.yaml': [1, /the file is 3\.\d MiB; a workflow file may be at most 1 MiB/],
};

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

let h: TempHome;
let dir: string;
let files: string[];

beforeAll(() => {
  h = tempHome('ops-fy-');
  dir = join(h.home, 'workflows');
  mkdirSync(dir);
  for (const f of readdirSync(CORPUS)) copyFileSync(join(CORPUS, f), join(dir, f));
  const step = '  - id: s%\n    notify: { text: "a perfectly fine step number % of very many" }\n';
  let huge = 'id: huge\nsteps:\n';
  for (let i = 0; huge.length < 3 * 1024 * 1024; i++) huge += step.replaceAll('%', String(i));
  writeFileSync(join(dir, 'huge.yaml'), huge);
  files = readdirSync(dir).sort();
});
afterAll(async () => h.cleanup());

/** Runs `n` at a time: each validate is its own CLI process. */
async function pooled<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

describe('broken workflow YAML', () => {
  it('the corpus has every case the expectations name, and nothing unexpected', () => {
    expect(files.length).toBeGreaterThanOrEqual(25);
    expect(files).toEqual(Object.keys(EXPECT).sort());
  });

  it('`opstream workflows validate FILE` exits 1 with one file:line line per problem, naming the mistake', async () => {
    const results = await pooled(files, 3, async (f) => ({ f, r: await cli(['workflows', 'validate', join(dir, f)], h.env) }));
    for (const { f, r } of results) {
      const file = join(dir, f);
      expect(r.code, `${f}: ${r.stdout}${r.stderr}`).toBe(1);
      expect(r.stdout, f).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      // one line per problem, each `file:line[:column]: message`, and never a stack trace or a flood
      expect(lines.length, `${f}:\n${r.stderr}`).toBeLessThanOrEqual(5);
      const at = (line: number | string): RegExp => new RegExp(`^${escape(file)}:${line}(:\\d+)?: \\S`);
      for (const l of lines) expect(l, f).toMatch(at('\\d+'));
      expect(lines.every((l) => l.length < 400), f).toBe(true);
      const [line, message] = EXPECT[f];
      expect(lines.some((l) => at(line).test(l) && message.test(l)), `${f} wants line ${line} ${message}, got:\n${r.stderr}`).toBe(true);
    }
  }, 120_000);

  it('dropped in the workflows dir: each is listed with its problem and line by the daemon, and none runs', async () => {
    const r = await cli(['workflows', '--json'], h.env);
    expect(r.code, r.stderr).toBe(0);
    const listed = JSON.parse(r.stdout) as { workflows: { id: string | null; file: string; valid: boolean; problems: { line: number | null; message: string; path: string }[] }[] };
    const mine = listed.workflows.filter((w) => w.file.startsWith(dir));
    expect(mine.map((w) => w.file.slice(dir.length + 1)).sort()).toEqual(files);
    for (const w of mine) {
      const f = w.file.slice(dir.length + 1);
      expect(w.valid, f).toBe(false);
      const [line, message] = EXPECT[f];
      expect(w.problems.some((p) => p.line === line && message.test(`${p.path ? `${p.path}: ` : ''}${p.message}`)), `${f}: ${JSON.stringify(w.problems)}`).toBe(true);
    }
    // the table view prints each problem as file:line[:column]
    const t = await cli(['workflows'], h.env);
    expect(t.code).toBe(0);
    for (const f of files) expect(t.stdout, f).toMatch(new RegExp(`${escape(join(dir, f))}:${EXPECT[f][0]}(:\\d+)?: `));

    // none of them can be started, by any id a file wrote
    const ids = [...new Set(mine.map((w) => w.id).filter((id): id is string => typeof id === 'string' && /^[a-z0-9_-]+$/.test(id)))];
    expect(ids.length).toBeGreaterThan(20);
    for (const id of ids.slice(0, 6)) {
      const s = await cli(['start', id], h.env);
      expect(s.code, `${id}: ${s.stdout}`).toBe(1);
      expect(s.stderr.trim().split('\n'), id).toHaveLength(1);
    }
    const runs = await cli(['list', '--all', '--json'], h.env);
    expect(JSON.parse(runs.stdout)).toEqual([]);
    // and the daemon that read them all is still up
    expect(alive(daemonPid(h.home)!)).toBe(true);
  }, 120_000);
});
