import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { cronProblem } from './cron.js';
import { coerceParam, coerceParams, parseUsage, usageParams } from './params.js';
import { ParamSpec, STEP_KINDS, Workflow } from './schema.js';
import { didYouMean, nearest } from './suggest.js';
import { checkExpression, referencedPaths, templateExpressions, TemplateError } from './template.js';
import type { ToolCatalog } from './tool-catalog.js';

export interface WorkflowProblem {
  file: string;
  /** Dotted YAML path, e.g. `steps.2.agent.tools.0`; empty for the whole file. */
  path: string;
  line: number | null;
  /** 1-based column of the key or value the problem is about, when known. */
  column?: number | null;
  message: string;
  /** The nearest known name (key, step kind, tool, step or param reference) when one is close. */
  suggestion?: string | null;
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
  return `${p.file}${p.line ? `:${p.line}${p.column ? `:${p.column}` : ''}` : ''}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
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
export function loadWorkflows(dirs: { shipped: string; user: string }, checks: WorkflowChecks = {}): WorkflowSet {
  const problems: WorkflowProblem[] = [];
  const warnings: WorkflowProblem[] = [];
  const invalid: InvalidWorkflowFile[] = [];
  const bySource: Record<WorkflowSource, LoadedWorkflow[]> = { shipped: [], user: [] };

  for (const source of ['shipped', 'user'] as const) {
    const seen = new Map<string, string>();
    for (const file of listWorkflowFiles(dirs[source])) {
      const r = validateWorkflowFile(file, checks);
      warnings.push(...(r.warnings ?? []));
      // A shipped workflow for an optional MCP server (slo_appsignals needs `appsignals`) is not broken
      // when the user has not configured that server: it is said once as a warning, and its start is
      // refused with how to configure it (tool-catalog.ts missingServerReason).
      if (source === 'shipped' && r.workflow && r.problems.length > 0 && r.problems.every((p) => p.message.startsWith('no MCP server "'))) {
        const servers = [...new Set(r.problems.map((p) => /^no MCP server "([^"]+)"/.exec(p.message)?.[1]))].join('", "');
        warnings.push({ ...r.problems[0], path: '', message: `workflow ${r.workflow.id} needs the MCP server "${servers}": add it under mcpServers in config.yaml (README: AWS); until then it is refused at start` });
        r.problems = [];
      }
      if (r.workflow && r.problems.length === 0) {
        const first = seen.get(r.workflow.id);
        if (first !== undefined) {
          const p = { file, path: 'id', line: r.idLine ?? null, column: 1, message: `id "${r.workflow.id}" is already used by ${first}; ids must be unique` };
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
    const pos = posOfKey(w.file, 'command');
    const p: WorkflowProblem = { file: w.file, path: 'command', line: pos?.line ?? null, column: pos?.col ?? null, message };
    problems.push(p);
    invalid.push({ file: w.file, source: w.source, id: w.workflow.id, problems: [p] });
    workflows.delete(w.workflow.id);
  }

  return { workflows, problems, invalid, warnings, byCommand: (verb) => commands.get(verb) };
}

function posOfKey(file: string, key: string): Pos | null {
  try {
    const lines = new LineCounter();
    const doc = parseDocument(readFileSync(file, 'utf8'), { lineCounter: lines });
    return posForPath(doc, lines, [key]);
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

export function validateWorkflowFile(file: string, checks: WorkflowChecks = {}): ValidationResult {
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
  return validateWorkflowText(text, file, checks);
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

/** What a file is checked against besides itself: config's notification targets and the tool catalog. */
export interface WorkflowChecks {
  channels?: ChannelNames;
  tools?: ToolCatalog;
}

/**
 * Validates YAML (or JSON) text; `file` is only used to name where problems are. Every problem
 * is found in one pass: the schema's (unknown keys, wrong types, bad durations), then what the
 * schema cannot see (references, templates, tools), the latter on the raw value so that a schema
 * problem elsewhere does not hide them.
 */
export function validateWorkflowText(text: string, file = '<text>', checks: WorkflowChecks = {}): ValidationResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const seen = new Set<string>();
    const problems: WorkflowProblem[] = [];
    for (const e of doc.errors) {
      const message = `invalid YAML: ${e.message.split('\n')[0]}`;
      if (seen.has(message) || problems.length >= MAX_YAML_ERRORS) continue;
      seen.add(message);
      const pos = e.linePos?.[0] ?? (e.pos ? lines.linePos(e.pos[0]) : null);
      problems.push({ file, path: '', line: pos?.line ?? null, column: pos?.col ?? null, message });
    }
    return { problems };
  }
  let value: unknown;
  try {
    // throws for an alias to no anchor, and for alias bombs (billion laughs: yaml's maxAliasCount)
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    let pos: Pos | null = { line: 1, col: 1 };
    visit(doc, {
      Alias(_k, node) {
        pos = posOf(node, lines);
        return visit.BREAK;
      },
    });
    const at = pos as Pos | null;
    return { problems: [{ file, path: '', line: at?.line ?? null, column: at?.col ?? null, message: `invalid YAML: ${(e as Error).message.split('\n')[0]}` }] };
  }
  const locate = (path: PropertyKey[]): Pos | null => posForPath(doc, lines, path);
  const rawId = typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string' ? (value as { id: string }).id : undefined;
  const idLine = posOf(doc.get('id', true), lines)?.line ?? null;
  if (value === null || value === undefined) return { problems: [{ file, path: '', line: 1, column: 1, message: 'the file is empty; a workflow needs at least `id` and `steps`' }] };
  if (!isObj(value)) return { problems: [{ file, path: '', line: 1, column: 1, message: 'a workflow file holds one mapping (id, name, steps, ...)' }] };

  const make: MakeProblem = (path, message, suggestion) => {
    const pos = locate(path);
    return { file, path: path.map(String).join('.'), line: pos?.line ?? null, column: pos?.col ?? null, message, ...(suggestion !== undefined ? { suggestion } : {}) };
  };
  const parsed = Workflow.safeParse(value);
  const problems: WorkflowProblem[] = parsed.success ? [] : schemaProblems(parsed.error, value, make);
  problems.push(...checkWorkflow(value, parsed.success ? parsed.data : undefined, make));
  const warnings: WorkflowProblem[] = [];
  if (checks.channels) checkChannels(value, checks.channels, make, problems, warnings);
  if (checks.tools) checkTools(value, checks.tools, make, problems, warnings);
  return { workflow: parsed.success ? parsed.data : undefined, problems: ordered(problems), warnings: ordered(warnings), id: rawId, idLine };
}

/** By position in the file; the same problem found twice (two layers saw it) once. */
function ordered(problems: WorkflowProblem[]): WorkflowProblem[] {
  const seen = new Set<string>();
  return problems
    .filter((p) => {
      const k = `${p.path}\u0000${p.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .map((p, i) => ({ p, i }))
    .sort((a, b) => (a.p.line ?? Infinity) - (b.p.line ?? Infinity) || (a.p.column ?? 0) - (b.p.column ?? 0) || a.i - b.i)
    .map(({ p }) => p);
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function getIn(value: unknown, path: PropertyKey[]): unknown {
  let cur = value;
  for (const seg of path) {
    if (Array.isArray(cur) && typeof seg === 'number') cur = cur[seg];
    else if (isObj(cur)) cur = cur[String(seg)];
    else return undefined;
  }
  return cur;
}

/** zod's findings, with the nearest known name for an unknown key or an enum value. */
function schemaProblems(error: z.ZodError, raw: Obj, make: MakeProblem): WorkflowProblem[] {
  const out: WorkflowProblem[] = [];
  // a step whose unknown key is a misspelt kind (`wiat`) is told that, not also "needs exactly one of"
  const kindTypos = new Set<string>();
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = objectKeysAt(Workflow, issue.path);
      for (const k of issue.keys) {
        const s = nearest(k, known);
        if (s !== null && (STEP_KINDS as readonly string[]).includes(s)) kindTypos.add(issue.path.map(String).join('.'));
        out.push(make([...issue.path, k] as (string | number)[], `unknown key "${k}"${didYouMean(s)}`, s));
      }
    }
  }
  for (const issue of error.issues) {
    const path = [...issue.path] as (string | number)[];
    if (issue.code === 'unrecognized_keys') continue;
    if (issue.code === 'custom' && issue.message.startsWith('a step needs exactly one of') && kindTypos.has(path.join('.'))) continue;
    if (issue.code === 'invalid_value' && Array.isArray(issue.values)) {
      const written = getIn(raw, path);
      const s = typeof written === 'string' ? nearest(written, issue.values.map(String)) : null;
      out.push(make(path, `${issue.message}${didYouMean(s)}`, s));
      continue;
    }
    out.push(make(path, issue.message));
  }
  return out;
}

