import { closest, distance } from 'fastest-levenshtein';
import { parseDuration } from '../config/duration.js';
import { WireError } from '../protocol/errors.js';
import type { LoadedWorkflow, WorkflowSet } from './registry.js';
import type { ParamSpec, ParamType, Workflow } from './schema.js';

/**
 * Turning what a user typed (`opstream start profile my-service for 2h url=...`) or sent as an
 * object (Slack, schedules, --json API) into a workflow's typed params. Errors are WireErrors so
 * the daemon can send them as they are.
 */

// ---- usage patterns: "<service> [for <duration>]" --------------------------------------------

export type UsageElement =
  | { kind: 'word'; word: string }
  | { kind: 'param'; name: string; rest: boolean }
  | { kind: 'optional'; items: UsageElement[] };

/** Parses a usage line: `<name>` one word, `<name...>` the remaining words, `[ ... ]` optional, other words literal. */
export function parseUsage(usage: string): UsageElement[] {
  const tokens = usage.match(/<[^<>\s]+>|\[|\]|[^\s<>[\]]+/g) ?? [];
  let pos = 0;
  const parseSeq = (depth: number): UsageElement[] => {
    const items: UsageElement[] = [];
    while (pos < tokens.length) {
      const t = tokens[pos++];
      if (t === '[') items.push({ kind: 'optional', items: parseSeq(depth + 1) });
      else if (t === ']') {
        if (depth === 0) throw new Error(`usage "${usage}" has a "]" without "["`);
        return items;
      } else if (t.startsWith('<')) {
        const inner = t.slice(1, -1);
        const rest = inner.endsWith('...');
        const name = rest ? inner.slice(0, -3) : inner;
        if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`usage placeholder <${inner}> must be a param name`);
        items.push({ kind: 'param', name, rest });
      } else items.push({ kind: 'word', word: t.toLowerCase() });
    }
    if (depth > 0) throw new Error(`usage "${usage}" has a "[" without "]"`);
    return items;
  };
  const out = parseSeq(0);
  if (/[<>]/.test(usage.replace(/<[^<>\s]+>/g, ''))) throw new Error(`usage "${usage}" has a stray < or >; write placeholders as <name>`);
  return out;
}

export function usageParams(elements: UsageElement[]): string[] {
  return elements.flatMap((e) => (e.kind === 'param' ? [e.name] : e.kind === 'optional' ? usageParams(e.items) : []));
}

/** Matches words against a usage pattern (backtracking over optional groups); null when they do not fit. */
export function matchUsage(elements: UsageElement[], words: string[]): Record<string, string> | null {
  const go = (els: UsageElement[], i: number, bound: Record<string, string>, k: (j: number, b: Record<string, string>) => Record<string, string> | null): Record<string, string> | null => {
    if (els.length === 0) return k(i, bound);
    const [head, ...tail] = els;
    if (head.kind === 'word') return i < words.length && words[i].toLowerCase() === head.word ? go(tail, i + 1, bound, k) : null;
    if (head.kind === 'param') {
      if (i >= words.length) return null;
      if (head.rest) {
        for (let end = words.length; end > i; end--) {
          const r = go(tail, end, { ...bound, [head.name]: words.slice(i, end).join(' ') }, k);
          if (r) return r;
        }
        return null;
      }
      return go(tail, i + 1, { ...bound, [head.name]: words[i] }, k);
    }
    // optional: try with the group, then without
    return go(head.items, i, bound, (j, b) => go(tail, j, b, k)) ?? go(tail, i, bound, k);
  };
  return go(elements, 0, {}, (j, b) => (j === words.length ? b : null));
}

// ---- types ----------------------------------------------------------------------------------

const TYPE_TEXT: Record<ParamType, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  duration: 'a duration such as 30s, 5m, 2h or "2 hours"',
  url: 'a URL such as http://127.0.0.1:8080/health',
  enum: 'one of the listed values',
  object: 'a JSON object',
  list: 'a list (JSON array or comma-separated)',
};

