import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';

/**
 * A loopback Slack for integration tests: one node:http server on 127.0.0.1 (random port) that speaks
 * Slack's real wire protocols, so the OFFICIAL clients can be pointed at it unchanged:
 *
 *   new WebClient(lb.botToken, { slackApiUrl: lb.apiUrl })
 *   new SocketModeClient({ appToken: lb.appToken, clientOptions: { slackApiUrl: lb.apiUrl } })
 *
 * - Web API at `/api/<method>`: form-encoded, JSON (token only from `Authorization: Bearer`, as Slack
 *   requires for JSON bodies) and multipart bodies; answers HTTP 200 `{ok:false,error}` for platform
 *   errors and HTTP 429 + `Retry-After` when a test asked for rate limiting.
 * - Socket Mode at `ws://…/link/?ticket=…` (tickets from `apps.connections.open`, single use): sends
 *   `hello`, delivers envelopes to one open connection (round robin), waits for acks
 *   `{envelope_id, payload}`, re-sends unacked `events_api` envelopes with `retry_attempt`/`retry_reason`.
 * - `response_url`s (`/commands/…`, `/actions/…`): 5 uses, 30 minutes, like Slack.
 * - Modals: `views.open` is checked (trigger id, a modal with blocks) and recorded (`views()`); a person
 *   submits one with `viewSubmission`.
 * - `send({ envelope_id })` re-delivers the very same envelope (a redelivery after a lost ack).
 * - File uploads v2: `files.getUploadURLExternal` -> POST bytes to `/upload/v1/…` ->
 *   `files.completeUploadExternal`, which shares ASYNCHRONOUSLY (the file message appears in the
 *   channel `shareDelayMs` later; no message ts is returned), as Slack does.
 *
 * Everything observable is recorded (calls, envelopes, acks, uploads, response_url posts, connection
 * life) and per-channel message state is kept (threads, edit revisions, deletions), so a test can assert
 * on what a person in the channel would see (`messages`, `thread`, `transcript`). All `waitFor*`
 * helpers are event driven (they re-check when state changes; no polling), and never hang: each has a
 * timeout whose error says what was seen instead.
 *
 * Known simplifications (deliberate): one workspace, one app, one bot; no permission/membership model
 * (the bot can post to every known channel); `ts` values come from a counter (`tsBase` + 100 µs steps),
 * not the clock; Slack's block normalisation is limited to adding a `block_id` to blocks without one.
 */

// ---------------------------------------------------------------------------------------------
// Public types

export interface SlackLoopbackChannel {
  /** 'C…' (public), 'G…' (private / mpim) or 'D…' (IM). */
  id: string;
  /** Without '#'. IMs have no name. */
  name?: string;
  /** For an IM: the person at the other end. */
  user?: string;
}

export interface SlackLoopbackUser {
  id: string;
  name: string;
  real_name?: string;
  /** IANA zone, e.g. 'Europe/Berlin'. Defaults to 'America/Los_Angeles' (Slack's default). */
  tz?: string;
  tz_label?: string;
  /** Seconds east of UTC. */
  tz_offset?: number;
  is_bot?: boolean;
}

export interface SlackLoopbackOptions {
  /** App-level token for `apps.connections.open`. Default 'xapp-1-A0LOOPBACK-1-<hex>'. */
  appToken?: string;
  /** Bot token for every other method. Default 'xoxb-1-<digits>-<hex>'. */
  botToken?: string;
  teamId?: string;
  teamDomain?: string;
  appId?: string;
  botUserId?: string;
  botId?: string;
  /** Display name of the bot in `transcript()`. */
  botName?: string;
  /** Known channels. Default: #ops-alerts (C0OPSALERTS) and #general (C0GENERAL). */
  channels?: SlackLoopbackChannel[];
  /** Known people (the bot user is added automatically). Default: alice (Europe/Berlin), bob (America/New_York). */
  users?: SlackLoopbackUser[];
  /** How long an envelope may go unacked before Slack gives up or retries. Default 3000 (Slack's 3 s). */
  ackTimeoutMs?: number;
  /** How often an unacked events_api envelope is re-sent. Default 3. */
  maxEventRetries?: number;
  /** Delay between files.completeUploadExternal and the file message appearing. Default 25 ms. */
  shareDelayMs?: number;
  /** Uses allowed per response_url. Default 5. */
  responseUrlLimit?: number;
  /** Lifetime of a response_url. Default 30 minutes. */
  responseUrlTtlMs?: number;
  /** When > 0 the server pings every open, non-silent connection at this interval. Default off. */
  serverPingIntervalMs?: number;
  /** How long the server keeps a socket open after a `warning` disconnect frame. Default 10000. */
  warningGraceMs?: number;
  /** Optional Slack-like posting limit on chat.postMessage per channel (off by default). */
  messageRateLimit?: { perChannelPerSec: number; retryAfterSec?: number };
  /** Seconds part of the first message ts. Default 1700000000. */
  tsBase?: number;
}

/** One Web API request as the loopback saw it. */
export interface ApiCall {
  seq: number;
  method: string;
  /** Arguments as received (form values stay strings: `blocks` is a JSON string in a form post). `token` removed. */
  args: Record<string, unknown>;
  /** Token used (header first, then the `token` field of form posts), or undefined. */
  token: string | undefined;
  tokenKind: 'bot' | 'app' | 'unknown' | 'none';
  contentType: string;
  /** Date.now() when the answer was sent. */
  at: number;
  status: number;
  response: Record<string, unknown>;
}

export interface MessageRevision {
  text: string;
  blocks?: SlackBlock[];
  attachments?: unknown[];
  at: number;
  by: 'post' | 'chat.update' | 'response_url';
}

export type SlackBlock = Record<string, unknown> & { type: string };

/** A message as conversations.history would return it, plus loopback-only bookkeeping. */
export interface LoopbackMessage {
  type: 'message';
  channel: string;
  ts: string;
  text: string;
  user?: string;
  bot_id?: string;
  app_id?: string;
  subtype?: string;
  thread_ts?: string;
  parent_user_id?: string;
  reply_count?: number;
  reply_users?: string[];
  latest_reply?: string;
  blocks?: SlackBlock[];
  attachments?: unknown[];
  files?: LoopbackFileInfo[];
  upload?: boolean;
  edited?: { user: string; ts: string };
  reactions?: Array<{ name: string; users: string[]; count: number }>;
  /** Every version of the message, oldest first; the last is what people see now. */
  revisions: MessageRevision[];
  /** What created it. */
  source: 'chat.postMessage' | 'files.completeUploadExternal' | 'response_url' | 'ack' | 'user';
}

export interface LoopbackFileInfo {
  id: string;
  name: string;
  title: string;
  mimetype: string;
  size: number;
  url_private: string;
  permalink: string;
}

export interface EphemeralMessage {
  channel: string;
  user: string;
  text: string;
  blocks?: SlackBlock[];
  thread_ts?: string;
  message_ts: string;
  at: number;
  source: 'chat.postEphemeral' | 'response_url' | 'ack';
}

export interface LoopbackUpload {
  file_id: string;
  filename: string;
  /** Declared in files.getUploadURLExternal. */
  length: number;
  upload_url: string;
  /** The bytes posted to upload_url (undefined until posted). */
  bytes?: Buffer;
  /** How the bytes arrived. */
  encoding?: 'raw' | 'multipart';
  title?: string;
  alt_text?: string;
  completed: boolean;
  channel?: string;
  thread_ts?: string;
  initial_comment?: string;
  /** ts of the message that shared it, once the asynchronous share happened. */
  shared_ts?: string;
}

export interface ResponseUrlPost {
  url: string;
  at: number;
  /** 1-based use number of that URL. */
  use: number;
  body: Record<string, unknown>;
  status: number;
  answer: Record<string, unknown>;
}

export type EnvelopeType = 'hello' | 'disconnect' | 'events_api' | 'slash_commands' | 'interactive';

export interface SentEnvelope {
  envelope_id: string;
  type: EnvelopeType;
  /** 0 for the first delivery, 1.. for retries. */
  attempt: number;
  /** Connection it went to, or null when no connection was open. */
  connectionId: number | null;
  /** True when the connection was silent (goSilent) and the frame was swallowed. */
  swallowed: boolean;
  at: number;
  frame: Record<string, unknown>;
}

export interface AckRecord {
  envelope_id: string;
  payload: Record<string, unknown> | undefined;
  connectionId: number;
  at: number;
  /** Attempt of the envelope this ack answered, or -1 for an unknown envelope_id. */
  attempt: number;
  /** ms from sending that attempt to its ack. */
  latencyMs: number;
  /** True when the delivery was already settled (acked before or timed out). */
  late: boolean;
}

export interface Delivery {
  /** 'acked'; 'timeout' (no ack after all attempts); 'no_connection' (nothing to send it to; not retried
   *  for slash commands / interactivity, like Slack's dispatch_failed); 'closed' (loopback closed first). */
  outcome: 'acked' | 'timeout' | 'no_connection' | 'closed';
  acked: boolean;
  ack?: AckRecord;
  attempts: SentEnvelope[];
}

export interface ConnectionInfo {
  id: number;
  ticket: string;
  state: 'open' | 'draining' | 'silent' | 'closed';
  openedAt: number;
  helloAt?: number;
  closedAt?: number;
  /** Close code as the server saw it (1006 when TCP vanished). */
  closeCode?: number;
  closeReason?: string;
  /** Set when the server sent a disconnect frame. */
  disconnectReason?: DisconnectReason;
  pingsReceived: number;
  pongsReceived: number;
  lastInboundAt: number;
  /** Inbound frames ignored while silent. */
  ignoredFrames: number;
}

export type DisconnectReason = 'warning' | 'refresh_requested' | 'link_disabled' | 'too_many_websockets';

export interface RateLimitRule {
  /** Only calls whose `channel`/`channel_id` argument resolves to this channel. */
  channel?: string;
  /** How many matching calls get 429. Default 1. */
  times?: number;
  /** Retry-After header value. Default 1. */
  retryAfterSec?: number;
}

