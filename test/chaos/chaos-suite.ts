import { prng } from '../support/prng.js';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DaemonClient } from '../../src/client/client.js';
import { WireError } from '../../src/protocol/wire-error.js';
import { cli, daemonPid, killDaemon, processes, ROOT, tempHome, waitGone, type TempHome } from '../support/home.js';
import { startOllamaLoopback, type OllamaLoopback, type RecordedChat } from '../support/ollama-loopback.js';
import { buttonValue, hasButton, LOOPBACK_OPTS, PEOPLE, shown } from '../support/slack-daemon.js';
import { startSlackLoopback, type SlackLoopback } from '../support/slack-loopback.js';
import { startWebhookReceiver } from '../support/webhook-receiver.js';
import { corruptLogTail, CORRUPTIONS, type Corruption } from './faults.js';

/**
 * The crash suite: a real daemon (a detached child process, auto-started by the client), real Bree
 * workers, a real stdio MCP server whose tool is a countable side effect, the loopback Ollama, Slack
 * and a webhook receiver. Runs of a mix of workflows are started and approvals answered while the
 * daemon is killed with -9 at random moments (a seeded PRNG: the same seed gives the same plan of
 * actions and delays, not the same interleaving), restarted each time; then everything is let finish
 * and checked. Shared by `npm run chaos` (test/chaos/run.ts) and the CI variant (test/chaos.test.ts).
 *
 * With `faults`, the kills are mixed with the faults of an unlucky laptop (docs/chaos.md): a full
 * disk for a while under load (the store's OPSTREAM_STORE_FAULT_FILE hook), a slow fsync for a
 * daemon's whole life (OPSTREAM_STORE_FAULT_SLOW_MS), a torn or garbled record appended to the
 * newest LevelDB log after a kill (what a power cut leaves of the write in flight), and the log
 * directory deleted under the running daemon.
 */

const FIXTURES = join(ROOT, 'test', 'chaos', 'fixtures');
const COUNTER = join(FIXTURES, 'counter-server.mjs');
const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

export interface ChaosOptions {
  kills: number;
  seed?: number;
  /** Gap between restart and the next kill, uniformly drawn in [min, max] ms. */
  minGapMs?: number;
  maxGapMs?: number;
  /** How long to wait for everything to finish after the last kill. */
  drainTimeoutMs?: number;
  /** Progress lines (stderr in the script). */
  progress?: (line: string) => void;
  /** Faults mixed into the kills: drawn from the seed ('mix'), or at the given kill cycles (0-based). */
  faults?: 'mix' | FaultPlan;
}

export interface FaultPlan {
  diskFull?: number[];
  slowDisk?: number[];
  corruptTail?: number[];
  logDir?: number[];
}

/** What one kill cycle gets in 'mix' mode. */
const MIX = { diskFull: 0.15, slowDisk: 0.2, corruptTail: 0.2, logDir: 0.1 };

export interface ChaosResult {
  line: string;
  violations: string[];
  figures: Record<string, number | string>;
}


