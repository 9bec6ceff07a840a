import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { pidAlive } from '../../src/client/spawn-daemon.js';
import { waitFor } from '../support/home.js';

function state(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2);
  } catch {
    return null;
  }
}

describe('pidAlive', () => {
  it('a running process is alive; one that exited and is not reaped yet (a zombie) is not', async () => {
    // sh starts `true` in the background, prints its pid and becomes `sleep`, which never reaps it:
    // the exited `true` stays a zombie (as a stopped daemon does until a slow init reaps it)
    const parent = spawn('sh', ['-c', 'true & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      let out = '';
      parent.stdout.on('data', (d) => (out += d));
      const child = await waitFor(() => Number(out.trim()) || null, { what: 'the background pid' });
      expect(pidAlive(parent.pid!)).toBe(true);
      if (state(child) === null) return; // no /proc (not Linux): nothing to tell a zombie by
      await waitFor(() => state(child) === 'Z', { what: 'the background process to exit' });
      // kill(pid, 0) still succeeds on it: only /proc tells it has exited
      expect(() => process.kill(child, 0)).not.toThrow();
      expect(pidAlive(child)).toBe(false);
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('a pid that does not exist is not alive', async () => {
    const p = spawn('true');
    await new Promise((r) => p.on('exit', r));
    await waitFor(() => state(p.pid!) === null, { what: 'the exited child to be reaped' });
    expect(pidAlive(p.pid!)).toBe(false);
  });
});