export interface FailRule {
  /** Platform error answered with HTTP 200 `{ok:false,error}`. Default 'internal_error'. */
  error?: string;
  /** Or an HTTP status (e.g. 500, 503) with a Slack-like body. */
  status?: number;
  channel?: string;
  times?: number;
}

export interface SlashCommandInput {
  command?: string;
  text?: string;
  user_id?: string;
  channel_id?: string;
  /** Default: a fresh response_url on this server bound to channel/user. */
  response_url?: string;
  trigger_id?: string;
  ackTimeoutMs?: number;
}

export interface EventInput {
  type: string;
  user?: string;
  text?: string;
  channel?: string;
  ts?: string;
  thread_ts?: string;
  [key: string]: unknown;
}

export interface EventOptions {
  ackTimeoutMs?: number;
  /** Override maxEventRetries for this event. */
  maxRetries?: number;
}

export interface BlockActionInput {
  user?: string;
  actions: Array<{ action_id: string; value?: string; block_id?: string; type?: string; text?: string }>;
  /** ts of the message carrying the buttons; its stored state is sent as `message`. */
  message?: { ts: string } & Record<string, unknown>;
  channel?: string;
  response_url?: string;
  trigger_id?: string;
  ackTimeoutMs?: number;
}

export interface ViewSubmissionInput {
  user?: string;
  callback_id: string;
  private_metadata?: string;
  /** state.values: block_id -> action_id -> value object, e.g. { b1: { reason: { type: 'plain_text_input', value: 'x' } } } */
  values?: Record<string, Record<string, Record<string, unknown>>>;
  view_id?: string;
  ackTimeoutMs?: number;
}

export interface RawEnvelopeInput {
  type: Exclude<EnvelopeType, 'hello' | 'disconnect'>;
  payload: Record<string, unknown>;
  accepts_response_payload?: boolean;
  /** Re-sends after a timeout (Slack does this for events_api only). Default 3 for events_api, else 0. */
  maxRetries?: number;
  ackTimeoutMs?: number;
  /** Envelope id of the first attempt (a test re-delivering the very same envelope). Default: a fresh UUID. */
  envelope_id?: string;
}

/** Which connections a fault applies to: all open ones (default) or one by id. */
export interface ConnectionSelector {
  connection?: number;
}

// ---------------------------------------------------------------------------------------------
// Internals

class ApiError extends Error {
  constructor(readonly error: string, readonly extra: Record<string, unknown> = {}) {
    super(error);
  }
}

interface StoredMessage {
  channel: string;
  ts: string;
  thread_ts?: string;
  user?: string;
  bot_id?: string;
  app_id?: string;
  subtype?: string;
  reply_broadcast?: boolean;
  text: string;
  blocks?: SlackBlock[];
  attachments?: unknown[];
  files?: LoopbackFileInfo[];
  upload?: boolean;
  edited?: { user: string; ts: string };
  reactions: Map<string, string[]>;
  revisions: MessageRevision[];
  source: LoopbackMessage['source'];
}

interface ChannelState {
  id: string;
  name?: string;
  user?: string;
  messages: Map<string, StoredMessage>;
}

interface Conn {
  info: ConnectionInfo;
  ws: WebSocket;
  socket: Duplex;
}

interface Pending {
  type: RawEnvelopeInput['type'];
  payload: Record<string, unknown>;
  accepts: boolean;
  maxRetries: number;
  ackTimeoutMs: number;
  attempts: SentEnvelope[];
  timer?: NodeJS.Timeout;
  done: boolean;
  resolve: (d: Delivery) => void;
  /** Slash commands: the response_url binding, so an ack payload can answer the user. */
  binding?: ResponseBinding;
  firstEnvelopeId?: string;
}

interface ResponseBinding {
  url: string;
  kind: 'commands' | 'actions';
  channel: string;
  user: string;
  message_ts?: string;
  uses: number;
  createdAt: number;
}

interface Waiter {
  check(): void;
  fail(err: Error): void;
}

const WEB_METHODS = new Set([
  'api.test',
  'apps.connections.open',
  'auth.test',
  'chat.postMessage',
  'chat.update',
  'chat.delete',
  'chat.postEphemeral',
  'chat.getPermalink',
  'conversations.open',
  'conversations.history',
  'conversations.replies',
  'users.info',
  'reactions.add',
  'files.getUploadURLExternal',
  'files.completeUploadExternal',
  'views.open',
]);

const MAX_BODY = 64 * 1024 * 1024;

function tsCompare(a: string, b: string): number {
  const [ai, af = ''] = a.split('.');
  const [bi, bf = ''] = b.split('.');
  if (ai !== bi) return Number(ai) - Number(bi);
  return af < bf ? -1 : af > bf ? 1 : 0;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function randomId(prefix: string, len = 10): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const bytes = randomBytes(len);
  let out = prefix;
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}

function str(args: Record<string, unknown>, key: string): string | undefined {
  const v = args[key];
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

function bool(args: Record<string, unknown>, key: string): boolean {
  const v = args[key];
  return v === true || v === 'true' || v === '1' || v === 1;
}

/** A JSON argument: a JSON string in form posts, a value in JSON bodies. */
function jsonArg(args: Record<string, unknown>, key: string, badError: string): unknown {
  const v = args[key];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    throw new ApiError(badError);
  }
}

function plainText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (isRecord(v) && typeof v.text === 'string') return v.text;
  return '';
}

function renderBlock(b: SlackBlock): string[] {
  switch (b.type) {
    case 'header':
      return [`# ${plainText(b.text)}`];
    case 'section': {
      const lines = plainText(b.text) ? [plainText(b.text)] : [];
      if (Array.isArray(b.fields)) lines.push(b.fields.map(plainText).join(' | '));
      return lines;
    }
    case 'context':
      return Array.isArray(b.elements) ? [b.elements.map((e) => plainText(e) || (isRecord(e) ? `[${String(e.alt_text ?? e.type)}]` : '')).join(' ')] : [];
    case 'actions':
      return Array.isArray(b.elements) ? [b.elements.map((e) => `[${isRecord(e) ? plainText(e.text) || String(e.action_id ?? e.type) : ''}]`).join(' ')] : [];
    case 'divider':
      return ['---'];
    case 'image':
      return [`[image: ${String(b.alt_text ?? '')}]`];
    case 'markdown':
      return typeof b.text === 'string' ? [b.text] : [];
    default:
      return [`[${b.type}]`];
  }
}

// ---------------------------------------------------------------------------------------------

/** Start a loopback Slack on 127.0.0.1 with a random port. Always `await lb.close()` (after disconnecting clients). */
export async function startSlackLoopback(opts: SlackLoopbackOptions = {}): Promise<SlackLoopback> {
  const lb = new SlackLoopback(opts);
  await lb.listen();
  return lb;
}

export class SlackLoopback {
  readonly appToken: string;
  readonly botToken: string;
  readonly teamId: string;
  readonly teamDomain: string;
  readonly appId: string;
  readonly botUserId: string;
  readonly botId: string;
  readonly botName: string;
  /** `http://127.0.0.1:PORT` */
  baseUrl = '';
  /** `http://127.0.0.1:PORT/api/` — pass as `slackApiUrl`. */
  apiUrl = '';
  port = 0;

  private readonly o: Required<Omit<SlackLoopbackOptions, 'messageRateLimit' | 'channels' | 'users' | 'appToken' | 'botToken'>> &
    Pick<SlackLoopbackOptions, 'messageRateLimit'>;
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly waiters = new Set<Waiter>();
  private pingInterval?: NodeJS.Timeout;

  private readonly channelsById = new Map<string, ChannelState>();
  private readonly users = new Map<string, SlackLoopbackUser>();
  private readonly revoked = new Set<string>();
  private tsCounter: number;

  private readonly callLog: ApiCall[] = [];
  private readonly ephemeralLog: EphemeralMessage[] = [];
  private readonly uploadsById = new Map<string, LoopbackUpload>();
  private readonly uploadByKey = new Map<string, string>();
  private readonly responseLog: ResponseUrlPost[] = [];
  private readonly bindings = new Map<string, ResponseBinding>();
  private readonly rateRules: Array<{ method: string; rule: Required<Omit<RateLimitRule, 'channel'>> & { channel?: string } }> = [];
  private readonly failRules: Array<{ method: string; rule: FailRule & { times: number } }> = [];
  private readonly postTimes = new Map<string, number[]>();

  private readonly tickets = new Map<string, { issuedAt: number; used: boolean }>();
  private readonly conns: Conn[] = [];
  private readonly refused: Array<{ at: number; ticket: string | null; why: string }> = [];
  private rr = 0;
  private readonly pending = new Map<string, Pending>();
  private readonly envelopeLog: SentEnvelope[] = [];
  private readonly ackLog: AckRecord[] = [];
  private readonly viewLog: Array<{ id: string; view: Record<string, unknown>; trigger_id: string }> = [];

