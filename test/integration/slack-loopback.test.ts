import { LogLevel, SocketModeClient, type Logger } from '@slack/socket-mode';
import { ErrorCode, WebAPIPlatformError, WebClient } from '@slack/web-api';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startSlackLoopback, type SlackLoopback, type SlackLoopbackOptions } from '../support/slack-loopback.js';

// The loopback is only useful if the OFFICIAL clients cannot tell it from Slack. Everything here drives it
// with @slack/socket-mode and @slack/web-api exactly as the bridge will, and never sleeps: every wait is
// on an event (a connection saying hello, a close, an ack, a recorded call, a message appearing).

/** Reconnect delay of @slack/socket-mode 3.1 is clientPingTimeout x consecutive failures; pongs must come
 *  back within it. 2 s keeps reconnects quick without false "pong wasn't received" on a busy 2-core box. */
const CLIENT_PING_TIMEOUT = 2000;

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  // Clients first: a Socket Mode client whose server vanished keeps retrying apps.connections.open.
  while (cleanups.length > 0) await cleanups.pop()?.();
});

function captureLogger(lines: string[]): Logger {
  let level = LogLevel.INFO;
  const push = (lvl: string) => (...msg: unknown[]): void => {
    lines.push(`${lvl} ${msg.map(String).join(' ')}`);
  };
  return {
    debug: () => {},
    info: push('info'),
    warn: push('warn'),
    error: push('error'),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}

async function loopback(opts: SlackLoopbackOptions = {}): Promise<SlackLoopback> {
  const lb = await startSlackLoopback(opts);
  cleanups.push(() => lb.close());
  return lb;
}

async function socketClient(lb: SlackLoopback): Promise<{ client: SocketModeClient; logs: string[] }> {
  const logs: string[] = [];
  const client = new SocketModeClient({
    appToken: lb.appToken,
    logger: captureLogger(logs),
    clientPingTimeout: CLIENT_PING_TIMEOUT,
    serverPingTimeout: 30_000,
    clientOptions: { slackApiUrl: lb.apiUrl },
  });
  cleanups.push(() => client.disconnect());
  await client.start();
  return { client, logs };
}

function webClient(lb: SlackLoopback, token = lb.botToken): WebClient {
  return new WebClient(token, { slackApiUrl: lb.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logger: captureLogger([]) });
}

function nextEvent<T>(client: SocketModeClient, name: string): Promise<T> {
  return new Promise<T>((resolve) => client.once(name, (arg: T) => resolve(arg)));
}

async function platformError(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WebAPIPlatformError);
  return (err as WebAPIPlatformError).data.error;
}

