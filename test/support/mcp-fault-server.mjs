#!/usr/bin/env node
// A real stdio MCP server (the SDK's own Server) that misbehaves on request, for the pool's fault
// tests. Start-up modes by flag: --crash-on-start, --hang-on-start, --noise-on-start.
// The exact environment it got is returned by the `env` tool; `pid` says which process answered.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const flags = new Set(process.argv.slice(2));
process.stderr.write(`fault server ${process.pid} starting\n`);
if (flags.has('--crash-on-start')) {
  process.stderr.write('fault server: cannot open its database (on purpose)\n');
  process.exit(3);
}
if (flags.has('--hang-on-start')) {
  setInterval(() => undefined, 1 << 30); // alive, never answers initialize
} else {
  if (flags.has('--noise-on-start')) process.stdout.write('Starting fault server v1.0...\nnot json {\n');

  const obj = (properties = {}, required = []) => ({ type: 'object', properties, required });
  const tools = [
    { name: 'echo', inputSchema: obj({ text: { type: 'string' } }, ['text']), annotations: { readOnlyHint: true } },
    { name: 'hang', inputSchema: obj() },
    { name: 'freeze', inputSchema: obj() },
    { name: 'crash', inputSchema: obj() },
    { name: 'noise', inputSchema: obj() },
    { name: 'big', inputSchema: obj({ mb: { type: 'number', minimum: 0 } }, ['mb']) },
    { name: 'pid', inputSchema: obj(), annotations: { readOnlyHint: true } },
    { name: 'env', inputSchema: obj(), annotations: { readOnlyHint: true } },
    { name: 'fail', inputSchema: obj() },
    { name: 'counter', inputSchema: obj({ key: { type: 'string' } }), annotations: { readOnlyHint: true } },
    { name: 'wipe', inputSchema: obj(), annotations: { destructiveHint: true } },
    { name: 'add_tool', inputSchema: obj({ name: { type: 'string' } }, ['name']) },
    { name: 'structured', inputSchema: obj({ bad: { type: 'boolean' } }), outputSchema: obj({ n: { type: 'number' } }, ['n']) },
    { name: 'meta', inputSchema: obj() },
  ];
  let count = 0;
  const server = new Server({ name: 'fault', version: '1.0.0' }, { capabilities: { tools: { listChanged: true } } });
  const text = (t) => ({ content: [{ type: 'text', text: t }] });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
  server.setRequestHandler(CallToolRequestSchema, async (req) => {
    const a = req.params.arguments ?? {};
    switch (req.params.name) {
      case 'echo':
        return text(String(a.text));
      case 'hang':
        return new Promise(() => undefined);
      case 'freeze':
        for (;;); // blocks the event loop: not even a ping is answered
      case 'crash':
        process.stderr.write('fault server: crashing (on purpose)\n');
        process.exit(7);
        break;
      case 'noise':
        process.stdout.write('DEBUG: this is not JSON-RPC\n{"hello": "json but not a message"}\n');
        return text('after noise');
      case 'big':
        return text('x'.repeat(Math.round(a.mb * 1024 * 1024)));
      case 'pid':
        return text(String(process.pid));
      case 'env':
        return text(JSON.stringify(process.env));
      case 'fail':
        return { isError: true, content: [{ type: 'text', text: 'the thing is broken' }] };
      case 'counter':
      case 'wipe':
        return text(String(++count));
      case 'add_tool':
        tools.push({ name: a.name, inputSchema: obj() });
        await server.sendToolListChanged();
        return text('added');
      case 'structured':
        // `bad`: content that breaks the declared output schema (the client must refuse it)
        return a.bad ? { content: [{ type: 'text', text: '{"n":"x"}' }], structuredContent: { n: 'x' } } : { content: [{ type: 'text', text: '{"n":42}' }], structuredContent: { n: 42 } };
      case 'meta':
        return text(JSON.stringify(req.params._meta ?? null));
      default:
        return { isError: true, content: [{ type: 'text', text: `unknown tool ${req.params.name}` }] };
    }
  });
  await server.connect(new StdioServerTransport());
}
