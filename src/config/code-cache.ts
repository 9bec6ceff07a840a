import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

/**
 * Runs a CommonJS bundle made by the build (scripts/bundle.mjs: the CLI's oclif, the daemon, the
 * ops MCP server) with a V8 code cache kept beside it (`<file>.<mtime>.v8cache`). Node 20 has no
 * module compile cache of its own, and a cold process spends most of its start reading and
 * compiling modules: one file saves the resolving and reading of hundreds, the cache most of the
 * compiling.
 *
 * V8 drops the dynamic-import hook of code restored from a cache ("A dynamic import callback was
 * not specified"), so the bundles' `import()` calls are `__esmImport()`, a parameter given here.
 *
 * `writeCache`: when to leave a cache for the next process if there was none or V8 rejected it
 * (the bundle changed): 'exit' (a short CLI call: then it holds every function the call compiled)
 * or a delay in ms (the daemon, which runs for days and may be killed: once its start is done).
 * Best effort: a read-only install just goes without.
 */
export function runCachedCommonJs<T>(file: string, writeCache: 'exit' | number): T {
  const cacheFile = codeCacheFileOf(file);
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // no cache yet: this process compiles from source and leaves one for the next
  }
  // Kept on the first line so that stack traces keep the bundle's line numbers.
  const wrapped = `(function (exports, require, module, __filename, __dirname, __esmImport) {${readFileSync(file, 'utf8')}\n})`;
  const script = new Script(wrapped, { filename: file, cachedData });
  const mod = { exports: {} as T };
  const esmImport = (specifier: string): Promise<unknown> => import(specifier);
  if (!cachedData || script.cachedDataRejected) {
    const write = (): void => {
      // aside and renamed, so that no reader sees half a file (daemons may start side by side)
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      try {
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, cacheFile);
      } catch {
        rmSync(tmp, { force: true }); // ignored otherwise: the cache only saves time
      }
    };
    if (writeCache === 'exit') process.once('exit', write);
    else setTimeout(write, writeCache).unref();
  }
  script.runInThisContext().call(mod.exports, mod.exports, createRequire(file), mod, file, dirname(file), esmImport);
  return mod.exports;
}

/**
 * Where the code cache of `file` as it is now lives. V8 checks a cache against its source's length
 * only, so a cache made for another build of the same length would be taken: the name carries the
 * bundle's mtime (the build removes old ones, scripts/bundle.mjs).
 */
export function codeCacheFileOf(file: string): string {
  return `${file}.${Math.trunc(statSync(file).mtimeMs)}.v8cache`;
}
