import { readFileSync } from 'node:fs';

/**
 * An exited process still answers kill(pid, 0) until its parent reaps it. A detached daemon's
 * parent is init, and some inits (a container's or a microVM's) reap only every second or so:
 * `daemon stop` waited that long for a daemon that had already exited. On Linux /proc says so:
 * state Z with one thread left (a leader that has exited shows Z while its other threads, which
 * still hold its socket and files, are ending). Elsewhere the pid counts as alive until reaped.
 */
export function exitedUnreaped(pid: number): boolean {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return false;
  }
  return /^State:\s+Z/m.test(status) && /^Threads:\s+1$/m.test(status);
}
