import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEventJson, RunJson } from '../../src/protocol/index.js';
import { installDashboardWorkflows } from '../support/dashboard.js';
import { cli, tempHome, type TempHome } from '../support/home.js';
import { start, waitRun } from '../support/runs.js';

// What a new user sees: logs as one readable line per event, `start --wait` that stops when a
// person must act, a watch's state instead of a 24-hour ETA, and `daemon uninstall`.

let h: TempHome;

beforeAll(async () => {
  h = tempHome('opco-');
  installDashboardWorkflows(h, ['gate.yaml', 'ticker.yaml', 'quick.yaml']);
});

afterAll(async () => {
  await h?.cleanup();
});

describe('CLI output', () => {
  it('logs: one line per event with time, step, what happened and key figures; --json keeps the raw events', async () => {
    const id = await start(h, ['quick']);
    await waitRun(h, id, (r) => r.status === 'succeeded', 'the run');
    const raw = await cli(['logs', id, '--json'], h.env);
    const events = JSON.parse(raw.stdout) as RunEventJson[];
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['run.created', 'step.started', 'step.succeeded', 'run.succeeded']));
    expect(events.find((e) => e.type === 'step.succeeded')).toHaveProperty('output.memory.total_bytes');

    const r = await cli(['logs', id], h.env);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const eventLines = lines.filter((l) => !l.startsWith(' '));
    // every event and notification is one line starting with its time; nothing is a JSON dump
    expect(eventLines.length).toBeGreaterThanOrEqual(events.length);
    for (const l of eventLines) expect(l).toMatch(/^(\d\d-\d\d )?\d\d:\d\d:\d\d {2}\S/);
    expect(r.stdout).not.toMatch(/[{}]/);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(160);
    const ok = lines.find((l) => /look {2}succeeded/.test(l))!;
    // figures with their units (measurements), not raw output keys
    expect(ok).toMatch(/CPU [\d.]+%, memory used [\d.]+%/);
    expect(lines.some((l) => /look {2}started$/.test(l))).toBe(true);
    expect(eventLines.at(-1)).toMatch(/\[info\] quick .* succeeded/);
    expect(r.stdout).not.toContain('\u001b['); // NO_COLOR and a pipe: no colour
  });

  it('start --wait: progress on stderr, stops when a person must answer (exit 3, how to answer), exits with the outcome', async () => {
    const w = await cli(['start', 'gate', '--wait'], h.env);
    expect(w.code).toBe(3);
    const id = /^(r_[a-z0-9]+)/m.exec(w.stdout)![1];
    expect(w.stdout).toMatch(new RegExp(`${id} +gate +waiting`));
    expect(w.stderr).toContain(`run ${id} waits for an approval at step confirm: Restart api with POST http://127.0.0.1:9/admin/restart {"ms": 2000}?`);
    expect(w.stderr).toContain(`approve: opstream approve ${id}`);
    // not a terminal: one line per state change, never a stream of spinner redraws
    expect(w.stderr).not.toContain('\r');
    expect(w.stderr).toMatch(new RegExp(`${id} waiting prepare`));
    await cli(['approve', id], h.env);
    await waitRun(h, id, (r) => r.status === 'succeeded', 'the approved run');

    const ok = await cli(['start', 'quick', '--wait', '--json'], h.env);
    expect(ok.code, ok.stderr).toBe(0);
    expect((JSON.parse(ok.stdout) as RunJson).status).toBe('succeeded');
    expect(ok.stderr).toBe('');
  });

  it('a cancelled run lists its waiting step as cancelled; a watch shows checks, breaches and the next check, not an ETA', async () => {
    const g = await start(h, ['gate']);
    await waitRun(h, g, (r) => r.waiting_for?.kind === 'approval', 'the approval');
    await cli(['cancel', g], h.env);
    const text = await cli(['status', g], h.env);
    expect(text.stdout).toMatch(/^confirm +cancelled/m);
    expect(text.stdout).not.toMatch(/waiting/);

    const t = await start(h, ['ticker']);
    const run = await waitRun(h, t, (r) => (r.progress.watch?.checks ?? 0) >= 2, 'two checks');
    expect(run.progress.eta).toBeNull();
    expect(run.progress.watch).toMatchObject({ breaches: 0, ends_at: expect.any(String) });
    const list = await cli(['list'], h.env);
    expect(list.stdout).toMatch(new RegExp(`${t} +ticker +\\w+ +watch +\\d+ checks, 0 breaches, (next in \\S+|checking now)`));
    expect(list.stdout).not.toMatch(new RegExp(`${t}.*eta`));
    await cli(['cancel', t], h.env);
  });

  it('daemon uninstall switches the service off and removes the file daemon install wrote', async () => {
    // a stand-in systemctl records what it is asked to do (this machine's real one is left alone)
    const bin = join(h.home, 'bin');
    mkdirSync(bin, { recursive: true });
    const calls = join(h.home, 'systemctl.calls');
    writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\necho "$@" >> ${calls}\n`);
    chmodSync(join(bin, 'systemctl'), 0o755);
    const env = { ...h.env, XDG_CONFIG_HOME: join(h.home, 'xdg'), PATH: `${bin}:${h.env.PATH}` };
    const unit = join(h.home, 'xdg', 'systemd', 'user', 'opstream.service');

    expect((await cli(['daemon', 'install'], env)).code).toBe(0);
    expect(existsSync(unit)).toBe(true);
    const r = await cli(['daemon', 'uninstall', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ removed: true, file: unit, warnings: [] });
    expect(existsSync(unit)).toBe(false);
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toEqual(['--user disable --now opstream.service', '--user daemon-reload']);
    const again = await cli(['daemon', 'uninstall'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('nothing to remove');
  });
});
