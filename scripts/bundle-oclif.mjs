// Bundles the parts of @oclif/core that a CLI call loads (run, flush, Command, Flags, Args) into
// one CommonJS file, dist/cli/oclif-core.cjs, which src/cli/oclif.ts loads when present.
//
// Why: loaded from node_modules, those parts are ~110 small CommonJS files, and resolving, reading
// and compiling them one by one costs about as much as Node's own start (the `opstream status`
// budget is 2x `node -e 0`). One file removes most of that. It is still oclif, unchanged: same
// version, same code, same manifest and help; only the packaging differs. Without the file (tsc
// alone, dev mode, vitest) src/cli/oclif.ts falls back to @oclif/core from node_modules.
//
// src/cli/oclif.ts compiles the file with a V8 code cache, and V8 drops the dynamic-import hook of
// code restored from a cache ("A dynamic import callback was not specified"). So the bundle's few
// `await import(x)` calls (oclif loading command files) become `await __esmImport(x)`, a parameter
// that the loader passes in; the build fails if any other form of import() is left.
import { build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist', 'cli', 'oclif-core.cjs');

await build({
  stdin: {
    contents: [
      "exports.run = require('@oclif/core/run').run;",
      "exports.flush = require('@oclif/core/flush').flush;",
      "exports.Command = require('@oclif/core/command').Command;",
      "exports.Flags = require('@oclif/core/flags');",
      "exports.Args = require('@oclif/core/args');",
      "exports.loadHelpClass = require('@oclif/core/help').loadHelpClass;",
      "exports.version = require('@oclif/core/package.json').version;",
    ].join('\n'),
    resolveDir: root,
    sourcefile: 'oclif-core-entry.cjs',
    loader: 'js',
  },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // oclif requires these only in TypeScript dev mode; they stay ordinary requires from node_modules.
  external: ['typescript', 'ts-node'],
  outfile,
  logLevel: 'error',
});

const code = readFileSync(outfile, 'utf8').replace(/\bawait import\(/g, 'await __esmImport(');
const left = code.match(/(?<![\w$.'"`])import\(/);
if (left) throw new Error(`bundle-oclif: an import() the loader cannot serve is left at offset ${left.index}: ${code.slice(left.index - 60, left.index + 40)}`);
writeFileSync(outfile, code);
// The code cache of the previous bundle no longer matches; the next CLI call writes a new one.
rmSync(`${outfile}.v8cache`, { force: true });
