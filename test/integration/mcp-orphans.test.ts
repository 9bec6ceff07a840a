import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/client/client.js';
import { alive, daemonPid, killDaemon, ROOT, tempHome, waitFor, waitGone, type TempHome } from '../support/home.js';

// After a kill -9 the daemon cannot end its stdio MCP servers; one that ignores stdin EOF would run
// forever. The next daemon ends those recorded in run/mcp-servers.json (same pid AND start time).
// Real daemon (a detached child), real MCP servers (the SDK's Server), real signals.

const COUNTER = join(ROOT, 'test', 'chaos', 'fixtures', 'counter-server.mjs');

function config(h: TempHome): string {
  const server = (flags: string[]) => `    command: ${process.execPath}\n    args: ${JSON.stringify([COUNTER, ...flags, '--marker', h.home])}\n`;
  return ['notify: { desktop: "off" }', 'mcpServers:', '  polite:', server(['--ignore-eof']), '  stubborn:', server(['--ignore-eof', '--ignore-term'])].join('\n');
}

async function serverPids(h: TempHome): Promise<Record<string, number>> {
  const c = await DaemonClient.connect({ env: h.env, client: 'test' });
  try {
    return await waitFor(
      async () => {
        const { servers } = await c.request('tools.list', {});
        const pids = Object.fromEntries(servers.filter((s) => s.pid).map((s) => [s.name, s.pid as number]));
        return pids.polite && pids.stubborn ? pids : null;
      },
      { what: 'both MCP servers to be ready', timeoutMs: 30_000 },
    );
  } finally {
    c.close();
  }
}

interface LogLine {
  msg: string;
  pid?: number;
  server?: string;
  signal?: string;
}

function logLines(h: TempHome): LogLine[] {
  return readFileSync(join(h.home, 'data', 'logs', 'current.log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LogLine);
}

describe('MCP servers left running by a daemon killed with -9', () => {
  let h: TempHome;
  const stray: number[] = [];
  let bystander: ChildProcess | null = null;

  beforeEach(() => {
    h = tempHome('opo-');
    writeFileSync(join(h.home, 'config.yaml'), config(h));
  });

  afterEach(async () => {
    bystander?.kill('SIGKILL');
    await h.cleanup();
    for (const pid of stray) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });

  it('are ended on the next start (SIGTERM, then SIGKILL for one that ignores it), and logged', async () => {
    const first = await serverPids(h);
    stray.push(first.polite, first.stubborn);
    const dead = daemonPid(h.home)!;
    process.kill(dead, 'SIGKILL');
    await waitGone(dead);
    // the servers saw stdin close and still run: without the fix they would stay forever
    expect(alive(first.polite) && alive(first.stubborn)).toBe(true);

    const second = await serverPids(h); // auto-starts the next daemon
    await waitGone(first.polite, 15_000);
    await waitGone(first.stubborn, 15_000);
    expect(second.polite).not.toBe(first.polite);
    expect(alive(second.polite) && alive(second.stubborn)).toBe(true);

    const ended = await waitFor(() => {
      // the built-in ops server exits on stdin EOF by itself, but may not have yet when the next
      // daemon looks: then it is ended (and logged) too, rightly; only the two fixtures are checked
      const l = logLines(h).filter((x) => x.msg.startsWith('ended an MCP server left running') && (x.server === 'polite' || x.server === 'stubborn'));
      return l.length >= 2 ? l : null;
    }, { what: 'both to be logged' });
    expect(Object.fromEntries(ended.map((l) => [l.server, [l.pid, l.signal]]))).toEqual({ polite: [first.polite, 'SIGTERM'], stubborn: [first.stubborn, 'SIGKILL'] });

    // a clean stop ends its own servers and leaves nothing in the list
    stray.push(second.polite, second.stubborn);
    await killDaemon(h.home);
    await waitGone(second.polite);
    await waitGone(second.stubborn);
    expect(JSON.parse(readFileSync(join(h.home, 'run', 'mcp-servers.json'), 'utf8')).children).toEqual([]);
  });

  it('leaves alone a process that reuses a recorded pid (its start time differs)', async () => {
    const pids = await serverPids(h);
    stray.push(pids.polite, pids.stubborn);
    await killDaemon(h.home);
    // a process unrelated to OpStream, recorded under a stale start time as if its pid were reused
    bystander = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
    const pid = bystander.pid!;
    const file = join(h.home, 'run', 'mcp-servers.json');
    writeFileSync(file, JSON.stringify({ children: [{ pid, start: '1', server: 'polite', command: 'node', daemon: 999_999 }] }));

    const again = await serverPids(h);
    stray.push(again.polite, again.stubborn);
    // the daemon has read and settled the list once the stale entry is dropped from it
    await waitFor(() => !readFileSync(file, 'utf8').includes(`"pid":${pid},`), { what: 'the stale entry to be dropped' });
    expect(alive(pid)).toBe(true);
    expect(logLines(h).some((l) => l.msg.startsWith('ended an MCP server') && l.pid === pid)).toBe(false);
  });
});
