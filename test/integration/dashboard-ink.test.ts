import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunJson } from '../../src/protocol/index.js';
import { installDashboardWorkflows, KEY, mountDashboard, notInCi } from '../support/dashboard.js';
import { cli, tempHome, waitFor, type TempHome } from '../support/home.js';
import { getRun, start, waitRun } from '../support/runs.js';

// The dashboard's components rendered by ink-testing-library (100 columns), fed by a real daemon
// over its socket; key presses go through the real daemon and the test checks both what the daemon
// recorded and what the screen says. Ink and the components are imported after CI is cleared.
notInCi();

let h: TempHome;

beforeAll(async () => {
  h = tempHome('opdi-');
  installDashboardWorkflows(h);
  const r = await cli(['daemon', 'start'], h.env);
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  await h?.cleanup();
});


const status = (id: string, st: RunJson['status']) => (r: RunJson) => r.id === id && r.status === st;

describe('dashboard (Ink) against a real daemon', () => {
  it('lists runs live; p/r pause and resume, Enter shows the approval in full, a asks then approves on y, x asks then rejects with a comment, c cancels after y', async () => {
    const a = await start(h, ['gate', 'service=checkout']);
    await waitRun(h, a, (r) => r.waiting_for?.kind === 'approval', 'the approval');
    const d = await mountDashboard(h.env);
    try {
      await d.screen([a, 'gate', 'approve?', 'confirm'], 'the waiting run listed');

      d.press('p');
      await waitRun(h, a, status(a, 'paused'), 'paused by the key');
      await d.screen(['paused', `pause: run ${a} is now paused`], 'the pause on screen');
      d.press('r');
      await waitRun(h, a, status(a, 'waiting'), 'resumed by the key');
      await d.screen(['approve?'], 'waiting again');

      d.press(KEY.enter);
      // the approval's exact arguments are on screen, not a summary
      await d.screen(['waiting for approval by anyone, since', 'Restart checkout with POST http://127.0.0.1:9/admin/restart {"ms": 2000}?', 'Log'], 'the run view');
      // `a` only asks: the question shows what will run, and Esc sends nothing
      d.press('a');
      await d.screen([`Approve run ${a}, step confirm?`, 'Restart checkout with POST http://127.0.0.1:9/admin/restart {"ms": 2000}?', 'y or Enter approves'], 'the confirmation');
      expect((await getRun(h, a)).status).toBe('waiting');
      d.press(KEY.escape);
      await d.screen([`nothing was sent; run ${a} still waits`, 'waiting for approval by anyone, since'], 'the question withdrawn');
      // n withdraws too; keys other than y/Enter/n/Esc do nothing while it asks
      d.press('a');
      await d.screen([`Approve run ${a}, step confirm?`], 'asked again');
      d.press('p');
      d.press('n');
      await d.screen([`nothing was sent; run ${a} still waits`], 'withdrawn with n');
      const still = await getRun(h, a);
      expect(still.status).toBe('waiting');
      expect(still.steps.find((s) => s.id === 'confirm')?.status).toBe('waiting');
      d.press('a');
      await d.screen([`Approve run ${a}, step confirm?`], 'asked a third time');
      d.press('y');
      const done = await waitRun(h, a, status(a, 'succeeded'), 'the approved run to finish');
      expect(done.steps.find((s) => s.id === 'confirm')?.output).toMatchObject({ decision: 'approved', by: expect.stringMatching(/^tui:/) });
      await d.screen(['succeeded', 'approved by tui:'], 'success and the answer in the log');
      d.press(KEY.escape);
      await d.screen(['WORKFLOW', 'STATUS'], 'back to the list');

      // a run started while the dashboard is open appears by itself; / filters to it
      const b = await start(h, ['gate']);
      await d.screen([b], 'the new run');
      d.press('/');
      for (const ch of b) d.press(ch);
      d.press(KEY.enter);
      await d.screen([`filter: ${b}`], 'the filter');
      // the list, not the footer: the notice of a's approval stays there for 15 s
      await waitFor(() => !d.frame().split('\n').slice(0, -1).join('\n').includes(a), { what: 'other runs filtered out' });
      expect(d.frame()).toContain(b);
      await waitRun(h, b, (r) => r.waiting_for?.kind === 'approval', 'b waits');
      await d.screen(['approve?'], 'b waiting on screen');
      d.press('x');
      await d.screen([`Reject run ${b}, step confirm?`, 'Restart api with POST', 'comment (optional)'], 'the rejection question');
      for (const ch of 'not during peak') d.press(ch);
      await d.screen(['comment (optional): not during peak'], 'the comment typed');
      expect((await getRun(h, b)).status).toBe('waiting');
      d.press(KEY.enter);
      const rejected = await waitRun(h, b, status(b, 'failed'), 'the rejection');
      expect(rejected.error).toContain('not during peak');

      d.press(KEY.escape); // clears the filter
      const c = await start(h, ['gate']);
      await waitRun(h, c, (r) => r.waiting_for?.kind === 'approval', 'c waits');
      d.press('/');
      for (const ch of c) d.press(ch);
      d.press(KEY.enter);
      await d.screen([`filter: ${c}`, c], 'c alone');
      d.press('c');
      await d.screen([`cancel run ${c}?`], 'the confirmation');
      d.press('n');
      await d.screen([`run ${c} was not cancelled`], 'kept');
      expect((await getRun(h, c)).status).toBe('waiting');
      d.press('c');
      await d.screen([`cancel run ${c}?`], 'asked again');
      d.press('y');
      const cancelled = await waitRun(h, c, status(c, 'cancelled'), 'cancelled');
      // the step that was waiting says it was cancelled (not still waiting)
      expect(cancelled.steps.find((s) => s.id === 'confirm')?.status).toBe('cancelled');
      await d.screen(['cancelled'], 'cancelled on screen');

      d.press('?');
      await d.screen(['Keys', 'type the answer to an input request'], 'help');
      d.press('z');
      await d.screen(['WORKFLOW'], 'help closed');
    } finally {
      d.stop();
    }
  });

  it('a watch shows checks and breaches instead of an ETA; resize to 80x24 keeps every column', async () => {
    const t = await start(h, ['ticker']);
    const d = await mountDashboard(h.env);
    try {
      await d.screen([t, 'checks, 0 breach'], 'the watch state');
      expect(d.frame()).not.toMatch(new RegExp(`${t}.*eta`));
      // the testing stdout is 100 columns; a resize event to 80 re-lays out the list
      d.resize(80);
      await waitFor(() => d.frame().split('\n').every((l) => l.length <= 80) && d.frame().includes('TOKENS'), { what: '80 columns' });
    } finally {
      d.stop();
      await cli(['cancel', t], h.env);
    }
  });

  it('reconnects by itself when the daemon restarts, catches up from its cursor and says so', async () => {
    const d = await mountDashboard(h.env);
    try {
      await d.screen(['● daemon pid'], 'connected');
      const before = d.frame().match(/daemon pid (\d+)/)![1];
      expect((await cli(['daemon', 'stop'], h.env)).code).toBe(0);
      await d.screen(['reconnecting'], 'the lost connection said');
      // a run started by the next daemon at once: the dashboard must get it whether it reconnects before or after
      const x = await start(h, ['gate']);
      await d.screen(['reconnected to the daemon', 'missed update(s) applied', x], 'the reconnect and the run it missed');
      const after = d.frame().match(/daemon pid (\d+)/)![1];
      expect(after).not.toBe(before);
      await waitRun(h, x, (r) => r.waiting_for?.kind === 'approval', 'x waits');
      await d.screen(['approve?'], 'x live after the reconnect');
      await cli(['cancel', x], h.env);
    } finally {
      d.stop();
    }
  });
});
