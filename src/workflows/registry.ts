import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import { zodProblems } from '../config/load.js';
import { cronProblem } from './cron.js';
import { coerceParam, coerceParams, parseUsage, usageParams } from './params.js';
import { STEP_KINDS, Workflow, type Step } from './schema.js';
import { checkExpression, referencedPaths, templateExpressions, TemplateError } from './template.js';

export interface WorkflowProblem {
  file: string;
  /** Dotted YAML path, e.g. `steps.2.agent.tools.0`; empty for the whole file. */
  path: string;
  line: number | null;
  message: string;
}

export type WorkflowSource = 'shipped' | 'user';

export interface LoadedWorkflow {
  workflow: Workflow;
  file: string;
  source: WorkflowSource;
  /** For a user file: the shipped file with the same id that it replaces. */
  overrides?: string;
}

/** A file that failed validation: listed with its problems, never run. */
export interface InvalidWorkflowFile {
  file: string;
  source: WorkflowSource;
  /** The `id` written in the file, when one could be read. */
  id: string | null;
  problems: WorkflowProblem[];
}

/**
 * The notification targets config defines, for checking notify steps' `channel`: built-in and
 * webhook names, and Slack's routes when Slack is configured (null: not configured).
 */
export interface ChannelNames {
  targets: ReadonlySet<string>;
  slack: ReadonlySet<string> | null;
}

export interface WorkflowSet {
  /** Runnable workflows by id (a user's file overrides a shipped one with the same id). */
  workflows: Map<string, LoadedWorkflow>;
  /** Every problem found, across all files. */
  problems: WorkflowProblem[];
  /** Files that failed validation (also counted in `problems`). */
  invalid: InvalidWorkflowFile[];
  /** Things that work but not as written (a Slack channel while Slack is not configured). */
  warnings: WorkflowProblem[];
  /** The workflow whose `command` is this verb. */
  byCommand(verb: string): LoadedWorkflow | undefined;
}

