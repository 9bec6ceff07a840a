import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installDashboardWorkflows } from './support/dashboard.js';
import { BIN, cli, tempHome, waitFor, type TempHome } from './support/home.js';
import { getRun, start, waitRun } from './support/runs.js';

// The real `opstream dashboard` in a real pseudo-terminal (tmux, installed by .ci/run when
// missing), driven by key presses as a person would: a run appears, is approved from the
// keyboard, finishes, and the dashboard quits. A private tmux server per test, killed at the end.

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

let h: TempHome;
let sock: string;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-S', sock, ...args], { encoding: 'utf8', env: ttyEnv() });
}

/** The environment of a person's terminal: not CI (Ink would then draw only a final frame). */
function ttyEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...h.env, TERM: 'xterm-256color' };
  delete env.CI;
  delete env.CONTINUOUS_INTEGRATION;
  return env;
}

const capture = (): string => tmux('capture-pane', '-p', '-t', 'dash');

async function screen(texts: string[], what: string, timeoutMs = 30_000): Promise<string> {
  try {
    return await waitFor(() => {
      const s = capture();
      return texts.every((t) => s.includes(t)) ? s : null;
    }, { what, timeoutMs });
  } catch (e) {
    throw new Error(`${(e as Error).message}; the screen:\n${capture()}`);
  }
}

beforeAll(async () => {
  h = tempHome('opde-');
  sock = join(h.home, 'tmux.sock');
  installDashboardWorkflows(h, ['gate.yaml']);
  expect((await cli(['daemon', 'start'], h.env)).code).toBe(0);
});

afterAll(async () => {
  if (hasTmux) spawnSync('tmux', ['-S', sock, 'kill-server'], { stdio: 'ignore' });
  await h?.cleanup();
});

describe('opstream dashboard in a terminal', () => {
  it('shows a new run, approves it from the keyboard, sees it finish and quits', async () => {
    // a missing tmux fails here rather than skipping: .ci/run installs it (apt-get install -y tmux)
    expect(hasTmux, 'tmux is needed for this test: apt-get install -y tmux').toBe(true);
    // the pane keeps its screen after the dashboard exits, with its exit status
    tmux('new-session', '-d', '-s', 'dash', '-x', '100', '-y', '30', `${process.execPath} ${BIN} dashboard; echo "[dashboard exited $?]"; exec sleep 600`);
    await screen(['OpStream', '● daemon pid', 'no runs yet'], 'the empty dashboard');

    const id = await start(h, ['gate', 'service=billing']);
    await waitRun(h, id, (r) => r.waiting_for?.kind === 'approval', 'the approval');
    await screen([id, 'gate', 'approve?', 'confirm'], 'the run listed, waiting for approval');

    // Enter opens it (pressed again if the first press landed before the list had it selected)
    let pressed = 0;
    await waitFor(() => {
      if (capture().includes('waiting for approval by anyone')) return true;
      if (Date.now() - pressed > 2000) {
        tmux('send-keys', '-t', 'dash', 'Enter');
        pressed = Date.now();
      }
      return false;
    }, { what: 'the run view', timeoutMs: 30_000 });
    await screen(['Restart billing with POST http://127.0.0.1:9/admin/restart {"ms": 2000}?', 'a approve'], 'the approval in full');

    // `a` only asks (showing the prompt); nothing is sent until y
    tmux('send-keys', '-t', 'dash', 'a');
    await screen([`Approve run ${id}, step confirm?`, 'y or Enter approves'], 'the confirmation');
    expect((await getRun(h, id)).status).toBe('waiting');
    tmux('send-keys', '-t', 'dash', 'y');
    const done = await waitRun(h, id, (r) => r.status === 'succeeded', 'the run to finish after the approval');
    expect(done.steps.find((s) => s.id === 'confirm')?.output).toMatchObject({ decision: 'approved' });
    await screen(['succeeded', 'run succeeded'], 'the finished run on screen');

    tmux('send-keys', '-t', 'dash', 'q');
    await screen(['[dashboard exited 0]'], 'the dashboard to quit');
  }, 180_000);

  it('prints a table of the active runs when stdout is not a terminal (and JSON with --json)', async () => {
    const id = await start(h, ['gate']);
    await waitRun(h, id, (r) => r.waiting_for?.kind === 'approval', 'the approval');
    const r = await cli(['dashboard'], h.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ID +WORKFLOW +STATUS +STEP +PROGRESS +CREATED/);
    expect(r.stdout).toMatch(new RegExp(`${id} +gate +waiting +confirm`));
    expect(r.stdout).not.toContain('\u001b['); // no escape codes in a pipe
    const j = await cli(['dashboard', '--json'], h.env);
    expect((JSON.parse(j.stdout) as { id: string }[]).map((x) => x.id)).toContain(id);
    await cli(['cancel', id], h.env);
  });
});