  constructor(opts: SlackLoopbackOptions) {
    this.appToken = opts.appToken ?? `xapp-1-A0LOOPBACK-1-${randomBytes(16).toString('hex')}`;
    this.botToken = opts.botToken ?? `xoxb-1000000001-2000000002-${randomBytes(12).toString('hex')}`;
    this.teamId = opts.teamId ?? 'T0LOOPBACK';
    this.teamDomain = opts.teamDomain ?? 'loopback';
    this.appId = opts.appId ?? 'A0LOOPBACK';
    this.botUserId = opts.botUserId ?? 'U0OPSBOT';
    this.botId = opts.botId ?? 'B0OPSBOT';
    this.botName = opts.botName ?? 'opstream';
    this.o = {
      teamId: this.teamId,
      teamDomain: this.teamDomain,
      appId: this.appId,
      botUserId: this.botUserId,
      botId: this.botId,
      botName: this.botName,
      ackTimeoutMs: opts.ackTimeoutMs ?? 3000,
      maxEventRetries: opts.maxEventRetries ?? 3,
      shareDelayMs: opts.shareDelayMs ?? 25,
      responseUrlLimit: opts.responseUrlLimit ?? 5,
      responseUrlTtlMs: opts.responseUrlTtlMs ?? 30 * 60_000,
      serverPingIntervalMs: opts.serverPingIntervalMs ?? 0,
      warningGraceMs: opts.warningGraceMs ?? 10_000,
      messageRateLimit: opts.messageRateLimit,
      tsBase: opts.tsBase ?? 1_700_000_000,
    };
    this.tsCounter = this.o.tsBase * 1_000_000;
    const channels = opts.channels ?? [
      { id: 'C0OPSALERTS', name: 'ops-alerts' },
      { id: 'C0GENERAL', name: 'general' },
    ];
    for (const c of channels) this.channelsById.set(c.id, { id: c.id, name: c.name?.replace(/^#/, ''), user: c.user, messages: new Map() });
    const users = opts.users ?? [
      { id: 'U0ALICE', name: 'alice', real_name: 'Alice Example', tz: 'Europe/Berlin', tz_label: 'Central European Time', tz_offset: 3600 },
      { id: 'U0BOB', name: 'bob', real_name: 'Bob Example', tz: 'America/New_York', tz_label: 'Eastern Standard Time', tz_offset: -18000 },
    ];
    for (const u of users) this.users.set(u.id, u);
    if (!this.users.has(this.botUserId)) this.users.set(this.botUserId, { id: this.botUserId, name: this.botName, is_bot: true, tz: 'America/Los_Angeles' });

    this.server = createServer((req, res) => {
      this.onHttp(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.json(res, 500, { ok: false, error: 'internal_error', detail: String(err) });
      });
    });
    // autoPong off: pongs are sent by hand so goSilent() can withhold them.
    this.wss = new WebSocketServer({ noServer: true, autoPong: false });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
  }

  /** @internal used by startSlackLoopback */
  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.baseUrl = `http://127.0.0.1:${this.port}`;
    this.apiUrl = `${this.baseUrl}/api/`;
    if (this.o.serverPingIntervalMs > 0) {
      this.pingInterval = setInterval(() => this.ping(), this.o.serverPingIntervalMs);
      this.pingInterval.unref();
    }
  }

  // ===========================================================================================
  // Test-facing API: Web API state

  /** Recorded Web API calls, oldest first, optionally of one method. */
  calls(method?: string): ApiCall[] {
    return method === undefined ? [...this.callLog] : this.callLog.filter((c) => c.method === method);
  }

  /** Resolves with the first recorded call (past or future) of `method` matching `predicate`. */
  waitForCall(method: string, predicate: (c: ApiCall) => boolean = () => true, timeoutMs = 10_000): Promise<ApiCall> {
    return this.waitUntil(`a ${method} call`, timeoutMs, () => this.callLog.find((c) => c.method === method && predicate(c)), () =>
      `calls seen: ${this.callLog.map((c) => `${c.method}->${c.status}/${String(c.response.ok)}${c.response.error ? `(${String(c.response.error)})` : ''}`).join(', ') || 'none'}`,
    );
  }

  /** Top-level messages of a channel ('#name', 'name' or id) as a person scrolling it sees them, oldest first
   *  (thread replies only when broadcast). Deleted messages are gone (or a tombstone if they had replies). */
  messages(channel: string): LoopbackMessage[] {
    const ch = this.requireChannel(channel);
    return [...ch.messages.values()]
      .filter((m) => !m.thread_ts || m.thread_ts === m.ts || m.reply_broadcast)
      .sort((a, b) => tsCompare(a.ts, b.ts))
      .map((m) => this.expose(ch, m));
  }

  /** A thread: the parent followed by its replies, oldest first. Empty when `ts` is unknown. */
  thread(channel: string, ts: string): LoopbackMessage[] {
    const ch = this.requireChannel(channel);
    const parent = ch.messages.get(ts);
    if (!parent) return [];
    const root = parent.thread_ts ?? parent.ts;
    return [...ch.messages.values()]
      .filter((m) => m.ts === root || m.thread_ts === root)
      .sort((a, b) => tsCompare(a.ts, b.ts))
      .map((m) => this.expose(ch, m));
  }

  /** Resolves with the first message (top level or reply) in `channel` matching `predicate`. */
  waitForMessage(channel: string, predicate: (m: LoopbackMessage) => boolean = () => true, timeoutMs = 10_000): Promise<LoopbackMessage> {
    const ch = this.requireChannel(channel);
    const all = (): LoopbackMessage[] => [...ch.messages.values()].sort((a, b) => tsCompare(a.ts, b.ts)).map((m) => this.expose(ch, m));
    return this.waitUntil(`a message in ${channel}`, timeoutMs, () => all().find(predicate), () => `messages: ${JSON.stringify(all().map((m) => m.text))}`);
  }

  /**
   * The channel (or one thread) as readable text, the way a person sees it: blocks win over `text`
   * (which is only the notification fallback), '(edited)' marks edits, files show as [file: title],
   * replies are indented under their parent with a reply count.
   */
  transcript(channel: string, threadTs?: string): string {
    const ch = this.requireChannel(channel);
    const lines: string[] = [];
    const who = (m: LoopbackMessage): string => {
      if (m.bot_id || m.user === this.botUserId) return this.botName;
      return (m.user && this.users.get(m.user)?.name) || m.user || '?';
    };
    const render = (m: LoopbackMessage, indent: string): void => {
      const body = m.subtype === 'tombstone' ? ['This message was deleted.'] : m.blocks?.length ? m.blocks.flatMap(renderBlock) : m.text ? m.text.split('\n') : [];
      for (const f of m.files ?? []) body.push(`[file: ${f.title}]`);
      if (m.edited) body.push(`${body.pop() ?? ''} (edited)`);
      lines.push(`${indent}${who(m)}: ${body[0] ?? ''}`);
      for (const extra of body.slice(1)) lines.push(`${' '.repeat(indent.length)}  ${extra}`);
    };
    if (threadTs !== undefined) {
      const [parent, ...replies] = this.thread(ch.id, threadTs);
      if (parent) render(parent, '');
      for (const r of replies) render(r, '  ↳ ');
      return lines.join('\n');
    }
    for (const m of this.messages(ch.id)) {
      render(m, '');
      if (m.reply_count) {
        for (const r of this.thread(ch.id, m.ts).slice(1)) render(r, '  ↳ ');
      }
    }
    return lines.join('\n');
  }

  /** Ephemeral messages (chat.postEphemeral, ephemeral response_url answers, slash command ack payloads). */
  ephemerals(channel?: string): EphemeralMessage[] {
    const id = channel === undefined ? undefined : this.requireChannel(channel).id;
    return this.ephemeralLog.filter((e) => id === undefined || e.channel === id);
  }

  /** File uploads (v2 flow), in order of files.getUploadURLExternal. */
  uploads(): LoopbackUpload[] {
    return [...this.uploadsById.values()].map((u) => ({ ...u }));
  }

  /** Modals opened with views.open, oldest first. */
  views(): Array<{ id: string; view: Record<string, unknown>; trigger_id: string }> {
    return structuredClone(this.viewLog);
  }

  /** Posts to response_urls (including refused ones), optionally for one URL. */
  responses(url?: string): ResponseUrlPost[] {
    return this.responseLog.filter((r) => url === undefined || r.url === url);
  }

  /** Resolves with the first response_url post matching `predicate`. */
  waitForResponse(predicate: (r: ResponseUrlPost) => boolean = () => true, timeoutMs = 10_000): Promise<ResponseUrlPost> {
    return this.waitUntil('a response_url post', timeoutMs, () => this.responseLog.find(predicate), () => `${this.responseLog.length} posts`);
  }

  /** A person posts in a channel (state only; deliver an event with `event({... ts})` if the app should hear it). */
  postAsUser(input: { channel: string; user: string; text: string; thread_ts?: string }): LoopbackMessage {
    const ch = this.requireChannel(input.channel);
    const m = this.store(ch, { user: input.user, text: input.text, thread_ts: input.thread_ts, source: 'user' });
    this.changed();
    return this.expose(ch, m);
  }

  /** The next `times` calls of `method` (optionally only for one channel) answer HTTP 429 + Retry-After. */
  rateLimit(method: string, rule: RateLimitRule = {}): void {
    this.rateRules.push({
      method,
      rule: { times: rule.times ?? 1, retryAfterSec: rule.retryAfterSec ?? 1, channel: rule.channel === undefined ? undefined : this.requireChannel(rule.channel).id },
    });
  }

  /** The next `times` calls of `method` fail with a platform error (HTTP 200) or an HTTP status. */
  failNext(method: string, rule: FailRule = {}): void {
    this.failRules.push({ method, rule: { ...rule, times: rule.times ?? 1, channel: rule.channel === undefined ? undefined : this.requireChannel(rule.channel).id } });
  }

  /** From now on the token answers `token_revoked` (and apps.connections.open refuses it). */
  revokeToken(token: string): void {
    this.revoked.add(token);
  }

  /** Channel id for '#name', 'name' or an id; undefined when unknown. */
  resolveChannel(ref: string): string | undefined {
    return this.findChannel(ref)?.id;
  }

  // ===========================================================================================
  // Test-facing API: Socket Mode

  /** Deliver a `slash_commands` envelope. Its ack payload (text/blocks) is shown to the user like Slack does. */
  slashCommand(input: SlashCommandInput = {}): Promise<Delivery> {
    const ch = this.requireChannel(input.channel_id ?? this.defaultChannel());
    const user = input.user_id ?? 'U0ALICE';
    const binding = input.response_url === undefined ? this.newBinding('commands', ch.id, user) : this.bindings.get(input.response_url);
    const payload = {
      token: 'loopback-verification-token',
      team_id: this.teamId,
      team_domain: this.teamDomain,
      channel_id: ch.id,
      channel_name: ch.name ?? 'directmessage',
      user_id: user,
      user_name: this.users.get(user)?.name ?? user,
      command: input.command ?? '/opstream',
      text: input.text ?? '',
      api_app_id: this.appId,
      is_enterprise_install: 'false',
      response_url: input.response_url ?? binding?.url ?? '',
      trigger_id: input.trigger_id ?? this.triggerId(),
    };
    return this.deliver({ type: 'slash_commands', payload, accepts_response_payload: true, ackTimeoutMs: input.ackTimeoutMs }, binding);
  }

  /**
   * Deliver an `events_api` envelope wrapping `event`. For 'message'/'app_mention' without `ts`, the message
   * is first added to the channel as the user wrote it (so history shows it) and its ts is used; pass the
   * ts of an existing message to deliver a second event for the same message (Slack does this for
   * app_mention + message.im). Unacked envelopes are re-sent with retry_attempt 1..maxRetries.
   */
  event(input: EventInput, opts: EventOptions = {}): Promise<Delivery> {
    const ev: Record<string, unknown> = { ...input };
    if ((input.type === 'message' || input.type === 'app_mention') && typeof input.channel === 'string') {
      const ch = this.requireChannel(input.channel);
      ev.channel = ch.id;
      if (input.ts === undefined) {
        const m = this.store(ch, { user: input.user ?? 'U0ALICE', text: input.text ?? '', thread_ts: input.thread_ts, source: 'user' });
        ev.ts = m.ts;
        this.changed();
      }
      ev.user ??= 'U0ALICE';
      ev.text ??= '';
      ev.team ??= this.teamId;
      if (input.type === 'message') ev.channel_type ??= ch.id.startsWith('D') ? 'im' : ch.id.startsWith('G') ? 'group' : 'channel';
    }
    ev.event_ts ??= ev.ts ?? this.nextTs();
    const eventTime = Math.floor(Date.now() / 1000);
    const payload = {
      token: 'loopback-verification-token',
      team_id: this.teamId,
      context_team_id: this.teamId,
      context_enterprise_id: null,
      api_app_id: this.appId,
      event: ev,
      type: 'event_callback',
      event_id: randomId('Ev0', 9),
      event_time: eventTime,
      authorizations: [{ enterprise_id: null, team_id: this.teamId, user_id: this.botUserId, is_bot: true, is_enterprise_install: false }],
      is_ext_shared_channel: false,
      event_context: `4-${randomBytes(24).toString('base64url')}`,
    };
    return this.deliver({ type: 'events_api', payload, accepts_response_payload: false, maxRetries: opts.maxRetries, ackTimeoutMs: opts.ackTimeoutMs });
  }

  /** Deliver an `interactive` envelope with a `block_actions` payload (a person clicked a button). */
  blockAction(input: BlockActionInput): Promise<Delivery> {
    const user = input.user ?? 'U0ALICE';
    const ch = this.requireChannel(input.channel ?? this.defaultChannel());
    const stored = input.message ? ch.messages.get(input.message.ts) : undefined;
    const message = stored ? { ...this.slackShape(ch, stored), ...input.message } : input.message;
    const binding = input.response_url === undefined ? this.newBinding('actions', ch.id, user, input.message?.ts) : this.bindings.get(input.response_url);
    const actionTs = this.nextTs();
    const payload = {
      type: 'block_actions',
      user: { id: user, username: this.users.get(user)?.name ?? user, name: this.users.get(user)?.name ?? user, team_id: this.teamId },
      api_app_id: this.appId,
      token: 'loopback-verification-token',
      container: input.message ? { type: 'message', message_ts: input.message.ts, channel_id: ch.id, is_ephemeral: false } : { type: 'message', channel_id: ch.id },
      trigger_id: input.trigger_id ?? this.triggerId(),
      team: { id: this.teamId, domain: this.teamDomain },
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: ch.id, name: ch.name ?? 'directmessage' },
      message,
      state: { values: {} },
      response_url: input.response_url ?? binding?.url,
      actions: input.actions.map((a) => ({
        action_id: a.action_id,
        block_id: a.block_id ?? randomId('', 5).toLowerCase(),
        text: { type: 'plain_text', text: a.text ?? a.value ?? a.action_id, emoji: true },
        value: a.value,
        type: a.type ?? 'button',
        action_ts: actionTs,
      })),
    };
    return this.deliver({ type: 'interactive', payload, accepts_response_payload: false, ackTimeoutMs: input.ackTimeoutMs });
  }

