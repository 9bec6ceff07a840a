import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { pidAlive } from '../../src/client/spawn-daemon.js';
import { waitFor, zombie } from '../support/home.js';

describe('pidAlive', () => {
  it('a running process is alive; one that exited and is not reaped yet (a zombie) is not', async () => {
    const z = await zombie();
    try {
      // kill(pid, 0) still succeeds on it: only /proc tells it has exited
      expect(() => process.kill(z.pid, 0)).not.toThrow();
      expect(pidAlive(z.pid)).toBe(false);
      expect(pidAlive(process.pid)).toBe(true);
    } finally {
      z.end();
    }
  });

  it('a pid that does not exist is not alive', async () => {
    const p = spawn('true');
    await new Promise((r) => p.on('exit', r));
    await waitFor(() => !existsSync(`/proc/${p.pid}`), { what: 'the exited child to be reaped' });
    expect(pidAlive(p.pid!)).toBe(false);
  });
});