type AnyZod = { _zod: { def: Record<string, unknown> & { type: string } } };

/** The keys the schema allows for the mapping at `path` (for suggesting one in place of an unknown key). */
function objectKeysAt(schema: z.ZodType, path: PropertyKey[]): string[] {
  const unwrap = (s: AnyZod | undefined): AnyZod | undefined => {
    for (let i = 0; s && i < 20; i++) {
      const d = s._zod.def;
      if (['optional', 'default', 'nullable', 'prefault', 'readonly', 'catch', 'nonoptional'].includes(d.type)) s = d.innerType as AnyZod;
      else if (d.type === 'pipe') s = d.in as AnyZod;
      else if (d.type === 'lazy') s = (d.getter as () => AnyZod)();
      else return s;
    }
    return s;
  };
  const objects = (s: AnyZod | undefined): AnyZod[] => {
    const u = unwrap(s);
    if (!u) return [];
    if (u._zod.def.type === 'object') return [u];
    if (u._zod.def.type === 'union') return (u._zod.def.options as AnyZod[]).flatMap(objects);
    return [];
  };
  /** The schema(s) one step down the path: an array's element, a record's value, an object's field. */
  const child = (s: AnyZod, seg: PropertyKey): AnyZod[] => {
    const d = s._zod.def;
    if (d.type === 'array') return typeof seg === 'number' ? [d.element as AnyZod] : [];
    if (d.type === 'record') return [d.valueType as AnyZod];
    if (d.type === 'object') {
      const field = (d.shape as Record<string, AnyZod | undefined>)[String(seg)];
      return field ? [field] : [];
    }
    if (d.type === 'union') return (d.options as AnyZod[]).flatMap((o) => (unwrap(o) ? child(unwrap(o)!, seg) : []));
    return [];
  };
  let cur: AnyZod[] = [schema as unknown as AnyZod];
  for (const seg of path) cur = cur.flatMap((c) => (unwrap(c) ? child(unwrap(c)!, seg) : []));
  return [...new Set(cur.flatMap(objects).flatMap((o) => Object.keys(o._zod.def.shape as Obj)))];
}