  /** Deliver an `interactive` envelope with a `view_submission` payload (a person submitted a modal). */
  viewSubmission(input: ViewSubmissionInput): Promise<Delivery> {
    const user = input.user ?? 'U0ALICE';
    const payload = {
      type: 'view_submission',
      team: { id: this.teamId, domain: this.teamDomain },
      user: { id: user, username: this.users.get(user)?.name ?? user, name: this.users.get(user)?.name ?? user, team_id: this.teamId },
      api_app_id: this.appId,
      token: 'loopback-verification-token',
      trigger_id: this.triggerId(),
      view: {
        id: input.view_id ?? randomId('V0', 9),
        team_id: this.teamId,
        type: 'modal',
        callback_id: input.callback_id,
        private_metadata: input.private_metadata ?? '',
        state: { values: input.values ?? {} },
        hash: `${Math.floor(Date.now() / 1000)}.${randomBytes(4).toString('hex')}`,
        app_id: this.appId,
        bot_id: this.botId,
      },
      response_urls: [],
      is_enterprise_install: false,
      enterprise: null,
    };
    return this.deliver({ type: 'interactive', payload, accepts_response_payload: true, ackTimeoutMs: input.ackTimeoutMs });
  }

  /** Deliver any envelope (for shapes the helpers do not build). */
  send(input: RawEnvelopeInput): Promise<Delivery> {
    return this.deliver(input);
  }

  /** Frames sent to clients (hello, disconnect, envelopes incl. retries), oldest first. */
  envelopes(type?: EnvelopeType): SentEnvelope[] {
    return this.envelopeLog.filter((e) => type === undefined || e.type === type);
  }

  /** Acks received (including late ones and ones for unknown envelope ids). */
  acks(): AckRecord[] {
    return [...this.ackLog];
  }

  /** Resolves with the first ack (past or future) matching `predicate`. */
  waitForAck(predicate: (a: AckRecord) => boolean = () => true, timeoutMs = 10_000): Promise<AckRecord> {
    return this.waitUntil('an ack', timeoutMs, () => this.ackLog.find(predicate), () => `${this.ackLog.length} acks`);
  }

  /** Number of currently open WebSocket connections (open, draining or silent). */
  connections(): number {
    return this.conns.filter((c) => c.info.state !== 'closed').length;
  }

  /** Every accepted connection, oldest first (ids are 1-based in accept order). */
  connectionLog(): ConnectionInfo[] {
    return this.conns.map((c) => ({ ...c.info }));
  }

  /** WebSocket upgrades refused (bad, unknown or reused ticket). */
  refusedConnections(): Array<{ at: number; ticket: string | null; why: string }> {
    return [...this.refused];
  }

  /** Resolves when the nth connection ever accepted (1-based) has been sent `hello`. */
  waitForConnection(n: number, timeoutMs = 15_000): Promise<ConnectionInfo> {
    return this.waitUntil(`connection #${n} to say hello`, timeoutMs, () => {
      const c = this.conns[n - 1];
      return c?.info.helloAt !== undefined ? { ...c.info } : undefined;
    }, () => `connections: ${JSON.stringify(this.connectionLog().map((c) => ({ id: c.id, state: c.state, closeCode: c.closeCode })))}, refused: ${this.refused.length}`);
  }

  /** Resolves when connection `id` has closed (as the server saw it). */
  waitForClose(id: number, timeoutMs = 15_000): Promise<ConnectionInfo> {
    return this.waitUntil(`connection #${id} to close`, timeoutMs, () => {
      const c = this.conns[id - 1];
      return c?.info.state === 'closed' ? { ...c.info } : undefined;
    }, () => `state: ${this.conns[id - 1]?.info.state ?? 'no such connection'}`);
  }

  /**
   * Send `{type:'disconnect', reason, debug_info}` and stop routing envelopes there; the server closes the
   * socket (1000) after `closeAfterMs` (default: warningGraceMs for 'warning', else at once). Returns how
   * many connections got it.
   */
  disconnect(reason: DisconnectReason = 'refresh_requested', opts: ConnectionSelector & { closeAfterMs?: number } = {}): number {
    const targets = this.select(opts).filter((c) => c.info.state === 'open');
    for (const c of targets) {
      const frame = { type: 'disconnect', reason, debug_info: { host: `applink-loopback-${c.info.id}` } };
      this.sendFrame(c, frame, 'disconnect', '', 0);
      c.info.state = 'draining';
      c.info.disconnectReason = reason;
      const after = opts.closeAfterMs ?? (reason === 'warning' ? this.o.warningGraceMs : 0);
      this.later(after, () => {
        if (c.ws.readyState === WebSocket.OPEN) c.ws.close(1000, reason);
      });
    }
    this.changed();
    return targets.length;
  }

  /** Destroy the TCP sockets without a close frame (cable pulled). Returns how many. */
  dropTcp(opts: ConnectionSelector = {}): number {
    const targets = this.select(opts).filter((c) => c.info.state !== 'closed');
    for (const c of targets) c.socket.destroy();
    return targets.length;
  }

  /** Make connections dead-but-alive: nothing is sent (no pongs, no envelopes: they are swallowed) and
   *  nothing received is processed (acks are ignored). TCP stays up. Returns how many. */
  goSilent(opts: ConnectionSelector = {}): number {
    const targets = this.select(opts).filter((c) => c.info.state === 'open' || c.info.state === 'draining');
    for (const c of targets) c.info.state = 'silent';
    this.changed();
    return targets.length;
  }

  /** Send a server ping to open, non-silent connections now. */
  ping(opts: ConnectionSelector = {}): void {
    for (const c of this.select(opts)) {
      if ((c.info.state === 'open' || c.info.state === 'draining') && c.ws.readyState === WebSocket.OPEN) c.ws.ping(Buffer.from(`ping-${Date.now()}`));
    }
  }

