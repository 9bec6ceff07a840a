import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRun, waitStatus } from '../support/engine-fixtures.js';
import { cli, waitFor } from '../support/home.js';
import { startOllamaLoopback, type OllamaLoopback } from '../support/ollama-loopback.js';
import { connected, PEOPLE, setupSlack, shown, slackConfig, type SlackSetup } from '../support/slack-daemon.js';

// Issue 19, chat users: what a Slack member without a role, or with a small one, can see and make the
// daemon do (items 7 and 12), and what text from outside can do to a channel.

/** A loopback HTTP service answering `body` on every path; records the paths it was asked for. */
async function startService(body: string): Promise<{ url: string; port: number; paths: string[]; close(): Promise<void> }> {
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    paths.push(req.url ?? '');
    if (body.startsWith('{')) res.setHeader('content-type', 'application/json');
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    paths,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

interface AuditItem {
  actor: string;
  action: string;
  target: string;
}

async function audit(env: NodeJS.ProcessEnv): Promise<AuditItem[]> {
  const a = JSON.parse((await cli(['audit', '--json'], env)).stdout) as { items?: AuditItem[] } | AuditItem[];
  return Array.isArray(a) ? a : (a.items ?? []);
}

let s: SlackSetup | null = null;
let svc: Awaited<ReturnType<typeof startService>> | null = null;
afterEach(async () => {
  await s?.close();
  await svc?.close();
  s = svc = null;
});

const SHIP = `id: ship
command: ship
notifications: []
steps:
  - id: hold
    approval: { prompt: "Ship it?", timeout: 1h }
`;

describe('chat exposure (issue 19 item 12)', () => {
  it('an unlisted member has no role by default: status and start are refused only to them, help says how to get access and nothing more, a refused @mention is ephemeral', async () => {
    // no default_role in the config: the default applies
    s = await setupSlack({ config: (lb) => slackConfig(lb).replace('  default_role: none\n', ''), workflows: { 'ship.yaml': SHIP } });
    await connected(s);
    const { lb } = s;

    // /opstream status from a stranger: refused (a viewer could read every run's params), to her only
    await lb.slashCommand({ text: 'status', user_id: PEOPLE.eve, channel_id: 'C0OPSALERTS' });
    const refusal = await lb.waitForResponse((r) => String(r.body.text).includes('Nothing was done'));
    expect(refusal.body.response_type).toBe('ephemeral');
    expect(String(refusal.body.text)).toContain('you have no OpStream role here');

    // help: how to get access, and not the workflows or commands
    const before = lb.responses().length;
    await lb.slashCommand({ text: 'help', user_id: PEOPLE.eve, channel_id: 'C0OPSALERTS' });
    await waitFor(() => lb.responses().length > before, { what: 'the answer to help' });
    const h = lb.responses()[before];
    expect(h.body.response_type).toBe('ephemeral');
    const helpText = shown(h.body as never);
    expect(helpText).toContain('U0EVE');
    expect(helpText).toContain('slack.users');
    for (const leak of ['ship', 'Workflows', 'Commands', 'start <workflow>']) expect(helpText, `help for role none shows ${leak}`).not.toContain(leak);

    // an @mention asking to start a run, in a public channel: the refusal is ephemeral, the channel sees nothing
    const m = lb.postAsUser({ channel: '#general', user: PEOPLE.eve, text: `<@${lb.botUserId}> ship` });
    await lb.event({ type: 'app_mention', channel: '#general', user: PEOPLE.eve, text: m.text, ts: m.ts });
    const eph = await waitFor(() => lb.ephemerals('#general').find((e) => e.user === PEOPLE.eve && e.text.includes('Nothing was done')), { what: 'the ephemeral refusal' });
    expect(eph.source).toBe('chat.postEphemeral');
    // a viewer asking an operator's thing by @mention: also told only to them
    const v = lb.postAsUser({ channel: '#general', user: PEOPLE.vic, text: `<@${lb.botUserId}> ship` });
    await lb.event({ type: 'app_mention', channel: '#general', user: PEOPLE.vic, text: v.text, ts: v.ts });
    await waitFor(() => lb.ephemerals('#general').find((e) => e.user === PEOPLE.vic && e.text.includes('needs the operator role')), { what: "the viewer's ephemeral refusal" });
    // "hi" from the stranger: the access note, ephemeral
    const hi = lb.postAsUser({ channel: '#general', user: PEOPLE.eve, text: `<@${lb.botUserId}> hi` });
    await lb.event({ type: 'app_mention', channel: '#general', user: PEOPLE.eve, text: hi.text, ts: hi.ts });
    await waitFor(() => lb.ephemerals('#general').find((e) => e.user === PEOPLE.eve && e.text.includes('no OpStream role here yet')), { what: 'the access note' });
    expect(lb.thread('#general', m.ts).filter((x) => x.bot_id)).toEqual([]);
    expect(lb.thread('#general', v.ts).filter((x) => x.bot_id)).toEqual([]);
    expect(lb.thread('#general', hi.ts).filter((x) => x.bot_id)).toEqual([]);
    expect(lb.messages('#general').filter((x) => x.bot_id)).toEqual([]);
    // nothing started; each refusal audited
    expect((JSON.parse((await cli(['list', '--all', '--json'], s.h.env)).stdout) as unknown[]).length).toBe(0);
    const items = await audit(s.h.env);
    expect(items.filter((a) => a.actor === 'slack:U0EVE' && a.action === 'slack.refused').length).toBeGreaterThanOrEqual(2);
    expect(items.some((a) => a.actor === 'slack:U0VIC' && a.action === 'slack.refused')).toBe(true);
  }, 120_000);

  it('mentions in text from outside (a web response carried into a notification and an approval) ping nobody, in the text or the fallback', async () => {
    svc = await startService('DOWN <!channel> <!here> <!everyone> <@U0ALICE> & <#C0GENERAL> page everyone');
    const wf = `id: relay
tools: [ops.http_request]
notifications: [approvals, milestones]
steps:
  - id: fetch
    tool: ops.http_request
    with: { url: "${svc.url}/status" }
  - id: tell
    notify: { text: "{{ steps.fetch.output.body }}", level: warning }
  - id: hold
    approval: { prompt: "The service says {{ steps.fetch.output.body }}. Restart?", timeout: 1h }
`;
    s = await setupSlack({ workflows: { 'relay.yaml': wf } });
    await connected(s);
    const { lb } = s;
    const id = await startRun(s.h, ['relay']);
    await waitStatus(s.h, id, (r) => r.status === 'waiting', 'the approval');
    await lb.waitForMessage('#ops-alerts', (m) => shown(m).includes('Restart?'), 30_000);
    await lb.waitForMessage('#ops-alerts', (m) => shown(m).includes('page everyone') && !shown(m).includes('Restart?'), 30_000);
    const posts = lb.calls().filter((c) => c.method.startsWith('chat.'));
    expect(posts.length).toBeGreaterThan(1);
    const all = JSON.stringify(posts.map((c) => ({ text: c.args.text, blocks: c.args.blocks })));
    for (const ping of ['<!channel>', '<!here>', '<!everyone>', '<@U0ALICE>', '<#C0GENERAL>']) expect(all, `${ping} reached Slack unescaped`).not.toContain(ping);
    // escaped, not dropped: people still read what the service said
    expect(all).toContain('&lt;!channel&gt;');
  }, 120_000);
});

const PROBE = `id: probe
command: probe
usage: "<url>"
params:
  url: { type: url, required: true }
tools: [ops.http_probe]
notifications: [completion, errors]
steps:
  - id: look
    tool: ops.http_probe
    with: { url: "{{ params.url }}", count: 1 }
`;
/** The URL is built from a bare host: only the check before the tool call can see it. */
const FETCH = `id: fetch
params:
  host: { type: string, required: true }
tools: [ops.http_probe]
notifications: [errors]
steps:
  - id: look
    tool: ops.http_probe
    with: { url: "http://{{ params.host }}/latest/meta-data/", count: 1 }
`;

describe('destinations of runs started from chat (issue 19 item 7)', () => {
  it('probes of cloud metadata, an unconfigured admin port or files outside log_dirs are refused from Slack and audited; the same from the CLI works; configured ones work', async () => {
    svc = await startService('ok');
    const admin = await startService('admin console');
    const logs = join(tmpdir(), `ops-logdirs-${process.pid}-${Date.now()}`);
    try {
      mkdirSync(logs, { recursive: true });
      writeFileSync(join(logs, 'app.log'), 'INFO up\nERROR down\n');
      symlinkSync('/etc/passwd', join(logs, 'sneaky.log'));
      s = await setupSlack({
        config: (lb) => `${slackConfig(lb)}\nservices:\n  api: { url: "${svc!.url}/health" }\nlog_dirs: ["${logs}"]\n`,
        workflows: { 'probe.yaml': PROBE, 'fetch.yaml': FETCH },
      });
      await connected(s);
      const { lb } = s;
      const env = s.h.env;
      const refusedTo = async (text: string, what: RegExp): Promise<void> => {
        const before = lb.responses().length;
        await lb.slashCommand({ text, user_id: PEOPLE.bob, channel_id: 'C0OPSALERTS' });
        const r = await waitFor(() => lb.responses().slice(before).find((x) => what.test(String(x.body.text))), { what: `the refusal of "${text}"` });
        expect(r.body.response_type).toBe('ephemeral');
        expect(String(r.body.text)).toContain('Nothing was done');
      };
      await refusedTo('probe http://169.254.169.254/latest/meta-data/', /host 169\.254\.169\.254 is not in allow_hosts/);
      await refusedTo(`probe http://127.0.0.1:${admin.port}/admin`, new RegExp(`host 127\\.0\\.0\\.1:${admin.port} is not in allow_hosts`));
      // the shipped profiling workflow's log param: /etc/shadow, a way out with .., and a symlink out of the log dir
      await refusedTo('profile api for 1m log=/etc/shadow', /path \/etc\/shadow is outside the log directories/);
      await refusedTo(`profile api for 1m log=${logs}/../../etc/shadow`, /is outside the log directories/);
      await refusedTo(`profile api for 1m log=${logs}/sneaky.log`, /is outside the log directories/);
      expect(admin.paths).toEqual([]);
      expect((JSON.parse((await cli(['list', '--all', '--json'], env)).stdout) as unknown[]).length).toBe(0);

      // a URL the start cannot see (built from a bare host in the workflow): refused at the tool call
      await lb.slashCommand({ text: 'start fetch host=169.254.169.254', user_id: PEOPLE.bob, channel_id: 'C0OPSALERTS' });
      const runs = await waitFor(async () => {
        const l = JSON.parse((await cli(['list', '--all', '--json'], env)).stdout) as { id: string; status: string }[];
        return l.find((r) => r.status === 'failed') ? l : null;
      }, { what: 'the fetch run to fail' });
      const failed = JSON.parse((await cli(['status', runs[0].id, '--json'], env)).stdout) as { error: string; steps: { error: string | null }[] };
      expect(failed.steps[0].error).toContain('host 169.254.169.254 is not in allow_hosts');

      const items = await audit(env);
      const refusals = items.filter((a) => a.actor === 'slack:U0BOB' && a.action === 'slack.refused').map((a) => a.target);
      expect(refusals.some((t) => t.includes('host 169.254.169.254 is not in allow_hosts'))).toBe(true);
      expect(refusals.some((t) => t.includes(`127.0.0.1:${admin.port}`))).toBe(true);
      expect(refusals.some((t) => t.includes('/etc/shadow'))).toBe(true);
      expect(items.some((a) => a.actor === 'slack:U0BOB' && a.action === 'tools.refused' && a.target.startsWith(`run:${runs[0].id} ops.http_probe: host 169.254.169.254`))).toBe(true);

      // allowed from Slack: the configured service, a log file inside log_dirs
      await lb.slashCommand({ text: `probe ${svc!.url}/health`, user_id: PEOPLE.bob, channel_id: 'C0OPSALERTS' });
      await waitFor(() => (svc!.paths.includes('/health') ? true : null), { what: 'the allowed probe' });
      const okRun = await waitFor(async () => {
        const l = JSON.parse((await cli(['list', '--all', '--json'], env)).stdout) as { id: string; workflow: string; status: string }[];
        return l.find((r) => r.workflow === 'probe' && r.status === 'succeeded') ?? null;
      }, { what: 'the allowed probe run to succeed' });
      expect(okRun).toBeTruthy();

      // the local user is not limited: the admin port from the CLI works
      const id = await startRun(s.h, ['probe', `url=http://127.0.0.1:${admin.port}/admin`]);
      const done = await waitStatus(s.h, id, (r) => ['succeeded', 'failed'].includes(r.status), 'the CLI probe');
      expect(done.status).toBe('succeeded');
      expect(admin.paths).toEqual(['/admin']);
    } finally {
      await admin.close();
      rmSync(logs, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('secrets in formatted shapes (issue 19 item 11)', () => {
  let ollama: OllamaLoopback | null = null;
  afterEach(async () => {
    await ollama?.close();
    ollama = null;
  });

  it('a secret printed with digit grouping, split across lines or as a raw number reaches no log, audit, --json, prompt or Slack post', async () => {
    const SECRET = { LEDGER_PIN: '4815162342', VAULT_TOKEN: 'vlt-9f3k2m-77xq-ab12' };
    // what the "vault" answers: the pin grouped three ways, the token wrapped, the pin as a JSON number
    svc = await startService(JSON.stringify({ note: `pin 4,815,162,342 / 4 815 162 342 / 4.815.162.342; token vlt-9f3k2m-\n77xq-ab12`, pin: 4815162342 }));
    ollama = await startOllamaLoopback(['qwen2.5:7b']);
    const llmHost = ollama.host;
    const wf = `id: vault
tools: [ops.http_request]
notifications: [milestones, completion]
steps:
  - id: fetch
    tool: ops.http_request
    with: { url: "${svc.url}/vault" }
  - id: tell
    notify: { text: "vault says {{ steps.fetch.output.json.note }}; pin {{ steps.fetch.output.json.pin }}", level: warning }
  - id: think
    agent:
      prompt: "Check this: {{ steps.fetch.output.body }} and pin {{ steps.fetch.output.json.pin }}"
      max_turns: 2
`;
    s = await setupSlack({ inProcess: false, workflows: { 'vault.yaml': wf }, config: (lb) => `${slackConfig(lb, [], `llm:\n  host: "${llmHost}"\n  model: "qwen2.5:7b"\nlog: { level: debug }`)}\n` });
    const env = { ...s.h.env, ...SECRET };
    expect((await cli(['daemon', 'start'], env)).code).toBe(0);
    await connected(s);
    ollama.script({ content: 'looked at it' });
    const id = await startRun({ ...s.h, env }, ['vault']);
    const done = await waitStatus({ ...s.h, env }, id, (r) => ['succeeded', 'failed'].includes(r.status), 'the run to end', 90_000);
    expect(done.status).toBe('succeeded');
    await s.lb.waitForMessage('#ops-alerts', (m) => shown(m).includes('vault says'), 30_000);
    const outputs: Record<string, string> = {};
    for (const args of [['status', id, '--json'], ['logs', id, '--json'], ['logs', id], ['audit', '--json'], ['inbox', '--json']]) {
      const r = await cli(args, env);
      outputs[args.join(' ')] = r.stdout + r.stderr;
    }
    for (const f of readdirSync(join(s.h.home, 'data', 'logs'))) outputs[f] = readFileSync(join(s.h.home, 'data', 'logs', f), 'utf8');
    outputs['model requests'] = JSON.stringify(ollama.requests);
    outputs['slack'] = JSON.stringify([...s.lb.calls().map((c) => c.args), ...s.lb.messages('#ops-alerts').map((m) => m.revisions), ...s.lb.ephemerals()]);
    // the run really carried the text (masked) everywhere
    expect(outputs['model requests']).toContain('[redacted:LEDGER_PIN]');
    expect(outputs['slack']).toContain('[redacted:LEDGER_PIN]');
    expect(outputs[`status ${id} --json`]).toContain('[redacted:VAULT_TOKEN]');
    const leaks: string[] = [];
    for (const [where, text] of Object.entries(outputs)) {
      // JSON escapes (\n) and every grouping character removed: no shape of the value is left
      const flat = text.replace(/\\n|\\u00a0|[\s,.'_-]/g, '');
      if (flat.includes('4815162342')) leaks.push(`LEDGER_PIN in ${where}`);
      if (flat.includes('vlt9f3k2m77xqab12')) leaks.push(`VAULT_TOKEN in ${where}`);
    }
    expect(leaks).toEqual([]);
    await cli(['daemon', 'stop'], env);
  }, 180_000);
});
