import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import type { TempHome } from './home.js';

/** A data directory that can be made full and freed again while the daemon runs. */
export interface FullableDisk {
  mode: 'tmpfs' | 'injected';
  full(): void;
  free(): void;
  dispose(): void;
}

/**
 * The store directory on a small tmpfs of its own (root may mount here; CI runs as root), filled
 * with a filler file: a real ENOSPC from the kernel. Null where mounting is not permitted.
 */
export function tmpfsDisk(h: TempHome, sizeMb = 8): FullableDisk | null {
  const dir = join(h.home, 'data', 'db');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0700`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return null;
  }
  const filler = join(dir, 'FILLER');
  return {
    mode: 'tmpfs',
    full() {
      const fd = openSync(filler, 'a');
      const chunk = Buffer.alloc(64 * 1024, 1);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      } finally {
        closeSync(fd);
      }
      // the last partial pages too
      const small = openSync(filler, 'a');
      try {
        for (;;) writeSync(small, Buffer.alloc(512, 1));
      } catch {
        // full
      } finally {
        closeSync(small);
      }
    },
    free() {
      rmSync(filler, { force: true });
    },
    dispose() {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    },
  };
}

/**
 * The store's documented test hook (OPSTREAM_STORE_FAULT_FILE): while the file exists every write
 * fails as on a full disk, through the same error path as a real ENOSPC.
 */
export function injectedDisk(h: TempHome): FullableDisk {
  const file = join(h.home, 'store-fault');
  h.env.OPSTREAM_STORE_FAULT_FILE = file;
  return {
    mode: 'injected',
    full: () => writeFileSync(file, 'enospc'),
    free: () => rmSync(file, { force: true }),
    dispose: () => rmSync(file, { force: true }),
  };
}
