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
  return pino({ level: opts.level, base: { pid: process.pid }, redact: { paths: REDACT, censor: '[redacted]' } }, stream);
}
