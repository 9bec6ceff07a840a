// One team member in its own process (DBOS is a per-process singleton), driven by JSON lines on
// stdin and reporting JSON lines on stdout. Runs the built runtime (dist/daemon/team/team.js).
//   env: TEAM_URL, TEAM_HOME, TEAM_VERSION, TEAM_STEPS (file the host bodies append to)
//   in : {op:'host',run} {op:'finish',run} {op:'singleton',name} {op:'call',id,target,method,params,timeoutMs}
//        {op:'pending-other'} {op:'members'} {op:'leaders'} {op:'stop'}
//   out: {ev:'ready'|'team'|'leader'|'released'|'start'|'done'|'hosted'|'reply'|...}
import { appendFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { startTeam, executorIdFor } = await import(join(root, 'dist/daemon/team/team.js'));
const { WireError } = await import(join(root, 'dist/protocol/wire-error.js'));

const out = (o) => process.stdout.write(`${JSON.stringify({ ...o, t: Date.now() })}\n`);
const steps = process.env.TEAM_STEPS;
const log = pino({ level: process.env.TEAM_LOG_LEVEL ?? 'warn' }, pino.destination(2));

/** Host bodies running here, by run id: finish() resolves one. */
const bodies = new Map();
let team;
// known before startTeam returns: a comeback resumes its own runs while it starts
const executorId = executorIdFor(process.env.TEAM_HOME);

const hostBody = (runId) =>
  new Promise((resolve) => {
    appendFileSync(steps, `start ${runId} ${executorId}\n`);
    out({ ev: 'start', run: runId });
    bodies.set(runId, () => {
      bodies.delete(runId);
      appendFileSync(steps, `done ${runId} ${executorId}\n`);
      out({ ev: 'done', run: runId });
      resolve();
    });
  });

try {
  team = await startTeam({
    url: process.env.TEAM_URL,
    home: process.env.TEAM_HOME,
    executorId,
    appVersion: process.env.TEAM_VERSION ?? 'test-1',
    log,
    hostBody,
    onEvent: (e) => out({ ev: 'team', ...e }),
  });
} catch (e) {
  out({ ev: 'error', message: e.message });
  process.exit(3);
}
out({ ev: 'ready', executor: team.executorId, pid: process.pid });

team.serve(async (method, params, actor) => {
  if (method === 'echo') return { params, actor, by: team.executorId };
  if (method === 'slow') return new Promise((r) => setTimeout(() => r('late'), params.ms));
  if (method === 'fail') throw new WireError(params.code, params.message, { retryable: params.retryable });
  throw new WireError('unknown_method', `no method ${method}`);
});

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const cmd = JSON.parse(line);
  void (async () => {
    switch (cmd.op) {
      case 'host':
        await team.host(cmd.run);
        out({ ev: 'hosted', run: cmd.run });
        break;
      case 'finish': {
        const f = bodies.get(cmd.run);
        if (f) f();
        else out({ ev: 'not-hosted', run: cmd.run });
        break;
      }
      case 'singleton':
        team.singleton(cmd.name, {
          acquire: (epoch) => out({ ev: 'leader', name: cmd.name, epoch }),
          release: () => out({ ev: 'released', name: cmd.name }),
        });
        break;
      case 'call': {
        const t0 = performance.now();
        try {
          const value = await team.call(cmd.target, cmd.method, cmd.params, cmd.actor ?? null, cmd.timeoutMs);
          out({ ev: 'reply', id: cmd.id, ok: true, value, ms: performance.now() - t0 });
        } catch (e) {
          out({ ev: 'reply', id: cmd.id, ok: false, name: e.name, code: e.code, message: e.message, retryable: e.retryable, ms: performance.now() - t0 });
        }
        break;
      }
      case 'pending-other':
        out({ ev: 'pending-other', list: await team.pendingOtherVersions() });
        break;
      case 'members':
        out({ ev: 'members', list: await team.members() });
        break;
      case 'leaders':
        out({ ev: 'leaders', map: await team.leaders() });
        break;
      case 'stop':
        await team.stop();
        out({ ev: 'stopped' });
        process.exit(0);
    }
  })().catch((e) => out({ ev: 'cmd-error', op: cmd.op, message: e.message }));
});
