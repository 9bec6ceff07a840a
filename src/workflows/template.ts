import jexlModule, { type JexlAst, type JexlExpression } from 'jexl';
import { parseDuration } from '../config/duration.js';

/**
 * Templating for workflow files: `{{ expression }}` inside strings, evaluated by jexl (a parser and
 * tree-walking interpreter: no eval, no new Function, and only the functions registered below can be
 * called). Synchronous on purpose: it runs inside worker threads between durable steps.
 *
 * Scope names: `params`, `steps.<id>.output`, `steps.<id>.status`, `run.id`, `run.workflow`,
 * `run.step_key`. A path through something missing gives undefined, never a crash.
 */
/** Any object: the engine passes its own scope interface (params, steps, run, ...). */
export type TemplateScope = object;

export class TemplateError extends Error {
  constructor(
    readonly expression: string,
    readonly reason: string,
  ) {
    super(`expression "${expression}" failed: ${reason}`);
    this.name = 'TemplateError';
  }

  /** Errors cross threads as plain data. */
  toJSON(): { name: string; message: string; expression: string; reason: string } {
    return { name: this.name, message: this.message, expression: this.expression, reason: this.reason };
  }
}

const { Jexl } = jexlModule;
const jexl = new Jexl();

// Transforms (`value | name(args)`) users expect from a template language. jexl's own `a.length`
// on a list reads the first element's `length`, hence `| length`.
const transforms: Record<string, (value: unknown, ...args: unknown[]) => unknown> = {
  length: (v) => (Array.isArray(v) || typeof v === 'string' ? v.length : isPlainObject(v) ? Object.keys(v).length : 0),
  keys: (v) => (isPlainObject(v) ? Object.keys(v) : []),
  values: (v) => (isPlainObject(v) ? Object.values(v) : []),
  json: (v) => JSON.stringify(v ?? null),
  string: (v) => stringify(v),
  number: (v) => Number(v),
  lower: (v) => stringify(v).toLowerCase(),
  upper: (v) => stringify(v).toUpperCase(),
  trim: (v) => stringify(v).trim(),
  default: (v, fallback) => (v === undefined || v === null || v === '' ? fallback : v),
  join: (v, sep) => (Array.isArray(v) ? v.map(stringify).join(typeof sep === 'string' ? sep : ', ') : stringify(v)),
  first: (v) => (Array.isArray(v) ? v[0] : undefined),
  last: (v) => (Array.isArray(v) ? v[v.length - 1] : undefined),
  round: (v, digits) => {
    const f = 10 ** (typeof digits === 'number' ? digits : 0);
    return Math.round(Number(v) * f) / f;
  },
  /** "2h" | ms -> 7200000 */
  ms: (v) => (typeof v === 'string' || typeof v === 'number' ? parseDuration(v) : null),
};
for (const [name, fn] of Object.entries(transforms)) jexl.addTransform(name, fn);

/** Property names that reach into JavaScript internals rather than workflow data. */
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__']);

const cache = new Map<string, JexlExpression>();
const CACHE_MAX = 5000;

function compile(expr: string): JexlExpression {
  let compiled = cache.get(expr);
  if (compiled) return compiled;
  const source = expr.trim();
  if (source === '') throw new TemplateError(expr, 'the expression is empty');
  try {
    compiled = jexl.compile(source);
  } catch (e) {
    throw new TemplateError(expr, (e as Error).message);
  }
  const bad = findForbidden(compiled._getAst());
  if (bad) throw new TemplateError(expr, `"${bad}" is not allowed in expressions`);
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(expr, compiled);
  return compiled;
}

function findForbidden(node: unknown): string | null {
  if (Array.isArray(node)) {
    for (const n of node) {
      const f = findForbidden(n);
      if (f) return f;
    }
    return null;
  }
  if (!isPlainObject(node)) return null;
  const ast = node as JexlAst;
  if (ast.type === 'Identifier' && typeof ast.value === 'string' && FORBIDDEN.has(ast.value)) return ast.value;
  if (ast.type === 'Literal' && typeof ast.value === 'string' && FORBIDDEN.has(ast.value)) return ast.value;
  for (const [k, v] of Object.entries(ast)) {
    if (k === 'type') continue;
    const f = findForbidden(v);
    if (f) return f;
  }
  return null;
}

/** Evaluates one expression (without braces). Throws TemplateError saying which and why. */
export function evaluate(expr: string, scope: TemplateScope): unknown {
  const compiled = compile(expr);
  try {
    return compiled.evalSync(scope as Record<string, unknown>);
  } catch (e) {
    throw new TemplateError(expr, e instanceof Error ? e.message : String(e));
  }
}

/** Null when the expression parses, else why it does not. */
export function checkExpression(expr: string): string | null {
  try {
    compile(expr);
    return null;
  } catch (e) {
    return e instanceof TemplateError ? e.reason : (e as Error).message;
  }
}

export interface TemplatePart {
  /** Literal text before the expression. */
  text: string;
  /** The expression between the braces, or null for trailing text. */
  expr: string | null;
}

/**
 * Splits "a {{ x }} b" into literal and expression parts. `}}` inside a quoted string does not end
 * an expression, and `}}}` ends it after an object literal's own `}`.
 */