describe('slack loopback: Socket Mode with the real SocketModeClient', () => {
  it('says hello, delivers a slash command and events, records acks, and retries an unacked event', async () => {
    const lb = await loopback();
    const { client } = await socketClient(lb);

    expect(lb.connections()).toBe(1);
    expect(lb.calls('apps.connections.open')).toMatchObject([{ tokenKind: 'app', response: { ok: true } }]);
    expect(lb.envelopes('hello')[0].frame).toMatchObject({ type: 'hello', num_connections: 1, connection_info: { app_id: lb.appId } });

    // Slash command: acked with a payload, which Slack shows the invoking user.
    const bodies: Array<Record<string, unknown>> = [];
    client.on('slash_commands', async ({ ack, body }: { ack: (r?: Record<string, unknown>) => Promise<void>; body: Record<string, unknown> }) => {
      bodies.push(body);
      await ack({ text: 'On it' });
    });
    const slash = await lb.slashCommand({ text: 'run disk-check', user_id: 'U0ALICE', channel_id: '#ops-alerts' });
    expect(slash.outcome).toBe('acked');
    expect(slash.ack?.payload).toEqual({ text: 'On it' });
    expect(bodies[0]).toMatchObject({ command: '/opstream', text: 'run disk-check', user_id: 'U0ALICE', channel_id: 'C0OPSALERTS' });
    expect(String(bodies[0].response_url)).toMatch(new RegExp(`^${lb.baseUrl}/commands/`));
    expect(lb.acks()).toMatchObject([{ envelope_id: slash.attempts[0].envelope_id, attempt: 0, late: false }]);
    expect(lb.ephemerals('#ops-alerts')).toMatchObject([{ user: 'U0ALICE', text: 'On it', source: 'ack' }]);

    // events_api: emitted by the client under the inner event type.
    const mentions: Array<{ event: Record<string, unknown>; retry_num: number }> = [];
    client.on('app_mention', async ({ ack, event, retry_num }: { ack: () => Promise<void>; event: Record<string, unknown>; retry_num: number }) => {
      mentions.push({ event, retry_num });
      await ack();
    });
    const mention = await lb.event({ type: 'app_mention', channel: '#ops-alerts', user: 'U0BOB', text: `<@${lb.botUserId}> status?` });
    expect(mention.outcome).toBe('acked');
    expect(mentions).toMatchObject([{ retry_num: 0, event: { type: 'app_mention', channel: 'C0OPSALERTS', user: 'U0BOB', text: `<@${lb.botUserId}> status?` } }]);
    // The mention is in the channel as people see it.
    expect(lb.messages('#ops-alerts').map((m) => m.text)).toEqual([`<@${lb.botUserId}> status?`]);

    // Not acked the first time: Slack re-sends with retry_attempt 1 / retry_reason 'timeout', same event_id.
    const seen: Array<{ retry_num: number; retry_reason: string; event_id: unknown }> = [];
    client.on('message', async ({ ack, body, retry_num, retry_reason }: { ack: () => Promise<void>; body: Record<string, unknown>; retry_num: number; retry_reason: string }) => {
      seen.push({ retry_num, retry_reason, event_id: body.event_id });
      if (retry_num >= 1) await ack();
    });
    const retried = await lb.event({ type: 'message', channel: '#ops-alerts', user: 'U0BOB', text: 'anyone?' }, { ackTimeoutMs: 300 });
    expect(retried.outcome).toBe('acked');
    expect(retried.ack?.attempt).toBe(1);
    expect(retried.attempts[1].frame).toMatchObject({ retry_attempt: 1, retry_reason: 'timeout' });
    expect(seen.slice(0, 2).map((s) => [s.retry_num, s.retry_reason])).toEqual([
      [0, ''],
      [1, 'timeout'],
    ]);
    expect(seen[1].event_id).toBe(seen[0].event_id);
    expect(retried.attempts[1].envelope_id).not.toBe(retried.attempts[0].envelope_id);
  });

  it('a slash command nobody acks times out without retry, like Slack', async () => {
    const lb = await loopback();
    await socketClient(lb); // no slash_commands listener: nothing acks
    const d = await lb.slashCommand({ text: 'ignored', ackTimeoutMs: 200 });
    expect(d.outcome).toBe('timeout');
    expect(d.attempts).toHaveLength(1);
  });

  it('disconnect frames (refresh_requested, and even warning) make the 3.1 client close at once and reconnect', async () => {
    const lb = await loopback({ warningGraceMs: 60_000 });
    const { client } = await socketClient(lb);

    const reconnected = nextEvent(client, 'connected');
    expect(lb.disconnect('refresh_requested')).toBe(1);
    await lb.waitForConnection(2);
    await reconnected;
    const first = await lb.waitForClose(1);
    expect(first).toMatchObject({ disconnectReason: 'refresh_requested', closeCode: 1000 });
    // The client fetched a fresh ticket with its app token before reconnecting.
    const reopened = await lb.waitForCall('apps.connections.open', (c) => c.seq > lb.calls('apps.connections.open')[0].seq);
    expect(reopened).toMatchObject({ tokenKind: 'app', response: { ok: true } });

    // 'warning': Slack would keep the socket for warningGraceMs (60 s here); the client leaves right away.
    const reconnectedAgain = nextEvent(client, 'connected');
    lb.disconnect('warning');
    const second = await lb.waitForClose(2);
    expect(second).toMatchObject({ disconnectReason: 'warning', closeCode: 1000 });
    await lb.waitForConnection(3);
    await reconnectedAgain;

    // Envelopes go to the live connection only.
    client.on('app_mention', async ({ ack }: { ack: () => Promise<void> }) => ack());
    const d = await lb.event({ type: 'app_mention', channel: '#ops-alerts', user: 'U0ALICE', text: 'hi' });
    expect(d.outcome).toBe('acked');
    expect(d.attempts.map((a) => a.connectionId)).toEqual([3]);
  });

  it('a dropped TCP connection (no close frame) leads to a reconnect', async () => {
    const lb = await loopback();
    const { client } = await socketClient(lb);
    const reconnected = nextEvent(client, 'connected');
    expect(lb.dropTcp()).toBe(1);
    const first = await lb.waitForClose(1);
    expect(first.closeCode).toBe(1006);
    await lb.waitForConnection(2);
    // Also wait for the client side: disconnect() during a reconnect handshake makes 3.1 reject the
    // internal start() promise unhandled.
    await reconnected;
    expect(lb.connections()).toBe(1);
  });

  it('a silent connection swallows envelopes until the client notices missing pongs and reconnects', async () => {
    const lb = await loopback();
    const { client, logs } = await socketClient(lb);
    client.on('app_mention', async ({ ack }: { ack: () => Promise<void> }) => ack());

    const reconnected = nextEvent(client, 'connected');
    expect(lb.goSilent()).toBe(1);
    const lost = await lb.event({ type: 'app_mention', channel: '#ops-alerts', user: 'U0ALICE', text: 'lost' }, { ackTimeoutMs: 200, maxRetries: 0 });
    expect(lost.outcome).toBe('timeout');
    expect(lost.attempts[0]).toMatchObject({ connectionId: 1, swallowed: true });

    await lb.waitForConnection(2, 30_000);
    await reconnected;
    expect(logs.some((l) => l.includes("pong wasn't received"))).toBe(true);
    const ok = await lb.event({ type: 'app_mention', channel: '#ops-alerts', user: 'U0ALICE', text: 'after' });
    expect(ok.outcome).toBe('acked');
    expect(ok.ack?.connectionId).toBe(2);
  });

  it('interactivity: block_actions carries the stored message, and response_url answers 5 times', async () => {
    const lb = await loopback();
    const { client } = await socketClient(lb);
    const web = webClient(lb);
    const posted = await web.chat.postMessage({
      channel: '#ops-alerts',
      text: 'Approve restart?',
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: 'Approve restart of *api*?' } },
        { type: 'actions', elements: [{ type: 'button', action_id: 'approve', text: { type: 'plain_text', text: 'Approve' }, value: 'run-1' }] },
      ],
    });
    const ts = String(posted.ts);

    const actions: Array<Record<string, unknown>> = [];
    client.on('interactive', async ({ ack, body }: { ack: () => Promise<void>; body: Record<string, unknown> }) => {
      actions.push(body);
      await ack();
    });
    const d = await lb.blockAction({ user: 'U0BOB', channel: '#ops-alerts', message: { ts }, actions: [{ action_id: 'approve', value: 'run-1' }] });
    expect(d.outcome).toBe('acked');
    expect(actions[0]).toMatchObject({
      type: 'block_actions',
      user: { id: 'U0BOB' },
      channel: { id: 'C0OPSALERTS' },
      container: { message_ts: ts },
      message: { ts, text: 'Approve restart?', blocks: [{ type: 'section' }, { type: 'actions' }] },
      actions: [{ action_id: 'approve', value: 'run-1', type: 'button' }],
    });

    const responseUrl = String(actions[0].response_url);
    const post = (body: Record<string, unknown>): Promise<Response> =>
      fetch(responseUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const first = await post({ replace_original: true, text: 'Approved by bob' });
    expect(await first.json()).toEqual({ ok: true });
    expect(lb.transcript('#ops-alerts')).toBe('opstream: Approved by bob (edited)');
    expect(lb.messages('#ops-alerts')[0].revisions.map((r) => r.by)).toEqual(['post', 'response_url']);
    for (let i = 2; i <= 5; i += 1) expect((await post({ text: `note ${i}` })).status).toBe(200);
    const sixth = await post({ text: 'one too many' });
    expect(sixth.status).toBe(404);
    expect(await sixth.json()).toEqual({ ok: false, error: 'used_url' });
    expect(lb.ephemerals('#ops-alerts').map((e) => e.text)).toEqual(['note 2', 'note 3', 'note 4', 'note 5']);

    client.on('interactive', async () => {});
    const view = await lb.viewSubmission({ callback_id: 'pause_run', values: { reason: { text: { type: 'plain_text_input', value: 'maintenance' } } } });
    expect(view.outcome).toBe('acked');
    expect(actions[1]).toMatchObject({ type: 'view_submission', view: { callback_id: 'pause_run', state: { values: { reason: { text: { value: 'maintenance' } } } } } });
  });

  it('connection tickets are single use and need the app token', async () => {
    const lb = await loopback();
    const res = await fetch(`${lb.apiUrl}apps.connections.open`, { method: 'POST', headers: { authorization: `Bearer ${lb.appToken}` } });
    const { ok, url } = (await res.json()) as { ok: boolean; url: string };
    expect(ok).toBe(true);
    expect(url).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:${lb.port}/link/\\?ticket=`));

    const ws1 = new WebSocket(url);
    cleanups.push(() => ws1.terminate());
    const hello = await new Promise<Record<string, unknown>>((resolve) => ws1.once('message', (d) => resolve(JSON.parse(String(d)) as Record<string, unknown>)));
    expect(hello).toMatchObject({ type: 'hello', num_connections: 1 });

    const ws2 = new WebSocket(url);
    ws2.on('error', () => {});
    const status = await new Promise<number | undefined>((resolve) => ws2.once('unexpected-response', (_req, r) => resolve(r.statusCode)));
    expect(status).toBe(401);
    expect(lb.refusedConnections()).toMatchObject([{ why: 'ticket_already_used' }]);

    expect(await platformError(webClient(lb).apps.connections.open({}))).toBe('not_allowed_token_type');
    expect(await platformError(webClient(lb, 'xapp-1-A0NOPE-1-bogus').apps.connections.open({}))).toBe('invalid_auth');
  });
});

describe('slack loopback: Web API with the real WebClient', () => {
  it('posts, threads, updates and reads back what a person sees', async () => {
    const lb = await loopback();
    const web = webClient(lb);

    expect(await web.auth.test()).toMatchObject({ ok: true, user_id: lb.botUserId, team_id: lb.teamId, bot_id: lb.botId });

    const blocks = [
      { type: 'header', text: { type: 'plain_text', text: 'Disk check' } },
      { type: 'section', text: { type: 'mrkdwn', text: '*/var* at 91%' } },
    ];
    const posted = await web.chat.postMessage({ channel: '#ops-alerts', text: 'Disk check: /var at 91%', blocks });
    expect(posted).toMatchObject({ ok: true, channel: 'C0OPSALERTS', ts: expect.stringMatching(/^\d{10}\.\d{6}$/) });
    const ts = String(posted.ts);
    // Form post: blocks travelled as a JSON string and were parsed back.
    const call = lb.calls('chat.postMessage')[0];
    expect(call.contentType).toContain('application/x-www-form-urlencoded');
    expect(typeof call.args.blocks).toBe('string');
    expect(call.tokenKind).toBe('bot');
    expect(lb.messages('C0OPSALERTS')[0].blocks).toMatchObject(blocks);

    const reply = await web.chat.postMessage({ channel: 'C0OPSALERTS', thread_ts: ts, text: 'cleaning /var/log' });
    expect(Number(reply.ts) > Number(ts)).toBe(true);
    await web.chat.update({ channel: 'C0OPSALERTS', ts, text: 'Disk check: fixed', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*/var* back to 40%' } }] });

    const [parent] = lb.messages('#ops-alerts');
    expect(parent).toMatchObject({ ts, reply_count: 1, edited: { user: lb.botUserId } });
    expect(parent.revisions.map((r) => r.text)).toEqual(['Disk check: /var at 91%', 'Disk check: fixed']);
    expect(lb.thread('#ops-alerts', ts).map((m) => m.text)).toEqual(['Disk check: fixed', 'cleaning /var/log']);
    expect(lb.transcript('#ops-alerts')).toBe(['opstream: */var* back to 40% (edited)', '  ↳ opstream: cleaning /var/log'].join('\n'));

    const history = await web.conversations.history({ channel: 'C0OPSALERTS' });
    expect(history.messages).toHaveLength(1);
    expect(history.messages?.[0]).not.toHaveProperty('revisions');
    const replies = await web.conversations.replies({ channel: 'C0OPSALERTS', ts });
    expect(replies.messages?.map((m) => m.text)).toEqual(['Disk check: fixed', 'cleaning /var/log']);
    const link = await web.chat.getPermalink({ channel: 'C0OPSALERTS', message_ts: String(reply.ts) });
    expect(link.permalink).toContain(`?thread_ts=${ts}`);

    // DMs and people.
    const dm = await web.conversations.open({ users: 'U0ALICE' });
    const dmId = String(dm.channel?.id);
    expect(dmId).toMatch(/^D/);
    await web.chat.postMessage({ channel: dmId, text: 'your run finished' });
    expect(lb.messages(dmId).map((m) => m.text)).toEqual(['your run finished']);
    expect((await web.users.info({ user: 'U0ALICE' })).user).toMatchObject({ id: 'U0ALICE', tz: 'Europe/Berlin', tz_offset: 3600 });
    await web.chat.postEphemeral({ channel: '#ops-alerts', user: 'U0BOB', text: 'only you' });
    expect(lb.ephemerals()).toMatchObject([{ user: 'U0BOB', text: 'only you', source: 'chat.postEphemeral' }]);

    // A JSON body (token only in the header) works too; blocks arrive as an array.
    const json = await fetch(`${lb.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { authorization: `Bearer ${lb.botToken}`, 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ channel: 'C0GENERAL', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'json' } }] }),
    });
    expect(await json.json()).toMatchObject({ ok: true, channel: 'C0GENERAL' });
    expect(Array.isArray(lb.calls('chat.postMessage').at(-1)?.args.blocks)).toBe(true);
    const tokenInJson = await fetch(`${lb.apiUrl}auth.test`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: lb.botToken }) });
    expect(await tokenInJson.json()).toEqual({ ok: false, error: 'not_authed' });
  });

  it('answers Slack errors as WebAPIPlatformError with data.error', async () => {
    const lb = await loopback();
    const web = webClient(lb);
    expect(await platformError(web.chat.postMessage({ channel: '#nope', text: 'x' }))).toBe('channel_not_found');
    expect(await platformError(web.chat.postMessage({ channel: '#ops-alerts', text: '' }))).toBe('no_text');
    expect(await platformError(web.chat.update({ channel: '#ops-alerts', ts: '1600000000.000100', text: 'x' }))).toBe('message_not_found');
    expect(await platformError(webClient(lb, 'xoxb-not-a-real-token').chat.postMessage({ channel: '#ops-alerts', text: 'x' }))).toBe('invalid_auth');
    expect(await platformError(new WebClient(undefined, { slackApiUrl: lb.apiUrl, retryConfig: { retries: 0 }, logger: captureLogger([]) }).auth.test())).toBe('not_authed');
    expect(await platformError(web.apiCall('no.such.method'))).toBe('unknown_method');
    expect(await platformError(web.files.getUploadURLExternal({ filename: 'x.txt', length: 0 }))).toBe('invalid_arguments');
    expect(await platformError(web.users.info({ user: 'U0NOBODY' }))).toBe('user_not_found');
    expect(lb.calls().every((c) => c.status === 200 && c.response.ok === false)).toBe(true);
  });

  it('rate limits with HTTP 429 and Retry-After, per method and channel', async () => {
    const lb = await loopback();
    const web = webClient(lb);
    lb.rateLimit('chat.postMessage', { channel: '#ops-alerts', times: 1, retryAfterSec: 7 });

    await expect(web.chat.postMessage({ channel: '#general', text: 'other channel is fine' })).resolves.toMatchObject({ ok: true });
    await expect(web.chat.postMessage({ channel: '#ops-alerts', text: 'limited' })).rejects.toMatchObject({ code: ErrorCode.RateLimitedError, retryAfter: 7 });
    await expect(web.chat.postMessage({ channel: '#ops-alerts', text: 'next one passes' })).resolves.toMatchObject({ ok: true });

    expect(lb.calls('chat.postMessage').map((c) => c.status)).toEqual([200, 429, 200]);
    expect(lb.messages('#ops-alerts').map((m) => m.text)).toEqual(['next one passes']);
  });

  it('files.uploadV2 works end to end and shares asynchronously without a message ts', async () => {
    const lb = await loopback();
    const web = webClient(lb);
    const parent = await web.chat.postMessage({ channel: '#ops-alerts', text: 'Weekly report' });

    const result = await web.files.uploadV2({
      channel_id: 'C0OPSALERTS',
      thread_ts: String(parent.ts),
      filename: 'disk.txt',
      title: 'Disk usage',
      content: '/var 91%\n/home 40%\n',
      initial_comment: 'Report attached',
    });
    expect(result.ok).toBe(true);
    expect(lb.calls().map((c) => c.method)).toEqual(['chat.postMessage', 'files.getUploadURLExternal', 'files.completeUploadExternal']);
    const complete = lb.calls('files.completeUploadExternal')[0];
    expect(typeof complete.args.files).toBe('string'); // JSON string in the form post
    expect(complete.response).not.toHaveProperty('ts');

    const [upload] = lb.uploads();
    expect(upload).toMatchObject({ filename: 'disk.txt', length: 19, completed: true, channel: 'C0OPSALERTS', thread_ts: parent.ts, encoding: 'multipart' });
    expect(upload.bytes?.toString()).toBe('/var 91%\n/home 40%\n');

    const shared = await lb.waitForMessage('#ops-alerts', (m) => m.files?.[0]?.id === upload.file_id);
    expect(shared).toMatchObject({ thread_ts: parent.ts, text: 'Report attached', files: [{ title: 'Disk usage', size: 19 }] });
    expect(lb.uploads()[0].shared_ts).toBe(shared.ts);
    expect(lb.transcript('#ops-alerts', String(parent.ts))).toBe(['opstream: Weekly report', '  ↳ opstream: Report attached', '      [file: Disk usage]'].join('\n'));
  });
});
