import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/client/client.js';
import { resolvePaths } from '../../src/config/paths.js';
import type { Notification, WatchItem } from '../../src/protocol/index.js';
import { kill9, startRun, waitStatus, type Run } from '../support/engine-fixtures.js';
import { cli, tempHome, waitFor, waitGone, type TempHome } from '../support/home.js';
import { inbox, waitDelivery } from '../support/notify.js';
import { RawPeer } from '../support/raw-socket.js';
import { startWebhookReceiver } from '../support/webhook-receiver.js';

type Receiver = Awaited<ReturnType<typeof startWebhookReceiver>>;

/** A loopback port nothing listens on (taken, then released): connecting to it is refused. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function writeConfig(h: TempHome, yaml: string): void {
  writeFileSync(join(h.home, 'config.yaml'), yaml);
}

function writeWorkflow(h: TempHome, name: string, yaml: string): void {
  mkdirSync(join(h.home, 'workflows'), { recursive: true });
  writeFileSync(join(h.home, 'workflows', name), yaml);
}

const NOTIFY_ONCE = `id: tell
notifications: [completion]
steps:
  - id: say
    notify: { text: "disk at {{ params.pct }}% on db-1", level: critical }
params:
  pct: { type: number, default: 91 }
`;


describe('notifications: outbox, channels, inbox', () => {
  let h: TempHome;
  let hook: Receiver;

  beforeEach(async () => {
    h = tempHome('opn-');
    hook = await startWebhookReceiver([200]);
  });

  afterEach(async () => {
    await h.cleanup();
    await hook.close();
  });

  it('a notify step reaches the inbox and the webhook exactly once, signed, and says where it was queued', async () => {
    writeConfig(h, `notify:\n  desktop: off\n  webhooks:\n    - name: ops\n      url: "${hook.url}"\n      secret: "\${HOOK_SECRET}"\n`);
    h.env.HOOK_SECRET = 's3cret-value';
    writeWorkflow(h, 'tell.yaml', NOTIFY_ONCE);
    const id = await startRun(h, ['tell']);
    const run = await waitStatus(h, id, (r) => r.status === 'succeeded', 'the run to succeed');
    expect(run.steps.find((s: Run) => s.id === 'say').output).toEqual({ delivered_to: ['terminal', 'ops'] });

    const items = await waitDelivery(h, id, (ns) => ns.length === 2 && ns.every((n) => Object.values(n.channels).every((c) => c.state === 'sent')), 'both notifications sent');
    const say = items.find((n) => n.kind === 'notify')!;
    expect(say.text).toBe('disk at 91% on db-1');
    expect(say.level).toBe('critical');
    expect(say.channels.ops).toMatchObject({ state: 'sent', attempts: 1, receipt: 'HTTP 200' });
    expect(say.channels.terminal.state).toBe('sent');

    await hook.waitFor(2);
    expect(hook.accepted()).toHaveLength(2);
    expect(hook.received).toHaveLength(2);
    const got = hook.received.find((r) => r.json.kind === 'notify')!;
    expect(got.headers['idempotency-key']).toBe(say.id);
    expect(hook.verify(got, 's3cret-value')).toBe(true);
    expect(got.json).toMatchObject({ source: 'opstream', id: say.id, level: 'critical', text: 'disk at 91% on db-1', run: { id, workflow: 'tell', step: 'say' } });
    // the secret is in no payload, header or log line
    expect(JSON.stringify(hook.received)).not.toContain('s3cret-value');
    const log = readFileSync(resolvePaths(h.env).logFile, 'utf8');
    expect(log).not.toContain('s3cret-value');

    // status lists them with their delivery state; logs shows their text among the events
    expect(run.notifications?.length ?? 0).toBeGreaterThanOrEqual(1);
    const logs = await cli(['logs', id], h.env);
    expect(logs.stdout).toContain('disk at 91% on db-1');
    expect(logs.stdout).toMatch(/^\d\d:\d\d:\d\d {2}run succeeded$/m);
  });

  it('500 then 200 is delivered once after a retry; 410 is a permanent failure shown in inbox; a refused connection keeps retrying', async () => {
    const gone = await startWebhookReceiver([410]);
    const closed = await closedPort();
    try {
      hook.setScript([500, 200]);
      writeConfig(h, `notify:\n  desktop: off\n  webhooks:\n    - { name: flaky, url: "${hook.url}" }\n    - { name: gone, url: "${gone.url}" }\n    - { name: down, url: "http://127.0.0.1:${closed}/nothing" }\n`);
      writeWorkflow(h, 'tell.yaml', NOTIFY_ONCE.replace('[completion]', '[]'));
      const id = await startRun(h, ['tell']);
      await waitStatus(h, id, (r) => r.status === 'succeeded', 'the run to go on and succeed');
      const [n] = await waitDelivery(h, id, (ns) => ns[0]?.channels.flaky?.state === 'sent' && ns[0]?.channels.gone?.state === 'failed' && ns[0]?.channels.down?.attempts >= 1, 'flaky sent, gone failed, down tried');
      expect(n.channels.flaky).toMatchObject({ state: 'sent', attempts: 2 });
      expect(hook.received.map((r) => r.status)).toEqual([500, 200]);
      expect(hook.accepted()).toHaveLength(1);
      expect(n.channels.gone.state).toBe('failed');
      expect(n.channels.gone.attempts).toBe(1);
      expect(n.channels.gone.last_error).toMatch(/HTTP 410.*permanent/);
      expect(n.channels.down.state).toBe('pending');
      expect(n.channels.down.last_error).toMatch(/ECONNREFUSED/);
      expect(n.channels.terminal.state).toBe('sent');
      const text = await cli(['inbox', '--run', id], h.env);
      expect(text.stdout).toMatch(/gone:failed/);
      expect(text.stdout).toMatch(/HTTP 410/);
    } finally {
      await gone.close();
    }
  });

  it('a bad port fails at once and visibly; a 503 backs off on its own message while the next one on the same channel goes out', async () => {
    // port 9 is one the fetch standard refuses to connect to ("bad port"): no retry can ever work
    hook.setScript([{ status: 503, headers: { 'retry-after': '3' } }, 200]);
    writeConfig(h, `notify:\n  desktop: off\n  webhooks:\n    - { name: bad, url: "http://127.0.0.1:9/x" }\n    - { name: ops, url: "${hook.url}" }\n`);
    writeWorkflow(h, 'two.yaml', `id: two\nnotifications: []\nsteps:\n  - id: first\n    notify: { text: "first alert", level: critical }\n  - id: second\n    notify: { text: "second alert", level: critical }\n`);
    const id = await startRun(h, ['two']);
    await waitStatus(h, id, (r) => r.status === 'succeeded', 'the run');
    const ns = await waitDelivery(h, id, (items) => items.length === 2 && items.every((x) => x.channels.ops.state === 'sent' && x.channels.bad.state === 'failed'), 'ops sent both, bad failed both');
    const [first, second] = ns;
    expect(first.text).toBe('first alert');
    // the first got 503 and waited out its Retry-After; the second did not wait behind it
    expect(hook.received.map((r) => [r.json.text, r.status])).toEqual([
      ['first alert', 503],
      ['second alert', 200],
      ['first alert', 200],
    ]);
    expect(first.channels.ops).toMatchObject({ state: 'sent', attempts: 2 });
    expect(second.channels.ops).toMatchObject({ state: 'sent', attempts: 1 });
    expect(Date.parse(first.channels.ops.sent_at!)).toBeGreaterThan(Date.parse(second.channels.ops.sent_at!));
    expect(new Set(hook.accepted().map((r) => r.headers['idempotency-key']))).toEqual(new Set([first.id, second.id]));
    // the bad port: one attempt each, failed with the reason, not retried while the others went on
    for (const n of ns) {
      expect(n.channels.bad).toMatchObject({ state: 'failed', attempts: 1, next_at: null });
      expect(n.channels.bad.last_error).toMatch(/port 9 is blocked.*bad port.*permanent: not retried/);
    }
    const text = await cli(['inbox', '--run', id], h.env);
    expect(text.stdout).toMatch(/bad:failed/);
    expect(text.stdout).toMatch(/bad: cannot use http:\/\/127\.0\.0\.1:9\/x: port 9 is blocked/);
    const st = await cli(['notify', 'status', '--json'], h.env);
    expect(st.code, st.stderr).toBe(0);
    const channels = (JSON.parse(st.stdout) as { channels: { name: string; kind: string; target: string | null; pending: number; sent: number; failed: number; last_problem: { state: string; error: string } | null }[] }).channels;
    const bad = channels.find((c) => c.name === 'bad')!;
    expect(bad).toMatchObject({ kind: 'webhook', target: 'http://127.0.0.1:9/x', pending: 0, sent: 0, failed: 2, last_problem: { state: 'failed' } });
    expect(bad.last_problem!.error).toMatch(/bad port/);
    expect(channels.find((c) => c.name === 'ops')).toMatchObject({ pending: 0, sent: 2, failed: 0 });
    const human = await cli(['notify', 'status'], h.env);
    expect(human.stdout).toMatch(/^bad\s+webhook\s+http:\/\/127\.0\.0\.1:9\/x\s+0\s+0\s+2/m);
    expect(human.stdout).toMatch(/bad: failed after 1 attempt, .*port 9 is blocked/);
  });

  it('a notification written before a kill -9 and not yet delivered is delivered after the restart, once per key', async () => {
    hook.setScript(['hang']);
    writeConfig(h, `notify:\n  desktop: off\n  webhooks:\n    - { name: ops, url: "${hook.url}", timeout: 60s }\n`);
    writeWorkflow(h, 'tell.yaml', NOTIFY_ONCE.replace('[completion]', '[]'));
    const id = await startRun(h, ['tell']);
    await hook.waitFor(1); // the daemon is in the middle of delivering it
    await waitGone(kill9(h));
    hook.setScript([200]);
    const [n] = await waitDelivery(h, id, (ns) => ns[0]?.channels.ops?.state === 'sent', 'delivery after the restart', 60_000);
    expect(hook.accepted()).toHaveLength(1);
    expect(new Set(hook.received.map((r) => r.headers['idempotency-key']))).toEqual(new Set([n.id]));
    expect(n.channels.terminal.state).toBe('sent');
  });

  it('an approval raised before a kill -9 is in the outbox after it, delivered and not duplicated', async () => {
    writeConfig(h, `notify:\n  desktop: off\n  webhooks:\n    - { name: pager, url: "${hook.url}", levels: [critical] }\n`);
    writeWorkflow(h, 'gate.yaml', `id: gate\nsteps:\n  - id: ask\n    approval: { prompt: "restart checkout-api?" }\n  - id: done\n    notify: { text: "restarted", level: info }\n`);
    const id = await startRun(h, ['gate']);
    await waitStatus(h, id, (r) => r.status === 'waiting', 'the run to wait for approval');
    await hook.waitFor(1);
    await waitGone(kill9(h));
    const r = await cli(['status', id, '--json'], h.env);
    const run = JSON.parse(r.stdout) as Run;
    const approvals = (run.notifications as Notification[]).filter((n) => n.kind === 'approval');
    expect(approvals).toHaveLength(1);
    expect(approvals[0].text).toContain('restart checkout-api?');
    expect(approvals[0].text).toContain(`opstream approve ${id}`);
    expect(approvals[0].channels.pager.state).toBe('sent');
    // still answerable after the restart
    expect((await cli(['approve', id], h.env)).code).toBe(0);
    await waitStatus(h, id, (x) => x.status === 'succeeded', 'the run to finish');
    const ns = await waitDelivery(h, id, (items) => items.some((x) => x.kind === 'notify') && items.every((x) => x.channels.terminal.state === 'sent'), 'the notify step and the approval');
    expect(ns.filter((n) => n.kind === 'approval')).toHaveLength(1);
    // the info one does not go to a critical-only webhook
    expect(ns.find((n) => n.kind === 'notify')!.channels.pager).toBeUndefined();
    expect(hook.accepted()).toHaveLength(1);
  });

  it('a TLS certificate for another name fails the webhook at once, not retried, while a good one delivers', async () => {
    // a CA the daemon trusts (NODE_EXTRA_CA_CERTS), whose certificate names hooks.example.com, not 127.0.0.1
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(h.home, 'k.pem'), '-out', join(h.home, 'c.pem'), '-days', '1', '-subj', '/CN=hooks.example.com', '-addext', 'subjectAltName=DNS:hooks.example.com'], { stdio: 'ignore' });
    const tls = createHttpsServer({ key: readFileSync(join(h.home, 'k.pem')), cert: readFileSync(join(h.home, 'c.pem')) }, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    try {
      h.env.NODE_EXTRA_CA_CERTS = join(h.home, 'c.pem');
      const url = `https://127.0.0.1:${(tls.address() as AddressInfo).port}/hook`;
      writeConfig(h, `notify:\n  desktop: off\n  webhooks:\n    - { name: tls, url: "${url}" }\n    - { name: ops, url: "${hook.url}" }\n`);
      writeWorkflow(h, 'tell.yaml', NOTIFY_ONCE.replace('[completion]', '[]'));
      const id = await startRun(h, ['tell']);
      const [n] = await waitDelivery(h, id, (ns) => ns[0]?.channels.tls?.state === 'failed' && ns[0]?.channels.ops?.state === 'sent', 'tls failed, ops sent');
      expect(n.channels.tls).toMatchObject({ attempts: 1, next_at: null });
      expect(n.channels.tls.last_error).toMatch(/TLS: Hostname\/IP does not match certificate's altnames.*permanent: not retried/);
    } finally {
      await new Promise<void>((r) => tls.close(() => r()));
    }
  });

  it('PagerDuty: a critical notification triggers an incident keyed by the run, the run\'s recovery resolves it', async () => {
    hook.setScript([{ status: 202, body: '{"status":"success","dedup_key":"x"}' }]);
    writeConfig(h, `notify:\n  desktop: off\n  webhooks:\n    - { name: pd, url: "${hook.url}", format: pagerduty, routing_key: "\${PD_KEY}" }\n`);
    h.env.PD_KEY = 'R0UT1NGKEY0123456789';
    writeWorkflow(h, 'slo.yaml', `id: slo\nnotifications: []\nsteps:\n  - id: breach\n    notify: { text: "availability 0% < 99%", level: critical }\n  - id: fine\n    notify: { text: "SLO restored in 2m", level: info }\n  - id: later\n    notify: { text: "another breach", level: critical }\n`);
    const id = await startRun(h, ['slo']);
    await waitStatus(h, id, (r) => r.status === 'succeeded', 'the run');
    await hook.waitFor(4);
    const events = hook.received.map((r) => r.json);
    expect(events.map((e) => e.event_action)).toEqual(['trigger', 'resolve', 'trigger', 'resolve']);
    expect(events.every((e) => e.dedup_key === id && e.routing_key === 'R0UT1NGKEY0123456789')).toBe(true);
    expect(events[0].payload).toMatchObject({ severity: 'critical', component: 'slo', source: expect.any(String) });
    expect(String((events[0].payload as { summary: string }).summary)).toContain('availability 0% < 99%');
    // the run's end resolved the second incident; nothing is left open
    const ns = await waitDelivery(h, id, (items) => items.filter((x) => x.channels.pd).every((x) => x.channels.pd.state === 'sent'), 'all PD deliveries recorded');
    expect(ns.filter((n) => n.channels.pd).length).toBe(4);
  });

  it('PagerDuty: a failed run triggers and stays open; only a later successful run of the same workflow and service resolves it', async () => {
    hook.setScript([{ status: 202, body: '{"status":"success"}' }]);
    h.env.OPSTREAM_ENGINE_FAULTS = '1';
    h.env.PD_KEY = 'R0UT1NGKEY0123456789';
    writeConfig(h, `notify:\n  desktop: off\n  webhooks:\n    - { name: pd, url: "${hook.url}", format: pagerduty, routing_key: "\${PD_KEY}" }\n`);
    writeWorkflow(h, 'backup.yaml', `id: backup\nnotifications: [errors, completion]\nparams:\n  service: { type: string, default: db-1 }\n  fail: { type: boolean, default: false }\nsteps:\n  - id: dump\n    when: "{{ params.fail }}"\n    tool: engine_test.throw\n    with: { message: "backup of db-1 failed" }\n`);
    const bad = await startRun(h, ['backup', 'fail=true']);
    await waitStatus(h, bad, (r) => r.status === 'failed', 'the run to fail');
    // everything the failure queued has been delivered: one trigger, nothing resolving it
    await waitDelivery(h, bad, (items) => items.length > 0 && items.every((x) => Object.values(x.channels).every((c) => c.state !== 'pending')), 'the failure notifications delivered');
    expect(hook.received.map((r) => r.json.event_action)).toEqual(['trigger']);
    const trigger = hook.received[0].json;
    expect(trigger.dedup_key).toBe('opstream:backup:db-1');
    expect(String((trigger.payload as { summary: string }).summary)).toContain('backup of db-1 failed');

    // another service's success is not this incident's recovery
    const other = await startRun(h, ['backup', 'service=db-2']);
    await waitStatus(h, other, (r) => r.status === 'succeeded', 'the run on db-2');
    await waitDelivery(h, other, (items) => items.length > 0 && items.every((x) => Object.values(x.channels).every((c) => c.state !== 'pending')), 'db-2 notifications delivered');
    expect(hook.received).toHaveLength(1);

    const good = await startRun(h, ['backup']);
    await waitStatus(h, good, (r) => r.status === 'succeeded', 'the next run to succeed');
    await hook.waitFor(2);
    const resolve = hook.received[1].json;
    expect(resolve).toMatchObject({ event_action: 'resolve', dedup_key: 'opstream:backup:db-1', routing_key: 'R0UT1NGKEY0123456789' });
    const ns = await waitDelivery(h, good, (items) => items.some((x) => x.channels.pd?.state === 'sent'), 'the resolve recorded');
    expect(ns.find((x) => x.channels.pd)!.text).toMatch(/backup on db-1 succeeded again .*resolved/);
  });

  it('desktop notifications go through notify-send with a title that says it is critical', async () => {
    const bin = join(h.home, 'bin');
    mkdirSync(bin);
    const out = join(h.home, 'notify-send.out');
    writeFileSync(join(bin, 'notify-send'), `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a" >> "${out}"; done\necho --- >> "${out}"\n`);
    chmodSync(join(bin, 'notify-send'), 0o755);
    h.env.PATH = `${bin}:${h.env.PATH}`;
    h.env.DISPLAY = ':99';
    writeWorkflow(h, 'tell.yaml', NOTIFY_ONCE.replace('[completion]', '[]'));
    const id = await startRun(h, ['tell']);
    const [n] = await waitDelivery(h, id, (ns) => ns[0]?.channels.desktop?.state === 'sent', 'the desktop delivery');
    expect(n.channels.desktop.receipt).toMatch(/notify-send/);
    const args = readFileSync(out, 'utf8').split('\n');
    expect(args).toContain('--urgency=critical');
    expect(args.find((a) => a.startsWith('OpStream: CRITICAL:'))).toContain('disk at 91% on db-1');
    expect(args).toContain('disk at 91% on db-1');
  });

  it('headless: no desktop channel; a failing notify-send is a clear failure after retries, the run goes on', async () => {
    const bin = join(h.home, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'notify-send'), `#!/bin/sh\necho "GDBus.Error:org.freedesktop.DBus.Error.ServiceUnknown: no notification server" >&2\nexit 1\n`);
    chmodSync(join(bin, 'notify-send'), 0o755);
    h.env.PATH = `${bin}:${h.env.PATH}`;
    delete h.env.DISPLAY;
    delete h.env.WAYLAND_DISPLAY;
    writeWorkflow(h, 'tell.yaml', NOTIFY_ONCE.replace('[completion]', '[]'));
    const first = await startRun(h, ['tell']);
    await waitStatus(h, first, (r) => r.status === 'succeeded', 'the run');
    expect(Object.keys((await inbox(h, first))[0].channels)).toEqual(['terminal']);
    await cli(['daemon', 'stop'], h.env);

    writeConfig(h, 'notify:\n  desktop: "on"\n');
    const id = await startRun(h, ['tell']);
    await waitStatus(h, id, (r) => r.status === 'succeeded', 'the run to go on');
    const [n] = await waitDelivery(h, id, (ns) => ns[0]?.channels.desktop?.state === 'failed', 'desktop to fail for good');
    expect(n.channels.desktop.attempts).toBe(3);
    expect(n.channels.desktop.last_error).toMatch(/ServiceUnknown.*gave up after 3 attempts/);
  });

  it('a 1 MB text is capped, and a notify step naming an unknown webhook is a workflow problem with file and line', async () => {
    writeWorkflow(h, 'big.yaml', `id: big\nsteps:\n  - id: say\n    notify: { text: "{{ params.text }}", level: info }\nparams:\n  text: { type: string }\n`);
    writeWorkflow(h, 'bad.yaml', `id: bad\nsteps:\n  - id: say\n    notify:\n      text: hi\n      channel: pagerz\n`);
    writeWorkflow(h, 'slacky.yaml', `id: slacky\nsteps:\n  - id: say\n    notify: { text: hi, channel: "#incidents" }\n`);
    const v = await cli(['workflows', 'validate', join(h.home, 'workflows', 'bad.yaml')], h.env);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/bad\.yaml:6:\d+: steps\.0\.notify\.channel: no notification channel "pagerz"/);
    const s = await cli(['workflows', 'validate', join(h.home, 'workflows', 'slacky.yaml')], h.env);
    expect(s.code).toBe(0);
    expect(s.stderr).toMatch(/warning: .*slacky\.yaml:4:\d+: .*Slack is not configured/);
    const big = 'x'.repeat(1024 * 1024);
    const bigFile = join(h.home, 'args.txt');
    writeFileSync(bigFile, big);
    const c = await DaemonClient.connect({ env: h.env, client: 'test' });
    try {
      const run = await c.request('runs.start', { workflow: 'big', args: [`text=${big.slice(0, 9000)}`] });
      await waitStatus(h, run.id, (r) => r.status === 'succeeded', 'the run');
      const [n] = await inbox(h, run.id);
      expect(n.text.length).toBeLessThan(8 * 1024 + 200);
      expect(n.text).toMatch(/more characters cut/);
      const bad = await c.request('runs.start', { workflow: 'bad', args: [] }).catch((e: Error) => e);
      expect(String(bad)).toMatch(/bad/);
    } finally {
      c.close();
    }
  });
});

describe('runs.watch: a typed live stream with cursors', () => {
  let h: TempHome;
  beforeEach(() => {
    h = tempHome('opw-');
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it('a reconnect with the last cursor misses nothing and repeats nothing, also across a daemon restart', async () => {
    writeWorkflow(h, 'tick.yaml', `id: tick\nnotifications: [start, completion]\nsteps:\n  - id: a\n    notify: { text: "a", level: info }\n  - id: b\n    notify: { text: "b", level: info }\n`);
    const seen: WatchItem[] = [];
    const c1 = await DaemonClient.connect({ env: h.env, client: 'test' });
    const first = await c1.watch({}, (item) => seen.push(item));
    expect(Array.isArray(first.runs)).toBe(true);
    const r1 = await c1.request('runs.start', { workflow: 'tick', args: [] });
    await waitFor(() => seen.some((i) => i.topic === 'runs' && i.event === 'run.succeeded' && i.data.run_id === r1.id), { what: 'run 1 to end on the stream' });
    const cut = seen[seen.length - 1].cursor;
    c1.close();

    // while nobody watches: another run, and a daemon restart
    const r2 = await startRun(h, ['tick']);
    await waitStatus(h, r2, (r) => r.status === 'succeeded', 'run 2');
    await cli(['daemon', 'stop'], h.env);
    const r3 = await startRun(h, ['tick']);
    await waitStatus(h, r3, (r) => r.status === 'succeeded', 'run 3');

    const c2 = await DaemonClient.connect({ env: h.env, client: 'test' });
    const after: WatchItem[] = [];
    await c2.watch({ cursor: cut, snapshot: false }, (item) => after.push(item));
    await waitFor(() => after.some((i) => i.topic === 'runs' && i.event === 'run.succeeded' && i.data.run_id === r3), { what: 'the replay to reach run 3' });
    const all = [...seen, ...after];
    const cursors = all.map((i) => i.cursor);
    expect(new Set(cursors).size).toBe(cursors.length); // no repeat
    expect(cursors).toEqual([...cursors].sort((a, b) => a - b)); // in order
    // no gap: a full replay from the start holds exactly the same items
    const full: WatchItem[] = [];
    const c3 = await DaemonClient.connect({ env: h.env, client: 'test' });
    await c3.watch({ cursor: 0, snapshot: false }, (item) => full.push(item));
    await waitFor(() => full.length >= cursors[cursors.length - 1] - cursors[0] + 1 ? true : full.some((i) => i.cursor === cursors[cursors.length - 1]), { what: 'the full replay' });
    const fullCursors = full.map((i) => i.cursor).filter((x) => x >= cursors[0] && x <= cursors[cursors.length - 1]);
    expect(fullCursors).toEqual(cursors);
    for (const id of [r1.id, r2, r3]) {
      expect(all.filter((i) => i.topic === 'runs' && i.data.run_id === id && i.event === 'run.succeeded')).toHaveLength(1);
      expect(all.filter((i) => i.topic === 'notifications' && i.event === 'notification' && i.data.run_id === id).map((i) => i.data.kind)).toEqual(['start', 'notify', 'notify', 'completion']);
    }
    c2.close();
    c3.close();

    // an unknown topic is an error, not silence
    const c4 = await DaemonClient.connect({ env: h.env, client: 'test' });
    await expect(c4.request('subscribe', { topic: 'runz' as never })).rejects.toThrow(/unknown topic "runz"/);
    await expect(c4.request('runs.watch', { cursor: 10_000_000 })).rejects.toThrow(/ahead of this daemon's feed/);
    c4.close();
  });
});

describe('a subscriber that stops reading', () => {
  let h: TempHome;
  beforeEach(() => {
    h = tempHome('ops-');
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it('is dropped with a clear event once its backlog passes the cap; the daemon and other clients go on', async () => {
    h.env.OPSTREAM_ENGINE_FAULTS = '1';
    // 150 events of ~60 KB each: far more than the socket buffers and the 4 MiB cap together
    writeWorkflow(h, 'blobs.yaml', `id: blobs\nnotifications: []\nsteps:\n  - id: loop\n    repeat: { every: 0s, max_iterations: 150 }\n    steps:\n      - id: blob\n        tool: engine_test.noop\n        with: { value: ${JSON.stringify('x'.repeat(60_000))} }\n`);
    expect((await cli(['daemon', 'start'], h.env)).code).toBe(0);
    const slow = await RawPeer.open(resolvePaths(h.env).socket);
    await slow.hello();
    slow.request('w', 'runs.watch', {});
    await slow.next(); // the watch reply; from here on this peer reads nothing
    slow.socket.pause();
    const id = await startRun(h, ['blobs']);
    await waitStatus(h, id, (r) => r.status === 'succeeded', 'the run', 90_000);
    // the daemon still answers everyone else
    expect((await cli(['status', '--json'], h.env)).code).toBe(0);
    slow.socket.resume();
    const dropped = await waitFor(async () => {
      const f = await slow.next();
      return f.event === 'watch.dropped' ? f : null;
    }, { what: 'the drop notice', timeoutMs: 60_000 });
    expect((dropped.data as { reason: string }).reason).toMatch(/^slow_consumer: over 4 MiB/);
    expect((dropped.data as { cursor: number }).cursor).toBeGreaterThan(0);
    slow.close();
  });
});

describe('the CLI a newcomer meets', () => {
  let h: TempHome;
  beforeEach(() => {
    h = tempHome('opc-');
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it('help works, missing args print the usage, errors name no protocol method', async () => {
    const help = await cli(['help'], h.env);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/daemon\s+Start, stop, inspect or install/);
    const start = await cli(['help', 'start'], h.env);
    expect(start.code).toBe(0);
    expect(start.stdout).toContain('opstream start WORKFLOW');
    const missing = await cli(['logs'], h.env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('opstream: missing required argument ID (run id)\n');
    expect(missing.stderr).toContain('Usage: opstream logs ID');
    const bad = await cli(['status', 'bad-id'], h.env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).not.toMatch(/runs\.get/);
    expect(bad.stderr).toMatch(/^opstream: id: not a run id/);
    const unknown = await cli(['status', 'r_zzzzzzzz'], h.env);
    expect(unknown.stderr).toMatch(/no run r_zzzzzzzz/);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
  });
});