export function splitTemplate(text: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let pos = 0;
  for (;;) {
    const open = text.indexOf('{{', pos);
    if (open === -1) break;
    let i = open + 2;
    let quote: string | null = null;
    let close = -1;
    for (; i < text.length; i++) {
      const c = text[i];
      if (quote) {
        if (c === '\\') i++;
        else if (c === quote) quote = null;
      } else if (c === '"' || c === "'") quote = c;
      else if (c === '}' && text[i + 1] === '}') {
        let j = i;
        while (text[j + 2] === '}') j++;
        close = j;
        break;
      }
    }
    if (close === -1) throw new TemplateError(text.slice(open), 'missing closing }}');
    parts.push({ text: text.slice(pos, open), expr: text.slice(open + 2, close) });
    pos = close + 2;
  }
  parts.push({ text: text.slice(pos), expr: null });
  return parts;
}

/** Every expression inside a string's `{{ }}`; throws TemplateError for an unclosed one. */
export function templateExpressions(text: string): string[] {
  if (!text.includes('{{')) return [];
  return splitTemplate(text).flatMap((p) => (p.expr === null ? [] : [p.expr]));
}

function renderString(text: string, scope: TemplateScope): unknown {
  if (!text.includes('{{')) return text;
  const parts = splitTemplate(text);
  // a string that is exactly one {{ }} keeps the value's type (object, number, list)
  if (parts.length === 2 && parts[0].text.trim() === '' && parts[1].text.trim() === '') return evaluate(parts[0].expr as string, scope);
  let out = '';
  for (const p of parts) {
    out += p.text;
    if (p.expr !== null) out += stringify(evaluate(p.expr, scope));
  }
  return out;
}

/** Renders strings, arrays and objects deeply; object keys and non-string scalars stay as they are. */
export function render(value: unknown, scope: TemplateScope): unknown {
  if (typeof value === 'string') return renderString(value, scope);
  if (Array.isArray(value)) return value.map((v) => render(v, scope));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = render(v, scope);
    return out;
  }
  return value;
}

/**
 * A `when` condition: a boolean, a template ("{{ steps.a.output.fixes }}") or a bare expression
 * ("steps.a.output.count > 3"). Undefined/absent means run the step.
 */
export function evaluateCondition(when: string | boolean | undefined, scope: TemplateScope): boolean {
  if (when === undefined) return true;
  if (typeof when === 'boolean') return when;
  return isTruthy(when.includes('{{') ? renderString(when, scope) : evaluate(when, scope));
}

/**
 * Truthiness for `when`: besides JavaScript's falsy values, an empty list or object and the texts
 * "false", "no", "off", "0" (any case, trimmed) are false, since templates often render to text.
 */
export function isTruthy(value: unknown): boolean {
  if (value === undefined || value === null || value === false) return false;
  if (typeof value === 'number') return value !== 0 && !Number.isNaN(value);
  if (typeof value === 'string') return !['', 'false', 'no', 'off', '0', 'null', 'undefined'].includes(value.trim().toLowerCase());
  if (Array.isArray(value)) return value.length > 0;
  if (isPlainObject(value)) return Object.keys(value).length > 0;
  return Boolean(value);
}

/** How a value appears inside text: objects and lists as JSON, nothing for undefined/null. */
export function stringify(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
}

/**
 * Root-anchored dotted paths an expression reads, e.g. `params.service` -> ['params', 'service'].
 * Used by the loader to check that referenced params and steps exist.
 */
export function referencedPaths(expr: string): string[][] {
  const out: string[][] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!isPlainObject(node)) return;
    const ast = node as JexlAst;
    if (ast.type === 'Identifier' && !ast.relative) {
      const chain: string[] = [];
      let cur: JexlAst | undefined = ast;
      while (cur && cur.type === 'Identifier') {
        chain.unshift(cur.value as string);
        cur = cur.from as JexlAst | undefined;
      }
      if (cur === undefined) {
        out.push(chain);
        return;
      }
    }
    for (const [k, v] of Object.entries(ast)) if (k !== 'type') visit(v);
  };
  visit(compile(expr)._getAst());
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** What decides whether a template reference reads text from outside (see `untrustedSources`). */
export interface TaintRules {
  /** Params came from a chat message (a Slack user typed them), not from the local user or a schedule. */
  paramsFromChat: boolean;
  /** Steps whose output OpStream made itself (a wait's `woke_at`, a notify's `delivered_to`). */
  trustedStep(id: string): boolean;
}

/**
 * The untrusted sources a template pulls into the text it renders: step outputs (tool results, web
 * responses, answers typed by people, agents' answers) and params typed in chat. Tracked from the
 * references, not the rendered text, so a value that looks harmless is still counted: a prompt that
 * carries any of them cannot unlock a gated tool (DESIGN.md, "Text from outside ... is untrusted
 * wherever it goes"). `steps.<id>.status`, `run.*` and `llm.*` are OpStream's own values.
 */
export function untrustedSources(value: unknown, rules: TaintRules): string[] {
  const out = new Set<string>();
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      for (const expr of templateExpressions(v)) {
        for (const path of referencedPaths(expr)) {
          const [root, id, field] = path;
          if (root === 'steps') {
            if (id === undefined) out.add('output of earlier steps');
            else if (field !== 'status' && !rules.trustedStep(id)) out.add(`output of step ${id}`);
          } else if (root === 'params' && rules.paramsFromChat) out.add(id === undefined ? 'parameters given in chat' : `parameter ${id} given in chat`);
        }
      }
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (isPlainObject(v)) Object.values(v).forEach(visit);
  };
  visit(value);
  return [...out];
}
