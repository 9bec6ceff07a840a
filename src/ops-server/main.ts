#!/usr/bin/env node
import { pathToFileURL } from 'node:url';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { PACKAGE_VERSION } from '../protocol/version.js';
import { OpsToolError, RETRYABLE_META, type OpsTool } from './tool.js';
import { opsTools } from './tools/index.js';

/** Same name as the daemon's server-specs OPS_ALLOWED_ENV (kept literal so this entry stays small). */
const ALLOWED_ENV = 'OPSTREAM_OPS_ALLOWED_COMMANDS';

/** A tool failure as data: the text says why, `_meta` says whether the same call may succeed later. */
export function errorResult(message: string, retryable: boolean): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: message }], _meta: { [RETRYABLE_META]: retryable } };
}

/**
 * The built-in `ops` MCP server. Every OpsTool is registered through the SDK's own
 * `McpServer.registerTool`: the SDK publishes its zod input and output schemas, validates arguments
 * and structured output, and answers tools/list and tools/call. What the SDK does not do is say
 * whether a failure may be retried; each tool failure here is an `isError` result carrying that in
 * `_meta` (see errorResult), never a crashed server. Cross-field rules live in the tools' `run`
 * (not in zod refinements) so that every refusal of a call the daemon let through carries the flag.
 */
export function createOpsServer(allowedCommands: string[], tools: OpsTool[] = opsTools): McpServer {
  const server = new McpServer({ name: 'opstream-ops', version: PACKAGE_VERSION }, { capabilities: { tools: {} } });
  for (const tool of tools) {
    server.registerTool(
      tool.name,
      { title: tool.title, description: tool.description, inputSchema: tool.input, outputSchema: tool.output, annotations: { title: tool.title, ...tool.annotations } },
      async (args: Record<string, unknown>, extra): Promise<CallToolResult> => {
        const key = extra._meta?.['opstream/idempotency_key'];
        try {
          const out = await tool.run(args, { allowedCommands, signal: extra.signal, idempotencyKey: typeof key === 'string' ? key : undefined });
          return { content: [{ type: 'text', text: JSON.stringify(out) }], structuredContent: out as Record<string, unknown> };
        } catch (e) {
          if (e instanceof OpsToolError) return errorResult(e.message, e.retryable);
          // an unexpected throw is a bug in the tool, not a passing condition: retrying will not fix it
          return errorResult(`${tool.name} failed: ${(e as Error)?.message ?? String(e)}`, false);
        }
      },
    );
  }
  return server;
}

/** `--allow CMD` (repeatable) for use from other MCP clients; the daemon passes the list in the environment. */
export function allowedFrom(argv: string[], env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  const raw = env[ALLOWED_ENV];
  if (raw) {
    const v: unknown = JSON.parse(raw);
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`${ALLOWED_ENV} must be a JSON array of strings`);
    out.push(...v);
  }
  for (let i = 0; i < argv.length; i++) if (argv[i] === '--allow' && argv[i + 1] !== undefined) out.push(argv[++i]);
  return out;
}

async function main(): Promise<void> {
  const server = createOpsServer(allowedFrom(process.argv.slice(2), process.env));
  await server.connect(new StdioServerTransport());
  const exit = () => void server.close().finally(() => process.exit(0));
  process.stdin.on('end', exit);
  process.on('SIGTERM', exit);
}

/** Serves on stdio until stdin ends or SIGTERM; a failure to start is one line on stderr and exit 1. */
export function runOpsServer(): void {
  main().catch((e) => {
    process.stderr.write(`opstream ops server: ${(e as Error).message}\n`);
    process.exit(1);
  });
}

// `node dist/ops-server/main.js` (any MCP client can run it); the daemon starts launch.js instead
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) runOpsServer();
