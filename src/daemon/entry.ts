/**
 * The detached daemon process. The CLI that spawned it reads exactly one JSON line from stdout:
 * {"ready":pid, "notices"?: [...]} | {"already":pid|null} | {"error":"...", "problems"?: ConfigProblem[]}; after that the daemon never touches
 * stdout again (the reader is gone), and stderr goes to a file the CLI chose.
 */
import { setPriority } from 'node:os';
import { startDaemon } from './main.js';

process.title = 'opstream-daemon';
// OPSTREAM_DAEMON_NICE (1-19) lowers the daemon's CPU priority so that its background work yields
// to what the user does meanwhile; threads and servers it starts from here on inherit it. Off by
// default: measured while the daemon ran a busy chain (bench/engine.bench.js statusUnderLoad), nice
// 10 made the shell faster (`node -e 0` 213 -> 125 ms) but the daemon's own answers slower, and a
// niced daemon starves beside a CPU hog it is asked to watch.
const nice = Number(process.env.OPSTREAM_DAEMON_NICE ?? 0);
if (Number.isInteger(nice) && nice > 0 && nice <= 19) {
  try {
    setPriority(nice);
  } catch {
    // not allowed here (a container without the capability): run at the priority we were given
  }
}
// Everything the daemon creates (store files, logs, pid file, caches) is for this user alone. The
// tools it spawns inherit this umask too, so a file an MCP server writes is private by default.
process.umask(0o077);

function report(msg: Record<string, unknown>): Promise<void> {
  return new Promise((resolve) => {
    process.stdout.on('error', () => undefined);
    process.stdout.write(`${JSON.stringify(msg)}\n`, () => resolve());
  });
}

async function main(): Promise<void> {
  let outcome;
  try {
    outcome = await startDaemon(process.env);
  } catch (e) {
    const problems = (e as { problems?: unknown }).problems;
    await report({ error: (e as Error).message, ...(Array.isArray(problems) ? { problems } : {}) });
    process.exit(1);
  }
  if (outcome.kind === 'already-running') {
    await report({ already: outcome.pid });
    process.exit(0);
  }
  const daemon = outcome.daemon;
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void daemon.stop(`signal ${sig}`));
  // Detached from the terminal: a closed terminal must not stop long runs.
  process.on('SIGHUP', () => daemon.ctx.log.info('ignoring SIGHUP'));
  process.on('uncaughtException', (err) => {
    daemon.ctx.log.fatal({ err }, 'uncaught exception; stopping');
    void daemon.stop('uncaught exception').finally(() => process.exit(1));
  });
  process.on('unhandledRejection', (err) => daemon.ctx.log.error({ err }, 'unhandled rejection'));
  await report({ ready: process.pid, ...(outcome.notices.length ? { notices: outcome.notices } : {}) });
  process.stdout.end();
  await daemon.stopped;
  process.exit(0);
}

void main();
