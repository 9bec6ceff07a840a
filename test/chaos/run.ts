// `npm run chaos [-- --kills N --seed S --no-faults]` (or CHAOS_KILLS / CHAOS_SEED): the full crash
// suite, with the faults (full disk, slow fsync, torn log tail, log directory deleted) mixed into the
// kills unless --no-faults (docs/chaos.md). Prints one summary line on stdout (progress on stderr)
// and exits non-zero on any violation.
import { runChaos } from './chaos-suite.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
}

const kills = Number(arg('kills') ?? process.env.CHAOS_KILLS ?? 100);
const seedText = arg('seed') ?? process.env.CHAOS_SEED;
if (!Number.isInteger(kills) || kills < 1) {
  process.stderr.write(`chaos: --kills must be a positive integer, got ${arg('kills') ?? process.env.CHAOS_KILLS}\n`);
  process.exit(2);
}
if (seedText !== undefined && !/^\d+$/.test(seedText)) {
  process.stderr.write(`chaos: --seed must be a non-negative integer, got ${seedText}\n`);
  process.exit(2);
}

const faults = process.argv.includes('--no-faults') ? undefined : 'mix';
const result = await runChaos({ kills, faults, seed: seedText === undefined ? undefined : Number(seedText), progress: (l) => process.stderr.write(`${l}\n`) });
for (const v of result.violations.slice(0, 50)) process.stderr.write(`violation: ${v}\n`);
if (result.violations.length > 50) process.stderr.write(`... and ${result.violations.length - 50} more\n`);
process.stdout.write(`${result.line}\n`);
process.exit(result.violations.length > 0 ? 1 : 0);
