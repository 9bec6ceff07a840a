import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- run JSON is read loosely in tests
export type Run = Record<string, any>;

import { cli, daemonPid, ROOT, type TempHome } from './home.js';
import { waitOnDaemon, worthAsking } from './runs.js';

export const FIXTURES = join(ROOT, 'test', 'fixtures', 'engine');
export const EVERYTHING = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');

/** Copies fixture workflows into the home's workflows/ dir, replacing {{PORT}}-style placeholders. */
export function installWorkflows(h: TempHome, files: string[], vars: Record<string, string> = {}): void {
  const dir = join(h.home, 'workflows');
  mkdirSync(dir, { recursive: true });
  for (const f of files) {
    let text = readFileSync(join(FIXTURES, f), 'utf8');
    for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`__${k}__`, v);
    writeFileSync(join(dir, f), text);
  }
}

/** A config with the real server-everything MCP server (its gzip tool fetches URLs: countable side effects). */
export function writeEverythingConfig(h: TempHome): void {
  writeFileSync(join(h.home, 'config.yaml'), `mcpServers:\n  everything:\n    command: ${process.execPath}\n    args: ["${EVERYTHING}", "stdio"]\n    timeout: 60s\n`);
}

export function copyFixture(name: string, to: string): void {
  copyFileSync(join(FIXTURES, name), to);
}

/**
 * Counts requests per path. Paths under /hold/ are not answered until `release()`, so a tool call
 * can be caught in flight.
 */
export class HitCounter {
  readonly hits = new Map<string, number>();
  private held: ServerResponse[] = [];
  private holding = true;
  private server!: Server;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? '/').split('?')[0];
      this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
      if (path.startsWith('/hold/') && this.holding) {
        this.held.push(res);
        return;
      }
      res.end(`hit ${path}`);
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  count(path: string): number {
    return this.hits.get(path) ?? 0;
  }

  release(): void {
    this.holding = false;
    for (const r of this.held) r.end('released');
    this.held = [];
  }

  async stop(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

export async function runJson(h: TempHome, id: string): Promise<Run> {
  const r = await cli(['status', id, '--json'], h.env);
  if (r.code !== 0) throw new Error(`status ${id} failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

export async function startRun(h: TempHome, args: string[]): Promise<string> {
  const r = await cli(['start', ...args, '--json'], h.env, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`start failed: ${r.stderr}`);
  return JSON.parse(r.stdout).id;
}

export async function waitStatus(h: TempHome, id: string, pred: (run: Run) => boolean, what: string, timeoutMs = 60_000): Promise<Run> {
  return waitOnDaemon(
    h,
    [['runs', { run_id: id }]],
    async (client) => {
      if (!(await worthAsking(client, id, pred))) return null;
      const run = await runJson(h, id);
      return pred(run) ? run : null;
    },
    what,
    timeoutMs,
  );
}

export function kill9(h: TempHome): number {
  const pid = daemonPid(h.home);
  if (!pid) throw new Error('no daemon to kill');
  process.kill(pid, 'SIGKILL');
  return pid;
}