function show(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function typeError(name: string, spec: ParamSpec, value: unknown, extra = ''): WireError {
  const expected = spec.type === 'enum' ? `one of ${(spec.values ?? []).map((v) => String(v)).join(', ')}` : TYPE_TEXT[spec.type];
  return new WireError('invalid_params', `param ${name} expects ${expected}${spec.type === 'enum' ? '' : ` (type ${spec.type})`}${extra}; got ${show(value)}`);
}

const TRUE = new Set(['true', 'yes', 'y', 'on', '1']);
const FALSE = new Set(['false', 'no', 'n', 'off', '0']);

/** One param's value, from text (the CLI) or a native value (JSON API). Throws invalid_params naming the param. */
export function coerceParam(name: string, spec: ParamSpec, value: unknown): unknown {
  const text = typeof value === 'string' ? value.trim() : null;
  switch (spec.type) {
    case 'string':
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      throw typeError(name, spec, value);
    case 'number':
    case 'integer': {
      const n = typeof value === 'number' ? value : text !== null && text !== '' ? Number(text) : NaN;
      if (!Number.isFinite(n)) throw typeError(name, spec, value);
      if (spec.type === 'integer' && !Number.isInteger(n)) throw typeError(name, spec, value);
      if (spec.min !== undefined && n < spec.min) throw new WireError('invalid_params', `param ${name} must be at least ${spec.min}; got ${n}`);
      if (spec.max !== undefined && n > spec.max) throw new WireError('invalid_params', `param ${name} must be at most ${spec.max}; got ${n}`);
      return n;
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (text !== null && TRUE.has(text.toLowerCase())) return true;
      if (text !== null && FALSE.has(text.toLowerCase())) return false;
      throw typeError(name, spec, value);
    case 'duration': {
      if (typeof value !== 'string' && typeof value !== 'number') throw typeError(name, spec, value);
      const ms = parseDuration(value);
      if (ms === null) throw typeError(name, spec, value);
      if (spec.min !== undefined && ms < spec.min * 1000) throw new WireError('invalid_params', `param ${name} must be at least ${spec.min}s; got ${show(value)}`);
      if (spec.max !== undefined && ms > spec.max * 1000) throw new WireError('invalid_params', `param ${name} must be at most ${spec.max}s; got ${show(value)}`);
      // kept as the text the user wrote ("2h"); durationMs() gives the number
      return typeof value === 'number' ? `${value}s` : text;
    }
    case 'url': {
      if (text === null || !/^[a-z][a-z0-9+.-]*:\/\/[^/\s]/i.test(text) || !URL.canParse(text)) throw typeError(name, spec, value);
      return text;
    }
    case 'enum': {
      const hit = (spec.values ?? []).find((v) => String(v) === String(value));
      if (hit === undefined || (typeof value !== 'string' && typeof value !== 'number')) {
        const near = typeof value === 'string' && spec.values?.length ? closest(value, spec.values.map(String)) : null;
        throw typeError(name, spec, value, near && distance(near, String(value)) <= 2 ? ` (did you mean ${near}?)` : '');
      }
      return hit;
    }
    case 'object': {
      const v = text !== null ? parseJson(text) : value;
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw typeError(name, spec, value);
      return v;
    }
    case 'list': {
      if (Array.isArray(value)) return value;
      if (text === null) throw typeError(name, spec, value);
      if (text.startsWith('[') || text.startsWith('{')) {
        const v = parseJson(text);
        if (!Array.isArray(v)) throw typeError(name, spec, value, ' (that JSON is not an array)');
        return v;
      }
      return text === '' ? [] : text.split(',').map((s) => s.trim());
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Milliseconds of a duration param's value ("2h" -> 7200000); null when it is not one. */
export function durationMs(value: unknown): number | null {
  return typeof value === 'string' || typeof value === 'number' ? parseDuration(value) : null;
}

/** The ms of every duration-typed param that has a value. */
export function paramDurationsMs(workflow: Workflow, params: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, spec] of Object.entries(workflow.params)) {
    if (spec.type !== 'duration') continue;
    const ms = durationMs(params[name]);
    if (ms !== null) out[name] = ms;
  }
  return out;
}

function suggest(word: string, candidates: string[]): string[] {
  const w = word.toLowerCase();
  return candidates
    .map((c) => ({ c, d: distance(w, c.toLowerCase()), sub: c.toLowerCase().includes(w) || w.includes(c.toLowerCase()) }))
    .filter((x) => x.sub || x.d <= Math.max(2, Math.floor(x.c.length / 3)))
    .sort((a, b) => a.d - b.d || a.c.localeCompare(b.c))
    .slice(0, 3)
    .map((x) => x.c);
}

function orList(items: string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/**
 * Checks and completes params given as an object: unknown names rejected (with a suggestion),
 * values typed, defaults applied, every missing required param named. null/undefined mean absent.
 */
export function coerceParams(workflow: Workflow, params: Record<string, unknown>): Record<string, unknown> {
  const specs = workflow.params;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(params)) {
    if (!Object.prototype.hasOwnProperty.call(specs, name)) {
      const known = Object.keys(specs);
      const near = suggest(name, known);
      const hint = near.length ? ` (did you mean ${orList(near)}?)` : '';
      throw new WireError('invalid_params', `unknown param ${name} for workflow ${workflow.id}${hint}; ${known.length ? `it takes: ${known.join(', ')}` : 'it takes no params'}`);
    }
    if (value === undefined || value === null) continue;
    out[name] = coerceParam(name, specs[name], value);
  }
  const missing: string[] = [];
  for (const [name, spec] of Object.entries(specs)) {
    if (name in out) continue;
    if (spec.default !== undefined) out[name] = coerceParam(name, spec, spec.default);
    else if (spec.required) missing.push(spec.description ? `${name} (${spec.description})` : name);
  }
  if (missing.length) {
    const usage = workflow.command && workflow.usage ? `; usage: ${workflow.command} ${workflow.usage}` : '';
    throw new WireError('invalid_params', `workflow ${workflow.id} needs param${missing.length > 1 ? 's' : ''} ${missing.join(', ')}${usage}`);
  }
  return out;
}

/**
 * The workflow a person means by `word`, as `start`, `/opstream` and every `--workflow` filter read
 * it: its id, its `command` verb, or its `name` (any case, e.g. "SLO Monitoring"); undefined when
 * none of the loaded workflows answers to it.
 */
export function findWorkflow(set: WorkflowSet, word: string): LoadedWorkflow | undefined {
  const w = word.trim();
  const hit = set.workflows.get(w) ?? set.byCommand(w.toLowerCase());
  if (hit) return hit;
  const lower = w.toLowerCase();
  for (const x of set.workflows.values()) if (x.workflow.id.toLowerCase() === lower || x.workflow.name?.toLowerCase() === lower) return x;
  return undefined;
}

/** The one-line error for a word no workflow answers to, with the nearest ids, verbs and names. */
export function unknownWorkflow(set: WorkflowSet, word: string): WireError {
  const broken = set.invalid.find((f) => f.id === word);
  if (broken) {
    const first = broken.problems[0];
    return new WireError('workflow_invalid', `workflow ${word} has ${broken.problems.length} problem(s) and cannot start; first: ${first ? `${first.file}${first.line ? `:${first.line}` : ''}: ${first.path ? `${first.path}: ` : ''}${first.message}` : 'unknown'} (run \`opstream workflows validate ${broken.file}\`)`);
  }
  const names = [...set.workflows.keys(), ...[...set.workflows.values()].flatMap((w) => [...(w.workflow.command ? [w.workflow.command] : []), ...(w.workflow.name ? [w.workflow.name] : [])])];
  const near = suggest(word, [...new Set(names)]).map((n) => (/\s/.test(n) ? JSON.stringify(n) : n));
  const hint = near.length ? `; did you mean ${orList(near)}?` : names.length ? '; `opstream workflows` lists them' : '; no workflows are loaded';
  return new WireError('not_found', `no workflow or command named ${word}${hint}`);
}

/**
 * A `--workflow` filter (list, stats, schedules) to the workflow id the records carry. `hasRuns`
 * lets the id of a workflow that is no longer loaded still find its past runs.
 */
export function resolveWorkflowFilter(set: WorkflowSet, word: string, hasRuns: (id: string) => boolean = () => false): string {
  const found = findWorkflow(set, word);
  if (found) return found.workflow.id;
  if (hasRuns(word)) return word;
  throw unknownWorkflow(set, word);
}

const KEY_VALUE = /^([a-z_][a-z0-9_]*)=(.*)$/s;

export interface ResolvedStart {
  workflow: LoadedWorkflow;
  params: Record<string, unknown>;
  /** Duration params in milliseconds, for the engine's timers. */
  durationsMs: Record<string, number>;
}

/** `services:` in config.yaml: param defaults per service name (see ServiceConfig). */
export type ServiceDefaults = Record<string, { workflows?: Record<string, Record<string, unknown>> } & Record<string, unknown>>;

/**
 * The params `services.<name>` gives workflow `w`: its own section (`workflows.<id or verb>`) over
 * the service's shared ones, only those `w` takes. A name no loaded workflow takes is a typo and
 * an error (a default silently ignored is worse than a refused start).
 */
function serviceParams(set: WorkflowSet, w: Workflow, name: string, services: ServiceDefaults): Record<string, unknown> {
  const svc = services[name];
  const { workflows: per = {}, ...shared } = svc;
  const everyParam = new Set([...set.workflows.values()].flatMap((x) => Object.keys(x.workflow.params)));
  for (const k of Object.keys(shared)) {
    if (everyParam.has(k)) continue;
    const near = suggest(k, [...everyParam]);
    throw new WireError('invalid_params', `services.${name}.${k} in config.yaml is not a param of any workflow${near.length ? ` (did you mean ${orList(near)}?)` : ''}`);
  }
  const own = per[w.id] ?? (w.command ? per[w.command] : undefined) ?? {};
  for (const k of Object.keys(own)) {
    if (Object.prototype.hasOwnProperty.call(w.params, k)) continue;
    const near = suggest(k, Object.keys(w.params));
    throw new WireError('invalid_params', `services.${name}.workflows.${per[w.id] ? w.id : w.command}.${k} in config.yaml is not a param of workflow ${w.id}${near.length ? ` (did you mean ${orList(near)}?)` : ''}`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries({ ...shared, ...own })) if (Object.prototype.hasOwnProperty.call(w.params, k) && v !== undefined && v !== null) out[k] = v;
  return out;
}

/**
 * `opstream start WORKFLOW [words...] [key=value...]`: WORKFLOW is an id or a `command` verb; the
 * other plain words are matched against the workflow's `usage`. When the `service` param names an
 * entry of `services`, the params not given come from it before the workflow's defaults.
 */
export function resolveStart(set: WorkflowSet, words: string[], services: ServiceDefaults = {}): ResolvedStart {
  const [head, ...rest] = words;
  if (head === undefined || head.trim() === '') throw new WireError('invalid_params', 'name a workflow to start (an id or a command verb); `opstream workflows` lists them');
  const workflow = findWorkflow(set, head);
  if (!workflow) throw unknownWorkflow(set, head);
  const w = workflow.workflow;
  const given: Record<string, unknown> = {};
  const positional: string[] = [];
  for (const word of rest) {
    const kv = KEY_VALUE.exec(word);
    if (kv && Object.prototype.hasOwnProperty.call(w.params, kv[1])) {
      if (kv[1] in given) throw new WireError('invalid_params', `param ${kv[1]} is given twice`);
      given[kv[1]] = kv[2];
    } else if (kv && !/^[a-z][a-z0-9+.-]*:\/\//i.test(word)) {
      // looks like key=value for a param that does not exist: name it rather than treat it as a word
      coerceParams(w, { [kv[1]]: kv[2] });
    } else positional.push(word);
  }
  if (positional.length > 0) {
    const usage = w.usage ? parseUsage(w.usage) : [];
    const bound = w.usage ? matchUsage(usage, positional) : null;
    const how = w.command && w.usage ? `usage: ${w.command} ${w.usage}` : `give params as key=value (${Object.keys(w.params).join(', ') || 'it takes none'})`;
    if (!bound) throw new WireError('invalid_params', `cannot read "${positional.join(' ')}" for workflow ${w.id}; ${how}`);
    for (const [k, v] of Object.entries(bound)) {
      if (k in given) throw new WireError('invalid_params', `param ${k} is given twice (in the words and as ${k}=)`);
      given[k] = v;
    }
  }
  const svc = given.service;
  if (typeof svc === 'string' && Object.prototype.hasOwnProperty.call(services, svc) && Object.prototype.hasOwnProperty.call(w.params, 'service')) {
    for (const [k, v] of Object.entries(serviceParams(set, w, svc, services))) if (!(k in given)) given[k] = v;
  }
  const params = coerceParams(w, given);
  return { workflow, params, durationsMs: paramDurationsMs(w, params) };
}