export function formatWorkflowProblem(p: WorkflowProblem): string {
  return `${p.file}${p.line ? `:${p.line}` : ''}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

/** The package's workflows/ folder; the same relative hop works from src/ (tests) and dist/. */
export function shippedWorkflowsDir(): string {
  return fileURLToPath(new URL('../../workflows/', import.meta.url)).replace(/\/$/, '');
}

const WORKFLOW_FILE = /\.(ya?ml|json)$/i;

/** Words Slack's `/opstream` already uses; a workflow verb must not shadow them. */
const RESERVED_VERBS = new Set(['start', 'status', 'list', 'pause', 'resume', 'cancel', 'logs', 'approve', 'reject', 'respond', 'help', 'workflows', 'tools', 'daemon', 'dashboard', 'schedules']);

function listWorkflowFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => WORKFLOW_FILE.test(f) && !f.startsWith('.'))
    .sort()
    .map((f) => join(dir, f))
    .filter((f) => {
      try {
        return statSync(f).isFile();
      } catch {
        return false;
      }
    });
}

/**
 * Loads shipped and user workflows. Never throws for bad files: every problem is collected, the
 * file is left out, and the rest still load.
 */
export function loadWorkflows(dirs: { shipped: string; user: string }, channels?: ChannelNames): WorkflowSet {
  const problems: WorkflowProblem[] = [];
  const warnings: WorkflowProblem[] = [];
  const invalid: InvalidWorkflowFile[] = [];
  const bySource: Record<WorkflowSource, LoadedWorkflow[]> = { shipped: [], user: [] };

  for (const source of ['shipped', 'user'] as const) {
    const seen = new Map<string, string>();
    for (const file of listWorkflowFiles(dirs[source])) {
      const r = validateWorkflowFile(file, channels);
      warnings.push(...(r.warnings ?? []));
      if (r.workflow && r.problems.length === 0) {
        const first = seen.get(r.workflow.id);
        if (first !== undefined) {
          const p = { file, path: 'id', line: r.idLine ?? null, message: `id "${r.workflow.id}" is already used by ${first}; ids must be unique` };
          problems.push(p);
          invalid.push({ file, source, id: r.workflow.id, problems: [p] });
          continue;
        }
        seen.set(r.workflow.id, file);
        bySource[source].push({ workflow: r.workflow, file, source });
      } else {
        problems.push(...r.problems);
        invalid.push({ file, source, id: r.id ?? null, problems: r.problems });
      }
    }
  }

  const workflows = new Map<string, LoadedWorkflow>();
  for (const w of bySource.shipped) workflows.set(w.workflow.id, w);
  for (const w of bySource.user) {
    // a user's file overrides a shipped one
    const shipped = workflows.get(w.workflow.id);
    workflows.set(w.workflow.id, shipped ? { ...w, overrides: shipped.file } : w);
  }

  // Verbs: the first holder (user files first, then shipped, each sorted by file) keeps the verb.
  const commands = new Map<string, LoadedWorkflow>();
  const ordered = [...workflows.values()].sort((a, b) => (a.source === b.source ? a.file.localeCompare(b.file) : a.source === 'user' ? -1 : 1));
  for (const w of ordered) {
    const verb = w.workflow.command;
    if (verb === undefined) continue;
    let message: string | null = null;
    const holder = commands.get(verb);
    if (holder) message = `command "${verb}" is already used by workflow ${holder.workflow.id} (${holder.file}); verbs must be unique`;
    else if (RESERVED_VERBS.has(verb)) message = `command "${verb}" is an opstream command; pick another verb`;
    else if (workflows.has(verb) && workflows.get(verb) !== w) message = `command "${verb}" is also the id of workflow ${verb}; pick another verb`;
    if (message === null) {
      commands.set(verb, w);
      continue;
    }
    const p: WorkflowProblem = { file: w.file, path: 'command', line: lineOfKey(w.file, 'command'), message };
    problems.push(p);
    invalid.push({ file: w.file, source: w.source, id: w.workflow.id, problems: [p] });
    workflows.delete(w.workflow.id);
  }

  return { workflows, problems, invalid, warnings, byCommand: (verb) => commands.get(verb) };
}

function lineOfKey(file: string, key: string): number | null {
  try {
    const lines = new LineCounter();
    const doc = parseDocument(readFileSync(file, 'utf8'), { lineCounter: lines });
    return lineOf(doc.get(key, true), lines);
  } catch {
    return null;
  }
}

export interface ValidationResult {
  workflow?: Workflow;
  problems: WorkflowProblem[];
  warnings?: WorkflowProblem[];
  /** The `id` written in the file, even when the file is invalid (for listings). */
  id?: string;
  idLine?: number | null;
}

/** A workflow is a page of YAML; a bigger file is a mistake (or an attack) and is not parsed at all. */
export const MAX_WORKFLOW_BYTES = 1024 * 1024;
/** Past this many, more YAML syntax errors are one mistake's echoes (a deep nesting gives hundreds). */
const MAX_YAML_ERRORS = 5;

export function validateWorkflowFile(file: string, channels?: ChannelNames): ValidationResult {
  let bytes: Buffer;
  try {
    const size = statSync(file).size;
    if (size > MAX_WORKFLOW_BYTES) return { problems: [{ file, path: '', line: 1, message: `the file is ${(size / 1024 / 1024).toFixed(1)} MiB; a workflow file may be at most ${MAX_WORKFLOW_BYTES / 1024 / 1024} MiB` }] };
    bytes = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { problems: [{ file, path: '', line: null, message: code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a workflow file' : `cannot read: ${(e as Error).message}` }] };
  }
  const text = decodeUtf8(bytes, file);
  if (typeof text !== 'string') return { problems: [text] };
  return validateWorkflowText(text, file, channels);
}

/**
 * The text, or a problem at the first line that is not UTF-8 text: decoding leniently would turn
 * binary into U+FFFD characters that might even validate.
 */
function decodeUtf8(bytes: Buffer, file: string): string | WorkflowProblem {
  const nul = bytes.indexOf(0);
  const lineAt = (i: number): number => bytes.subarray(0, i).reduce((n, b) => (b === 10 ? n + 1 : n), 1);
  if (nul !== -1) return { file, path: '', line: lineAt(nul), message: 'binary data (a NUL byte); a workflow file is UTF-8 text' };
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    let start = 0;
    for (let line = 1; ; line++) {
      const nl = bytes.indexOf(10, start);
      const end = nl === -1 ? bytes.length : nl;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(start, end));
      } catch {
        return { file, path: '', line, message: 'not valid UTF-8 text; save the file as UTF-8' };
      }
      if (nl === -1) return { file, path: '', line: null, message: 'not valid UTF-8 text; save the file as UTF-8' };
      start = nl + 1;
    }
  }
}

/** Validates YAML (or JSON) text; `file` is only used to name where problems are. */
export function validateWorkflowText(text: string, file = '<text>', channels?: ChannelNames): ValidationResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const seen = new Set<string>();
    const problems: WorkflowProblem[] = [];
    for (const e of doc.errors) {
      const message = `invalid YAML: ${e.message.split('\n')[0]}`;
      if (seen.has(message) || problems.length >= MAX_YAML_ERRORS) continue;
      seen.add(message);
      problems.push({ file, path: '', line: e.linePos?.[0]?.line ?? (e.pos ? lines.linePos(e.pos[0]).line : null), message });
    }
    return { problems };
  }
  let value: unknown;
  try {
    // throws for an alias to no anchor, and for alias bombs (billion laughs: yaml's maxAliasCount)
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    let line: number | null = 1;
    visit(doc, {
      Alias(_k, node) {
        line = lineOf(node, lines);
        return visit.BREAK;
      },
    });
    return { problems: [{ file, path: '', line, message: `invalid YAML: ${(e as Error).message.split('\n')[0]}` }] };
  }
  const locate = (path: PropertyKey[]): number | null => lineForPath(doc, lines, path);
  const rawId = typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string' ? (value as { id: string }).id : undefined;
  const idLine = lineOf(doc.get('id', true), lines);
  if (value === null || value === undefined) return { problems: [{ file, path: '', line: 1, message: 'the file is empty; a workflow needs at least `id` and `steps`' }] };
  if (typeof value !== 'object' || Array.isArray(value)) return { problems: [{ file, path: '', line: 1, message: 'a workflow file holds one mapping (id, name, steps, ...)' }] };

  const parsed = Workflow.safeParse(value);
  if (!parsed.success) return { id: rawId, idLine, problems: zodProblems(parsed.error, file, locate) };
  const make: MakeProblem = (path, message) => ({ file, path: path.map(String).join('.'), line: locate(path), message });
  const problems = checkWorkflow(parsed.data, make);
  const warnings: WorkflowProblem[] = [];
  if (channels) checkChannels(parsed.data, channels, make, problems, warnings);
  return { workflow: parsed.data, problems, warnings, id: rawId, idLine };
}

const SLACK_LIKE = /^(#[a-z0-9_.-]+|[CGD][A-Z0-9]{6,}|@?U[A-Z0-9]{6,})$/;

/** A notify step's `channel` must name something config defines; a Slack one without Slack only warns. */
function checkChannels(w: Workflow, channels: ChannelNames, make: MakeProblem, problems: WorkflowProblem[], warnings: WorkflowProblem[]): void {
  const visit = (steps: Step[] | undefined, base: (string | number)[]): void => {
    (steps ?? []).forEach((step, i) => {
      const path = [...base, i];
      visit(step.steps, [...path, 'steps']);
      visit(step.parallel, [...path, 'parallel']);
      const ch = step.notify?.channel;
      // `critical` names a role, not a place: Slack's critical channel, else the default route (no warning)
      if (ch === undefined || ch.includes('{{') || ch === 'default' || ch === 'critical' || channels.targets.has(ch)) return;
      if (channels.slack?.has(ch) || (channels.slack && SLACK_LIKE.test(ch))) return;
      if (SLACK_LIKE.test(ch)) {
        warnings.push(make([...path, 'notify', 'channel'], `"${ch}" is a Slack channel but Slack is not configured; this notification goes to the default route (the inbox, desktop and webhooks)`));
        return;
      }
      problems.push(make([...path, 'notify', 'channel'], `no notification channel "${ch}": use terminal, desktop, a webhook named under notify.webhooks in config.yaml (${[...channels.targets].filter((t) => t !== 'terminal' && t !== 'desktop').join(', ') || 'none configured'}), or a Slack channel (#name)`));
    });
  };
  visit(w.steps, ['steps']);
}

