import { readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon } from '../../src/daemon/main.js';
import type { RunJson } from '../../src/protocol/index.js';
import { setupDiscord, type DiscordSetup } from '../support/discord-daemon.js';
import { startDiscordLoopback, textOf, type DiscordLoopback, type LoopbackMessage } from '../support/discord-loopback.js';
import { cli, tempHome, waitFor } from '../support/home.js';
import { slowEndpointIterations } from '../support/tools-fixtures.js';

// The Discord bridge against the loopback Discord, with a real daemon in this process (real store,
// Bree workers, the engine) and discord.js connecting to the loopback's REST and gateway. Waits are on
// states (an answer appearing, a run reaching a status), never fixed sleeps.
process.env.OPSTREAM_ENGINE_FAULTS = '1';

const GATE = `id: gate
name: Gated restart
command: gate
usage: "<service>"
params:
  service: { type: string, required: true }
notifications: [start, completion, errors, approvals]
steps:
  - id: warm
    tool: engine_test.noop
    with: { value: 1 }
  - id: ask
    approval: { prompt: "Restart {{ params.service }}?", timeout: 1h, approvers: [operator, "cli:${userInfo().username}"] }
  - id: restart
    tool: engine_test.noop
    with: { service: "{{ params.service }}", action: restart }
`;

const ALICE = { id: '111111', username: 'alice' }; // admin
const BOB = { id: '222222', username: 'bob' }; // operator
const VIC = { id: '333333', username: 'vic' }; // viewer
const EVE = { id: '444444', username: 'eve' }; // no role

type Setup = DiscordSetup;

let s: Setup | null = null;
afterEach(async () => {
  await s?.close();
  s = null;
});

function setup(): Promise<Setup> {
  return setupDiscord({ prefix: 'ops-dc-', roles: `{ "${ALICE.id}": admin, "${BOB.id}": operator, "${VIC.id}": viewer }`, workflows: { 'gate.yaml': GATE, 'profile_mini.yaml': profileWorkflow() } });
}

async function runOf(x: Setup, id: string): Promise<RunJson> {
  return x.d.ctx.engine.get(id);
}

function runIdIn(text: string): string {
  const m = /\br_[a-z0-9]{4,16}\b/.exec(text);
  if (!m) throw new Error(`no run id in: ${text}`);
  return m[0];
}

/**
 * The answer to an action deferred publicly that did not go ahead: the public response says so in
 * one line without the reason, the reason comes in an ephemeral follow-up (flags 64). Returns it.
 */
async function privately(x: Setup, id: string): Promise<string> {
  const f = await x.lb.waitFor(() => x.lb.interactions.get(id)?.followups[0], `the ephemeral follow-up of ${id}`);
  const rec = x.lb.interactions.get(id)!;
  expect(rec.callbacks[0].type).toBe(5);
  expect((rec.callbacks[0].data?.flags as number | undefined) ?? 0).toBe(0);
  expect(textOf(rec.original!)).toMatch(new RegExp(`did not go ahead; the reason was shown only to <@\\d+>\\.$`));
  expect(((f.flags as number) & 64)).toBe(64);
  const text = textOf(f);
  expect(textOf(rec.original!)).not.toContain(text.slice(2, 40));
  return text;
}

/** The run's card in the channel (the message its thread hangs from). */
function cardOf(x: Setup, run: string): LoopbackMessage | undefined {
  return x.lb.messagesIn(x.channel).find((m) => m.thread_id && textOf(m as never).includes(run));
}

async function audit(x: Setup, actor: string): Promise<{ actor: string; action: string; target: string }[]> {
  const r = await cli(['audit', '--actor', actor, '--json'], x.h.env);
  const a = JSON.parse(r.stdout) as { items?: { actor: string; action: string; target: string }[] } | { actor: string; action: string; target: string }[];
  return Array.isArray(a) ? a : (a.items ?? []);
}

/** A run whose one step analyses samples with a slow endpoint: it ends with findings and a series to chart. */
function profileWorkflow(): string {
  const iterations = slowEndpointIterations();
  return `id: profile_mini
params:
  service: { type: string, default: api }
tools: [ops.analyze_samples]
notifications: [start, completion, errors]
steps:
  - id: analyze
    tool: ops.analyze_samples
    with:
      iterations: ${JSON.stringify(iterations)}
      interval: 1m
`;
}

