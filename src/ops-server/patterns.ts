import { RE2 } from 're2-wasm';

/**
 * Log patterns run on RE2 (re2-wasm), whose matching time is linear in the text: a pattern such as
 * `(a+)+$` cannot backtrack for minutes the way it does in JavaScript's engine. RE2 has no
 * backtracking features, so those are refused by name rather than with RE2's terse message.
 */
const UNSUPPORTED: [RegExp, string][] = [
  [/\(\?<[=!]/, 'lookbehind ((?<= and (?<!)'],
  [/\(\?[=!]/, 'lookahead ((?= and (?!)'],
  [/\\[1-9]/, 'backreferences (\\1 ... \\9)'],
  [/\\k</, 'named backreferences (\\k<name>)'],
  [/\(\?>/, 'atomic groups ((?>...))'],
  [/[*+?}]\+/, 'possessive quantifiers (a++, a*+)'],
];

/** Why a pattern could not be compiled, in one line naming what to change. */
export function patternError(pattern: string, e: unknown): string {
  const shown = JSON.stringify(pattern.length > 120 ? `${pattern.slice(0, 120)}...` : pattern);
  for (const [re, what] of UNSUPPORTED) {
    if (re.test(pattern)) return `pattern ${shown} uses ${what}, which log patterns do not support: they run on RE2, a linear-time engine without backtracking`;
  }
  // re2-wasm: "Invalid regular expression: /SOURCE/FLAGS: WHY"
  const why = ((e as Error)?.message ?? String(e)).replace(/^Invalid regular expression: \/[\s\S]*\/[a-z]*: /, '');
  return `pattern ${shown} is not a valid regular expression: ${why}`;
}

/** RE2 needs the `u` flag; `m` lets one test over many joined lines find a line-anchored match. */
export function compilePattern(pattern: string, flags: { caseSensitive: boolean; multiline?: boolean }): RE2 {
  return new RE2(pattern, `u${flags.caseSensitive ? '' : 'i'}${flags.multiline ? 'm' : ''}`);
}

/**
 * Patterns whose truth can change when lines are joined in a different way than by `m`: `\A`, `\z`
 * and inline flags that turn multi-line mode off. With these, lines are tested one by one.
 */
export function joinSafe(patterns: string[]): boolean {
  return !patterns.some((p) => /\\[Az]|\(\?[a-zA-Z]*-[a-zA-Z]*m/.test(p));
}

export type { RE2 };
