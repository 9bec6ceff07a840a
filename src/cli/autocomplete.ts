import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Config } from '@oclif/core/config';

/**
 * Shell completion is oclif's own plugin, loaded only when a completion command runs: registered
 * as a plugin it is loaded (manifest, hooks) by every CLI call, which cost ~30 ms of each
 * `opstream status` (the budget is 2x `node -e 0`). Its package exports only its index, so its
 * command files are imported by path.
 */
export async function runAutocomplete(command: 'index' | 'create' | 'script', argv: string[], config: Config): Promise<void> {
  const lib = dirname(createRequire(import.meta.url).resolve('@oclif/plugin-autocomplete'));
  const mod = (await import(pathToFileURL(join(lib, 'commands', 'autocomplete', `${command}.js`)).href)) as { default: { run(argv: string[], config: Config): Promise<unknown> } };
  await mod.default.run(argv, config);
}
