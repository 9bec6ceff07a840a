import { z } from 'zod';
import { defineMethod } from '../messages.js';

const Figures = z.object({ count: z.number().int(), bytes: z.number().int() });
/** Milliseconds per kind; null: no rule (nothing of it is removed). */
const Rule = z.number().nullable();

export const storeMethods = {
  /**
   * `opstream gc`: applies the `retention:` rules now (what the background sweep does) and says
   * what it removed per kind, or with `dry_run` what it would remove, changing nothing. `bytes`
   * counts keys and JSON values (LevelDB frees the disk space as it compacts). `feed`: rows of the
   * `runs.watch` replay buffer that pointed at removed data.
   */
  'store.gc': defineMethod(
    z.object({ dry_run: z.boolean().default(false) }).strict().default({ dry_run: false }),
    z.object({
      dry_run: z.boolean(),
      rules: z.object({ runs: Rule, events: Rule, notifications: Rule, audit: Rule, cache: Rule, memory: Rule }),
      removed: z.object({ runs: Figures, events: Figures, notifications: Figures, audit: Figures, cache: Figures, memory: Figures, feed: Figures }),
      took_ms: z.number(),
    }),
    { mutates: true },
  ),
  /**
   * `opstream daemon backup`: a consistent snapshot of the whole store, taken while the daemon
   * runs, written to `path` (an absolute file path that must not exist, or a directory to put a
   * dated file in). The daemon writes it as the user it runs as.
   */
  'store.backup': defineMethod(
    z.object({ path: z.string().min(1).max(4096).refine((p) => p.startsWith('/'), 'path must be absolute') }).strict(),
    z.object({ file: z.string(), entries: z.number().int(), bytes: z.number().int() }),
  ),
} as const;
