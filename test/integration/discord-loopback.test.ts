import { Client, Events, GatewayIntentBits, Routes, type GatewayDispatchPayload } from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import { startDiscordLoopback, type DiscordLoopback } from '../support/discord-loopback.js';

// The loopback Discord checked against discord.js itself: the real client logs in through its REST
// (GET /gateway/bot), opens the gateway, identifies, receives dispatches, resumes after op 7 with
// the dispatches it missed replayed, and re-identifies after a non-resumable op 9.

let lb: DiscordLoopback | null = null;
let client: Client | null = null;

afterEach(async () => {
  await client?.destroy();
  client = null;
  await lb?.close();
  lb = null;
});

async function login(l: DiscordLoopback): Promise<{ c: Client; raws: GatewayDispatchPayload[] }> {
  const c = new Client({ intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages], rest: { api: l.apiUrl } });
  const raws: GatewayDispatchPayload[] = [];
  c.on(Events.Raw, (p: GatewayDispatchPayload) => raws.push(p));
  const ready = new Promise<void>((r) => c.once(Events.ClientReady, () => r()));
  await c.login(l.token);
  await ready;
  return { c, raws };
}

describe('the loopback Discord against discord.js', () => {
  it('logs in, receives an interaction, answers it by defer + edit, resumes after op 7 with the missed dispatch replayed', async () => {
    lb = await startDiscordLoopback();
    const { c, raws } = await login(lb);
    client = c;
    expect(c.user?.id).toBe(lb.botUser.id);
    expect(c.application?.id).toBe(lb.applicationId);
    expect(lb.identifies).toBe(1);
    const identify = lb.received.find((f) => f.op === 2)?.d as { intents: number };
    expect(identify.intents).toBe(GatewayIntentBits.Guilds | GatewayIntentBits.GuildMessages);

    const person = { id: '111', username: 'alice' };
    const ix = lb.command(person, 'help');
    lb.deliver(ix);
    const got = await lb.waitFor(() => raws.find((p) => p.t === 'INTERACTION_CREATE'), 'the interaction at the client');
    expect((got.d as { id: string }).id).toBe(ix.id);
    const token = (got.d as { token: string }).token;
    await c.rest.post(Routes.interactionCallback(ix.id, token), { body: { type: 5 }, auth: false });
    await c.rest.patch(Routes.webhookMessage(lb.applicationId, token, '@original'), { body: { content: 'hello' }, auth: false });
    expect(await lb.answerOf(ix.id)).toBe('hello');
    // a second callback for the same interaction is refused, as Discord does
    await expect(c.rest.post(Routes.interactionCallback(ix.id, token), { body: { type: 5 }, auth: false })).rejects.toThrow(/already been acknowledged/);

    // op 7: the client closes, an interaction arrives while it is away, it resumes and gets it
    await lb.reconnect();
    const away = lb.command(person, 'list');
    lb.deliver(away);
    await lb.waitFor(() => raws.some((p) => p.t === 'RESUMED'), 'RESUMED at the client');
    await lb.waitFor(() => raws.find((p) => p.t === 'INTERACTION_CREATE' && (p.d as { id: string }).id === away.id), 'the interaction sent while away, replayed');
    expect(lb.resumes).toBe(1);
    expect(lb.identifies).toBe(1);
    expect(raws.filter((p) => p.t === 'INTERACTION_CREATE' && (p.d as { id: string }).id === ix.id)).toHaveLength(1);
  }, 60_000);

  it('re-identifies after a non-resumable invalid session, and REST needs the bot token', async () => {
    lb = await startDiscordLoopback();
    const { c, raws } = await login(lb);
    client = c;
    lb.invalidSession(false);
    await lb.waitFor(() => lb!.identifies === 2 && raws.filter((p) => p.t === 'READY').length === 2, 'a second READY', 40_000);
    const bad = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: lb.apiUrl } });
    await expect(bad.login('not-the-token')).rejects.toThrow(/401|Unauthorized|invalid token/i);
    await bad.destroy();
    await c.rest.post(Routes.channelMessages([...lb.channels][0]), { body: { content: 'x' } });
    await expect(c.rest.post(Routes.channelMessages('1'), { body: { content: 'x' } })).rejects.toThrow(/Unknown Channel/);
  }, 60_000);
});
