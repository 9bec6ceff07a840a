import pino, { type Logger } from 'pino';
import pinoRoll from 'pino-roll';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** Anything that could hold a secret is redacted before it reaches the file. */
const REDACT = ['*.token', '*.app_token', '*.bot_token', '*.authorization', '*.headers.authorization', '*.env', 'config.slack', 'params.env', '*.password', '*.secret'];

/** Size-capped, rotated JSON log under the data dir (pino-roll keeps `current.log` pointing at the live file). */
export async function createLogger(logDir: string, opts: { level: string; maxBytes: number; files: number }): Promise<Logger> {
  // before pino-roll: its `mkdir` runs asynchronously, its symlink right away (ENOENT when the dir is new)
  mkdirSync(logDir, { recursive: true, mode: 0o700 });
  const stream = await pinoRoll({
    file: join(logDir, 'daemon'),
    extension: '.log',
    size: `${Math.max(1, Math.round(opts.maxBytes / 1024))}k`,
    mkdir: true,
    symlink: true,
    mode: 0o600,
    limit: { count: opts.files, removeOtherLogFiles: true },
  });
  // A logging failure (the log dir removed, a full disk, a failed rotation) must never take the
  // daemon down: it goes on, and says so once on stderr (the daemon's stderr file when detached).
  let told = false;
  (stream as unknown as NodeJS.EventEmitter).on('error', (err: NodeJS.ErrnoException) => {
    if (told) return;
    told = true;
    process.stderr.write(`opstream daemon: writing the log under ${logDir} failed (${err.code ?? err.message}); the daemon keeps running, but log lines may be lost\n`);
  });
  return pino({ level: opts.level, base: { pid: process.pid }, redact: { paths: REDACT, censor: '[redacted]' } }, stream);
}
