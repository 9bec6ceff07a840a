// Formats bench/results.json as a markdown table (used by bench/run.js and bench/report.js).
import { CONTRACT } from './contract.js';

export function fmt(v) {
  if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) return '—';
  if (typeof v !== 'number') return String(v);
  const a = Math.abs(v);
  if (Number.isInteger(v)) return v.toLocaleString('en');
  return a >= 1000 ? Math.round(v).toLocaleString('en') : a >= 100 ? v.toFixed(0) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}

export const goalText = (g, unit) => (g ? `${g.op} ${fmt(g.value)} ${unit}`.trim() : '');

const cell = (s) => String(s ?? '').replaceAll('|', '\\|').replaceAll('\n', ' ');

const RESULT = { met: 'met', missed: '**missed**', failed: '**FAILED**', '': '' };

/** The markdown table: the contract figures first (in order), then every other figure by bench. */
export function markdownTable(results) {
  const figures = results.figures ?? {};
  const contract = new Set(CONTRACT.map((c) => c.id));
  const ids = [...CONTRACT.map((c) => c.id).filter((id) => id in figures), ...Object.keys(figures).filter((id) => !contract.has(id)).sort((a, b) => (figures[a].bench ?? '').localeCompare(figures[b].bench ?? '') || 0)];
  const lines = ['| figure | value | baseline (same run) | goal | result | bench | note |', '|---|---|---|---|---|---|---|'];
  let section = null;
  for (const id of ids) {
    const f = figures[id];
    const s = contract.has(id) ? 'contract' : 'other';
    if (section === 'contract' && s === 'other') lines.push('| *other figures* | | | | | | |');
    section = s;
    const value = f.failed && (f.value === null || f.value === undefined) ? 'failed' : `${fmt(f.value)} ${f.unit ?? ''}`.trim();
    const base = f.baseline ? `${fmt(f.baseline.value)} ${f.baseline.unit ?? ''} (${f.baseline.name})` : '';
    const note = f.failed && f.error ? `${f.error}${f.note ? `; ${f.note}` : ''}` : (f.note ?? '');
    lines.push(`| \`${id}\` | ${cell(value)} | ${cell(base)} | ${cell(f.goal_text ?? '')} | ${RESULT[f.result ?? '']} | ${cell(f.bench)} | ${cell(note)} |`);
  }
  return lines.join('\n');
}

export function machineLine(results) {
  const m = results.machine ?? {};
  return `${results.at} · node ${m.node} · ${m.cpus} × ${m.cpu} · ${m.memory_gb} GB · ${m.platform} · load average at start ${(m.loadavg_start ?? m.loadavg ?? []).join(' / ')}, at end ${(m.loadavg ?? []).join(' / ')}${results.quick ? ' · BENCH_QUICK (small sizes)' : ''} · whole run ${results.duration_s ?? '?'} s`;
}
