import { describe, expect, it } from 'vitest';
import { checkExpression, evaluate, evaluateCondition, isTruthy, referencedPaths, render, TemplateError } from '../../../src/workflows/template.js';

const scope = {
  params: { service: 'api', duration: '2h', count: 5, tags: ['a', 'b'] },
  steps: {
    a: { output: { count: 4, items: [{ name: 'x' }, { name: 'y' }], nested: { ok: true } }, status: 'succeeded' },
    empty: { output: [], status: 'succeeded' },
  },
  run: { id: 'r_abc123', workflow: 'demo', step_key: 'r_abc123:a:1' },
};

describe('render', () => {
  it('a lone {{ }} keeps the value type', () => {
    expect(render('{{ steps.a.output.count }}', scope)).toBe(4);
    expect(render('{{ steps.a.output.nested }}', scope)).toEqual({ ok: true });
    expect(render('  {{ params.tags }} ', scope)).toEqual(['a', 'b']);
    expect(render('{{ steps.a.output.count > 3 }}', scope)).toBe(true);
  });

  it('text with expressions becomes text; objects and lists appear as JSON', () => {
    expect(render('svc {{ params.service }} for {{params.duration}}', scope)).toBe('svc api for 2h');
    expect(render('got {{ steps.a.output.nested }}', scope)).toBe('got {"ok":true}');
    expect(render('missing: [{{ steps.nope.output.x }}]', scope)).toBe('missing: []');
  });

  it('renders deeply and leaves keys and non-strings alone', () => {
    expect(render({ url: 'http://{{ params.service }}', n: 3, list: ['{{ params.count }}', true], '{{ k }}': 'v' }, scope)).toEqual({
      url: 'http://api',
      n: 3,
      list: [5, true],
      '{{ k }}': 'v',
    });
  });

  it('an object literal inside braces and }} inside quotes', () => {
    expect(render('{{ {a: params.count} }}', scope)).toEqual({ a: 5 });
    expect(render('{{ "}}" + params.service }}', scope)).toBe('}}api');
  });

  it('run names are in scope', () => {
    expect(render('{{ run.id }}/{{ run.workflow }}/{{ run.step_key }}', scope)).toBe('r_abc123/demo/r_abc123:a:1');
  });
});

describe('evaluate', () => {
  it('dotted paths, comparisons and logic', () => {
    expect(evaluate('steps.a.output.count > 3', scope)).toBe(true);
    expect(evaluate('steps.a.output.count == 4 && params.service != "web"', scope)).toBe(true);
    expect(evaluate('!steps.a.output.nested.ok || false', scope)).toBe(false);
    expect(evaluate('steps.a.status == "succeeded"', scope)).toBe(true);
    expect(evaluate('steps.a.output.items[1].name', scope)).toBe('y');
    expect(evaluate('steps.a.output.items | length', scope)).toBe(2);
    expect(evaluate('params.duration | ms', scope)).toBe(7_200_000);
  });

  it('a missing path gives undefined, not a crash', () => {
    expect(evaluate('steps.nope.output.deep.deeper', scope)).toBeUndefined();
    expect(evaluate('params.absent', scope)).toBeUndefined();
    expect(evaluate('steps.nope.output.count > 3', scope)).toBe(false);
  });

  it('a failing expression throws TemplateError naming it and why', () => {
    expect(() => evaluate('steps.a.output.count >', scope)).toThrow(TemplateError);
    try {
      evaluate('nosuchfn(1)', scope);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(TemplateError);
      expect((e as TemplateError).expression).toBe('nosuchfn(1)');
      expect((e as Error).message).toContain('nosuchfn');
      expect(JSON.parse(JSON.stringify(e))).toMatchObject({ name: 'TemplateError', expression: 'nosuchfn(1)' });
    }
    expect(() => render('x {{ params.count | nosuch }}', scope)).toThrow(/params.count \| nosuch/);
    expect(() => render('x {{ params.count ', scope)).toThrow(/missing closing/);
  });

  it('cannot reach JavaScript internals', () => {
    // jexl's lexer already refuses `constructor` as a name; a quoted key reaches our own guard
    expect(() => evaluate('params.constructor', scope)).toThrow(TemplateError);
    expect(() => evaluate('params["constructor"]', scope)).toThrow(/not allowed/);
    expect(() => evaluate('params["__proto__"]', scope)).toThrow(/not allowed/);
    expect(checkExpression('params.service["constructor"]["constructor"]')).toMatch(/not allowed/);
  });
});

describe('conditions', () => {
  it('isTruthy treats empty and "false"-like values as false', () => {
    for (const v of [undefined, null, false, 0, '', 'false', 'No', ' off ', '0', [], {}]) expect(isTruthy(v)).toBe(false);
    for (const v of [true, 1, 'yes', 'x', [0], { a: 1 }]) expect(isTruthy(v)).toBe(true);
  });

  it('when: template, bare expression or boolean', () => {
    expect(evaluateCondition('{{ steps.a.output.count > 3 }}', scope)).toBe(true);
    expect(evaluateCondition('steps.a.output.count > 10', scope)).toBe(false);
    expect(evaluateCondition('{{ steps.empty.output }}', scope)).toBe(false);
    expect(evaluateCondition(false, scope)).toBe(false);
    expect(evaluateCondition(undefined, scope)).toBe(true);
  });

  it('checkExpression and referencedPaths for the loader', () => {
    expect(checkExpression('a > 1')).toBeNull();
    expect(checkExpression('a >')).toMatch(/Unexpected end/);
    expect(referencedPaths('params.a > steps.b.output.c && run.id')).toEqual([['params', 'a'], ['steps', 'b', 'output', 'c'], ['run', 'id']]);
  });
});
