/**
 * What the CLI spawns as the daemon process (client/spawn-daemon.ts): dist/daemon/daemon.cjs, the
 * daemon in one file (scripts/bundle.mjs), with a V8 code cache, when the build made it; otherwise
 * the entry module itself (tsc alone, dev mode). Same code either way; the bundle starts on about
 * half the CPU (module loading was most of a start).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runCachedCommonJs } from '../config/code-cache.js';

const bundle = fileURLToPath(new URL('./daemon.cjs', import.meta.url));
// the cache is written once the start is done, so that it holds what a start compiles
if (existsSync(bundle) && process.env.OPSTREAM_DAEMON_BUNDLE !== '0') runCachedCommonJs(bundle, 2_000);
else await import('./entry.js');