  /** Stop everything: settle pending deliveries ('closed'), fail waiters, terminate sockets, close the server. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pingInterval);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const p of new Set(this.pending.values())) this.settle(p, 'closed');
    for (const w of [...this.waiters]) w.fail(new Error('slack-loopback: closed while waiting'));
    for (const c of this.conns) {
      c.ws.terminate();
      c.socket.destroy();
    }
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ===========================================================================================
  // HTTP

  private async onHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.baseUrl);
    const body = await this.readBody(req);
    if (url.pathname.startsWith('/api/')) return this.onApi(url.pathname.slice('/api/'.length), req, url, body, res);
    if (url.pathname.startsWith('/upload/v1/') && req.method === 'POST') return this.onUpload(url.pathname, req, body, res);
    if ((url.pathname.startsWith('/commands/') || url.pathname.startsWith('/actions/')) && req.method === 'POST') {
      return this.onResponseUrl(`${this.baseUrl}${url.pathname}`, req, body, res);
    }
    this.json(res, 404, { ok: false, error: 'not_found' });
  }

  private readBody(req: IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) req.destroy(new Error('body too large'));
        else chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
  }

  private json(res: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  }

  /** Parses query + body. Throws ApiError for bodies Slack would refuse. */
  private async parseArgs(req: IncomingMessage, url: URL, body: Buffer): Promise<{ args: Record<string, unknown>; bodyToken?: string; contentType: string }> {
    const contentType = (req.headers['content-type'] ?? '').toLowerCase();
    const args: Record<string, unknown> = Object.fromEntries(url.searchParams);
    if (body.length === 0) return { args, bodyToken: str(args, 'token'), contentType };
    if (contentType.startsWith('application/json')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        throw new ApiError('invalid_json');
      }
      if (!isRecord(parsed)) throw new ApiError('json_not_object');
      // Slack ignores a token inside a JSON body: JSON posts must authenticate with the header.
      return { args: { ...args, ...parsed }, contentType };
    }
    if (contentType.startsWith('multipart/form-data')) {
      const form = await new Response(new Uint8Array(body), { headers: { 'content-type': contentType } }).formData().catch(() => {
        throw new ApiError('invalid_form_data');
      });
      for (const [k, v] of form.entries()) args[k] = typeof v === 'string' ? v : Buffer.from(await v.arrayBuffer());
      return { args, bodyToken: str(args, 'token'), contentType };
    }
    if (contentType === '' || contentType.startsWith('application/x-www-form-urlencoded')) {
      Object.assign(args, Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
      return { args, bodyToken: str(args, 'token'), contentType };
    }
    throw new ApiError('invalid_post_type');
  }

  private async onApi(method: string, req: IncomingMessage, url: URL, body: Buffer, res: ServerResponse): Promise<void> {
    const header = req.headers.authorization;
    const headerToken = header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() || undefined : undefined;
    let args: Record<string, unknown> = {};
    let token = headerToken;
    let contentType = (req.headers['content-type'] ?? '').toLowerCase();
    let status = 200;
    let response: Record<string, unknown>;
    let headers: Record<string, string> = {};
    try {
      const parsed = await this.parseArgs(req, url, body);
      args = parsed.args;
      contentType = parsed.contentType;
      token = headerToken ?? parsed.bodyToken;
      delete args.token;
      const limited = this.takeRule(method, args);
      if (limited) {
        ({ status, response, headers } = limited);
      } else {
        response = this.dispatch(method, args, token);
      }
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      response = { ok: false, error: err.error, ...err.extra };
    }
    const call: ApiCall = { seq: this.callLog.length + 1, method, args, token, tokenKind: this.tokenKind(token), contentType, at: Date.now(), status, response };
    this.callLog.push(call);
    this.json(res, status, response, headers);
    this.changed();
  }

  private tokenKind(token: string | undefined): ApiCall['tokenKind'] {
    if (token === undefined) return 'none';
    if (token === this.botToken) return 'bot';
    if (token === this.appToken) return 'app';
    return 'unknown';
  }

  private channelArg(args: Record<string, unknown>): string | undefined {
    const ref = str(args, 'channel') ?? str(args, 'channel_id');
    return ref === undefined ? undefined : (this.findChannel(ref)?.id ?? ref);
  }

  /** Rate-limit / injected-failure rules, consumed in order. */
  private takeRule(method: string, args: Record<string, unknown>): { status: number; response: Record<string, unknown>; headers: Record<string, string> } | undefined {
    const channel = this.channelArg(args);
    const rate = this.rateRules.find((r) => r.method === method && r.rule.times > 0 && (r.rule.channel === undefined || r.rule.channel === channel));
    if (rate) {
      rate.rule.times -= 1;
      return { status: 429, response: { ok: false, error: 'ratelimited' }, headers: { 'retry-after': String(rate.rule.retryAfterSec) } };
    }
    const fail = this.failRules.find((r) => r.method === method && r.rule.times > 0 && (r.rule.channel === undefined || r.rule.channel === channel));
    if (fail) {
      fail.rule.times -= 1;
      if (fail.rule.status !== undefined && fail.rule.status !== 200) return { status: fail.rule.status, response: { ok: false, error: fail.rule.error ?? 'service_unavailable' }, headers: {} };
      return { status: 200, response: { ok: false, error: fail.rule.error ?? 'internal_error' }, headers: {} };
    }
    if (method === 'chat.postMessage' && this.o.messageRateLimit && channel !== undefined) {
      const now = Date.now();
      const recent = (this.postTimes.get(channel) ?? []).filter((t) => now - t < 1000);
      if (recent.length >= this.o.messageRateLimit.perChannelPerSec) {
        this.postTimes.set(channel, recent);
        return { status: 429, response: { ok: false, error: 'ratelimited' }, headers: { 'retry-after': String(this.o.messageRateLimit.retryAfterSec ?? 1) } };
      }
      recent.push(now);
      this.postTimes.set(channel, recent);
    }
    return undefined;
  }

  private dispatch(method: string, args: Record<string, unknown>, token: string | undefined): Record<string, unknown> {
    if (!WEB_METHODS.has(method)) throw new ApiError('unknown_method');
    if (method === 'api.test') return { ok: true, args };
    if (token === undefined) throw new ApiError('not_authed');
    if (this.revoked.has(token)) throw new ApiError('token_revoked');
    const kind = this.tokenKind(token);
    if (kind === 'unknown') throw new ApiError('invalid_auth');
    const needs = method === 'apps.connections.open' ? 'app' : 'bot';
    // Slack's answer to a valid token of the wrong kind (e.g. xoxb for apps.connections.open).
    if (kind !== needs) throw new ApiError('not_allowed_token_type');
    switch (method) {
      case 'apps.connections.open':
        return this.apiConnectionsOpen();
      case 'auth.test':
        return {
          ok: true,
          url: `https://${this.teamDomain}.slack.com/`,
          team: 'Loopback Workspace',
          user: this.botName,
          team_id: this.teamId,
          user_id: this.botUserId,
          bot_id: this.botId,
          is_enterprise_install: false,
        };
      case 'chat.postMessage':
        return this.apiPostMessage(args);
      case 'chat.update':
        return this.apiUpdate(args);
      case 'chat.delete':
        return this.apiDelete(args);
      case 'chat.postEphemeral':
        return this.apiPostEphemeral(args);
      case 'chat.getPermalink':
        return this.apiPermalink(args);
      case 'conversations.open':
        return this.apiOpen(args);
      case 'conversations.history':
        return this.apiHistory(args);
      case 'conversations.replies':
        return this.apiReplies(args);
      case 'users.info':
        return this.apiUsersInfo(args);
      case 'reactions.add':
        return this.apiReactionsAdd(args);
      case 'files.getUploadURLExternal':
        return this.apiGetUploadUrl(args);
      case 'files.completeUploadExternal':
        return this.apiCompleteUpload(args);
      case 'views.open':
        return this.apiViewsOpen(args);
      default:
        throw new ApiError('unknown_method');
    }
  }

  // ---- Web API methods ------------------------------------------------------------------------

  private apiConnectionsOpen(): Record<string, unknown> {
    const ticket = randomUUID();
    this.tickets.set(ticket, { issuedAt: Date.now(), used: false });
    return { ok: true, url: `ws://127.0.0.1:${this.port}/link/?ticket=${ticket}&app_id=${this.appId}` };
  }

  /** Content of a message post/update: text, blocks (JSON string in forms), attachments. */
  private content(args: Record<string, unknown>): { text: string; blocks?: SlackBlock[]; attachments?: unknown[] } {
    const text = str(args, 'text') ?? str(args, 'markdown_text') ?? '';
    const rawBlocks = jsonArg(args, 'blocks', 'invalid_blocks_format');
    let blocks: SlackBlock[] | undefined;
    if (rawBlocks !== undefined) {
      if (!Array.isArray(rawBlocks)) throw new ApiError('invalid_blocks_format');
      if (rawBlocks.length > 50 || !rawBlocks.every((b) => isRecord(b) && typeof b.type === 'string')) {
        throw new ApiError('invalid_blocks', { errors: ['blocks must be at most 50 objects with a string type'] });
      }
      // Slack fills in a block_id for blocks sent without one.
      blocks = (rawBlocks as SlackBlock[]).map((b) => ({ ...b, block_id: typeof b.block_id === 'string' ? b.block_id : randomBytes(3).toString('base64url') }));
      if (blocks.length === 0) blocks = undefined;
    }
    const rawAttachments = jsonArg(args, 'attachments', 'invalid_attachments');
    const attachments = Array.isArray(rawAttachments) && rawAttachments.length > 0 ? rawAttachments : undefined;
    if (text.length > 40_000) throw new ApiError('msg_too_long');
    return { text, blocks, attachments };
  }

  private apiPostMessage(args: Record<string, unknown>): Record<string, unknown> {
    const ch = this.channelForPost(str(args, 'channel'));
    const content = this.content(args);
    if (!content.text && !content.blocks && !content.attachments) throw new ApiError('no_text');
    let threadTs = str(args, 'thread_ts');
    if (threadTs !== undefined) {
      const parent = ch.messages.get(threadTs);
      if (!parent) throw new ApiError('thread_not_found');
      threadTs = parent.thread_ts ?? parent.ts; // replying to a reply lands in the parent's thread
    }
    const m = this.store(ch, { ...content, user: this.botUserId, bot_id: this.botId, app_id: this.appId, thread_ts: threadTs, reply_broadcast: bool(args, 'reply_broadcast') || undefined, source: 'chat.postMessage' });
    this.changed();
    return { ok: true, channel: ch.id, ts: m.ts, message: this.slackShape(ch, m) };
  }

