import { AnalyzeOutput } from './schema.js';

/**
 * The analysis among a run's step outputs: the step named `analyze` if it holds one, else the last
 * step whose output is an analysis (tool outputs may arrive as JSON text).
 */
export function findAnalysis(steps: readonly { id: string; output?: unknown }[]): { step: string; analysis: AnalyzeOutput } | null {
  const parse = (v: unknown): AnalyzeOutput | null => {
    let x = v;
    if (typeof x === 'string') {
      try {
        x = JSON.parse(x);
      } catch {
        return null;
      }
    }
    const r = AnalyzeOutput.safeParse(x);
    return r.success ? r.data : null;
  };
  const ordered = [...steps.filter((s) => s.id === 'analyze'), ...[...steps].reverse()];
  for (const s of ordered) {
    const a = parse(s.output);
    if (a) return { step: s.id, analysis: a };
  }
  return null;
}
