import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, ROOT, tempHome, type TempHome } from '../support/home.js';
import { startOllamaLoopback } from '../support/ollama-loopback.js';

let h: TempHome;
let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  await h?.cleanup();
});

type Check = { name: string; status: string; detail: string };
async function doctor(env: NodeJS.ProcessEnv): Promise<{ code: number; checks: Check[] }> {
  const r = await cli(['doctor', '--json'], env, { timeoutMs: 60_000 });
  return { code: r.code, checks: JSON.parse(r.stdout).checks };
}

describe('opstream doctor', () => {
  it('starts each MCP server, says which fail and why, and checks the Ollama host and model', async () => {
    h = tempHome();
    const ollama = await startOllamaLoopback(['qwen2.5:7b', 'llama3.2:latest']);
    closers.push(ollama.close);
    writeFileSync(
      join(h.home, 'config.yaml'),
      [
        'mcpServers:',
        '  memory:',
        '    command: node',
        `    args: ["${join(ROOT, 'node_modules/@modelcontextprotocol/server-memory/dist/index.js')}"]`,
        '  ghost:',
        '    command: /nonexistent/mcp-server',
        'llm:',
        `  host: "${ollama.host}"`,
        '  model: "qwen2.5:7b"',
        '',
      ].join('\n'),
    );
    const { code, checks } = await doctor(h.env);
    expect(code).toBe(1);
    const by = Object.fromEntries(checks.map((c) => [c.name, c]));
    expect(by['mcp ops']).toMatchObject({ status: 'ok', detail: expect.stringMatching(/\d+ tool\(s\)/) });
    expect(by['mcp memory']).toMatchObject({ status: 'ok' });
    expect(by['mcp ghost']).toMatchObject({ status: 'fail', detail: expect.stringContaining('/nonexistent/mcp-server') });
    expect(by.ollama).toMatchObject({ status: 'ok', detail: expect.stringContaining('qwen2.5:7b present') });
    expect(by.node.status).toBe('ok');
  });

  it('says when the model is not pulled and when the host does not answer', async () => {
    h = tempHome();
    const ollama = await startOllamaLoopback(['llama3.2:latest']);
    closers.push(ollama.close);
    writeFileSync(join(h.home, 'config.yaml'), `llm:\n  host: "${ollama.host}"\n  model: "qwen2.5:7b"\n`);
    const missing = await doctor(h.env);
    expect(missing.checks.find((c) => c.name === 'ollama')).toMatchObject({ status: 'warn', detail: expect.stringContaining('ollama pull qwen2.5:7b') });
    expect(missing.code).toBe(0);
    await ollama.close();
    closers = [];
    const down = await doctor(h.env);
    expect(down.code).toBe(1);
    expect(down.checks.find((c) => c.name === 'ollama')).toMatchObject({ status: 'fail', detail: expect.stringContaining('not reachable') });
  });
});