const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Counts side effects: one POST from the counter MCP server per tool execution. */
class SideEffects {
  readonly hits = new Map<string, { tag: string; tool: string; at: number[]; daemons: number[] }>();
  private server!: Server;
  url = '';
  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const { key, tag, tool, daemon } = JSON.parse(body) as { key: string | null; tag: string; tool: string; daemon: number };
        const k = key ?? `nokey:${tag}`;
        const h = this.hits.get(k) ?? { tag, tool, at: [], daemons: [] };
        h.at.push(Date.now());
        h.daemons.push(daemon);
        this.hits.set(k, h);
        res.end(`hit ${h.at.length}`);
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hit`;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Processes whose command line carries `marker` (our counter servers), with their parent pid. */
function markedProcesses(marker: string): { pid: number; ppid: number }[] {
  const out: { pid: number; ppid: number }[] = [];
  if (existsSync('/proc/self/stat')) {
    return processes()
      .filter((p) => p.cmdline.includes(marker) && p.cmdline.includes('counter-server'))
      .map(({ pid, ppid }) => ({ pid, ppid }));
  }
  const ps = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' });
  for (const l of ps.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l);
    if (m && m[3].includes(marker) && m[3].includes('counter-server')) out.push({ pid: Number(m[1]), ppid: Number(m[2]) });
  }
  return out;
}

function config(h: TempHome, counterUrl: string, ollama: OllamaLoopback, hookUrl: string, lb: SlackLoopback): string {
  return [
    'mcpServers:',
    '  chaos:',
    `    command: ${process.execPath}`,
    // --ignore-eof: after a kill -9 the server stays up; the next daemon must end it (orphans)
    `    args: ${JSON.stringify([COUNTER, '--ignore-eof', '--marker', h.home])}`,
    `    env: { CHAOS_COUNTER_URL: "${counterUrl}" }`,
    '    timeout: 30s',
    'llm:',
    `  host: "${ollama.host}"`,
    '  model: "qwen2.5:7b"',
    'notify:',
    '  desktop: "off"',
    '  webhooks:',
    `    - { name: hook, url: "${hookUrl}", timeout: 10s }`,
    'slack:',
    `  app_token: "${lb.appToken}"`,
    `  bot_token: "${lb.botToken}"`,
    `  api_url: "${lb.apiUrl}"`,
    '  channels: { default: "#ops-alerts", critical: "#incidents" }',
    '  users: { U0ALICE: admin, U0BOB: operator }',
    '  default_role: none',
    '  ping_timeout: 2s',
    '  idle_timeout: 6s',
    '  post_interval: 5ms',
    '  update_interval: 50ms',
  ].join('\n');
}

/**
 * The loopback model: one tool call, then the answer. Every request's run is in its prompt; a
 * `guard` run's model asks for the destructive `zap`, which waits for a person.
 */
function modelReply(chat: RecordedChat): { content?: string; tool_calls?: { name: string; arguments: Record<string, unknown> }[] } {
  const run = runOfChat(chat);
  if (chat.body.format) return { content: JSON.stringify({ summary: `nothing wrong in ${run}` }) };
  const guard = / guard:/.test(chat.body.messages.find((m) => m.role === 'user')?.content ?? '');
  if (!chat.body.messages.some((m) => m.role === 'tool')) return { tool_calls: [{ name: guard ? 'chaos__zap' : 'chaos__hit', arguments: { tag: `${run}/${guard ? 'zap' : 'agent'}` } }] };
  return { content: JSON.stringify({ summary: `nothing wrong in ${run}` }) };
}

function runOfChat(chat: RecordedChat): string {
  const user = chat.body.messages.find((m) => m.role === 'user');
  return /CHAOS-RUN (r_[a-z0-9]+)/.exec(user?.content ?? '')?.[1] ?? '?';
}

const WORKFLOWS: [string, number][] = [
  ['chaos_steps', 0.22],
  ['chaos_gate', 0.18],
  ['chaos_repeat', 0.13],
  ['chaos_parallel', 0.17],
  ['chaos_agent', 0.15],
  ['chaos_guard', 0.15],
];

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- run JSON and events are read loosely here
type Json = Record<string, any>;

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const t0 = Date.now();
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rnd = prng(seed);
  const between = (a: number, b: number) => a + rnd() * (b - a);
  const minGap = o.minGapMs ?? 300;
  const maxGap = o.maxGapMs ?? 2500;
  const say = o.progress ?? (() => undefined);
  say(`chaos: seed=${seed} kills=${o.kills}`);

  const effects = new SideEffects();
  await effects.start();
  const hook = await startWebhookReceiver([200]);
  const ollama = await startOllamaLoopback(['qwen2.5:7b'], { handler: modelReply });
  const chatAt = new Map<number, number>();
  ollama.events.on('chat', (ch: RecordedChat) => chatAt.set(ch.seq, Date.now()));
  const lb = await startSlackLoopback(LOOPBACK_OPTS);
  const h = tempHome('opc-');
  writeFileSync(join(h.home, 'config.yaml'), config(h, effects.url, ollama, hook.url, lb));
  mkdirSync(join(h.home, 'workflows'), { recursive: true });
  for (const [wf] of WORKFLOWS) copyFileSync(join(FIXTURES, `${wf}.yaml`), join(h.home, 'workflows', `${wf}.yaml`));

  const started = new Map<string, string>(); // run id -> workflow
  const approvedAfterRestart = new Set<string>();
  let client: DaemonClient | null = null;
  let kills = 0;
  let bursts = 0;
  const restartMs: number[] = [];
  const startMs: number[] = [];
  const leftBehind = new Set<number>();
  const killedAt: number[] = [];
  // every start's fate: acknowledged (an id), refused (the daemon answered with an error), or lost
  // with a killed daemon (no answer: it may or may not have been recorded)
  const unanswered: { sent: number; settled: number }[] = [];
  let refusedStarts = 0;
  // approval-gated tool calls: the harness's own decision per guard run, and when it first sent one
  const guardDecision = new Map<string, 'approve' | 'reject'>();
  const approveSentAt = new Map<string, number>();
  // faults
  const faultFile = join(h.home, 'store-fault');
  const dbDir = join(h.home, 'data', 'db');
  const logDir = join(h.home, 'data', 'logs');
  if (o.faults) h.env.OPSTREAM_STORE_FAULT_FILE = faultFile;
  const f = { diskFull: 0, diskFullResumed: 0, resumeMs: [] as number[], slowDisk: 0, corruptTail: 0, corruptRecovered: 0, corruptRepaired: 0, logDir: 0, logResumed: 0 };
  const corruptions: Record<Corruption, number> = Object.fromEntries(CORRUPTIONS.map((k) => [k, 0])) as Record<Corruption, number>;
  const fullWindows: [number, number][] = [];
  const faultViolations: string[] = [];
  const repairLost: string[] = [];
  const planned = (kind: keyof FaultPlan, cycle: number): boolean => {
    if (!o.faults) return false;
    if (o.faults === 'mix') return rnd() < MIX[kind];
    return o.faults[kind]?.includes(cycle) ?? false;
  };
  // a slow fsync is a property of a daemon's life: set before the daemon of cycle `cycle` starts
  const slowOf = new Map<number, number>(); // daemon pid -> its fsync delay (ms), for the reports
  const chooseDisk = (cycle: number): void => {
    if (cycle < o.kills && planned('slowDisk', cycle)) {
      f.slowDisk++;
      h.env.OPSTREAM_STORE_FAULT_SLOW_MS = String(Math.round(between(40, 400)));
    } else delete h.env.OPSTREAM_STORE_FAULT_SLOW_MS;
  };

  let connecting: Promise<DaemonClient> | null = null;
  // one connection at a time: after a kill, the first call starts the next daemon (the client auto-starts it)
  const connect = (): Promise<DaemonClient> => {
    if (client) return Promise.resolve(client);
    connecting ??= DaemonClient.connect({ env: h.env, client: 'test', startTimeoutMs: 60_000 })
      .then((c) => (client = c))
      .finally(() => (connecting = null));
    return connecting;
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a thin, loosely typed request for the harness
  const call = async (method: string, params: unknown): Promise<any> => {
    const c = await connect();
    try {
      return await (c.request as (m: string, p: unknown) => Promise<unknown>)(method, params);
    } catch (e) {
      // the daemon was killed under this request (or refused it): connect afresh next time
      if (client === c) {
        c.close();
        client = null;
      }
      throw e;
    }
  };
  const tryCall = (method: string, params: unknown) => call(method, params).catch(() => null);

  const startOne = async (): Promise<void> => {
    let x = rnd();
    let wf = WORKFLOWS[0][0];
    for (const [w, p] of WORKFLOWS) {
      if ((x -= p) < 0) {
        wf = w;
        break;
      }
    }
    const s0 = Date.now();
    const run = await startCall(wf);
    startMs.push(Date.now() - s0);
    // only acknowledged starts count as started: a start lost with the daemon was never promised
    if (run.id) started.set(run.id, wf);
  };
  const startCall = async (wf: string): Promise<{ id?: string; refused?: WireError }> => {
    const sent = Date.now();
    try {
      const run = await call('runs.start', { workflow: wf, args: [] });
      return { id: run.id as string };
    } catch (e) {
      // an answer from the daemon (a WireError) says the start was not made; anything else (the
      // connection closed under it) leaves it open
      if (e instanceof WireError) {
        refusedStarts++;
        return { refused: e };
      }
      unanswered.push({ sent, settled: Date.now() });
      return {};
    }
  };

  const gated = new Set<string>(); // runs seen waiting for a gated tool call's approval
  const waitingApprovals = async (): Promise<string[]> => {
    const r = await tryCall('runs.list', { all: false, limit: 10_000 });
    const waiting = (r?.runs ?? []).filter((x: Json) => x.status === 'waiting' && x.waiting_for?.kind === 'approval');
    for (const x of waiting) if (x.waiting_for.tool) gated.add(x.id);
    return waiting.map((x: Json) => x.id as string);
  };
  const slackClicked = new Set<string>();
  const clicks = new Map<string, { at: number; url: string }>();
  const approve = async (id: string, afterRestart: boolean): Promise<void> => {
    if (gated.has(id)) {
      // a gated tool call: a third of them are rejected, always the same way for one run
      if (!guardDecision.has(id)) guardDecision.set(id, rnd() < 0.33 ? 'reject' : 'approve');
      if (guardDecision.get(id) === 'reject') {
        const r = await tryCall('runs.reject', { id, comment: 'chaos: no' });
        if (r && afterRestart) approvedAfterRestart.add(id);
        return;
      }
      if (!approveSentAt.has(id)) approveSentAt.set(id, Date.now());
    }
    if (rnd() < 0.5) {
      // half of them by a person's click on the approval's button in Slack (admin alice)
      const m = await lb.waitForMessage('#ops-alerts', (x) => hasButton(x, 'opstream.approve') && shown(x).includes(id), 30).catch(() => null);
      if (m) {
        const d = await lb
          .blockAction({ user: PEOPLE.alice, channel: '#ops-alerts', message: { ts: m.ts }, actions: [{ action_id: 'opstream.approve', value: buttonValue(m, 'opstream.approve') }], ackTimeoutMs: 3000 })
          .catch(() => null);
        if (d?.acked) {
          slackClicked.add(id);
          clicks.set(id, { at: d.ack?.at ?? Date.now(), url: String((d.attempts[0]?.frame.payload as Json | undefined)?.response_url ?? '') });
          if (afterRestart) approvedAfterRestart.add(id);
          return;
        }
      }
    }
    const r = await tryCall('runs.approve', { id });
    if (r && afterRestart) approvedAfterRestart.add(id);
  };

  /**
   * A full disk under load: starts are refused with the clear error and leave nothing behind, reads
   * keep working, and when space returns the same daemon takes work again by itself.
   */
  const diskFull = async (): Promise<void> => {
    f.diskFull++;
    const pid = daemonPid(h.home);
    const before = new Set(((await tryCall('runs.list', { all: true, limit: 10_000 }))?.runs ?? []).map((r: Json) => r.id as string));
    writeFileSync(faultFile, 'enospc');
    const from = Date.now();
    const holdUntil = from + between(300, 2500);
    let tries = 0;
    while (tries < 3 || Date.now() < holdUntil) {
      tries++;
      const r = await startCall(WORKFLOWS[Math.floor(rnd() * WORKFLOWS.length)][0]);
      if (r.id) faultViolations.push(`disk full: start of ${r.id} acknowledged while the store could not write`);
      else if (!r.refused) faultViolations.push('disk full: a start got no answer (the daemon died?)');
      else if (!/^cannot write to .+: no space left on device/.test(r.refused.message) || r.refused.code !== 'store_unwritable') faultViolations.push(`disk full: start refused with "${r.refused.code}: ${r.refused.message}"`);
      await pause(between(20, 200));
    }
    const during = await tryCall('runs.list', { all: true, limit: 10_000 });
    if (!during) faultViolations.push('disk full: runs.list failed while the store could not write (reads must keep working)');
    for (const r of during?.runs ?? []) if (!before.has(r.id)) faultViolations.push(`disk full: run ${r.id} (${r.workflow}) appeared while every start was refused`);
    rmSync(faultFile, { force: true });
    const freed = Date.now();
    fullWindows.push([from, freed]);
    // resumes by itself: the same daemon acknowledges a start again within 30 s
    for (;;) {
      const wf = WORKFLOWS[Math.floor(rnd() * WORKFLOWS.length)][0];
      const r = await startCall(wf);
      if (r.id) {
        started.set(r.id, wf);
        f.diskFullResumed++;
        f.resumeMs.push(Date.now() - freed);
        break;
      }
      if (Date.now() - freed > 30_000) {
        faultViolations.push(`disk full: no start acknowledged within 30 s after space returned (last: ${r.refused?.message ?? 'no answer'})`);
        break;
      }
      await pause(100);
    }
    if (daemonPid(h.home) !== pid) faultViolations.push(`disk full: the daemon changed (pid ${pid} -> ${daemonPid(h.home)}) instead of resuming by itself`);
  };

  /** The log directory deleted under the running daemon: it keeps serving and logs again there. */
  const deleteLogDir = async (): Promise<void> => {
    f.logDir++;
    const pid = daemonPid(h.home);
    rmSync(logDir, { recursive: true, force: true });
    const until = Date.now() + 20_000;
    for (;;) {
      const text = existsSync(logDir) ? readdirSync(logDir).filter((x) => /^daemon\.\d+\.log$/.test(x)).map((x) => readFileSync(join(logDir, x), 'utf8')).join('') : '';
      if (text.includes('the log file was reopened')) break;
      if (Date.now() > until) {
        faultViolations.push('log dir deleted: no log line in a recreated directory within 20 s');
        return;
      }
      await startOne(); // keep it busy meanwhile
      await pause(200);
    }
    if ((await tryCall('runs.list', { all: false, limit: 10 })) === null || daemonPid(h.home) !== pid) faultViolations.push(`log dir deleted: the daemon (pid ${pid}) stopped serving`);
    else f.logResumed++;
  };

  /** After a kill: a torn or garbled record at the end of the newest log, then the restart. */
  const corruptTail = async (): Promise<void> => {
    const kind = CORRUPTIONS[Math.floor(rnd() * CORRUPTIONS.length)];
    const done = existsSync(dbDir) ? corruptLogTail(dbDir, kind, rnd) : null;
    if (!done) return;
    f.corruptTail++;
    corruptions[kind]++;
    try {
      await connect();
      f.corruptRecovered++;
      return;
    } catch (e) {
      const text = (e as Error).message;
      if (!/is corrupt/.test(text) || !text.includes('opstream daemon repair')) {
        faultViolations.push(`corrupt tail (${kind}): the daemon neither started nor pointed at repair: ${text}`);
        return;
      }
    }
    const r = await cli(['daemon', 'repair', '--json'], h.env, { timeoutMs: 120_000 });
    if (r.code !== 0) {
      faultViolations.push(`corrupt tail (${kind}): repair failed: ${r.stderr.trim()}`);
      return;
    }
    const report = JSON.parse(r.stdout) as Json;
    repairLost.push(...(report.lost as string[]));
    f.corruptRepaired++;
    say(`chaos: corrupt tail (${kind}) refused, repaired: ${report.damage ?? 'no damage'}; lost ${report.lost.length} run(s)`);
    await connect().catch((e) => faultViolations.push(`corrupt tail (${kind}): no daemon after repair: ${(e as Error).message}`));
  };

  try {
    chooseDisk(0);
    await connect();
    while (kills < o.kills) {
      const r0 = Date.now();
      await connect().catch(() => undefined);
      if (kills > 0) restartMs.push(Date.now() - r0);
      const lifePid = daemonPid(h.home);
      if (lifePid && h.env.OPSTREAM_STORE_FAULT_SLOW_MS) slowOf.set(lifePid, Number(h.env.OPSTREAM_STORE_FAULT_SLOW_MS));
      // right after a restart: some approvals left waiting across the kill are answered first
      for (const id of await waitingApprovals()) if (rnd() < 0.5) await approve(id, true);
      const cycle = kills;
      const faultsNow = [planned('diskFull', cycle) ? diskFull : null, planned('logDir', cycle) ? deleteLogDir : null].filter((x) => x !== null);
      const until = Date.now() + between(minGap, maxGap);
      while (Date.now() < until || faultsNow.length > 0) {
        // the faults of this cycle come amid the load, before the kill
        if (faultsNow.length > 0 && rnd() < 0.3) await faultsNow.shift()!();
        const a = rnd();
        if (a < 0.7) await startOne();
        else if (a < 0.85) {
          const w = await waitingApprovals();
          if (w.length > 0) await approve(w[Math.floor(rnd() * w.length)], false);
        }
        await pause(between(20, 250));
      }
      const burst = rnd() < 0.25;
      const inflight: Promise<void>[] = [];
      if (burst) {
        // a busy moment: several starts on the wire, the kill lands among them
        bursts++;
        for (let i = 0; i < 3 + Math.floor(rnd() * 5); i++) inflight.push(startOne());
        await pause(between(0, 60));
      }
      const pid = daemonPid(h.home);
      if (pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await waitGone(pid);
      }
      killedAt.push(Date.now()); // the daemon is gone: whatever it sent has arrived by now
      for (const p of markedProcesses(h.home)) leftBehind.add(p.pid); // no daemon now: every one is an orphan
      // the connection died with the daemon: the next call connects afresh (and starts the next daemon)
      (client as DaemonClient | null)?.close();
      client = null;
      kills++;
      await Promise.all(inflight);
      chooseDisk(kills);
      if (planned('corruptTail', kills - 1)) await corruptTail();
      if (process.env.CHAOS_DEBUG) say(`kill ${kills}: starts ${startMs.length} avg ${Math.round(startMs.reduce((a, b) => a + b, 0) / Math.max(1, startMs.length))}ms max ${Math.max(0, ...startMs)}ms`);
      if (kills % 10 === 0 || kills === o.kills) say(`chaos: ${kills}/${o.kills} kills, ${started.size} runs started, ${Math.round((Date.now() - t0) / 1000)}s`);
    }

    // --- let everything finish: the harness keeps answering approvals
    const drainUntil = Date.now() + (o.drainTimeoutMs ?? 180_000);
    const runs = new Map<string, Json>();
    for (;;) {
      for (const id of await waitingApprovals()) await approve(id, false);
      for (const id of started.keys()) {
        if (runs.has(id) && FINAL.has(runs.get(id)!.status)) continue;
        const r = await tryCall('runs.get', { id });
        if (r) runs.set(id, r);
      }
      const open = [...started.keys()].filter((id) => !FINAL.has(runs.get(id)?.status));
      // and runs whose start was never acknowledged (they are in the active list too)
      const active = await tryCall('runs.list', { all: false, limit: 10_000 });
      if ((open.length === 0 && active?.runs?.length === 0) || Date.now() > drainUntil) break;
      await pause(200);
    }

    // --- notifications: wait until every channel is settled (sent or failed)
    const notes = new Map<string, Json>();
    const settled = (n: Json) => Object.entries(n.channels as Record<string, Json>).every(([, d]) => d.state === 'sent' || d.state === 'failed' || d.state === 'skipped');
    const noteUntil = Date.now() + 90_000;
    for (;;) {
      for (const id of started.keys()) {
        const r = await tryCall('notifications.list', { run: id, limit: 1000 });
        for (const n of r?.items ?? []) notes.set(n.id, n);
      }
      if ([...notes.values()].every(settled) || Date.now() > noteUntil) break;
      await pause(300);
    }

    // --- events of every run (for the side-effect and model checks)
    const events = new Map<string, Json[]>();
    for (const id of started.keys()) {
      const r = await tryCall('runs.events', { id, limit: 10_000 });
      events.set(id, r?.events ?? []);
    }

    // --- orphans: counter servers not owned by the live daemon
    const live = daemonPid(h.home);
    const orphansLive = markedProcesses(h.home).filter((p) => p.ppid !== live).length;

    // --- store readable: a clean stop, a fresh daemon, and every run and its events read back
    (client as DaemonClient | null)?.close();
    client = null;
    await killDaemon(h.home);
    const orphansAfterStop = markedProcesses(h.home).length;
    let unreadable = 0;
    for (const id of started.keys()) {
      const r = await tryCall('runs.get', { id });
      const e = await tryCall('runs.events', { id, limit: 10_000 });
      if (!r || !e || r.status !== runs.get(id)?.status) unreadable++;
    }
    const all = await tryCall('runs.list', { all: true, limit: 10_000 });
    if (!all) unreadable++;

    return check({
      o,
      seed,
      t0,
      kills,
      bursts,
      started,
      runs,
      events,
      notes,
      effects,
      chats: ollama.chats,
      chatAt,
      killedAt,
      hookAccepted: hook.received.filter((r) => r.status !== null && r.status < 300).map((r) => ({ key: String(r.headers['idempotency-key']), at: r.at })),
      slackPosts: lb.calls('chat.postMessage').filter((c) => c.response.ok === true),
      approvedAfterRestart,
      slackClicked,
      progress: say,
      extra: (all?.runs ?? []).filter((r: Json) => !started.has(r.id)),
      clickInfo: (id: string) => {
        const k = clicks.get(id);
        if (!k) return '';
        const next = killedAt.find((t) => t > k.at);
        const said = lb.responses(k.url).map((r) => String(r.body.text)).join(' | ');
        return `acked at +${k.at - t0}ms, next kill ${next === undefined ? 'none' : `${next - k.at}ms later`}, bridge said: ${said || 'nothing'}`;
      },
      restartMs,
      unanswered,
      refusedStarts,
      guardDecision,
      approveSentAt,
      faults: o.faults ? { ...f, corruptions, fullWindows, violations: faultViolations, repairLost, slowOf } : null,
      orphans: orphansLive + orphansAfterStop,
      leftBehind: leftBehind.size,
      unreadable,
      listed: all?.runs?.length ?? 0,
    });
  } finally {
    (client as DaemonClient | null)?.close();
    await h.cleanup().catch(() => undefined);
    for (const p of markedProcesses(h.home)) process.kill(p.pid, 'SIGKILL');
    await hook.close();
    await ollama.close();
    await lb.close();
    await effects.stop();
  }
}

interface CheckInput {
  o: ChaosOptions;
  seed: number;
  t0: number;
  kills: number;
  bursts: number;
  started: Map<string, string>;
  runs: Map<string, Json>;
  events: Map<string, Json[]>;
  notes: Map<string, Json>;
  effects: SideEffects;
  chats: RecordedChat[];
  /** When each chat (by seq) arrived. */
  chatAt: Map<number, number>;
  /** When each killed daemon was confirmed gone. */
  killedAt: number[];
  hookAccepted: { key: string; at: number }[];
  slackPosts: { args: Record<string, unknown>; at: number }[];
  approvedAfterRestart: Set<string>;
  /** Approvals clicked in Slack (and acked by the bridge). */
  slackClicked: Set<string>;
  clickInfo(id: string): string;
  progress(line: string): void;
  /** Runs found in the store whose start was never acknowledged (the daemon died with the reply). */
  extra: Json[];
  restartMs: number[];
  /** Starts that got no answer (the daemon was killed under them): when sent and when given up. */
  unanswered: { sent: number; settled: number }[];
  refusedStarts: number;
  guardDecision: Map<string, 'approve' | 'reject'>;
  approveSentAt: Map<string, number>;
  faults: {
    diskFull: number;
    diskFullResumed: number;
    resumeMs: number[];
    slowDisk: number;
    corruptTail: number;
    corruptRecovered: number;
    corruptRepaired: number;
    logDir: number;
    logResumed: number;
    corruptions: Record<string, number>;
    fullWindows: [number, number][];
    violations: string[];
    repairLost: string[];
    /** Daemons (pid) that ran with a slow fsync, and its delay in ms. */
    slowOf: Map<number, number>;
  } | null;
  orphans: number;
  /** Distinct MCP server processes found running right after a kill (each must be ended later). */
  leftBehind: number;
  unreadable: number;
  listed: number;
}

/** The tool steps of the fixtures (the others have keys too, but no side effect to count). */
const TOOL_STEPS = new Set(['a', 'b', 'r', 'p1', 'p2', 'after']);
const leaf = (path: string) => path.slice(path.lastIndexOf('.') + 1).replace(/\[\d+\]$/, '');

function check(c: CheckInput): ChaosResult {
  const v: string[] = [];
  const { kills } = c;

  // runs: every acknowledged start exists and ended, and (these workflows cannot fail) succeeded
  let lost = 0;
  let failed = 0;
  let steps = 0;
  for (const id of c.started.keys()) {
    const r = c.runs.get(id);
    if (!r || !FINAL.has(r.status)) {
      lost++;
      v.push(`run ${id} (${c.started.get(id)}) ${r ? `did not finish: ${r.status} at ${r.current_step}` : 'is missing'}`);
      continue;
    }
    if (r.status !== 'succeeded') {
      failed++;
      v.push(`run ${id} (${c.started.get(id)}) ${r.status}: ${r.error?.message ?? JSON.stringify(r.error)}`);
    }
    steps += (r.steps as Json[]).filter((s) => s.status === 'succeeded').length;
  }

  // a start whose reply was lost with the daemon may still have been recorded: such runs must end too
  for (const r of c.extra) {
    if (!FINAL.has(r.status)) {
      lost++;
      v.push(`run ${r.id} (${r.workflow}, start not acknowledged) did not finish: ${r.status}`);
    }
  }

  // phantom runs: a run nobody was told about must come from a start that got no answer, made
  // while the daemon that took it lived (never from a refused start, never during a full disk)
  let phantom = 0;
  for (const r of c.extra) {
    const at = Date.parse(r.created_at);
    const owed = c.unanswered.some((u) => {
      const died = c.killedAt.find((k) => k >= u.settled) ?? Infinity;
      return at >= u.sent - 2 && at <= died + 2;
    });
    const inFull = c.faults?.fullWindows.some(([a, b]) => at >= a && at <= b) ?? false;
    if (!owed || inFull) {
      phantom++;
      v.push(`phantom run ${r.id} (${r.workflow}) created at ${r.created_at}: no start without an answer explains it${inFull ? ' (created while the disk was full)' : ''}`);
    }
  }
  if (c.extra.length > c.unanswered.length) v.push(`${c.extra.length} unacknowledged runs but only ${c.unanswered.length} starts without an answer`);

  // side effects: when each key's step was recorded as done (tool steps and agent tool calls)
  const doneAt = new Map<string, number>();
  for (const [id, evs] of c.events) {
    const keyOf = new Map<string, string>();
    for (const e of evs) {
      if (e.type === 'step.started' && e.key) keyOf.set(e.step, e.key);
      if (e.type === 'step.succeeded' && keyOf.has(e.step) && TOOL_STEPS.has(leaf(e.step))) doneAt.set(keyOf.get(e.step)!, Date.parse(e.at));
      if (e.type === 'agent.tool' && e.status === 'ok') doneAt.set(`${id}:${e.step}:${e.attempt}:t${e.turn}:c${e.index}`, Date.parse(e.at));
    }
  }
  // a full disk is a crash for the writes it refused: a step whose result could not be recorded is
  // in flight again once space returns, in the same daemon. Epochs: before a full disk, during it,
  // after it (a second run inside one full disk, or outside any, is still a violation).
  const windows = c.faults?.fullWindows ?? [];
  const epoch = (t: number) => 2 * windows.filter(([, b]) => b < t).length + (windows.some(([a, b]) => a <= t && t <= b) ? 1 : 0);
  // at most one re-run of an in-flight step per kill (or full disk): one daemon never executes the
  // same step attempt twice between two of them, so each extra execution is owed to one
  let reruns = 0;
  let repeated = 0;
  let executions = 0;
  let sameDaemon = 0;
  let afterFull = 0;
  for (const [key, hit] of c.effects.hits) {
    executions += hit.at.length;
    reruns += hit.at.length - 1;
    const lives = hit.daemons.map((d, i) => `${d}|${epoch(hit.at[i])}`);
    const twice = lives.length - new Set(lives).size;
    afterFull += new Set(lives).size - new Set(hit.daemons).size;
    if (twice > 0) {
      sameDaemon += twice;
      const slow = [...new Set(hit.daemons)].filter((d) => c.faults?.slowOf.has(d)).map((d) => `${d}: ${c.faults!.slowOf.get(d)}ms`);
      v.push(`side effect ${key} (${hit.tag}) ran ${twice + 1} times in one daemon (pid ${hit.daemons.join(', ')}, full-disk epochs ${hit.at.map(epoch).join(', ')}${slow.length ? `; slow fsync in ${slow.join(', ')}` : ''})`);
    }
    const done = doneAt.get(key);
    const late = done === undefined ? 0 : hit.at.filter((t) => t > done).length;
    if (late > 0) {
      repeated += late;
      v.push(`side effect ${key} (${hit.tag}) ran again after its step was recorded as done`);
    }
  }
  // gated tool calls: every zap the tool server saw was approved by the harness before it ran, and
  // the daemon recorded that approval before it ran; a rejected call never runs
  let unapproved = 0;
  let gatedRan = 0;
  for (const [key, hit] of c.effects.hits) {
    if (hit.tool !== 'zap') continue;
    const run = hit.tag.split('/')[0];
    const rec = c.runs.get(run) ?? c.extra.find((r) => r.id === run);
    const decided = (rec?.decisions as Json[] | undefined)?.find((d) => d.decision === 'approved' && d.args_hash);
    const sent = c.approveSentAt.get(run);
    for (const t of hit.at) {
      gatedRan++;
      const why =
        c.guardDecision.get(run) !== 'approve'
          ? `the harness ${c.guardDecision.has(run) ? 'rejected it' : 'never answered it'}`
          : sent === undefined || sent > t
            ? 'it ran before the harness approved it'
            : !decided
              ? 'the run records no approval of it'
              : Date.parse(decided.at) > t
                ? `it ran before its approval was recorded (${decided.at})`
                : '';
      if (why) {
        unapproved++;
        v.push(`gated call ${key} (${hit.tag}) ran without its approval: ${why}`);
      }
    }
  }
  let gatedRejected = 0;
  for (const [run, d] of c.guardDecision) if (d === 'reject' && ((c.runs.get(run) ?? c.extra.find((r) => r.id === run))?.decisions as Json[] | undefined)?.some((x) => x.decision === 'rejected')) gatedRejected++;

  let missingEffects = 0;
  for (const key of doneAt.keys()) if (!c.effects.hits.has(key)) missingEffects++;
  if (missingEffects > 0) v.push(`${missingEffects} step(s) recorded as done whose side effect never happened`);


  // model calls: one request per turn; a turn recorded (agent.turn) is never asked again
  const byKey = new Map<string, number[]>();
  const chatKey = (ch: RecordedChat) => `${runOfChat(ch)}|${ch.body.messages.length}|${ch.body.format ? 'f' : 't'}`;
  for (const ch of c.chats) {
    const k = chatKey(ch);
    byKey.set(k, [...(byKey.get(k) ?? []), ch.seq]);
  }
  // a daemon's life is the time between two kills: one life never asks the same turn twice
  const life = (t: number) => c.killedAt.filter((k) => k < t).length * 1000 + epoch(t);
  let modelReruns = 0;
  let modelSameLife = 0;
  for (const [k, seqs] of byKey) {
    modelReruns += seqs.length - 1;
    const lives = seqs.map((q) => life(c.chatAt.get(q) ?? 0));
    const twice = lives.length - new Set(lives).size;
    if (twice > 0) {
      modelSameLife += twice;
      v.push(`model request ${k} sent ${twice + 1} times by one daemon`);
    }
  }
  let modelRepeats = 0;
  // i-th distinct request of a run <-> its i-th recorded turn; a copy after that turn was recorded is a repeat
  const perRun = new Map<string, RecordedChat[]>();
  for (const ch of c.chats) perRun.set(runOfChat(ch), [...(perRun.get(runOfChat(ch)) ?? []), ch]);
  for (const [run, chats] of perRun) {
    const turns = (c.events.get(run) ?? []).filter((e) => e.type === 'agent.turn');
    const order: string[] = [];
    for (const ch of chats) if (!order.includes(chatKey(ch))) order.push(chatKey(ch));
    order.forEach((k, i) => {
      const t = turns[i];
      if (!t) return;
      const copies = chats.filter((ch) => chatKey(ch) === k).slice(1);
      for (const ch of copies) {
        const at = c.chatAt.get(ch.seq);
        if (at !== undefined && at > Date.parse(t.at)) modelRepeats++;
      }
    });
  }
  if (modelRepeats > 0) v.push(`${modelRepeats} model request(s) repeated after their turn was recorded`);

  // timers: every wait step fired, and not early
  let timers = 0;
  let timersFired = 0;
  for (const [id, wf] of c.started) {
    const waits = wf === 'chaos_steps' ? [['nap', 2000]] : wf === 'chaos_parallel' ? [['fan.p3', 1000]] : [];
    for (const [step, ms] of waits as [string, number][]) {
      timers++;
      const s = (c.runs.get(id)?.steps as Json[] | undefined)?.find((x) => x.id === step || x.id === step.split('.').pop());
      const woke = s?.output?.woke_at;
      if (s?.status === 'succeeded' && woke && Date.parse(woke) >= Date.parse(s.started_at) + ms - 5) timersFired++;
      else v.push(`run ${id}: timer ${step} ${s ? `${s.status}, woke_at ${woke}` : 'missing'}`);
    }
  }

  // approvals: every gate run was approved (some of them right after a restart), and went on
  let approvals = 0;
  let approved = 0;
  for (const [id, wf] of c.started) {
    if (wf !== 'chaos_gate') continue;
    approvals++;
    const s = (c.runs.get(id)?.steps as Json[] | undefined)?.find((x) => x.id === 'ask');
    if (s?.output?.decision === 'approved' && c.runs.get(id)?.status === 'succeeded') approved++;
  }
  const decisionOf = (id: string): Json | undefined =>
    c.started.get(id) === 'chaos_guard' ? (c.runs.get(id)?.decisions as Json[] | undefined)?.find((d) => d.args_hash) : c.runs.get(id)?.steps?.find((x: Json) => x.id === 'ask')?.output;
  for (const id of c.approvedAfterRestart) {
    if (c.slackClicked.has(id) || !c.runs.has(id)) continue; // clicks: counted below; unacknowledged starts: checked as extra runs
    const want = c.guardDecision.get(id) === 'reject' ? 'rejected' : 'approved';
    if (decisionOf(id)?.decision !== want) v.push(`run ${id}: an answer (${want}) given right after a restart was not taken`);
  }
  // a click acked by the bridge whose decision was then not recorded (the daemon died in between)
  let bySlack = 0;
  let clicksLost = 0;
  for (const id of c.slackClicked) {
    const by = decisionOf(id)?.by;
    if (by === 'slack:U0ALICE') bySlack++;
    else {
      // the bridge acks a click before acting on it (Slack wants an ack within 3 s): a kill in
      // between loses the click; the message keeps its buttons and a second click works. Measured, not fatal.
      clicksLost++;
      c.progress(`chaos: run ${id}: a Slack approval click was acked but not taken (${c.clickInfo(id)})`);
    }
  }
  if (approved !== approvals) v.push(`approvals: ${approved} of ${approvals} answered and carried on`);

  // notifications: each run wrote exactly the ones it should (none lost, none doubled by a re-run)
  const notes = [...c.notes.values()];
  const want: Record<string, Record<string, number>> = {
    chaos_steps: { completion: 1, notify: 1 },
    chaos_gate: { completion: 1, notify: 1, approval: 1 },
    chaos_repeat: { completion: 1, notify: 1 },
    chaos_parallel: { completion: 1 },
    chaos_agent: { completion: 1, notify: 1 },
    chaos_guard: { completion: 1, notify: 1, approval: 1 },
  };
  let wrongNotes = 0;
  for (const [id, wf] of c.started) {
    const got: Record<string, number> = {};
    for (const n of notes) if (n.run_id === id) got[n.kind] = (got[n.kind] ?? 0) + 1;
    if (JSON.stringify(Object.entries(got).sort()) !== JSON.stringify(Object.entries(want[wf]).sort())) {
      wrongNotes++;
      v.push(`run ${id} (${wf}) wrote notifications ${JSON.stringify(got)}, expected ${JSON.stringify(want[wf])}`);
    }
  }
  // every one sent to the webhook exactly once per key, and to Slack
  const hookKeys = new Set(c.hookAccepted.map((x) => x.key));
  const dupWebhook = c.hookAccepted.length - hookKeys.size;
  let undelivered = 0;
  for (const n of notes) {
    for (const [ch, d] of Object.entries(n.channels as Record<string, Json>)) {
      if (ch === 'terminal') continue;
      if (d.state !== 'sent') {
        undelivered++;
        v.push(`notification ${n.id} (${n.kind}, run ${n.run_id}) not delivered to ${ch}: ${d.state} ${d.error ?? ''}`);
      }
    }
    if (n.channels.hook && !hookKeys.has(n.id)) v.push(`notification ${n.id} is marked sent to the webhook but never arrived`);
  }
  // a repeat (same Idempotency-Key) is owed to a kill between the send and its record: never twice in one daemon's life
  const hookLives = new Map<string, number[]>();
  for (const x of c.hookAccepted) hookLives.set(x.key, [...(hookLives.get(x.key) ?? []), life(x.at)]);
  for (const [key, lives] of hookLives) if (lives.length !== new Set(lives).size) v.push(`webhook got notification ${key} ${lives.length} times, twice from one daemon`);
  // Slack has no idempotency key: a kill between the post and its record reposts. Same text in the same place = a repost.
  const posts = new Map<string, number[]>();
  for (const p of c.slackPosts) {
    const k = `${String(p.args.channel)}|${String(p.args.thread_ts ?? '')}|${String(p.args.text)}`;
    posts.set(k, [...(posts.get(k) ?? []), life(p.at)]);
  }
  let dupSlack = 0;
  for (const [k, lives] of posts) {
    dupSlack += lives.length - 1;
    if (lives.length !== new Set(lives).size) v.push(`Slack got the same post twice from one daemon: ${k.slice(0, 200)}`);
  }
  if (dupSlack > kills + windows.length) v.push(`Slack got ${dupSlack} reposts, more than one per kill or full disk (${kills + windows.length})`);

  // guard runs: each one's gated call was answered as the harness chose, and the run went on
  let guards = 0;
  let guardsAnswered = 0;
  for (const [id, wf] of c.started) {
    if (wf !== 'chaos_guard') continue;
    guards++;
    const want = c.guardDecision.get(id) === 'reject' ? 'rejected' : 'approved';
    if (decisionOf(id)?.decision === want && c.runs.get(id)?.status === 'succeeded') guardsAnswered++;
    else v.push(`run ${id} (chaos_guard): gated call ${decisionOf(id)?.decision ?? 'not answered'}, wanted ${want}; run ${c.runs.get(id)?.status}`);
  }

  // faults: each one's own checks (made while it was on), and repairs that lost an acknowledged run
  const fl = c.faults;
  if (fl) {
    v.push(...fl.violations);
    for (const id of fl.repairLost) if (c.started.has(id)) v.push(`repair after a corrupt log tail lost acknowledged run ${id} (${c.started.get(id)})`);
  }

  if (c.orphans > 0) v.push(`${c.orphans} MCP server process(es) of a dead daemon still running`);
  if (c.unreadable > 0) v.push(`${c.unreadable} run(s) could not be read back after a clean restart`);

  const secs = Math.round((Date.now() - c.t0) / 1000);
  const figures = {
    seed: c.seed,
    kills,
    bursts: c.bursts,
    runs: c.started.size,
    steps,
    lost,
    failed,
    repeated_steps: repeated,
    reruns,
    reruns_in_one_daemon: sameDaemon,
    reruns_after_full_disk: afterFull,
    executions,
    model_calls: c.chats.length,
    model_repeats: modelRepeats,
    model_reruns: modelReruns,
    model_reruns_in_one_daemon: modelSameLife,
    timers: `${timersFired}/${timers}`,
    approvals: `${approved}/${approvals}`,
    approvals_after_restart: c.approvedAfterRestart.size,
    approvals_by_slack: bySlack,
    slack_clicks_lost: clicksLost,
    notifications: notes.length,
    wrong_notifications: wrongNotes,
    undelivered,
    dup_webhook: dupWebhook,
    dup_slack: dupSlack,
    phantom,
    unapproved_gated_calls: unapproved,
    gated_calls_run: gatedRan,
    gated_calls_rejected: gatedRejected,
    guards: `${guardsAnswered}/${guards}`,
    refused_starts: c.refusedStarts,
    unanswered_starts: c.unanswered.length,
    ...(fl
      ? {
          disk_full: fl.diskFull,
          disk_full_resumed: fl.diskFullResumed,
          resume_ms_max: Math.max(0, ...fl.resumeMs),
          slow_disk_lives: fl.slowDisk,
          corrupt_tail: fl.corruptTail,
          corrupt_tail_recovered: fl.corruptRecovered,
          corrupt_tail_repaired: fl.corruptRepaired,
          ...Object.fromEntries(Object.entries(fl.corruptions).map(([k, n]) => [`corrupt_${k}`, n])),
          log_dir_deleted: fl.logDir,
          log_dir_resumed: fl.logResumed,
          fault_violations: fl.violations.length,
        }
      : {}),
    orphans: c.orphans,
    left_by_kills: c.leftBehind,
    store: c.unreadable === 0 ? 'ok' : `${c.unreadable}_unreadable`,
    restart_ms_avg: Math.round(c.restartMs.reduce((a, b) => a + b, 0) / Math.max(1, c.restartMs.length)),
    seconds: secs,
  };
  const faultText = fl
    ? ` faults: disk_full=${fl.diskFull} (resumed ${fl.diskFullResumed}, max ${figures.resume_ms_max}ms after space returned) slow_disk_lives=${fl.slowDisk} ` +
      `corrupt_tail=${fl.corruptTail} (${Object.entries(fl.corruptions).map(([k, n]) => `${k} ${n}`).join(', ')}; ${fl.corruptRecovered} started, ${fl.corruptRepaired} refused and repaired) ` +
      `log_dir_deleted=${fl.logDir} (logging resumed ${fl.logResumed}) fault_violations=${fl.violations.length}`
    : '';
  const line =
    `chaos: seed=${c.seed} kills=${kills} bursts=${c.bursts} runs=${c.started.size}+${c.extra.length}_unacked steps=${steps} lost=${lost} phantom=${phantom} failed=${failed} repeated_steps=${repeated} ` +
    `unapproved_gated_calls=${unapproved} gated_calls=${gatedRan} ran, ${gatedRejected} rejected guards=${guardsAnswered}/${guards} refused_starts=${c.refusedStarts} unanswered_starts=${c.unanswered.length} ` +
    `reruns=${reruns} reruns_in_one_daemon=${sameDaemon} reruns_after_full_disk=${afterFull} model_calls=${c.chats.length} model_repeats=${modelRepeats} model_reruns=${modelReruns} model_reruns_in_one_daemon=${modelSameLife} timers=${timersFired}/${timers} ` +
    `approvals=${approved}/${approvals} (${c.approvedAfterRestart.size} right after a restart, ${bySlack} by Slack button, ${clicksLost} clicks acked but lost) notifications=${notes.length} wrong_notifications=${wrongNotes} undelivered=${undelivered} ` +
    `dup_webhook=${dupWebhook} dup_slack=${dupSlack} orphans=${c.orphans} (${c.leftBehind} left by kills, all ended) store=${figures.store} restart=${figures.restart_ms_avg}ms ${secs}s${faultText}`;
  return { line, violations: v, figures };
}
