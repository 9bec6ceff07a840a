import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

/**
 * A loopback Discord for integration tests: one node:http server on 127.0.0.1 (random port) speaking
 * Discord's real wire protocols (API v10, JSON encoding, no compression), so discord.js itself is
 * pointed at it unchanged: `new Client({ intents, rest: { api: lb.apiUrl } })` then `login(lb.token)`.
 *
 * - REST under `/api/v10`: `GET /gateway/bot` (the ws:// URL of this server), `GET /users/@me`,
 *   `PUT /applications/{app}[/guilds/{guild}]/commands` (bulk overwrite), `POST
 *   /interactions/{id}/{token}/callback`, `PATCH|GET /webhooks/{app}/{token}/messages/@original`,
 *   `POST /webhooks/{app}/{token}` (follow-ups), `POST|PATCH /channels/{id}/messages[/{msg}]`,
 *   `POST /channels/{id}/messages/{msg}/threads`. Bot routes need `Authorization: Bot <token>` (401
 *   `{code:0,message:"401: Unauthorized"}` otherwise); interaction routes need the interaction token.
 *   An unknown or deleted channel answers 404 `{code:10003,message:"Unknown Channel"}`; a callback sent
 *   twice answers 400 code 40060 ("Interaction has already been acknowledged"), as Discord does.
 *   Message edits carry rate-limit headers per channel bucket; past the limit a 429 with
 *   `retry_after` (counted in `rateLimited`). `faults` forces answers (5xx, 429) on chosen routes.
 * - Gateway at `/gateway`: HELLO (op 10, heartbeat_interval), IDENTIFY (op 2) -> READY (session_id,
 *   resume_gateway_url), heartbeat (op 1) -> ACK (op 11), DISPATCH (op 0) with a sequence per
 *   session, RESUME (op 6) -> the dispatches after the client's seq are replayed, then RESUMED;
 *   `reconnect()` sends op 7, `invalidSession(resumable)` op 9. Dispatches sent while no connection
 *   is open are kept in the session and replayed on RESUME, as Discord does.
 *
 * Simplifications (deliberate): one application, one bot, one guild; READY lists no guilds (so no
 * GUILD_CREATE is needed before discord.js is ready); no permission model (the bot may post anywhere
 * known); message and thread ids come from a counter.
 */

export interface DiscordLoopbackOptions {
  token?: string;
  applicationId?: string;
  guildId?: string;
  /** Known text channels (ids). Default: ['789']. */
  channels?: string[];
  /** Message edits per channel within `rateWindowMs` before a 429. Default 50. */
  editsPerWindow?: number;
  rateWindowMs?: number;
  heartbeatIntervalMs?: number;
}

export interface RestCall {
  method: string;
  path: string;
  body: unknown;
  auth: string | null;
  status: number;
  at: number;
}

export interface LoopbackMessage {
  id: string;
  channel_id: string;
  content: string;
  embeds: unknown[];
  components: ComponentRow[];
  flags: number;
  /** How many times it was edited. */
  edits: number;
  /** Thread started from this message, if any. */
  thread_id: string | null;
  /** File names of attachments sent with it (multipart `files[n]`). */
  files: string[];
  /** Byte size of each attachment, in order. */
  fileBytes: number[];
}

export interface ComponentRow {
  type: number;
  components: { type: number; custom_id?: string; label?: string; style?: number; disabled?: boolean }[];
}

export interface InteractionRecord {
  id: string;
  token: string;
  /** Callbacks posted for it (type 4/5/6/7...), in order. */
  callbacks: { type: number; data?: Record<string, unknown>; at: number }[];
  /** The original response after edits (content, embeds, components, flags). */
  original: Record<string, unknown> | null;
  followups: Record<string, unknown>[];
  /** When it was (last) dispatched over the gateway: callbacks[0].at - sentAt is the time to acknowledge. */
  sentAt: number;
}

export interface Person {
  id: string;
  username: string;
}

type Dispatch = { op: 0; t: string; s: number; d: unknown };