/** Each step mapping in the raw value, depth first, with its YAML path. */
function walkSteps(steps: unknown, base: (string | number)[], fn: (step: Obj, path: (string | number)[]) => void): void {
  if (!Array.isArray(steps)) return;
  steps.forEach((step, i) => {
    if (!isObj(step)) return;
    const path = [...base, i];
    fn(step, path);
    walkSteps(step.steps, [...path, 'steps'], fn);
    walkSteps(step.parallel, [...path, 'parallel'], fn);
  });
}

const SLACK_LIKE = /^(#[a-z0-9_.-]+|[CGD][A-Z0-9]{6,}|@?U[A-Z0-9]{6,})$/;

/** A notify step's `channel` must name something config defines; a Slack one without Slack only warns. */
function checkChannels(w: Obj, channels: ChannelNames, make: MakeProblem, problems: WorkflowProblem[], warnings: WorkflowProblem[]): void {
  walkSteps(w.steps, ['steps'], (step, path) => {
    const ch = isObj(step.notify) ? step.notify.channel : undefined;
    // `critical` names a role, not a place: Slack's critical channel, else the default route (no warning)
    if (typeof ch !== 'string' || ch.includes('{{') || ch === 'default' || ch === 'critical' || channels.targets.has(ch)) return;
    if (channels.slack?.has(ch) || (channels.slack && SLACK_LIKE.test(ch))) return;
    if (SLACK_LIKE.test(ch)) {
      warnings.push(make([...path, 'notify', 'channel'], `"${ch}" is a Slack channel but Slack is not configured; this notification goes to the default route (the inbox, desktop and webhooks)`));
      return;
    }
    const known = [...channels.targets, 'default', 'critical', ...(channels.slack ?? [])];
    const s = nearest(ch, known);
    problems.push(make([...path, 'notify', 'channel'], `no notification channel "${ch}": use terminal, desktop, a webhook named under notify.webhooks in config.yaml (${[...channels.targets].filter((t) => t !== 'terminal' && t !== 'desktop').join(', ') || 'none configured'}), or a Slack channel (#name)${didYouMean(s)}`, s));
  });
}

/**
 * Every tool a workflow names (`tools:`, a step's `tool:`, an agent's `tools:`) must exist in the
 * catalog: an unknown server or an unknown tool of a server whose tools are known is a problem
 * with the nearest real name; a server that could not be asked is said once, as a warning.
 */
function checkTools(w: Obj, catalog: ToolCatalog, make: MakeProblem, problems: WorkflowProblem[], warnings: WorkflowProblem[]): void {
  const refs: { name: string; path: (string | number)[] }[] = [];
  const list = (v: unknown, path: (string | number)[]): void => {
    if (Array.isArray(v)) v.forEach((t, i) => typeof t === 'string' && refs.push({ name: t, path: [...path, i] }));
  };
  list(w.tools, ['tools']);
  walkSteps(w.steps, ['steps'], (step, path) => {
    if (typeof step.tool === 'string') refs.push({ name: step.tool, path: [...path, 'tool'] });
    if (isObj(step.agent)) list(step.agent.tools, [...path, 'agent', 'tools']);
  });
  const allNames = [...catalog.servers].flatMap(([server, s]) => (s.tools ? [...s.tools].map((t) => `${server}.${t}`) : []));
  const noted = new Set<string>();
  const unchecked = (server: string, reason: string, path: (string | number)[]): void => {
    if (!catalog.noteUnchecked || noted.has(server)) return;
    noted.add(server);
    warnings.push(make(path, `tools of MCP server "${server}" were not checked: ${reason}`));
  };
  for (const { name, path } of refs) {
    const dot = name.indexOf('.');
    if (dot <= 0 || dot === name.length - 1) continue; // the schema already said "expected server.tool"
    const server = name.slice(0, dot);
    const tool = name.slice(dot + 1);
    const entry = catalog.servers.get(server);
    if (entry === undefined) {
      if (!catalog.complete) {
        unchecked(server, 'config.yaml could not be read, so its servers are not known', path);
        continue;
      }
      const near = nearest(server, catalog.servers.keys());
      const nearEntry = near === null ? undefined : catalog.servers.get(near);
      const s = nearest(name, allNames) ?? (near !== null && (!nearEntry?.tools || nearEntry.tools.has(tool)) ? `${near}.${tool}` : null);
      problems.push(make(path, `no MCP server "${server}" for tool "${name}"${didYouMean(s)} (servers: ${[...catalog.servers.keys()].join(', ')}; add others under mcpServers in config.yaml)`, s));
      continue;
    }
    if (entry.tools === null) {
      unchecked(server, entry.reason, path);
      continue;
    }
    if (entry.tools.has(tool)) continue;
    const s = nearest(name, [...entry.tools].map((t) => `${server}.${t}`));
    const has = [...entry.tools].sort();
    const listing = has.length === 0 ? 'no tools' : has.length <= 12 ? has.join(', ') : `${has.slice(0, 12).join(', ')} and ${has.length - 12} more`;
    problems.push(make(path, s !== null ? `no tool "${name}"${didYouMean(s)}` : `no tool "${name}": server "${server}" has ${listing}`, s));
  }
}

type MakeProblem = (path: (string | number)[], message: string, suggestion?: string | null) => WorkflowProblem;

/** The fields a step exposes to templates, as `steps.<id>.<field>`. */
const STEP_FIELDS = ['output', 'status', 'error', 'attempts', 'started_at', 'ended_at'];

/**
 * What zod cannot see: uniqueness, expressions, references between fields. Reads the raw value
 * (not zod's output) so that it also speaks when the schema found problems elsewhere; `parsed` is
 * there when the schema passed, for the checks that need defaults applied.
 */
function checkWorkflow(w: Obj, parsed: Workflow | undefined, problem: MakeProblem): WorkflowProblem[] {
  const out: WorkflowProblem[] = [];
  const stepIds = new Map<string, string>();
  const allSteps: { step: Obj; path: (string | number)[] }[] = [];
  const params: Obj = isObj(w.params) ? w.params : {};
  const declaredTools = Array.isArray(w.tools) ? w.tools.filter((t): t is string => typeof t === 'string') : [];

  walkSteps(w.steps, ['steps'], (step, path) => {
    if (typeof step.id === 'string') {
      const where = stepIds.get(step.id);
      if (where !== undefined) out.push(problem([...path, 'id'], `step id "${step.id}" is already used at ${where}; step ids must be unique in a workflow`));
      else stepIds.set(step.id, path.join('.'));
    }
    allSteps.push({ step, path });
  });

  const checkRefs = (expr: string, path: (string | number)[]): void => {
    const said = (ref: string): string => (expr.trim() === ref ? ref : `"${expr.trim()}" uses ${ref}`);
    let refs: string[][];
    try {
      refs = referencedPaths(expr);
    } catch {
      return;
    }
    for (const chain of refs) {
      if (chain[0] === 'params' && chain.length > 1 && !(chain[1] in params)) {
        const known = Object.keys(params);
        const s = nearest(chain[1], known);
        out.push(problem(path, `${said(`params.${chain[1]}`)}, which is not declared under params${s !== null ? didYouMean(`params.${s}`) : known.length ? ` (declared: ${known.join(', ')})` : ''}`, s === null ? null : `params.${s}`));
      }
      if (chain[0] === 'steps' && chain.length > 1 && !stepIds.has(chain[1])) {
        const s = nearest(chain[1], stepIds.keys());
        out.push(problem(path, `${said(`steps.${chain[1]}`)}, but there is no step with that id${didYouMean(s === null ? null : `steps.${s}`)}`, s === null ? null : `steps.${s}`));
      }
      if (chain[0] === 'steps' && chain.length > 2 && !STEP_FIELDS.includes(chain[2])) {
        const s = nearest(chain[2], STEP_FIELDS);
        out.push(problem(path, `"${expr.trim()}" reads steps.${chain[1]}.${chain[2]}; a step exposes output, status, error, attempts, started_at and ended_at${didYouMean(s === null ? null : `steps.${chain[1]}.${s}`)}`, s === null ? null : `steps.${chain[1]}.${s}`));
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
    else if (isObj(value)) for (const [k, v] of Object.entries(value)) checkTemplates(v, [...path, k]);
  };

  /** `when` and `until`: a template, or a bare expression. */
  const checkCondition = (cond: unknown, path: (string | number)[]): void => {
    if (typeof cond !== 'string') return;
    if (cond.includes('{{')) checkTemplates(cond, path);
    else checkExpr(cond, path);
  };

  const allowedTools = new Set(declaredTools);
  for (const { step, path } of allSteps) {
    checkCondition(step.when, [...path, 'when']);
    const repeat = isObj(step.repeat) ? step.repeat : undefined;
    if (repeat) checkCondition(repeat.until, [...path, 'repeat', 'until']);
    for (const kind of STEP_KINDS) {
      if (kind === 'repeat' || kind === 'parallel' || step[kind] === undefined) continue;
      // an agent's output is a JSON Schema, not a template
      checkTemplates(kind === 'agent' && isObj(step.agent) ? { ...step.agent, output: undefined } : step[kind], [...path, kind]);
    }
    if (repeat) checkTemplates({ every: repeat.every, for: repeat.for }, [...path, 'repeat']);
    checkTemplates({ with: step.with, timeout: step.timeout, milestone: step.milestone, cache: step.cache, name: step.name }, path);
    if (isObj(step.agent) && Array.isArray(step.agent.tools)) {
      step.agent.tools.forEach((t, i) => {
        if (typeof t !== 'string' || allowedTools.has(t)) return;
        const s = nearest(t, declaredTools);
        out.push(problem([...path, 'agent', 'tools', i], `agent tool "${t}" is not listed in the workflow's tools (${declaredTools.length ? declaredTools.join(', ') : 'none listed'}); agent steps may use only those${didYouMean(s)}`, s));
      });
    }
  }
  checkTemplates(w.timeout, ['timeout']);

  // usage words must name declared params, and each param's default must fit its type
  if (typeof w.usage === 'string') {
    if (w.command === undefined) out.push(problem(['usage'], '`usage` describes the words after `command`; add a `command` verb'));
    try {
      for (const name of usageParams(parseUsage(w.usage))) {
        if (!(name in params)) {
          const s = nearest(name, Object.keys(params));
          out.push(problem(['usage'], `usage names <${name}>, which is not declared under params${didYouMean(s)}`, s));
        }
      }
    } catch (e) {
      out.push(problem(['usage'], (e as Error).message));
    }
  }
  for (const [name, raw] of Object.entries(params)) {
    const spec = ParamSpec.safeParse(raw);
    if (!spec.success || spec.data.default === undefined) continue;
    try {
      coerceParam(name, spec.data, spec.data.default);
    } catch (e) {
      out.push(problem(['params', name, 'default'], `default does not fit: ${(e as Error).message}`));
    }
    if (spec.data.required) out.push(problem(['params', name], 'a param with a default is never missing; drop `required` or the default'));
  }
  const schedule = w.schedule;
  const cron = isObj(schedule) ? schedule.cron : schedule;
  const badCron = typeof cron === 'string' && cron !== '' ? cronProblem(cron) : null;
  if (badCron) out.push(problem(isObj(schedule) ? ['schedule', 'cron'] : ['schedule'], badCron));
  if (parsed && typeof parsed.schedule === 'object') {
    try {
      coerceParams(parsed, parsed.schedule.params);
    } catch (e) {
      out.push(problem(['schedule', 'params'], `scheduled runs would not start: ${(e as Error).message}`));
    }
  } else if (typeof schedule === 'string') {
    const missing = Object.entries(params)
      .filter(([, s]) => isObj(s) && s.required === true && s.default === undefined)
      .map(([n]) => n);
    if (missing.length) out.push(problem(['schedule'], `scheduled runs would not start: required param(s) ${missing.join(', ')} have no value; give them under schedule.params`));
  }
  return out;
}

interface Pos {
  line: number;
  col: number;
}

function posOf(node: unknown, lines: LineCounter): Pos | null {
  const range = (node as Node | undefined)?.range;
  return range ? lines.linePos(range[0]) : null;
}

/** The position of the deepest node that exists along a path. */
function posForPath(doc: Document, lines: LineCounter, path: PropertyKey[]): Pos | null {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as (string | number)[], true);
    // for a map entry, the key's position reads better than the value's (a nested map starts below it)
    if (n > 0 && isMap(n === 1 ? doc.contents : doc.getIn(path.slice(0, n - 1) as (string | number)[], true))) {
      const parent = (n === 1 ? doc.contents : doc.getIn(path.slice(0, n - 1) as (string | number)[], true)) as { items: { key: unknown }[] };
      const pair = parent.items.find((it) => isScalar(it.key) && String(it.key.value) === String(path[n - 1]));
      const kp = pair ? posOf(pair.key, lines) : null;
      if (kp !== null) return kp;
    }
    if (isSeq(node) || isMap(node) || isScalar(node)) {
      const p = posOf(node, lines);
      if (p !== null) return p;
    }
  }
  return null;
}
