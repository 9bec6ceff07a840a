import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import type * as ArgsModule from '@oclif/core/args';
import type * as CommandModule from '@oclif/core/command';
import type * as FlagsModule from '@oclif/core/flags';
import type * as FlushModule from '@oclif/core/flush';
import type * as HelpModule from '@oclif/core/help';
import type * as RunModule from '@oclif/core/run';

/**
 * The one place the CLI gets oclif from: bin/run.js, BaseCommand and every command import it here,
 * so a process always uses a single copy of oclif.
 *
 * That copy is dist/cli/oclif-core.cjs when the build made it (scripts/bundle-oclif.mjs: the same
 * @oclif/core in one file, because loading its ~110 files one by one is most of a cold start),
 * compiled with a V8 code cache kept beside it (Node 20 has no module compile cache of its own;
 * the cache saves most of the remaining compile time). Without the bundle (tsc alone, dev mode,
 * vitest) it is @oclif/core's own subpath modules (never its index, which also loads all of semver).
 */
interface Oclif {
  run: typeof RunModule.run;
  flush: typeof FlushModule.flush;
  Command: typeof CommandModule.Command;
  Flags: typeof FlagsModule;
  Args: typeof ArgsModule;
  loadHelpClass: typeof HelpModule.loadHelpClass;
}

const require = createRequire(import.meta.url);
const bundle = fileURLToPath(new URL('./oclif-core.cjs', import.meta.url));

function loadBundle(): Oclif {
  const cacheFile = `${bundle}.v8cache`;
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // no cache yet: this call compiles from source and leaves one for the next
  }
  // Kept on the first line so that stack traces keep the bundle's line numbers.
  const wrapped = `(function (exports, require, module, __filename, __dirname, __esmImport) {${readFileSync(bundle, 'utf8')}\n})`;
  const script = new Script(wrapped, { filename: bundle, cachedData });
  const mod = { exports: {} as Oclif };
  const esmImport = (specifier: string): Promise<unknown> => import(specifier);
  script.runInThisContext().call(mod.exports, mod.exports, createRequire(bundle), mod, bundle, dirname(bundle), esmImport);
  if (!cachedData || script.cachedDataRejected) {
    // Written at exit so that it holds the functions this run compiled too. Best effort: a
    // read-only install just goes without. Written aside and renamed so no reader sees half a file.
    process.once('exit', () => {
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      try {
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, cacheFile);
      } catch {
        rmSync(tmp, { force: true }); // ignored otherwise: the cache only saves time
      }
    });
  }
  return mod.exports;
}

function load(): Oclif {
  if (existsSync(bundle)) return loadBundle();
  return {
    run: (require('@oclif/core/run') as typeof RunModule).run,
    flush: (require('@oclif/core/flush') as typeof FlushModule).flush,
    Command: (require('@oclif/core/command') as typeof CommandModule).Command,
    Flags: require('@oclif/core/flags') as typeof FlagsModule,
    Args: require('@oclif/core/args') as typeof ArgsModule,
    loadHelpClass: (require('@oclif/core/help') as typeof HelpModule).loadHelpClass,
  };
}

const oclif = load();
export const { run, flush, Command, Flags, Args, loadHelpClass } = oclif;