interface Session {
  id: string;
  seq: number;
  log: Dispatch[];
  ws: WebSocket | null;
  /** Highest seq the client is known to have (from heartbeats and RESUME). */
  acked: number;
}

export async function startDiscordLoopback(opts: DiscordLoopbackOptions = {}): Promise<DiscordLoopback> {
  const lb = new DiscordLoopback(opts);
  await lb.listen();
  return lb;
}

let counter = 1000;
const snowflake = (): string => String(BigInt(Date.now() - 1420070400000) * 4194304n + BigInt(counter++));

export class DiscordLoopback {
  readonly token: string;
  readonly applicationId: string;
  readonly guildId: string;
  /** The gateway intents the client identified with. */
  intents = 0;
  readonly botUser = { id: '900000000000000001', username: 'opstream-bot', discriminator: '0', global_name: null, avatar: null, bot: true };
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private port = 0;
  private readonly heartbeatMs: number;
  readonly calls: RestCall[] = [];
  readonly channels = new Set<string>();
  readonly messages = new Map<string, LoopbackMessage>();
  readonly interactions = new Map<string, InteractionRecord>();
  /** Registered application commands, by scope ('global' or a guild id). */
  readonly commands = new Map<string, Record<string, unknown>[]>();
  /** Gateway frames received from clients (op and d), for assertions. */
  readonly received: { op: number; d: unknown }[] = [];
  readonly sessions = new Map<string, Session>();
  private current: Session | null = null;
  identifies = 0;
  resumes = 0;
  rateLimited = 0;
  /**
   * Answers to force on matching bot REST calls (checked in order, each used `times` times): a 500,
   * a 429 with `retry_after` for any route, as Discord may answer. Calls answered so are logged too.
   */
  readonly faults: { method: string; path: RegExp; status: number; body: unknown; headers?: Record<string, string>; times: number }[] = [];
  private readonly buckets = new Map<string, { n: number; resetAt: number }>();
  private readonly waiters = new Set<() => void>();

