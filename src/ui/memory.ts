import { appliedText, rejectedText } from '../protocol/memory-text.js';
import type { Result } from '../protocol/index.js';
import { whenText } from './format.js';

type Summary = Result<'memory.search'>['items'][number];

/** One remembered run: what it found, what was done about it (with the effect) or turned down (and why). */
export function summaryText(s: Summary): string {
  return [
    `${s.id}  ${s.workflow} on ${s.service}  ${s.outcome}  ${whenText(s.at)}`,
    `  ${s.headline}`,
    ...(s.root_cause ? [`  root cause: ${s.root_cause}`] : []),
    ...s.applied.map((a) => `  ${appliedText(a)}`),
    ...s.rejected.map((r) => `  ${rejectedText(r)}`),
    ...(s.fixes.length ? [`  fixed by / suggested: ${s.fixes.slice(0, 3).join('; ')}`] : []),
  ].join('\n');
}

export function summariesText(items: Summary[]): string {
  if (!items.length) return 'nothing remembered matches';
  return items.map(summaryText).join('\n\n');
}

const show = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v, null, 2));

/** How a replay differs from the original, step by step. */
export function replayText(r: Result<'runs.replay'>): string {
  const out = [`replay of ${r.run_id} with ${r.model} (stored as ${r.replay_id}; the run is unchanged)`];
  for (const s of r.steps) {
    out.push('', `step ${s.step}: answer ${s.changed.answer ? 'CHANGED' : 'unchanged'}, tool calls ${s.changed.tool_calls ? 'CHANGED' : 'unchanged'}`);
    out.push(`  tokens: ${s.original.prompt_tokens} -> ${s.replay.prompt_tokens} in, ${s.original.completion_tokens} -> ${s.replay.completion_tokens} out; turns ${s.original.turns} -> ${s.replay.turns}`);
    out.push(`  tool calls: ${s.original.tool_calls.length} -> ${s.replay.tool_calls.length}`);
    for (const c of s.replay.tool_calls.filter((c) => !s.original.tool_calls.includes(c))) out.push(`    + ${c}`);
    for (const c of s.original.tool_calls.filter((c) => !s.replay.tool_calls.includes(c))) out.push(`    - ${c}`);
    for (const c of s.not_recorded) out.push(`    ? ${c} (not recorded: answered so, not run)`);
    if (s.replay.error) out.push(`  the replay failed: ${s.replay.error}`);
    if (s.changed.answer) out.push('  original answer:', ...show(s.original.answer).split('\n').map((l) => `    ${l}`), '  replayed answer:', ...show(s.replay.answer).split('\n').map((l) => `    ${l}`));
    else out.push('  answer:', ...show(s.replay.answer).split('\n').map((l) => `    ${l}`));
  }
  return out.join('\n');
}