type MakeProblem = (path: (string | number)[], message: string) => WorkflowProblem;

/** What zod cannot see: uniqueness, expressions, references between fields. */
function checkWorkflow(w: Workflow, problem: MakeProblem): WorkflowProblem[] {
  const out: WorkflowProblem[] = [];
  const stepIds = new Map<string, string>();
  const allSteps: { step: Step; path: (string | number)[] }[] = [];

  const collect = (steps: Step[], base: (string | number)[]): void => {
    steps.forEach((step, i) => {
      const path = [...base, i];
      const where = stepIds.get(step.id);
      if (where !== undefined) out.push(problem([...path, 'id'], `step id "${step.id}" is already used at ${where}; step ids must be unique in a workflow`));
      else stepIds.set(step.id, path.join('.'));
      allSteps.push({ step, path });
      if (step.steps) collect(step.steps, [...path, 'steps']);
      if (step.parallel) collect(step.parallel, [...path, 'parallel']);
    });
  };
  collect(w.steps, ['steps']);

  const checkRefs = (expr: string, path: (string | number)[]): void => {
    const said = (ref: string): string => (expr.trim() === ref ? ref : `"${expr.trim()}" uses ${ref}`);
    let refs: string[][];
    try {
      refs = referencedPaths(expr);
    } catch {
      return;
    }
    for (const chain of refs) {
      if (chain[0] === 'params' && chain.length > 1 && !(chain[1] in w.params)) {
        const known = Object.keys(w.params);
        out.push(problem(path, `${said(`params.${chain[1]}`)}, which is not declared under params${known.length ? ` (declared: ${known.join(', ')})` : ''}`));
      }
      if (chain[0] === 'steps' && chain.length > 1 && !stepIds.has(chain[1])) out.push(problem(path, `${said(`steps.${chain[1]}`)}, but there is no step with that id`));
      if (chain[0] === 'steps' && chain.length > 2 && !['output', 'status', 'error', 'attempts', 'started_at', 'ended_at'].includes(chain[2])) {
        out.push(problem(path, `"${expr.trim()}" reads steps.${chain[1]}.${chain[2]}; a step exposes output, status, error, attempts, started_at and ended_at`));
      }
    }
  };

  const checkExpr = (expr: string, path: (string | number)[]): void => {
    const err = checkExpression(expr);
    if (err) out.push(problem(path, `expression "${expr.trim()}" does not parse: ${err}`));
    else checkRefs(expr, path);
  };

  /** Every string under `value` that holds {{ }} must parse and reference what exists. */
  const checkTemplates = (value: unknown, path: (string | number)[]): void => {
    if (typeof value === 'string') {
      let exprs: string[];
      try {
        exprs = templateExpressions(value);
      } catch (e) {
        out.push(problem(path, e instanceof TemplateError ? `template "${value}": ${e.reason}` : String(e)));
        return;
      }
      for (const e of exprs) checkExpr(e, path);
    } else if (Array.isArray(value)) value.forEach((v, i) => checkTemplates(v, [...path, i]));
    else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) checkTemplates(v, [...path, k]);
  };

  /** `when` and `until`: a template, or a bare expression. */
  const checkCondition = (cond: string | boolean | undefined, path: (string | number)[]): void => {
    if (typeof cond !== 'string') return;
    if (cond.includes('{{')) checkTemplates(cond, path);
    else checkExpr(cond, path);
  };

  const allowedTools = new Set(w.tools);
  for (const { step, path } of allSteps) {
    checkCondition(step.when, [...path, 'when']);
    if (step.repeat) checkCondition(step.repeat.until, [...path, 'repeat', 'until']);
    for (const kind of STEP_KINDS) {
      if (kind === 'repeat' || kind === 'parallel' || step[kind] === undefined) continue;
      // an agent's output is a JSON Schema, not a template
      checkTemplates(kind === 'agent' && step.agent ? { ...step.agent, output: undefined } : step[kind], [...path, kind]);
    }
    if (step.repeat) checkTemplates({ every: step.repeat.every, for: step.repeat.for }, [...path, 'repeat']);
    checkTemplates({ with: step.with, timeout: step.timeout, milestone: step.milestone, cache: step.cache, name: step.name }, path);
    if (step.agent) {
      step.agent.tools.forEach((t, i) => {
        if (!allowedTools.has(t)) out.push(problem([...path, 'agent', 'tools', i], `agent tool "${t}" is not listed in the workflow's tools (${w.tools.length ? w.tools.join(', ') : 'none listed'}); agent steps may use only those`));
      });
    }
  }
  checkTemplates(w.timeout, ['timeout']);

  // usage words must name declared params, and each param's default must fit its type
  if (w.usage !== undefined) {
    if (w.command === undefined) out.push(problem(['usage'], '`usage` describes the words after `command`; add a `command` verb'));
    try {
      for (const name of usageParams(parseUsage(w.usage))) {
        if (!(name in w.params)) out.push(problem(['usage'], `usage names <${name}>, which is not declared under params`));
      }
    } catch (e) {
      out.push(problem(['usage'], (e as Error).message));
    }
  }
  for (const [name, spec] of Object.entries(w.params)) {
    if (spec.default === undefined) continue;
    try {
      coerceParam(name, spec, spec.default);
    } catch (e) {
      out.push(problem(['params', name, 'default'], `default does not fit: ${(e as Error).message}`));
    }
    if (spec.required) out.push(problem(['params', name], 'a param with a default is never missing; drop `required` or the default'));
  }
  const cron = typeof w.schedule === 'object' ? w.schedule.cron : w.schedule;
  const badCron = cron === undefined ? null : cronProblem(cron);
  if (badCron) out.push(problem(typeof w.schedule === 'object' ? ['schedule', 'cron'] : ['schedule'], badCron));
  if (typeof w.schedule === 'object') {
    try {
      coerceParams(w, w.schedule.params);
    } catch (e) {
      out.push(problem(['schedule', 'params'], `scheduled runs would not start: ${(e as Error).message}`));
    }
  } else if (typeof w.schedule === 'string') {
    const missing = Object.entries(w.params).filter(([, s]) => s.required).map(([n]) => n);
    if (missing.length) out.push(problem(['schedule'], `scheduled runs would not start: required param(s) ${missing.join(', ')} have no value; give them under schedule.params`));
  }
  return out;
}

function lineOf(node: unknown, lines: LineCounter): number | null {
  const range = (node as Node | undefined)?.range;
  return range ? lines.linePos(range[0]).line : null;
}

/** The line of the deepest node that exists along a path. */
function lineForPath(doc: Document, lines: LineCounter, path: PropertyKey[]): number | null {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as (string | number)[], true);
    // for a map entry, the key's line reads better than the value's (a nested map starts below it)
    if (n > 0 && isMap(n === 1 ? doc.contents : doc.getIn(path.slice(0, n - 1) as (string | number)[], true))) {
      const parent = (n === 1 ? doc.contents : doc.getIn(path.slice(0, n - 1) as (string | number)[], true)) as { items: { key: unknown }[] };
      const pair = parent.items.find((it) => isScalar(it.key) && String(it.key.value) === String(path[n - 1]));
      const kl = pair ? lineOf(pair.key, lines) : null;
      if (kl !== null) return kl;
    }
    if (isSeq(node) || isMap(node) || isScalar(node)) {
      const line = lineOf(node, lines);
      if (line !== null) return line;
    }
  }
  return null;
}