  constructor(private readonly opts: DiscordLoopbackOptions) {
    this.token = opts.token ?? `MTAw.${randomBytes(6).toString('hex')}.${randomBytes(16).toString('base64url')}`;
    this.applicationId = opts.applicationId ?? '123000000000000000';
    this.guildId = opts.guildId ?? '456000000000000000';
    for (const c of opts.channels ?? ['789000000000000000']) this.channels.add(c);
    this.heartbeatMs = opts.heartbeatIntervalMs ?? 41_250;
    this.server = createServer((req, res) => void this.rest(req, res));
    this.wss = new WebSocketServer({ noServer: true });
    this.server.on('upgrade', (req, socket, head) => {
      if (!req.url?.startsWith('/gateway')) return socket.destroy();
      this.wss.handleUpgrade(req, socket, head, (ws) => this.gateway(ws, req));
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}/api`;
  }

  get gatewayUrl(): string {
    return `ws://127.0.0.1:${this.port}/gateway`;
  }

  /** Whether a client is connected and identified (or resumed). */
  get connected(): boolean {
    return this.current?.ws?.readyState === WebSocket.OPEN;
  }

  private changed(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Re-checks whenever the loopback's state changes (and every 25 ms for state outside it). */
  async waitFor<T>(check: () => T | null | undefined | false, what: string, timeoutMs = 20_000): Promise<T> {
    const now = check();
    if (now) return now;
    return new Promise<T>((resolve, reject) => {
      // state outside the loopback (a client's view) changes without telling it: re-check now and then too
      const poll = setInterval(() => w(), 25);
      const t = setTimeout(() => {
        clearInterval(poll);
        this.waiters.delete(w);
        reject(new Error(`discord loopback: timed out waiting for ${what}; calls: ${this.calls.slice(-8).map((c) => `${c.method} ${c.path} ${c.status}`).join(', ')}`));
      }, timeoutMs);
      const w = (): void => {
        const v = check();
        if (!v) return;
        clearTimeout(t);
        clearInterval(poll);
        this.waiters.delete(w);
        resolve(v);
      };
      this.waiters.add(w);
    });
  }

  // ------------------------------------------------------------------------------- gateway

  private gateway(ws: WebSocket, req: IncomingMessage): void {
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    if (q.get('v') !== '10' || q.get('encoding') !== 'json') {
      ws.close(4012, 'Invalid API version');
      return;
    }
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: this.heartbeatMs }, s: null, t: null }));
    let session: Session | null = null;
    ws.on('message', (raw) => {
      let p: { op: number; d: unknown };
      try {
        p = JSON.parse(String(raw)) as { op: number; d: unknown };
      } catch {
        ws.close(4002, 'Error while decoding payload.');
        return;
      }
      this.received.push(p);
      if (p.op === 1) {
        if (session && typeof p.d === 'number') session.acked = Math.max(session.acked, p.d);
        ws.send(JSON.stringify({ op: 11, d: null, s: null, t: null }));
      } else if (p.op === 2) {
        const d = p.d as { token?: string; intents?: number };
        if (d.token !== this.token) return ws.close(4004, 'Authentication failed.');
        this.identifies++;
        this.intents = d.intents ?? 0;
        session = { id: randomBytes(16).toString('hex'), seq: 0, log: [], ws, acked: 0 };
        this.sessions.set(session.id, session);
        this.current = session;
        this.dispatch('READY', {
          v: 10,
          user: this.botUser,
          guilds: [],
          session_id: session.id,
          resume_gateway_url: this.gatewayUrl,
          shard: [0, 1],
          application: { id: this.applicationId, flags: 0 },
        });
      } else if (p.op === 6) {
        const d = p.d as { token?: string; session_id?: string; seq?: number };
        const s = d.session_id ? this.sessions.get(d.session_id) : undefined;
        if (d.token !== this.token) return ws.close(4004, 'Authentication failed.');
        if (!s) {
          ws.send(JSON.stringify({ op: 9, d: false, s: null, t: null }));
          return;
        }
        this.resumes++;
        s.ws = ws;
        session = s;
        this.current = s;
        for (const m of s.log) if (m.s > (d.seq ?? 0)) ws.send(JSON.stringify(m));
        this.dispatch('RESUMED', {});
      }
      this.changed();
    });
    ws.on('close', () => {
      if (session?.ws === ws) session.ws = null;
      this.changed();
    });
  }

  /** A DISPATCH (op 0) in the current session; kept for replay when no connection is open. */
  dispatch(t: string, d: unknown): number {
    const s = this.current;
    if (!s) throw new Error('discord loopback: no session (the client never identified)');
    const m: Dispatch = { op: 0, t, s: ++s.seq, d };
    s.log.push(m);
    if (s.ws?.readyState === WebSocket.OPEN) s.ws.send(JSON.stringify(m));
    return m.s;
  }

  /** A raw text frame (e.g. a malformed payload). */
  sendRaw(text: string): void {
    this.current?.ws?.send(text);
  }

  /** Op 7: the client should reconnect and resume. Resolves once the socket it had is closed. */
  async reconnect(): Promise<void> {
    const ws = this.current?.ws;
    if (!ws) throw new Error('discord loopback: not connected');
    ws.send(JSON.stringify({ op: 7, d: null, s: null, t: null }));
    await this.waitFor(() => ws.readyState === WebSocket.CLOSED, 'the client to close the socket after op 7');
  }

  /** Op 9 on the current connection. */
  invalidSession(resumable: boolean): void {
    this.current?.ws?.send(JSON.stringify({ op: 9, d: resumable, s: null, t: null }));
  }

  /** Closes the socket from the server side without a close frame the client expects (a network drop). */
  drop(): void {
    this.current?.ws?.terminate();
  }

  // ------------------------------------------------------------------------------- interactions

  private member(p: Person): Record<string, unknown> {
    return {
      user: { id: p.id, username: p.username, discriminator: '0', global_name: p.username, avatar: null },
      roles: [],
      joined_at: '2026-01-01T00:00:00.000Z',
      deaf: false,
      mute: false,
      flags: 0,
      permissions: '2248473465835073',
    };
  }

  private base(p: Person, type: number, channel: string): Record<string, unknown> & { id: string; token: string } {
    const id = snowflake();
    const token = `aW50ZXJhY3Rpb246${randomBytes(24).toString('base64url')}`;
    this.interactions.set(id, { id, token, callbacks: [], original: null, followups: [], sentAt: Date.now() });
    return {
      id,
      token,
      type,
      version: 1,
      application_id: this.applicationId,
      guild_id: this.guildId,
      channel_id: channel,
      channel: { id: channel, type: 0, guild_id: this.guildId, name: 'ops' },
      member: this.member(p),
      locale: 'en-US',
      guild_locale: 'en-US',
      app_permissions: '2248473465835073',
      entitlements: [],
      authorizing_integration_owners: { '0': this.guildId },
      context: 0,
      attachment_size_limit: 10485760,
    };
  }

  /** A `/opstream <sub> [options]` chat-input interaction (type 2). Returns the interaction id. */
  command(p: Person, sub: string, options: Record<string, string | number> = {}, channel = [...this.channels][0]): { id: string; payload: Record<string, unknown> } {
    const b = this.base(p, 2, channel);
    const opts = Object.entries(options).map(([name, value]) => ({ name, type: typeof value === 'number' ? 4 : 3, value }));
    const payload = { ...b, data: { id: '700000000000000001', name: 'opstream', type: 1, guild_id: this.guildId, options: [{ name: sub, type: 1, options: opts }] } };
    return { id: b.id, payload };
  }

  /** An autocomplete request (type 4) while typing `option` of `/opstream <sub>`. */
  autocomplete(p: Person, sub: string, option: string, typed: string): { id: string; payload: Record<string, unknown> } {
    const b = this.base(p, 4, [...this.channels][0]);
    const payload = { ...b, data: { id: '700000000000000001', name: 'opstream', type: 1, options: [{ name: sub, type: 1, options: [{ name: option, type: 3, value: typed, focused: true }] }] } };
    return { id: b.id, payload };
  }

  /** A button click (type 3) on a message the bot posted. */
  click(p: Person, messageId: string, customId: string): { id: string; payload: Record<string, unknown> } {
    const m = this.messages.get(messageId);
    if (!m) throw new Error(`discord loopback: no message ${messageId}`);
    const b = this.base(p, 3, m.channel_id);
    const message = { id: m.id, channel_id: m.channel_id, type: 0, content: m.content, embeds: m.embeds, components: m.components, author: this.botUser, attachments: [], mentions: [], mention_roles: [], mention_everyone: false, pinned: false, tts: false, timestamp: new Date().toISOString(), edited_timestamp: null, flags: m.flags };
    const payload = { ...b, message, data: { custom_id: customId, component_type: 2 } };
    return { id: b.id, payload };
  }

  /**
   * A person writes `content` in `channel` (a text channel or a thread): MESSAGE_CREATE, sent only to
   * a client that identified with the GuildMessages intent (1 << 9). As Discord does for a bot without
   * the privileged MessageContent intent (1 << 15), the content (and mentions) reach it only when the
   * message mentions the bot. Returns the message id.
   */
  message(p: Person, channel: string, content: string): string {
    const id = snowflake();
    if (!(this.intents & (1 << 9))) return id;
    const mentions = content.includes(`<@${this.botUser.id}>`) ? [{ ...this.botUser }] : [];
    const visible = mentions.length > 0 || (this.intents & (1 << 15)) !== 0;
    this.dispatch('MESSAGE_CREATE', {
      id,
      channel_id: channel,
      guild_id: this.guildId,
      type: 0,
      content: visible ? content : '',
      author: { id: p.id, username: p.username, discriminator: '0', global_name: p.username, avatar: null },
      member: { roles: [], joined_at: '2026-01-01T00:00:00.000Z', deaf: false, mute: false, flags: 0 },
      mentions: visible ? mentions : [],
      mention_roles: [],
      mention_everyone: false,
      attachments: [],
      embeds: [],
      components: [],
      pinned: false,
      tts: false,
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      flags: 0,
    });
    return id;
  }

  /** Delivers an interaction over the gateway (INTERACTION_CREATE). */
  deliver(ix: { payload: Record<string, unknown> }): number {
    const rec = this.interactions.get(String(ix.payload.id));
    if (rec) rec.sentAt = Date.now();
    return this.dispatch('INTERACTION_CREATE', ix.payload);
  }

  /** Waits until the original response of an interaction has content (after a defer + edit) or a type 4/7 callback. */
  async answerOf(id: string, timeoutMs = 20_000): Promise<string> {
    return this.waitFor(
      () => {
        const r = this.interactions.get(id);
        if (!r) return null;
        if (r.original && (r.original.content || (r.original.embeds as unknown[] | undefined)?.length)) return textOf(r.original);
        const c = r.callbacks.find((x) => (x.type === 4 || x.type === 7) && x.data);
        if (c?.data) return textOf(c.data);
        const f = r.followups[0];
        return f ? textOf(f) : null;
      },
      `an answer to interaction ${id}`,
      timeoutMs,
    );
  }

  /** Messages in a channel or thread, in order. */
  messagesIn(channel: string): LoopbackMessage[] {
    return [...this.messages.values()].filter((m) => m.channel_id === channel);
  }

  deleteChannel(id: string): void {
    this.channels.delete(id);
    this.changed();
  }

  // ------------------------------------------------------------------------------- REST

  private async rest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const buf = Buffer.concat(chunks);
    const rawBody = buf.toString('utf8');
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    let body: unknown = null;
    if (rawBody) {
      const type = req.headers['content-type'] ?? '';
      if (type.startsWith('multipart/form-data')) body = parseMultipart(buf);
      else
        try {
          body = JSON.parse(rawBody);
        } catch {
          return this.send(res, { method, path, body: rawBody, auth: null }, 400, { code: 50109, message: 'The request body contains invalid JSON.' });
        }
    }
    const auth = typeof req.headers.authorization === 'string' ? req.headers.authorization : null;
    const call = { method, path, body, auth };
    const m = /^\/api\/v10(\/.*)$/.exec(path);
    if (!m) return this.send(res, call, 404, { message: '404: Not Found', code: 0 });
    const route = m[1];
    const isInteractionRoute = route.startsWith('/interactions/') || route.startsWith('/webhooks/');
    if (!isInteractionRoute && auth !== `Bot ${this.token}`) return this.send(res, call, 401, { message: '401: Unauthorized', code: 0 });
    const fault = this.faults.find((f) => f.times > 0 && f.method === method && f.path.test(route));
    if (fault) {
      fault.times--;
      if (fault.status === 429) this.rateLimited++;
      return this.send(res, call, fault.status, fault.body, fault.headers ?? {});
    }
    let r: RegExpExecArray | null;
    if (method === 'GET' && route === '/gateway/bot') {
      return this.send(res, call, 200, { url: this.gatewayUrl, shards: 1, session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 } });
    }
    if (method === 'GET' && route === '/users/@me') return this.send(res, call, 200, this.botUser);
    if (method === 'PUT' && (r = /^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/.exec(route))) {
      if (r[1] !== this.applicationId) return this.send(res, call, 404, { message: 'Unknown Application', code: 10002 });
      if (!Array.isArray(body)) return this.send(res, call, 400, { message: 'Invalid Form Body', code: 50035 });
      const cmds = (body as Record<string, unknown>[]).map((c) => ({ id: snowflake(), application_id: this.applicationId, version: snowflake(), ...(r![2] ? { guild_id: r![2] } : {}), ...c }));
      this.commands.set(r[2] ?? 'global', cmds);
      return this.send(res, call, 200, cmds);
    }
    if (method === 'POST' && (r = /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(route))) {
      const ix = this.interactions.get(r[1]);
      if (!ix || ix.token !== r[2]) return this.send(res, call, 404, { message: 'Unknown interaction', code: 10062 });
      if (ix.callbacks.length) return this.send(res, call, 400, { message: 'Interaction has already been acknowledged.', code: 40060 });
      const b = body as { type: number; data?: Record<string, unknown> };
      ix.callbacks.push({ type: b.type, data: b.data, at: Date.now() });
      if (b.type === 4) ix.original = { ...b.data };
      if (b.type === 7 && b.data) this.editMessage(String((b as { message_id?: string }).message_id ?? ''), b.data);
      if (url.searchParams.get('with_response') === 'true') return this.send(res, call, 200, { interaction: { id: ix.id, type: 2 } });
      return this.send(res, call, 204, null);
    }
    if ((r = /^\/webhooks\/(\d+)\/([^/]+)(\/messages\/(?:@|%40)original)?$/.exec(route))) {
      const ix = [...this.interactions.values()].find((i) => i.token === r![2]);
      if (!ix || r[1] !== this.applicationId) return this.send(res, call, 404, { message: 'Unknown Webhook', code: 10015 });
      if (!ix.callbacks.length) return this.send(res, call, 400, { message: 'Interaction has not been acknowledged.', code: 40060 });
      if (r[3] && method === 'PATCH') {
        ix.original = { ...(ix.original ?? {}), ...(body as Record<string, unknown>) };
        return this.send(res, call, 200, { id: snowflake(), channel_id: '0', ...ix.original });
      }
      if (r[3] && method === 'GET') return ix.original ? this.send(res, call, 200, ix.original) : this.send(res, call, 404, { message: 'Unknown Message', code: 10008 });
      if (!r[3] && method === 'POST') {
        ix.followups.push(body as Record<string, unknown>);
        return this.send(res, call, 200, { id: snowflake(), ...(body as object) });
      }
    }
    if ((r = /^\/channels\/(\d+)\/messages(?:\/(\d+))?(\/threads)?$/.exec(route))) {
      const [, channel, msgId, threads] = r;
      if (!this.channels.has(channel)) return this.send(res, call, 404, { message: 'Unknown Channel', code: 10003 });
      if (method === 'POST' && !msgId) {
        const b = body as { content?: string; embeds?: unknown[]; components?: ComponentRow[]; flags?: number; _files?: string[]; _fileBytes?: number[] };
        const msg: LoopbackMessage = { id: snowflake(), channel_id: channel, content: b.content ?? '', embeds: b.embeds ?? [], components: b.components ?? [], flags: b.flags ?? 0, edits: 0, thread_id: null, files: b._files ?? [], fileBytes: b._fileBytes ?? [] };
        this.messages.set(msg.id, msg);
        return this.send(res, call, 200, this.messageJson(msg));
      }
      const msg = msgId ? this.messages.get(msgId) : undefined;
      if (!msg || msg.channel_id !== channel) return this.send(res, call, 404, { message: 'Unknown Message', code: 10008 });
      if (method === 'POST' && threads) {
        if (msg.thread_id) return this.send(res, call, 400, { message: 'A thread has already been created for this message', code: 160004 });
        const b = body as { name?: string };
        if (!b?.name) return this.send(res, call, 400, { message: 'Invalid Form Body', code: 50035 });
        const id = snowflake();
        msg.thread_id = id;
        this.channels.add(id);
        return this.send(res, call, 201, { id, type: 11, guild_id: this.guildId, parent_id: channel, name: b.name, owner_id: this.botUser.id, thread_metadata: { archived: false, auto_archive_duration: 1440, locked: false, archive_timestamp: new Date().toISOString() } });
      }
      if (method === 'PATCH') {
        const bucket = `edit:${channel}`;
        const limit = this.opts.editsPerWindow ?? 50;
        const win = this.opts.rateWindowMs ?? 5000;
        const now = Date.now();
        let bk = this.buckets.get(bucket);
        if (!bk || now >= bk.resetAt) this.buckets.set(bucket, (bk = { n: 0, resetAt: now + win }));
        const headers = { 'x-ratelimit-limit': String(limit), 'x-ratelimit-bucket': `b${channel}`, 'x-ratelimit-reset-after': ((bk.resetAt - now) / 1000).toFixed(3), 'x-ratelimit-reset': (bk.resetAt / 1000).toFixed(3) };
        if (bk.n >= limit) {
          this.rateLimited++;
          return this.send(res, call, 429, { message: 'You are being rate limited.', retry_after: (bk.resetAt - now) / 1000, global: false }, { ...headers, 'x-ratelimit-remaining': '0', 'retry-after': String(Math.ceil((bk.resetAt - now) / 1000)), 'x-ratelimit-scope': 'user' });
        }
        bk.n++;
        this.editMessage(msg.id, body as Record<string, unknown>);
        return this.send(res, call, 200, this.messageJson(msg), { ...headers, 'x-ratelimit-remaining': String(limit - bk.n) });
      }
    }
    return this.send(res, call, 404, { message: '404: Not Found', code: 0 });
  }

  private editMessage(id: string, b: Record<string, unknown>): void {
    const msg = this.messages.get(id);
    if (!msg) return;
    if (typeof b.content === 'string') msg.content = b.content;
    if (Array.isArray(b.embeds)) msg.embeds = b.embeds;
    if (Array.isArray(b.components)) msg.components = b.components as ComponentRow[];
    msg.edits++;
  }

  private messageJson(m: LoopbackMessage): Record<string, unknown> {
    return { id: m.id, channel_id: m.channel_id, type: 0, content: m.content, embeds: m.embeds, components: m.components, author: this.botUser, attachments: [], mentions: [], mention_roles: [], mention_everyone: false, pinned: false, tts: false, timestamp: new Date().toISOString(), edited_timestamp: m.edits ? new Date().toISOString() : null, flags: m.flags };
  }

  private send(res: ServerResponse, call: Omit<RestCall, 'status' | 'at'>, status: number, body: unknown, headers: Record<string, string> = {}): void {
    this.calls.push({ ...call, status, at: Date.now() });
    if (status === 204) res.writeHead(204, headers).end();
    else res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    this.changed();
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Everything a person would read in a message: content, embed texts, button labels. */
export function textOf(m: Record<string, unknown>): string {
  const parts = [String(m.content ?? '')];
  for (const e of (m.embeds as { title?: string; description?: string; fields?: { name: string; value: string }[]; footer?: { text?: string } }[] | undefined) ?? []) {
    parts.push(e.title ?? '', e.description ?? '', ...(e.fields ?? []).map((f) => `${f.name}: ${f.value}`), e.footer?.text ?? '');
  }
  for (const row of (m.components as ComponentRow[] | undefined) ?? []) for (const c of row.components) parts.push(`[${c.label ?? ''}]`);
  return parts.filter(Boolean).join('\n');
}

/** A multipart body: its `payload_json` part, and the files (`files[n]`) by name and size. */
function parseMultipart(buf: Buffer): unknown {
  const text = buf.toString('latin1');
  const boundary = /^--([^\r\n]+)\r\n/.exec(text)?.[1];
  if (!boundary) return {};
  let json: Record<string, unknown> = {};
  const files: string[] = [];
  const sizes: number[] = [];
  for (const part of text.split(`--${boundary}`)) {
    const head = /^\r\n([\s\S]*?)\r\n\r\n/.exec(part);
    if (!head) continue;
    const data = part.slice(head[0].length, part.length - 2);
    const name = /name="([^"]+)"/.exec(head[1])?.[1];
    const filename = /filename="([^"]+)"/.exec(head[1])?.[1];
    if (name === 'payload_json') json = JSON.parse(Buffer.from(data, 'latin1').toString('utf8')) as Record<string, unknown>;
    else if (filename) {
      files.push(filename);
      sizes.push(Buffer.from(data, 'latin1').length);
    }
  }
  return { ...json, _files: files, _fileBytes: sizes };
}
