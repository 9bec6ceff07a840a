import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';

/** One stdio MCP server process, as the daemon that spawned it recorded it. */
export interface ChildEntry {
  pid: number;
  /** The process's start time (Linux: /proc starttime ticks; elsewhere `ps -o lstart`): a reused pid has another. */
  start: string;
  server: string;
  command: string;
  /** The daemon that spawned it. */
  daemon: number;
}

/** Start time of a live process, or null when it is gone (or cannot be read). */
export function processStart(pid: number): string | null {
  if (process.platform === 'linux') {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces and ')', so fields are counted after the last ')'
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return fields[19] ?? null; // field 22, starttime
    } catch {
      return null;
    }
  }
  try {
    const out = execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return out || null;
  } catch {
    return null;
  }
}

function isSame(e: ChildEntry): boolean {
  return processStart(e.pid) === e.start;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function gone(e: ChildEntry, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isSame(e)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/**
 * The stdio MCP servers this daemon has spawned, in a small JSON file (written atomically on each
 * spawn and exit). After a kill -9 the daemon cannot end its servers; a server that ignores stdin EOF
 * then runs on forever. The next daemon reads the file at start and ends those that are still the
 * same process (pid and start time match): SIGTERM, then SIGKILL. Until one is confirmed gone it
 * stays in the file, so a daemon killed again while ending them leaves them to the next one.
 */
export class ChildRegistry {
  private readonly live = new Map<number, ChildEntry>();
  private readonly orphans = new Map<number, ChildEntry>();

  constructor(
    private readonly file: string,
    private readonly log: Logger,
  ) {}

  /** Reads what a previous daemon left; call before any server is spawned. */
  load(): ChildEntry[] {
    let entries: ChildEntry[] = [];
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as { children?: ChildEntry[] };
      entries = Array.isArray(parsed.children) ? parsed.children.filter((e) => Number.isInteger(e?.pid) && e.pid > 1 && typeof e.start === 'string') : [];
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ file: this.file, err: (e as Error).message }, 'the list of MCP server processes could not be read; none are ended');
    }
    for (const e of entries) if (e.pid !== process.pid) this.orphans.set(e.pid, e);
    return [...this.orphans.values()];
  }

  /**
   * Ends the orphans found by load() that still run (SIGTERM, then SIGKILL after `graceMs`);
   * resolves with those it ended. Never throws.
   */
  async reap(graceMs = 2000): Promise<ChildEntry[]> {
    const ended: ChildEntry[] = [];
    await Promise.all(
      [...this.orphans.values()].map(async (e) => {
        try {
          if (!isSame(e)) return; // exited on its own (stdin EOF), or the pid now belongs to another process
          let signal: NodeJS.Signals = 'SIGTERM';
          process.kill(e.pid, signal);
          if (!(await gone(e, graceMs))) {
            signal = 'SIGKILL';
            process.kill(e.pid, signal);
            if (!(await gone(e, graceMs))) {
              this.log.error({ pid: e.pid, server: e.server }, 'an MCP server left by a previous daemon did not end after SIGKILL');
              return;
            }
          }
          ended.push(e);
          this.log.warn({ pid: e.pid, server: e.server, command: e.command, daemon: e.daemon, signal }, 'ended an MCP server left running by a previous daemon (it was killed without stopping its servers)');
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'ESRCH') this.log.warn({ pid: e.pid, server: e.server, err: (err as Error).message }, 'could not end an MCP server left by a previous daemon');
        } finally {
          if (!isSame(e)) this.orphans.delete(e.pid);
        }
      }),
    );
    this.write();
    return ended;
  }

  add(pid: number, server: string, command: string): void {
    const start = processStart(pid);
    if (start === null) return; // already gone
    this.live.set(pid, { pid, start, server, command, daemon: process.pid });
    this.write();
  }

  remove(pid: number): void {
    if (this.live.delete(pid)) this.write();
  }

  private write(): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, `${JSON.stringify({ children: [...this.orphans.values(), ...this.live.values()] })}\n`, { mode: 0o600 });
      renameSync(tmp, this.file);
    } catch (e) {
      this.log.warn({ file: this.file, err: (e as Error).message }, 'the list of MCP server processes could not be written; after a crash they may be left running');
    }
  }
}