  private apiUpdate(args: Record<string, unknown>): Record<string, unknown> {
    const ch = this.channelOrThrow(str(args, 'channel'));
    const ts = str(args, 'ts');
    if (ts === undefined) throw new ApiError('invalid_arguments', { response_metadata: { messages: ['[ERROR] missing required field: ts'] } });
    const m = ch.messages.get(ts);
    if (!m || m.subtype === 'tombstone') throw new ApiError('message_not_found');
    if (m.user !== this.botUserId) throw new ApiError('cant_update_message');
    const content = this.content(args);
    if (!content.text && !content.blocks && !content.attachments) throw new ApiError('no_text');
    this.revise(m, content, 'chat.update');
    this.changed();
    return { ok: true, channel: ch.id, ts: m.ts, text: m.text, message: this.slackShape(ch, m) };
  }

  private apiDelete(args: Record<string, unknown>): Record<string, unknown> {
    const ch = this.channelOrThrow(str(args, 'channel'));
    const ts = str(args, 'ts');
    const m = ts === undefined ? undefined : ch.messages.get(ts);
    if (!m || m.subtype === 'tombstone') throw new ApiError('message_not_found');
    if (m.user !== this.botUserId) throw new ApiError('cant_delete_message');
    this.remove(ch, m);
    this.changed();
    return { ok: true, channel: ch.id, ts: m.ts };
  }

  private apiPostEphemeral(args: Record<string, unknown>): Record<string, unknown> {
    const ch = this.channelOrThrow(str(args, 'channel'));
    const user = str(args, 'user');
    if (user === undefined || !this.users.has(user)) throw new ApiError('user_not_found');
    const content = this.content(args);
    if (!content.text && !content.blocks && !content.attachments) throw new ApiError('no_text');
    const message_ts = this.nextTs();
    this.ephemeralLog.push({ channel: ch.id, user, text: content.text, blocks: content.blocks, thread_ts: str(args, 'thread_ts'), message_ts, at: Date.now(), source: 'chat.postEphemeral' });
    this.changed();
    return { ok: true, message_ts };
  }

  private apiPermalink(args: Record<string, unknown>): Record<string, unknown> {
    const ch = this.channelOrThrow(str(args, 'channel'));
    const ts = str(args, 'message_ts');
    const m = ts === undefined ? undefined : ch.messages.get(ts);
    if (!m) throw new ApiError('message_not_found');
    let permalink = `https://${this.teamDomain}.slack.com/archives/${ch.id}/p${m.ts.replace('.', '')}`;
    if (m.thread_ts && m.thread_ts !== m.ts) permalink += `?thread_ts=${m.thread_ts}&cid=${ch.id}`;
    return { ok: true, channel: ch.id, permalink };
  }

  private apiOpen(args: Record<string, unknown>): Record<string, unknown> {
    const channelRef = str(args, 'channel');
    if (channelRef !== undefined) {
      const ch = this.channelOrThrow(channelRef);
      return { ok: true, no_op: true, already_open: true, channel: { id: ch.id } };
    }
    const users = (str(args, 'users') ?? '').split(',').map((u) => u.trim()).filter(Boolean);
    if (users.length === 0) throw new ApiError('users_list_not_supplied');
    for (const u of users) if (!this.users.has(u)) throw new ApiError('user_not_found');
    if (users.length > 8) throw new ApiError('too_many_users');
    const id = users.length === 1 ? `D${users[0].replace(/^[UW]/, '')}` : `G${users.map((u) => u.replace(/^[UW]/, '').slice(0, 4)).join('')}`;
    const existed = this.channelsById.has(id);
    if (!existed) this.channelsById.set(id, { id, user: users.length === 1 ? users[0] : undefined, messages: new Map() });
    return existed ? { ok: true, no_op: true, already_open: true, channel: { id } } : { ok: true, channel: { id } };
  }

  private apiHistory(args: Record<string, unknown>): Record<string, unknown> {
    const ch = this.channelOrThrow(str(args, 'channel'));
    const limit = Math.min(Math.max(Number(str(args, 'limit') ?? 100) || 100, 1), 999);
    const oldest = str(args, 'oldest');
    const latest = str(args, 'latest');
    const inclusive = bool(args, 'inclusive');
    const list = this.messages(ch.id)
      .filter((m) => oldest === undefined || (inclusive ? tsCompare(m.ts, oldest) >= 0 : tsCompare(m.ts, oldest) > 0))
      .filter((m) => latest === undefined || (inclusive ? tsCompare(m.ts, latest) <= 0 : tsCompare(m.ts, latest) < 0))
      .reverse(); // newest first, as Slack answers
    const cursor = str(args, 'cursor');
    const start = cursor === undefined ? 0 : Number(Buffer.from(cursor, 'base64url').toString().replace('offset:', '')) || 0;
    const page = list.slice(start, start + limit);
    const hasMore = start + limit < list.length;
    return {
      ok: true,
      messages: page.map((m) => this.wire(m)),
      has_more: hasMore,
      pin_count: 0,
      response_metadata: { next_cursor: hasMore ? Buffer.from(`offset:${start + limit}`).toString('base64url') : '' },
    };
  }

  private apiReplies(args: Record<string, unknown>): Record<string, unknown> {
    const ch = this.channelOrThrow(str(args, 'channel'));
    const ts = str(args, 'ts');
    if (ts === undefined) throw new ApiError('invalid_arguments', { response_metadata: { messages: ['[ERROR] missing required field: ts'] } });
    const thread = this.thread(ch.id, ts);
    if (thread.length === 0) throw new ApiError('thread_not_found');
    return { ok: true, messages: thread.map((m) => this.wire(m)), has_more: false, response_metadata: { next_cursor: '' } };
  }

  private apiUsersInfo(args: Record<string, unknown>): Record<string, unknown> {
    const id = str(args, 'user');
    const u = id === undefined ? undefined : this.users.get(id);
    if (!u) throw new ApiError('user_not_found');
    const tz = u.tz ?? 'America/Los_Angeles';
    return {
      ok: true,
      user: {
        id: u.id,
        team_id: this.teamId,
        name: u.name,
        deleted: false,
        real_name: u.real_name ?? u.name,
        tz,
        tz_label: u.tz_label ?? (u.tz ? tz : 'Pacific Standard Time'),
        tz_offset: u.tz_offset ?? (u.tz ? 0 : -28800),
        is_bot: u.is_bot ?? false,
        is_app_user: false,
        profile: { real_name: u.real_name ?? u.name, display_name: u.name, team: this.teamId, ...(u.is_bot ? { bot_id: this.botId } : {}) },
      },
    };
  }

  private apiReactionsAdd(args: Record<string, unknown>): Record<string, unknown> {
    const ch = this.channelOrThrow(str(args, 'channel'));
    const ts = str(args, 'timestamp');
    const name = str(args, 'name');
    if (name === undefined) throw new ApiError('invalid_name');
    const m = ts === undefined ? undefined : ch.messages.get(ts);
    if (!m) throw new ApiError('message_not_found');
    const users = m.reactions.get(name) ?? [];
    if (users.includes(this.botUserId)) throw new ApiError('already_reacted');
    m.reactions.set(name, [...users, this.botUserId]);
    this.changed();
    return { ok: true };
  }

  /** Modals: checked and recorded (`views()`); a person submits one with `viewSubmission`. */
  private apiViewsOpen(args: Record<string, unknown>): Record<string, unknown> {
    if (str(args, 'trigger_id') === undefined) throw new ApiError('invalid_arguments', { response_metadata: { messages: ['[ERROR] missing required field: trigger_id'] } });
    const view = jsonArg(args, 'view', 'invalid_arguments');
    if (!isRecord(view) || view.type !== 'modal' || !Array.isArray(view.blocks)) throw new ApiError('invalid_arguments');
    const id = randomId('V0', 9);
    this.viewLog.push({ id, view, trigger_id: str(args, 'trigger_id') ?? '' });
    this.changed();
    return { ok: true, view: { ...view, id, team_id: this.teamId, app_id: this.appId, bot_id: this.botId } };
  }

  private apiGetUploadUrl(args: Record<string, unknown>): Record<string, unknown> {
    const filename = str(args, 'filename');
    const length = Number(str(args, 'length'));
    if (filename === undefined || !Number.isInteger(length) || length <= 0) {
      throw new ApiError('invalid_arguments', { response_metadata: { messages: ['[ERROR] filename and a positive integer length are required'] } });
    }
    const file_id = randomId('F0', 9);
    const key = randomBytes(12).toString('hex');
    const upload_url = `${this.baseUrl}/upload/v1/${key}`;
    this.uploadByKey.set(`/upload/v1/${key}`, file_id);
    this.uploadsById.set(file_id, { file_id, filename, length, upload_url, alt_text: str(args, 'alt_txt') ?? str(args, 'alt_text'), completed: false });
    this.changed();
    return { ok: true, upload_url, file_id };
  }

  private async onUpload(path: string, req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    const id = this.uploadByKey.get(path);
    const upload = id === undefined ? undefined : this.uploadsById.get(id);
    if (!upload) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const contentType = req.headers['content-type'] ?? '';
    let bytes = body;
    let encoding: LoopbackUpload['encoding'] = 'raw';
    if (contentType.toLowerCase().startsWith('multipart/form-data')) {
      const form = await new Response(new Uint8Array(body), { headers: { 'content-type': contentType } }).formData();
      // The first file part carries the bytes (the WebClient sends one, named after its `body` key).
      let text: string | undefined;
      let part: Buffer | undefined;
      for (const v of form.values()) {
        if (typeof v === 'string') text ??= v;
        else if (part === undefined) part = Buffer.from(await v.arrayBuffer());
      }
      bytes = part ?? Buffer.from(text ?? '');
      encoding = 'multipart';
    }
    upload.bytes = bytes;
    upload.encoding = encoding;
    this.changed();
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(`OK - ${bytes.length}`);
  }

