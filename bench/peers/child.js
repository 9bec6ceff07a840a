// Shared by the peer processes (bench/peers/bullmq.js, bench/peers/dbos.js): how a peer process
// reports to bench/peers.bench.js (marked JSON lines on stdout, since the peers' own logs may also
// go there), its options, and the MCP client (the official SDK's, one per process, calls
// concurrent) to the same stdio MCP server OpStream's MCP step figure calls.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MARK = '@@PEER@@ ';

/** The workload and its sizes, as bench/peers.bench.js passed them: argv[2] and argv[3] (JSON). */
export const workload = process.argv[2];
export const opts = JSON.parse(process.argv[3] ?? '{}');

export const say = (event, data = {}) => process.stdout.write(`\n${MARK}${JSON.stringify({ event, ...data })}\n`);

export const never = () => new Promise(() => undefined);

/** Waits until `check()` is true, polling; throws after `ms`. */
export async function until(what, check, ms) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(ms / 1000)} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An MCP SDK client on test/support/mcp-fault-server.mjs (its `echo` tool: the no-op tool step). */
export async function mcpClient() {
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
  const client = new Client({ name: 'opstream-bench-peer', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [join(ROOT, 'test', 'support', 'mcp-fault-server.mjs')], stderr: 'ignore' }));
  return {
    async echo() {
      const r = await client.callTool({ name: 'echo', arguments: { text: 'x' } });
      if (r.isError) throw new Error(`echo failed: ${JSON.stringify(r.content)}`);
      return r.content[0]?.text;
    },
    close: () => client.close(),
  };
}

/** Runs `main`; a throw is reported as an error event and a non-zero exit. */
export function runPeer(main) {
  main().then(
    () => process.exit(0),
    (e) => {
      say('error', { error: String(e?.stack ?? e).split('\n').slice(0, 3).join(' | ') });
      process.exit(1);
    },
  );
}
