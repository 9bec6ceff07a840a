import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as ArgsModule from '@oclif/core/args';
import type * as CommandModule from '@oclif/core/command';
import type * as FlagsModule from '@oclif/core/flags';
import type * as FlushModule from '@oclif/core/flush';
import type * as HelpModule from '@oclif/core/help';
import type * as RunModule from '@oclif/core/run';
import { runCachedCommonJs } from '../config/code-cache.js';

/**
 * The one place the CLI gets oclif from: bin/run.js, BaseCommand and every command import it here,
 * so a process always uses a single copy of oclif.
 *
 * That copy is dist/cli/oclif-core.cjs when the build made it (scripts/bundle.mjs: the same
 * @oclif/core in one file, because loading its ~110 files one by one is most of a cold start),
 * run with a V8 code cache kept beside it (config/code-cache.ts). Without the bundle (tsc alone,
 * dev mode, vitest) it is @oclif/core's own subpath modules (never its index, which also loads all
 * of semver).
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

function load(): Oclif {
  if (existsSync(bundle)) return runCachedCommonJs<Oclif>(bundle, 'exit');
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
