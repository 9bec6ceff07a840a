import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY, mountDashboard, notInCi } from '../support/dashboard.js';
import { HitCounter } from '../support/engine-fixtures.js';
import { cli, tempHome, type TempHome } from '../support/home.js';
import { startOllamaLoopback, type OllamaLoopback } from '../support/ollama-loopback.js';
import { getRun, start, waitRun } from '../support/runs.js';

// The dashboard's approve key against a real daemon whose agent step wants to run a destructive
// tool (a POST through the built-in ops server): the question shows the exact call, its arguments
// and their hash, and nothing reaches the endpoint before the person confirms.
notInCi();

let h: TempHome;
let ollama: OllamaLoopback;
const hits = new HitCounter();

beforeAll(async () => {
  await hits.start();
  ollama = await startOllamaLoopback(['qwen2.5:7b']);
  h = tempHome('opdc-');
  writeFileSync(join(h.home, 'config.yaml'), ['notify: { desktop: "off" }', 'llm:', `  host: "${ollama.host}"`, '  model: "qwen2.5:7b"', ''].join('\n'));
  mkdirSync(join(h.home, 'workflows'), { recursive: true });
  writeFileSync(
    join(h.home, 'workflows', 'fix.yaml'),
    ['id: fix', 'tools: [ops.http_request]', 'notifications: []', 'steps:', '  - id: act', '    agent:', '      prompt: "Restart the service."', '      tools: [ops.http_request]', ''].join('\n'),
  );
  const r = await cli(['daemon', 'start'], h.env);
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  await h?.cleanup();
  await ollama?.close();
  await hits.stop();
});

describe('dashboard approve asks first and shows what will run', () => {
  it("an agent's gated call: a shows the exact call and hash, Esc sends nothing, a then Enter approves and it runs once", async () => {
    const url = `http://127.0.0.1:${hits.port}/admin/restart`;
    ollama.script({ tool_calls: [{ name: 'ops__http_request', arguments: { url, method: 'POST' } }] }, { content: 'restarted' });
    const id = await start(h, ['fix']);
    const waiting = await waitRun(h, id, (r) => r.waiting_for?.kind === 'approval', 'the gated call');
    const hash = (waiting.waiting_for as { args_hash?: string }).args_hash;
    expect(hash).toMatch(/^[0-9a-f]{16}$/);

    const d = await mountDashboard(h.env);
    const screen = d.screen;
    try {
      await screen([id, 'fix', 'waiting'], 'the waiting run listed');
      d.press('a');
      await screen([`Approve run ${id}, step act?`, `runs exactly: ops.http_request {"url":"${url}","method":"POST"}`, `argument hash ${hash}`], 'the exact call in the question');
      expect((await getRun(h, id)).status).toBe('waiting');
      d.press(KEY.escape);
      await screen([`nothing was sent; run ${id} still waits`], 'withdrawn');
      const still = await getRun(h, id);
      expect(still.status).toBe('waiting');
      expect(still.waiting_for).toMatchObject({ kind: 'approval', args_hash: hash });
      expect(hits.count('/admin/restart')).toBe(0);

      d.press('a');
      await screen([`argument hash ${hash}`], 'asked again');
      d.press(KEY.enter);
      const done = await waitRun(h, id, (r) => r.status === 'succeeded', 'the approved call to run');
      expect(done.steps.find((s) => s.id === 'act')?.output).toBe('restarted');
      expect(hits.count('/admin/restart')).toBe(1);
    } finally {
      d.stop();
    }
  });
});