  private apiCompleteUpload(args: Record<string, unknown>): Record<string, unknown> {
    const files = jsonArg(args, 'files', 'invalid_arguments');
    if (!Array.isArray(files) || files.length === 0 || !files.every((f) => isRecord(f) && typeof f.id === 'string')) {
      throw new ApiError('invalid_arguments', { response_metadata: { messages: ['[ERROR] files must be a non-empty JSON array of {id, title}'] } });
    }
    const uploads = (files as Array<{ id: string; title?: unknown }>).map((f) => {
      const u = this.uploadsById.get(f.id);
      if (!u || u.bytes === undefined || u.completed) throw new ApiError('file_not_found');
      return { u, title: typeof f.title === 'string' ? f.title : u.filename };
    });
    const channelRef = str(args, 'channel_id') ?? str(args, 'channels');
    const ch = channelRef === undefined ? undefined : this.channelOrThrow(channelRef);
    let threadTs = str(args, 'thread_ts');
    if (ch && threadTs !== undefined) {
      const parent = ch.messages.get(threadTs);
      if (!parent) throw new ApiError('thread_not_found');
      threadTs = parent.thread_ts ?? parent.ts;
    }
    const initial = str(args, 'initial_comment');
    const infos: LoopbackFileInfo[] = uploads.map(({ u, title }) => {
      u.completed = true;
      u.title = title;
      u.channel = ch?.id;
      u.thread_ts = threadTs;
      u.initial_comment = initial;
      return {
        id: u.file_id,
        name: u.filename,
        title,
        mimetype: guessMime(u.filename),
        size: u.bytes?.length ?? 0,
        url_private: `${this.baseUrl}/files-pri/${this.teamId}-${u.file_id}/${encodeURIComponent(u.filename)}`,
        permalink: `https://${this.teamDomain}.slack.com/files/${this.botUserId}/${u.file_id}/${encodeURIComponent(u.filename)}`,
      };
    });
    if (ch) {
      // Slack shares asynchronously: the message shows up a moment later and its ts is not returned.
      this.later(this.o.shareDelayMs, () => {
        const m = this.store(ch, { user: this.botUserId, bot_id: this.botId, app_id: this.appId, text: initial ?? '', files: infos, upload: true, thread_ts: threadTs, source: 'files.completeUploadExternal' });
        for (const { u } of uploads) u.shared_ts = m.ts;
        this.changed();
      });
    }
    this.changed();
    return { ok: true, files: infos.map((f) => ({ id: f.id, title: f.title, name: f.name, mimetype: f.mimetype, size: f.size, url_private: f.url_private, permalink: f.permalink })) };
  }

  // ---- response_url -----------------------------------------------------------------------------

  private newBinding(kind: ResponseBinding['kind'], channel: string, user: string, message_ts?: string): ResponseBinding {
    const n = `${Date.now()}${randomBytes(2).readUInt16BE()}`;
    const url = `${this.baseUrl}/${kind}/${this.teamId}/${n}/${randomBytes(12).toString('base64url')}`;
    const b: ResponseBinding = { url, kind, channel, user, message_ts, uses: 0, createdAt: Date.now() };
    this.bindings.set(url, b);
    return b;
  }

  private async onResponseUrl(url: string, req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    const b = this.bindings.get(url);
    let parsed: Record<string, unknown> = {};
    const answer = (status: number, a: Record<string, unknown>): void => {
      this.responseLog.push({ url, at: Date.now(), use: b?.uses ?? 0, body: parsed, status, answer: a });
      this.json(res, status, a);
      this.changed();
    };
    try {
      const text = body.toString('utf8');
      const ct = (req.headers['content-type'] ?? '').toLowerCase();
      const raw: unknown = ct.startsWith('application/x-www-form-urlencoded') ? JSON.parse(new URLSearchParams(text).get('payload') ?? '{}') : JSON.parse(text);
      if (!isRecord(raw)) throw new Error('not an object');
      parsed = raw;
    } catch {
      return answer(400, { ok: false, error: 'invalid_payload' });
    }
    if (!b) return answer(404, { ok: false, error: 'invalid_url' });
    if (Date.now() - b.createdAt > this.o.responseUrlTtlMs) return answer(404, { ok: false, error: 'expired_url' });
    if (b.uses >= this.o.responseUrlLimit) return answer(404, { ok: false, error: 'used_url' });
    b.uses += 1;
    try {
      this.applyResponse(b, parsed, 'response_url');
    } catch (err) {
      if (err instanceof ApiError) return answer(200, { ok: false, error: err.error });
      throw err;
    }
    return answer(200, { ok: true });
  }

  /** What Slack does with a response_url post or a slash command ack payload. */
  private applyResponse(b: ResponseBinding, body: Record<string, unknown>, via: 'response_url' | 'ack'): void {
    const ch = this.channelsById.get(b.channel);
    if (!ch) throw new ApiError('channel_not_found');
    if (bool(body, 'delete_original')) {
      const m = b.message_ts === undefined ? undefined : ch.messages.get(b.message_ts);
      if (!m) throw new ApiError('message_not_found');
      this.remove(ch, m);
      this.changed();
      return;
    }
    const content = this.content(body);
    if (!content.text && !content.blocks && !content.attachments) throw new ApiError('no_text');
    if (bool(body, 'replace_original') && b.message_ts !== undefined) {
      const m = ch.messages.get(b.message_ts);
      if (!m) throw new ApiError('message_not_found');
      this.revise(m, content, 'response_url');
    } else if (body.response_type === 'in_channel') {
      this.store(ch, { ...content, user: this.botUserId, bot_id: this.botId, app_id: this.appId, thread_ts: str(body, 'thread_ts'), source: via });
    } else {
      this.ephemeralLog.push({ channel: ch.id, user: b.user, ...content, thread_ts: str(body, 'thread_ts'), message_ts: this.nextTs(), at: Date.now(), source: via });
    }
    this.changed();
  }