describe('the Discord bridge through the real daemon', () => {
  it('registers /opstream, starts a run from it with a thread and a card edited in place, answers status, and the first decision wins (CLI before a button)', async () => {
    s = await setup();
    const x = s;
    const reg = x.lb.commands.get(x.lb.guildId)?.[0] as { name: string; options: { name: string }[] };
    expect(reg.name).toBe('opstream');
    expect(reg.options.map((o) => o.name).sort()).toEqual(['approve', 'ask', 'cancel', 'help', 'list', 'pause', 'reject', 'resume', 'start', 'status']);

    const start = x.lb.command(BOB, 'start', { workflow: 'gate', args: 'checkout-api' });
    x.lb.deliver(start);
    const said = await x.lb.answerOf(start.id);
    expect(said).toMatch(/Started gate r_/);
    // deferred first (type 5), then the original response edited
    expect(x.lb.interactions.get(start.id)?.callbacks.map((c) => c.type)).toEqual([5]);
    const id = runIdIn(said);
    const run = await runOf(x, id);
    expect(run.params.service).toBe('checkout-api');
    expect(run.trigger).toBe('discord');
    // the interaction's token was kept only to answer it: once answered, the store has when it came, not the token
    const token = String(start.payload.token);
    const rec = await waitFor(async () => {
      const r = await x.d.ctx.store.get<Record<string, unknown>>('meta', `discord_ix:${start.id}`);
      return r?.state === 'done' ? r : null;
    }, { what: 'the interaction to be recorded as answered' });
    expect(Object.keys(rec).sort()).toEqual(['at', 'state']);
    expect(JSON.stringify(await x.d.ctx.store.entries('meta', { gte: 'discord_', lt: 'discord_~' }))).not.toContain(token);
    expect(readFileSync(x.d.ctx.paths.logFile, 'utf8')).not.toContain(token);

    // the card waits with Approve/Reject buttons bound to the run and step
    const card = await x.lb.waitFor(() => {
      const c = cardOf(x, id);
      return c && c.components.length ? c : null;
    }, 'the card with approval buttons');
    expect(card.thread_id).toBeTruthy();
    const approve = card.components[0].components.find((b) => b.label === 'Approve');
    expect(approve?.custom_id).toBe(`op|approve|${id}|ask|-`);

    const st = x.lb.command(VIC, 'status', { run: id });
    x.lb.deliver(st);
    expect(await x.lb.answerOf(st.id)).toMatch(new RegExp(`${id} gate waiting`));

    // the CLI decides first; the button then changes nothing and says who decided
    const viaCli = await cli(['approve', id], x.h.env);
    expect(viaCli.code, viaCli.stderr).toBe(0);
    const click = x.lb.click(BOB, card.id, approve!.custom_id!);
    x.lb.deliver(click);
    expect(await x.lb.answerOf(click.id)).toMatch(/already approved by cli:/);
    const done = await waitFor(async () => ((await runOf(x, id)).status === 'succeeded' ? runOf(x, id) : null), { what: 'the run to succeed', timeoutMs: 60_000 });
    expect(done.decisions?.filter((d) => d.step === 'ask')).toHaveLength(1);
    // the card was edited in place to the end state, its buttons gone
    const end = await x.lb.waitFor(() => {
      const c = cardOf(x, id);
      return c && c.components.length === 0 && /succeeded/.test(textOf(c as never)) ? c : null;
    }, 'the card to show success without buttons');
    expect(end.edits).toBeGreaterThan(1);
    // the thread tells what happened: the approval asked, who answered, the end
    const thread = await x.lb.waitFor(() => {
      const t = x.lb.messagesIn(end.thread_id!).map((m) => m.content);
      return t.some((c) => c.includes(`gate ${id} succeeded`)) ? t : null;
    }, 'the completion in the thread');
    expect(thread.join('\n')).toMatch(/Approval needed at ask: Restart checkout-api\?/);
    expect(thread.join('\n')).toMatch(/Approved by cli:/);
  }, 120_000);

  it('approves from the button; refuses a viewer and a stranger ephemerally with audit entries as discord:<id>; a button of an ended run changes nothing', async () => {
    s = await setup();
    const x = s;
    const refused = x.lb.command(VIC, 'start', { workflow: 'gate', args: 'api' });
    x.lb.deliver(refused);
    expect(await x.lb.answerOf(refused.id)).toMatch(/needs the operator role and your role is viewer/);
    const cb = x.lb.interactions.get(refused.id)?.callbacks[0];
    expect(cb?.type).toBe(4);
    expect((cb?.data?.flags as number) & 64).toBe(64);
    expect((await x.d.ctx.engine.list({ all: true, limit: 10 })).total).toBe(0);

    const start = x.lb.command(ALICE, 'start', { workflow: 'gate', args: 'api' });
    x.lb.deliver(start);
    const id = runIdIn(await x.lb.answerOf(start.id));
    const card = await x.lb.waitFor(() => {
      const c = cardOf(x, id);
      return c && c.components.length ? c : null;
    }, 'the card with approval buttons');
    const approveId = card.components[0].components[0].custom_id!;

    const stranger = x.lb.click(EVE, card.id, approveId);
    x.lb.deliver(stranger);
    expect(await x.lb.answerOf(stranger.id)).toMatch(/you have no OpStream role here/);
    expect((x.lb.interactions.get(stranger.id)?.callbacks[0]?.data?.flags as number) & 64).toBe(64);
    expect((await runOf(x, id)).status).toBe('waiting');

    const ok = x.lb.click(BOB, card.id, approveId);
    x.lb.deliver(ok);
    expect(await x.lb.answerOf(ok.id)).toMatch(new RegExp(`Approved ${id} by discord:${BOB.id}`));
    await waitFor(async () => (await runOf(x, id)).status === 'succeeded', { what: 'the run to succeed', timeoutMs: 60_000 });

    // the same button after the run ended: nothing changes, the person is told why
    const late = x.lb.click(ALICE, card.id, approveId);
    x.lb.deliver(late);
    expect(await x.lb.answerOf(late.id)).toMatch(/already approved by discord:222222/);

    expect((await audit(x, `discord:${VIC.id}`)).some((a) => a.action === 'discord.refused' && /runs\.start/.test(a.target))).toBe(true);
    expect((await audit(x, `discord:${EVE.id}`)).some((a) => a.action === 'discord.refused' && /runs\.approve/.test(a.target))).toBe(true);
    expect((await audit(x, `discord:${BOB.id}`)).some((a) => a.action === 'runs.approve')).toBe(true);
  }, 120_000);

  it('messages that mention the bot: plain words start a workflow, "fix it" in a run thread decides it (roles as for the button, refusals audited), a question there is answered; other messages are not read', async () => {
    s = await setup();
    const x = s;
    const bot = `<@${x.lb.botUser.id}>`;
    const replyIn = (channel: string, re: RegExp, what: string): Promise<LoopbackMessage> => x.lb.waitFor(() => x.lb.messagesIn(channel).find((m) => re.test(m.content)), what);

    // the chat layer's intent parser maps the sentence; the start is Bob's, from Discord
    x.lb.message(BOB, x.channel, `${bot} please gate checkout-api`);
    const id = runIdIn((await replyIn(x.channel, /Started gate r_/, 'the start reply')).content);
    const run = await runOf(x, id);
    expect(run.trigger).toBe('discord');
    expect(run.params.service).toBe('checkout-api');
    const card = await x.lb.waitFor(() => {
      const c = cardOf(x, id);
      return c && c.components.length ? c : null;
    }, 'the card with approval buttons');
    const thread = card.thread_id!;

    // a viewer's "fix it" is refused (and audited); nothing is decided
    x.lb.message(VIC, thread, `${bot} fix it`);
    expect((await replyIn(thread, /needs the operator role/, 'the refusal')).content).toMatch(/your role is viewer\. Nothing was done\./);
    // without the mention Discord does not give the bot the text (no MessageContent intent): not read
    x.lb.message(BOB, thread, 'fix it');
    x.lb.message(VIC, thread, `${bot} why is it waiting?`);
    await replyIn(thread, /It is waiting for an approval: Restart checkout-api\?/, 'the answer to the question');
    expect((await runOf(x, id)).status).toBe('waiting');

    x.lb.message(BOB, thread, `${bot} fix it`);
    await replyIn(thread, new RegExp(`Approved by <@${BOB.id}>; going ahead\\.`), 'the decision reply');
    const done = await waitFor(async () => ((await runOf(x, id)).status === 'succeeded' ? runOf(x, id) : null), { what: 'the run to succeed', timeoutMs: 60_000 });
    expect(done.decisions?.map((d) => [d.by, d.decision, d.comment])).toEqual([[`discord:${BOB.id}`, 'approved', '"fix it" in Discord']]);
    expect((await audit(x, `discord:${VIC.id}`)).map((a) => a.target)).toContainEqual(expect.stringMatching(new RegExp(`^runs\\.approve \\(${id} ask \\(thread reply "fix it"\\)\\)$`)));

    // someone without a role is told so, and nothing is understood on their behalf
    x.lb.message(EVE, x.channel, `${bot} gate api`);
    await replyIn(x.channel, /you have no OpStream role here/, 'the refusal of a stranger');
    expect((await x.d.ctx.engine.list({ all: true, limit: 10 })).total).toBe(1);
  }, 120_000);

  it('config: ids must be quoted, the channel is required, roles are named; doctor says a refused token in one line without printing it', async () => {
    const lb = await startDiscordLoopback();
    const h = tempHome('ops-dcc-');
    try {
      writeFileSync(`${h.home}/config.yaml`, ['discord:', '  token: x', '  application_id: 123456789012345678', '  roles: { "111": boss }'].join('\n'));
      const bad = await cli(['doctor'], h.env);
      expect(bad.code).not.toBe(0);
      expect(bad.stdout).toMatch(/discord\.application_id: a Discord id must be written in quotes/);
      expect(bad.stdout).toMatch(/discord\.channel: required: a Discord id/);
      expect(bad.stdout).toMatch(/discord\.roles\.111: .*admin/);
      const wrong = 'MTAw.wrong-token-value.xyz';
      writeFileSync(`${h.home}/config.yaml`, ['discord:', '  token: ${DISCORD_TOKEN}', `  application_id: "${lb.applicationId}"`, '  channel: "789000000000000000"', `  api_url: ${lb.apiUrl}`].join('\n'));
      const refused = await cli(['doctor'], { ...h.env, DISCORD_TOKEN: wrong });
      expect(refused.stdout).toMatch(/discord .*Discord refused the bot token \(401 Unauthorized\)/);
      expect(refused.stdout + refused.stderr).not.toContain(wrong);
    } finally {
      await h.cleanup();
      await lb.close();
    }
  }, 60_000);

  it('a run started from the CLI that needs an approval gets a card and thread in the channel; its button decides it', async () => {
    s = await setup();
    const x = s;
    const started = await cli(['start', 'gate', 'billing', '--json'], x.h.env);
    expect(started.code, started.stderr).toBe(0);
    const id = (JSON.parse(started.stdout) as { id: string }).id;
    const card = await x.lb.waitFor(() => {
      const c = cardOf(x, id);
      return c && c.components.length ? c : null;
    }, 'the card of a CLI run waiting for approval');
    await x.lb.waitFor(() => x.lb.messagesIn(card.thread_id!).some((m) => m.content.includes('Restart billing?')), 'the approval asked in the thread');
    const click = x.lb.click(BOB, card.id, card.components[0].components[0].custom_id!);
    x.lb.deliver(click);
    expect(await x.lb.answerOf(click.id)).toMatch(/Approved/);
    const done = await waitFor(async () => ((await runOf(x, id)).status === 'succeeded' ? runOf(x, id) : null), { what: 'the run to succeed', timeoutMs: 60_000 });
    expect(done.decisions?.[0]?.by).toBe(`discord:${BOB.id}`);
  }, 120_000);

  it('a run that analysed samples ends with its findings and a PNG chart of the worst series in its thread', async () => {
    s = await setup();
    const x = s;
    const start = x.lb.command(ALICE, 'start', { workflow: 'profile_mini' });
    x.lb.deliver(start);
    const id = runIdIn(await x.lb.answerOf(start.id));
    const done = await x.lb.waitFor(() => {
      const c = cardOf(x, id);
      return c?.thread_id ? x.lb.messagesIn(c.thread_id).find((m) => m.content.includes(`profile_mini ${id} succeeded`)) : null;
    }, 'the completion in the thread', 60_000);
    expect(done.content).toMatch(/latency|slow|p95/i);
    expect(done.files).toEqual([`${id}-chart.png`]);
    expect(done.fileBytes[0]).toBeGreaterThan(2000);
  }, 120_000);

  it('resumes after op 7 and answers an interaction sent while away once; an interaction delivered twice acts once', async () => {
    s = await setup();
    const x = s;
    await x.lb.reconnect();
    const away = x.lb.command(BOB, 'start', { workflow: 'gate', args: 'while-away' });
    x.lb.deliver(away);
    const said = await x.lb.answerOf(away.id, 30_000);
    expect(said).toMatch(/Started gate/);
    expect(x.lb.resumes).toBe(1);
    expect(x.lb.identifies).toBe(1);
    await waitFor(() => x.d.ctx.discord?.status().reconnects === 1, { what: 'the bridge to count the resume' });

    // the same INTERACTION_CREATE twice (as a replay would): one run, one acknowledgement
    x.lb.deliver(away);
    const twice = x.lb.command(BOB, 'start', { workflow: 'gate', args: 'twice' });
    x.lb.deliver(twice);
    x.lb.deliver(twice);
    await x.lb.answerOf(twice.id);
    const help = x.lb.command(BOB, 'help');
    x.lb.deliver(help);
    await x.lb.answerOf(help.id);
    const runs = (await x.d.ctx.engine.list({ all: true, limit: 20 })).runs;
    expect(runs.map((r) => r.params.service).sort()).toEqual(['twice', 'while-away']);
    expect(x.lb.calls.filter((c) => c.path.includes(`/interactions/${twice.id}/`))).toHaveLength(1);
    expect(x.lb.calls.filter((c) => c.path.includes(`/interactions/${away.id}/`))).toHaveLength(1);

    // a resumable invalid session resumes; a non-resumable one identifies again; commands still work
    x.lb.invalidSession(true);
    await x.lb.waitFor(() => x.lb.resumes === 2, 'a second resume');
    // (Discord sends no op 9 right after RESUMED: let the client take the resume first)
    await waitFor(() => x.d.ctx.discord?.status().reconnects === 2, { what: 'the bridge to count the second resume' });
    x.lb.invalidSession(false);
    await x.lb.waitFor(() => x.lb.identifies === 2 && x.lb.connected, 'a new session', 30_000);
    const after = x.lb.command(BOB, 'list');
    x.lb.deliver(after);
    expect(await x.lb.answerOf(after.id, 30_000)).toMatch(/Active runs \(2\)/);

    // the interaction ids are kept in the store: after a daemon restart the same start acts nothing
    await x.d.stop();
    const again = await startDaemon(x.h.env);
    if (again.kind !== 'started') throw new Error('no restart');
    x.d = again.daemon;
    await waitFor(() => x.d.ctx.discord?.status().state === 'connected', { what: 'the bridge after the restart', timeoutMs: 30_000 });
    x.lb.deliver(twice);
    const probe = x.lb.command(BOB, 'help');
    x.lb.deliver(probe);
    await x.lb.answerOf(probe.id);
    expect((await x.d.ctx.engine.list({ all: true, limit: 20 })).total).toBe(2);
    expect(x.lb.calls.filter((c) => c.path.includes(`/interactions/${twice.id}/`))).toHaveLength(1);
  }, 120_000);

  it('bad input gets a clear reply and starts nothing; a malformed gateway payload is logged and skipped; the token is in no log or audit entry', async () => {
    s = await setup();
    const x = s;
    const cases: [ReturnType<DiscordLoopback['command']>, RegExp][] = [
      [x.lb.command(BOB, 'frobnicate'), /Unknown subcommand "frobnicate"/],
      [x.lb.command(BOB, 'start', {}), /needs the workflow option/],
      [x.lb.command(BOB, 'start', { workflow: 'no-such-flow' }), /There is no workflow "no-such-flow"/],
    ];
    for (const [ix, want] of cases) {
      x.lb.deliver(ix);
      expect(await x.lb.answerOf(ix.id)).toMatch(want);
    }
    // bad params found after the public defer: a short public line, the details only for the person
    const noService = x.lb.command(BOB, 'start', { workflow: 'gate' });
    x.lb.deliver(noService);
    expect(await privately(x, noService.id)).toMatch(/service/);
    const badRun = x.lb.command(BOB, 'cancel', { run: 'nonsense' });
    x.lb.deliver(badRun);
    expect(await privately(x, badRun.id)).toMatch(/is not a run id/);
    // nothing started, and no card was posted for a start that failed its checks
    expect((await x.d.ctx.engine.list({ all: true, limit: 10 })).total).toBe(0);
    expect(x.lb.messagesIn(x.channel)).toHaveLength(0);
    // malformed: not JSON at all, and an INTERACTION_CREATE without the fields an interaction has
    x.lb.sendRaw('{"op":0,"t":"INTERACTION_CREATE",');
    x.lb.dispatch('INTERACTION_CREATE', { id: 'not-a-snowflake' });
    const logFile = x.d.ctx.paths.logFile;
    await waitFor(() => readFileSync(logFile, 'utf8').includes('skipped a malformed gateway payload"'), { what: 'the malformed interaction to be logged' });
    // the frame that is not JSON at all: discord.js drops it silently, the bridge says so in one line (its size only)
    const notJsonLines = (): string[] => readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('skipped a malformed gateway payload (not JSON)'));
    await waitFor(() => notJsonLines().length > 0, { what: 'the non-JSON frame to be logged' });
    const notJson = notJsonLines();
    expect(notJson).toHaveLength(1);
    expect(JSON.parse(notJson[0])).toMatchObject({ bytes: 33 });

    // the run channel was deleted: the start is refused with a clear reply, nothing starts
    x.lb.deleteChannel(x.channel);
    const start = x.lb.command(BOB, 'start', { workflow: 'gate', args: 'api' });
    x.lb.deliver(start);
    expect(await privately(x, start.id)).toMatch(/Not started: the run channel 789000000000000000 is unknown to Discord/);
    expect((await x.d.ctx.engine.list({ all: true, limit: 10 })).total).toBe(0);
    await waitFor(() => readFileSync(logFile, 'utf8').includes('Unknown Channel'), { what: 'the 404 in the log' });

    // the daemon is alive and the bridge still answers
    const help = x.lb.command(VIC, 'help');
    x.lb.deliver(help);
    expect(await x.lb.answerOf(help.id)).toMatch(/You are a viewer/);
    const st = await cli(['discord', 'status', '--json'], x.h.env);
    expect(JSON.parse(st.stdout)).toMatchObject({ state: 'connected', command_registered: true, application_id: x.lb.applicationId });

    // workflow names are offered while typing
    const ac = x.lb.autocomplete(BOB, 'start', 'workflow', 'ga');
    x.lb.deliver(ac);
    const choices = await x.lb.waitFor(() => x.lb.interactions.get(ac.id)?.callbacks[0], 'the autocomplete answer');
    expect(choices.type).toBe(8);
    expect(choices.data?.choices).toEqual([{ name: 'gate', value: 'gate' }]);

    const inv = JSON.parse((await cli(['discord', 'invite', '--json'], x.h.env)).stdout) as { url: string; permissions: string };
    // Send Messages 2048 + Embed Links 16384 + Attach Files 32768 + Read Message History 65536 + Create Public Threads 2^35 + Send Messages in Threads 2^38
    expect(inv.permissions).toBe(String(2048 + 16384 + 32768 + 65536 + 2 ** 35 + 2 ** 38));
    expect(inv.url).toContain(`client_id=${x.lb.applicationId}`);
    expect(new URL(inv.url).searchParams.get('scope')).toBe('bot applications.commands');

    const doctor = await cli(['doctor', '--json'], x.h.env);
    expect(doctor.stdout).toMatch(/token accepted \(bot opstream-bot/);

    const everything = readFileSync(logFile, 'utf8') + JSON.stringify(await audit(x, `discord:${BOB.id}`)) + doctor.stdout + st.stdout;
    expect(everything).not.toContain(x.lb.token);
  }, 120_000);
});
