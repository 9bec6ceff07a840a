import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, daemonPid, tempHome, waitFor, type TempHome } from '../support/home.js';

let h: TempHome | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

function logLines(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^daemon\.\d+\.log$/.test(f))
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n'))
    .filter(Boolean);
}

describe('a logging failure', () => {
  it('the log directory deleted under a running daemon: it keeps serving and logs again in a recreated directory', async () => {
    h = tempHome('opl-');
    const started = await cli(['daemon', 'start'], h.env);
    expect(started.code, started.stderr).toBe(0);
    const pid = daemonPid(h.home);
    const logDir = join(h.home, 'data', 'logs');
    await waitFor(() => logLines(logDir).some((l) => l.includes('daemon started')), { what: 'the first log lines' });

    rmSync(logDir, { recursive: true, force: true });
    const status = await cli(['daemon', 'status', '--json'], h.env);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).pid).toBe(pid);

    // the logger notices, recreates the directory and writes there again
    const line = await waitFor(() => logLines(logDir).find((l) => l.includes('the log file was reopened')), { what: 'a log line in the recreated directory' });
    expect(JSON.parse(line).why).toBe('its file was removed');
    expect(existsSync(join(logDir, 'current.log'))).toBe(true);
    // and later lines keep coming: the shutdown is logged there
    const stop = await cli(['daemon', 'stop'], h.env);
    expect(stop.code, stop.stderr).toBe(0);
    expect(logLines(logDir).some((l) => l.includes('daemon stopped'))).toBe(true);
  }, 120_000);
});