  // ---- Socket Mode ----------------------------------------------------------------------------

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', this.baseUrl);
    const ticket = url.searchParams.get('ticket');
    const refuse = (why: string): void => {
      this.refused.push({ at: Date.now(), ticket, why });
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n');
      socket.destroy();
      this.changed();
    };
    if (this.closed) return refuse('closed');
    if (url.pathname !== '/link/' && url.pathname !== '/link') return refuse('bad_path');
    const t = ticket === null ? undefined : this.tickets.get(ticket);
    if (!t) return refuse('unknown_ticket');
    if (t.used) return refuse('ticket_already_used');
    t.used = true;
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, socket, ticket ?? ''));
  }

  private onConnection(ws: WebSocket, socket: Duplex, ticket: string): void {
    const info: ConnectionInfo = { id: this.conns.length + 1, ticket, state: 'open', openedAt: Date.now(), pingsReceived: 0, pongsReceived: 0, lastInboundAt: Date.now(), ignoredFrames: 0 };
    const conn: Conn = { info, ws, socket };
    this.conns.push(conn);
    ws.on('error', () => {
      // ECONNRESET and friends end in 'close'; nothing to do here.
    });
    ws.on('ping', (data: Buffer) => {
      info.lastInboundAt = Date.now();
      if (info.state === 'silent') {
        info.ignoredFrames += 1;
        return;
      }
      info.pingsReceived += 1;
      ws.pong(data);
    });
    ws.on('pong', () => {
      info.lastInboundAt = Date.now();
      if (info.state === 'silent') info.ignoredFrames += 1;
      else info.pongsReceived += 1;
    });
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      info.lastInboundAt = Date.now();
      if (info.state === 'silent') {
        info.ignoredFrames += 1;
        return;
      }
      if (isBinary) return;
      this.onClientFrame(conn, data.toString());
    });
    ws.on('close', (code: number, reason: Buffer) => {
      info.state = 'closed';
      info.closedAt = Date.now();
      info.closeCode = code;
      info.closeReason = reason.toString();
      this.changed();
    });
    this.sendFrame(conn, {
      type: 'hello',
      num_connections: this.connections(),
      debug_info: { host: `applink-loopback-${info.id}`, build_number: 1, approximate_connection_time: 18060 },
      connection_info: { app_id: this.appId },
    }, 'hello', '', 0);
    info.helloAt = Date.now();
    this.changed();
  }

  private onClientFrame(conn: Conn, text: string): void {
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!isRecord(frame) || typeof frame.envelope_id !== 'string') return;
    const envelopeId = frame.envelope_id;
    const p = this.pending.get(envelopeId);
    const sent = p?.attempts.find((a) => a.envelope_id === envelopeId);
    const at = Date.now();
    const ack: AckRecord = {
      envelope_id: envelopeId,
      payload: isRecord(frame.payload) ? frame.payload : undefined,
      connectionId: conn.info.id,
      at,
      attempt: sent?.attempt ?? -1,
      latencyMs: sent ? at - sent.at : -1,
      late: !p || p.done,
    };
    this.ackLog.push(ack);
    if (p && !p.done) {
      if (p.binding && ack.payload && (ack.payload.text !== undefined || ack.payload.blocks !== undefined)) {
        try {
          this.applyResponse(p.binding, ack.payload, 'ack');
        } catch {
          // A malformed ack payload shows the user nothing; the ack itself still counts.
        }
      }
      this.settle(p, 'acked', ack);
    }
    this.changed();
  }

  private deliver(input: RawEnvelopeInput, binding?: ResponseBinding): Promise<Delivery> {
    if (this.closed) return Promise.resolve({ outcome: 'closed', acked: false, attempts: [] });
    return new Promise<Delivery>((resolve) => {
      const p: Pending = {
        type: input.type,
        payload: input.payload,
        accepts: input.accepts_response_payload ?? false,
        maxRetries: input.maxRetries ?? (input.type === 'events_api' ? this.o.maxEventRetries : 0),
        ackTimeoutMs: input.ackTimeoutMs ?? this.o.ackTimeoutMs,
        attempts: [],
        done: false,
        resolve,
        binding,
        firstEnvelopeId: input.envelope_id,
      };
      this.attempt(p);
    });
  }

  private attempt(p: Pending): void {
    const attempt = p.attempts.length;
    const envelope_id = attempt === 0 && p.firstEnvelopeId ? p.firstEnvelopeId : randomUUID();
    const frame: Record<string, unknown> = { envelope_id, payload: p.payload, type: p.type, accepts_response_payload: p.accepts };
    if (p.type === 'events_api') {
      frame.retry_attempt = attempt;
      frame.retry_reason = attempt === 0 ? '' : 'timeout';
    }
    const conn = this.pickConnection();
    this.pending.set(envelope_id, p);
    if (conn) {
      p.attempts.push(this.sendFrame(conn, frame, p.type, envelope_id, attempt));
    } else {
      const rec: SentEnvelope = { envelope_id, type: p.type, attempt, connectionId: null, swallowed: false, at: Date.now(), frame };
      this.envelopeLog.push(rec);
      p.attempts.push(rec);
      if (p.maxRetries === 0) {
        this.settle(p, 'no_connection');
        return;
      }
    }
    this.changed();
    p.timer = this.later(p.ackTimeoutMs, () => {
      if (p.done) return;
      if (p.attempts.length <= p.maxRetries) this.attempt(p);
      else this.settle(p, p.attempts.every((a) => a.connectionId === null) ? 'no_connection' : 'timeout');
    });
  }

  private settle(p: Pending, outcome: Delivery['outcome'], ack?: AckRecord): void {
    if (p.done) return;
    p.done = true;
    if (p.timer) {
      clearTimeout(p.timer);
      this.timers.delete(p.timer);
    }
    p.resolve({ outcome, acked: outcome === 'acked', ack, attempts: [...p.attempts] });
  }

  /** Round robin over connections Slack would route to (open; silent ones too: they look alive). */
  private pickConnection(): Conn | undefined {
    const eligible = this.conns.filter((c) => (c.info.state === 'open' || c.info.state === 'silent') && c.ws.readyState === WebSocket.OPEN);
    if (eligible.length === 0) return undefined;
    const c = eligible[this.rr % eligible.length];
    this.rr += 1;
    return c;
  }

  private sendFrame(conn: Conn, frame: Record<string, unknown>, type: EnvelopeType, envelope_id: string, attempt: number): SentEnvelope {
    const swallowed = conn.info.state === 'silent';
    if (!swallowed && conn.ws.readyState === WebSocket.OPEN) conn.ws.send(JSON.stringify(frame));
    const rec: SentEnvelope = { envelope_id, type, attempt, connectionId: conn.info.id, swallowed, at: Date.now(), frame };
    this.envelopeLog.push(rec);
    return rec;
  }

  private select(sel: ConnectionSelector): Conn[] {
    return sel.connection === undefined ? this.conns : this.conns.filter((c) => c.info.id === sel.connection);
  }

  // ---- state helpers ----------------------------------------------------------------------------

  private nextTs(): string {
    this.tsCounter += 100;
    const sec = Math.floor(this.tsCounter / 1_000_000);
    const micro = this.tsCounter % 1_000_000;
    return `${sec}.${String(micro).padStart(6, '0')}`;
  }

  private triggerId(): string {
    return `${Math.floor(Date.now() / 1000)}.${randomBytes(4).readUInt32BE()}.${randomBytes(16).toString('hex')}`;
  }

  /** The first configured channel: where slash commands and clicks happen unless a test says otherwise. */
  private defaultChannel(): string {
    const first = this.channelsById.keys().next();
    if (first.done) throw new Error('slack-loopback: no channels configured');
    return first.value;
  }

  private findChannel(ref: string): ChannelState | undefined {
    const byId = this.channelsById.get(ref);
    if (byId) return byId;
    const name = ref.replace(/^#/, '');
    return [...this.channelsById.values()].find((c) => c.name !== undefined && c.name === name);
  }

  private requireChannel(ref: string): ChannelState {
    const ch = this.findChannel(ref);
    if (!ch) throw new Error(`slack-loopback: unknown channel ${ref} (known: ${[...this.channelsById.values()].map((c) => c.name ?? c.id).join(', ')})`);
    return ch;
  }

  private channelOrThrow(ref: string | undefined): ChannelState {
    const ch = ref === undefined ? undefined : this.findChannel(ref);
    if (!ch) throw new ApiError('channel_not_found');
    return ch;
  }

  /** chat.postMessage also accepts a user id: the message goes to the IM with that person. */
  private channelForPost(ref: string | undefined): ChannelState {
    if (ref !== undefined && /^[UW][A-Z0-9]+$/.test(ref) && this.users.has(ref)) {
      const id = `D${ref.slice(1)}`;
      if (!this.channelsById.has(id)) this.channelsById.set(id, { id, user: ref, messages: new Map() });
      return this.channelsById.get(id) as ChannelState;
    }
    return this.channelOrThrow(ref);
  }

  private store(ch: ChannelState, m: Omit<StoredMessage, 'ts' | 'channel' | 'revisions' | 'reactions' | 'text'> & { text?: string }): StoredMessage {
    const ts = this.nextTs();
    const msg: StoredMessage = {
      ...m,
      text: m.text ?? '',
      channel: ch.id,
      ts,
      reactions: new Map(),
      revisions: [{ text: m.text ?? '', blocks: m.blocks, attachments: m.attachments, at: Date.now(), by: m.source === 'response_url' ? 'response_url' : 'post' }],
    };
    if (msg.thread_ts === undefined) delete msg.thread_ts;
    ch.messages.set(ts, msg);
    return msg;
  }

  private revise(m: StoredMessage, content: { text: string; blocks?: SlackBlock[]; attachments?: unknown[] }, by: MessageRevision['by']): void {
    m.text = content.text;
    m.blocks = content.blocks;
    m.attachments = content.attachments;
    m.edited = { user: this.botUserId, ts: this.nextTs() };
    m.revisions.push({ ...content, at: Date.now(), by });
  }

  private remove(ch: ChannelState, m: StoredMessage): void {
    const hasReplies = m.thread_ts === m.ts && [...ch.messages.values()].some((r) => r.thread_ts === m.ts && r.ts !== m.ts);
    if (hasReplies) {
      // Slack leaves a tombstone so the thread stays reachable.
      Object.assign(m, { subtype: 'tombstone', text: 'This message was deleted.', blocks: undefined, attachments: undefined, files: undefined, user: 'USLACKBOT', bot_id: undefined });
    } else {
      ch.messages.delete(m.ts);
    }
  }

  /** A stored message in Slack's wire shape (what history/replies/postMessage return). */
  private slackShape(ch: ChannelState, m: StoredMessage): Record<string, unknown> {
    const out: Record<string, unknown> = { type: 'message', ts: m.ts, text: m.text };
    if (m.subtype) out.subtype = m.subtype;
    if (m.user) out.user = m.user;
    if (m.bot_id) {
      out.bot_id = m.bot_id;
      out.app_id = m.app_id;
      out.bot_profile = { id: m.bot_id, app_id: m.app_id, name: this.botName, team_id: this.teamId, deleted: false };
    }
    out.team = this.teamId;
    if (m.blocks) out.blocks = m.blocks;
    if (m.attachments) out.attachments = m.attachments;
    if (m.files) {
      out.files = m.files;
      out.upload = m.upload ?? false;
      out.display_as_bot = false;
    }
    if (m.edited) out.edited = m.edited;
    if (m.reactions.size > 0) out.reactions = [...m.reactions].map(([name, users]) => ({ name, users, count: users.length }));
    const replies = [...ch.messages.values()].filter((r) => r.thread_ts === m.ts && r.ts !== m.ts).sort((a, b) => tsCompare(a.ts, b.ts));
    if (replies.length > 0) {
      out.thread_ts = m.ts;
      out.reply_count = replies.length;
      out.reply_users = [...new Set(replies.map((r) => r.user ?? ''))];
      out.reply_users_count = (out.reply_users as string[]).length;
      out.latest_reply = replies.at(-1)?.ts;
    } else if (m.thread_ts && m.thread_ts !== m.ts) {
      out.thread_ts = m.thread_ts;
      out.parent_user_id = ch.messages.get(m.thread_ts)?.user;
      if (m.reply_broadcast) out.subtype = 'thread_broadcast';
    }
    return out;
  }

  private expose(ch: ChannelState, m: StoredMessage): LoopbackMessage {
    const shaped = structuredClone(this.slackShape(ch, m)) as unknown as Omit<LoopbackMessage, 'revisions' | 'source' | 'channel'>;
    return { ...shaped, channel: ch.id, revisions: structuredClone(m.revisions), source: m.source };
  }

  /** Strip loopback-only fields for API answers. */
  private wire(m: LoopbackMessage): Record<string, unknown> {
    const { revisions: _r, source: _s, channel: _c, ...rest } = m;
    return rest;
  }

  // ---- waiting ------------------------------------------------------------------------------------

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) fn();
    }, ms);
    t.unref();
    this.timers.add(t);
    return t;
  }

  private changed(): void {
    for (const w of [...this.waiters]) w.check();
  }

  private waitUntil<T>(what: string, timeoutMs: number, probe: () => T | undefined, diagnose: () => string): Promise<T> {
    const now = probe();
    if (now !== undefined) return Promise.resolve(now);
    if (this.closed) return Promise.reject(new Error(`slack-loopback: closed; cannot wait for ${what}`));
    return new Promise<T>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      const waiter: Waiter = {
        check: () => {
          const v = probe();
          if (v !== undefined) {
            finish();
            resolve(v);
          }
        },
        fail: (err) => {
          finish();
          reject(err);
        },
      };
      const timer = setTimeout(() => waiter.fail(new Error(`slack-loopback: no ${what} within ${timeoutMs} ms; ${diagnose()}`)), timeoutMs);
      this.waiters.add(waiter);
    });
  }
}

function guessMime(filename: string): string {
  const ext = filename.split('.').pop()?.toLowerCase() ?? '';
  const table: Record<string, string> = {
    png: 'image/png',
    jpg: 'image/jpeg',
    jpeg: 'image/jpeg',
    gif: 'image/gif',
    svg: 'image/svg+xml',
    txt: 'text/plain',
    log: 'text/plain',
    md: 'text/markdown',
    json: 'application/json',
    csv: 'text/csv',
    pdf: 'application/pdf',
  };
  return table[ext] ?? 'application/octet-stream';
}
