/**
 * What the daemon spawns as the built-in `ops` MCP server (daemon/tools/server-specs.ts):
 * dist/ops-server/ops-server.cjs, the server in one file with the MCP SDK (scripts/bundle.mjs), run
 * with a V8 code cache, when the build made it; otherwise main.js. Same code either way; each daemon
 * that calls a tool starts one, and loading the SDK's modules was most of its start.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runCachedCommonJs } from '../config/code-cache.js';

const bundle = fileURLToPath(new URL('./ops-server.cjs', import.meta.url));
if (existsSync(bundle)) runCachedCommonJs(bundle, 1_000);
else (await import('./main.js')).runOpsServer();
