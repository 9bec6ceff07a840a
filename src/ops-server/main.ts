#!/usr/bin/env node
import { pathToFileURL } from 'node:url';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { PACKAGE_VERSION } from '../protocol/version.js';
import { OpsToolError, type OpsTool } from './tool.js';
import { opsTools } from './tools/index.js';

/** Same name as the daemon's server-specs OPS_ALLOWED_ENV (kept literal so this entry stays small). */
const ALLOWED_ENV = 'OPSTREAM_OPS_ALLOWED_COMMANDS';

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Tool['inputSchema'] {
  const s = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...s, type: 'object' } as Tool['inputSchema'];
}

function errorResult(message: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: message }] };
}

function zodMessage(e: z.ZodError): string {
  return e.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : 'arguments'}: ${i.message}`)
    .join('; ');
}

/**
 * The built-in `ops` MCP server: each OpsTool's zod input is published as JSON Schema and checked
 * again here, its output is returned as structured content (and as JSON text for clients that read
 * only text), and its failures are `isError` results, never a crashed server.
 */
export function createOpsServer(allowedCommands: string[], tools: OpsTool[] = opsTools): Server {
  const server = new Server({ name: 'opstream-ops', version: PACKAGE_VERSION }, { capabilities: { tools: {} } });
  const byName = new Map(tools.map((t) => [t.name, t]));
  const listed: Tool[] = tools.map((t) => ({
    name: t.name,
    title: t.title,
    description: t.description,
    inputSchema: jsonSchema(t.input, 'input'),
    outputSchema: jsonSchema(t.output, 'output'),
    annotations: { title: t.title, ...t.annotations },
  }));
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listed }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra): Promise<CallToolResult> => {
    const tool = byName.get(req.params.name);
    if (!tool) return errorResult(`unknown tool "${req.params.name}" (this server has: ${[...byName.keys()].join(', ')})`);
    const parsed = tool.input.safeParse(req.params.arguments ?? {});
    if (!parsed.success) return errorResult(`invalid arguments for ${tool.name}: ${zodMessage(parsed.error)}`);
    const key = req.params._meta?.['opstream/idempotency_key'];
    try {
      const out = await tool.run(parsed.data, { allowedCommands, signal: extra.signal, idempotencyKey: typeof key === 'string' ? key : undefined });
      return { content: [{ type: 'text', text: JSON.stringify(out) }], structuredContent: out as Record<string, unknown> };
    } catch (e) {
      if (e instanceof OpsToolError) return errorResult(e.message);
      return errorResult(`${tool.name} failed: ${(e as Error)?.message ?? String(e)}`);
    }
  });
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

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((e) => {
    process.stderr.write(`opstream ops server: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
