import pino, { type Logger } from 'pino';
import pinoRoll from 'pino-roll';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** Anything that could hold a secret is redacted before it reaches the file. */
const REDACT = ['*.token', '*.app_token', '*.bot_token', '*.authorization', '*.headers.authorization', '*.env', 'config.slack', 'params.env', '*.password', '*.secret'];

/** How often the logger checks that its file is still there (and retries after a write error). */
const WATCH_MS = 1000;

/** The SonicBoom pino-roll returns, as much of it as is used here. */
interface Roll {
  file?: string;
  write(line: string): boolean | void;
  flush(cb?: (err?: Error) => void): void;
  flushSync(): void;
  destroy(): void;
}

/**
 * Size-capped, rotated JSON log under the data dir (pino-roll keeps `current.log` pointing at the
 * live file). A logging failure never takes the daemon down: a write error (a full disk, a failed
 * rotation) or a log file that disappeared (its directory deleted) is noticed by a watchdog, which
 * opens a fresh file (creating the directory again) as soon as it can, so logs resume by themselves.
 * What is logged while no file can be written is lost, and the daemon says so once on stderr.
 */
export async function createLogger(logDir: string, opts: { level: string; maxBytes: number; files: number }): Promise<Logger> {
  const open = async (): Promise<Roll> => {
    // before pino-roll: its `mkdir` runs asynchronously, its symlink right away (ENOENT when the dir is new)
    mkdirSync(logDir, { recursive: true, mode: 0o700 });
    return (await pinoRoll({
      file: join(logDir, 'daemon'),
      extension: '.log',
      size: `${Math.max(1, Math.round(opts.maxBytes / 1024))}k`,
      mkdir: true,
      symlink: true,
      mode: 0o600,
      limit: { count: opts.files, removeOtherLogFiles: true },
    })) as unknown as Roll;
  };
  let stream = await open();
  let broken = false;
  let told = false;
  const onError = (err: NodeJS.ErrnoException): void => {
    broken = true;
    if (told) return;
    told = true;
    process.stderr.write(`opstream daemon: writing the log under ${logDir} failed (${err.code ?? err.message}); the daemon keeps running and retries; log lines may be lost meanwhile\n`);
  };
  (stream as unknown as NodeJS.EventEmitter).on('error', onError);

  let reopening = false;
  // the logger is made below, after the stream it writes to; the watchdog reports through it
  const made: { logger?: Logger } = {};
  const watchdog = setInterval(() => {
    const gone = !stream.file || !existsSync(stream.file);
    if (reopening || (!broken && !gone)) return;
    reopening = true;
    const why = broken ? 'a write to it failed' : 'its file was removed';
    open().then(
      (fresh) => {
        const old = stream;
        stream = fresh;
        (fresh as unknown as NodeJS.EventEmitter).on('error', onError);
        broken = false;
        told = false;
        reopening = false;
        try {
          old.destroy();
        } catch {
          // the old file is gone anyway
        }
        made.logger?.warn({ log_dir: logDir, why }, 'the log file was reopened; lines logged meanwhile may be lost');
      },
      () => {
        reopening = false; // still cannot write there: the next tick tries again
      },
    );
  }, WATCH_MS);
  watchdog.unref();

  // pino writes to whichever file is current; a failed one drops lines instead of throwing
  const dest = {
    write(line: string): boolean {
      if (broken) return true;
      try {
        stream.write(line);
        return true;
      } catch (e) {
        onError(e as NodeJS.ErrnoException);
        return true;
      }
    },
    flush(cb?: (err?: Error) => void): void {
      try {
        stream.flush(cb);
      } catch (e) {
        cb?.(e as Error);
      }
    },
    flushSync(): void {
      try {
        stream.flushSync();
      } catch {
        // nothing to flush to
      }
    },
  };
  made.logger = pino({ level: opts.level, base: { pid: process.pid }, redact: { paths: REDACT, censor: '[redacted]' } }, dest as never);
  return made.logger;
}
