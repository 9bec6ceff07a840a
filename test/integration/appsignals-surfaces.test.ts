import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KEY, mountDashboard, notInCi } from '../support/dashboard.js';
import { appsignalsServerYaml, remediationEndpoint, standinEnv } from '../support/appsignals.js';
import { cli, tempHome, waitFor, type TempHome } from '../support/home.js';
import { startOllamaLoopback, type OllamaLoopback, type RecordedChat } from '../support/ollama-loopback.js';
import { getRun, start, stepOf, waitRun } from '../support/runs.js';
import { connected, hasButton, isTop, PEOPLE, runOf, setupSlack, slackConfig, waitRunStatus, type SlackSetup } from '../support/slack-daemon.js';
import { botReply, reply, shows, slash, storyModel } from '../support/stories.js';

// Issue 23: "everything the built-in SLO story shows works here too": the breached SLO's name and
// the slow dependency in Slack (the incident thread: its header, the alert, the approval, "fix it",
// the restored reply), in the dashboard (the run's detail: last check and series), and the recall
// of a past incident of the service in the next one's model prompt. Real daemon, the stand-in of the
// AWS Labs server as mcpServers.appsignals, loopback Slack and Ollama. Its world: checkout-api's
// latency SLO breached because payment-service is slow; inventory-service and DynamoDB are healthy.
notInCi();

const HEALTHY = /inventory-service|DynamoDB|GET \/stock|PutItem/;

function awsYaml(state: string): string {
  return [...appsignalsServerYaml(standinEnv(state)), ''].join('\n');
}


let s: SlackSetup | null = null;
let h: TempHome | null = null;
let ollama: OllamaLoopback | null = null;
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  await s?.close();
  s = null;
  await h?.cleanup();
  h = null;
  await ollama?.close();
  ollama = null;
  for (const c of closers.splice(0)) await c();
});

describe('slo_appsignals in Slack', () => {
  it('the incident thread names the SLO and the slow dependency (header, alert, approval), "fix it" remediates once, the SLO restored is said in the same thread', async () => {
    // the stand-in's world lives outside the home (the config names it before the home exists)
    const world = mkdtempSync(join(tmpdir(), 'opaws-w-'));
    closers.push(async () => rmSync(world, { recursive: true, force: true }));
    const state = join(world, 'aws-world.json');
    const endpoint = await remediationEndpoint(state);
    closers.push(endpoint.close);
    // a run started from chat may call only destinations the config allows
    const allow = `allow_hosts: ["${new URL(endpoint.url).host}"]`;
    const setup = await setupSlack({ config: (lb) => `${slackConfig(lb)}\n${allow}\n${awsYaml(state)}` });
    s = setup;
    await connected(setup);
    const { lb } = setup;

    const started = await slash(setup.lb, `slo-aws checkout-api every 2s recheck_every=1s remediation_url=${endpoint.url}`, PEOPLE.bob);
    const id = /`(r_[a-z0-9]+)`/.exec(started)?.[1] ?? '';
    expect(started).toContain('Started *slo_appsignals*');

    const incident = await lb.waitForMessage('#incidents', (m) => isTop(m) && shows(m).includes(id), 60_000);
    const alert = await botReply(setup.lb, '#incidents', incident.ts, (t) => t.includes('SLO breach on checkout-api'));
    expect(shows(alert)).toContain('SLO checkout-api-latency-p99 breached on POST /checkout. Likely root cause: dependency payment-service (POST /charge) is slow: p99 2391.6 ms');
    expect(shows(alert)).toContain('reply "fix it" in this thread');
    expect(shows(alert)).not.toMatch(HEALTHY);
    const ask = await botReply(setup.lb, '#incidents', incident.ts, (t) => t.includes('Approval needed'));
    expect(hasButton(ask, 'opstream.approve')).toBe(true);
    expect(shows(ask)).toContain('SLO checkout-api-latency-p99 breached on POST /checkout');
    expect(shows(ask)).toContain('dependency payment-service (POST /charge) is slow');
    // the thread's header, edited as the watch goes: the breach, with the SLO and the slow dependency by name
    const header = await lb.waitForMessage('#incidents', (m) => m.ts === incident.ts && /last check: .*SLO checkout-api-latency-p99 BREACHED/.test(shows(m)), 30_000);
    expect(shows(header)).toMatch(/last check: .*slow dependency payment-service POST \/charge p99 2392 ms/);
    expect(shows(header)).toMatch(/1 breach/);
    expect(shows(header)).not.toMatch(HEALTHY);
    expect(endpoint.hits()).toBe(0);

    // questions in the thread are answered from the run (no model configured)
    await reply(lb, '#incidents', PEOPLE.bob, incident.ts, 'why?');
    const why = await botReply(setup.lb, '#incidents', incident.ts, (t) => t.includes('The worst finding:'));
    expect(shows(why)).toContain('Likely root cause: dependency payment-service (POST /charge) is slow: p99 2391.6 ms');
    expect(shows(why)).toContain('The worst finding: payment-service POST /charge is slow (p99 2391.6 ms)');
    await reply(lb, '#incidents', PEOPLE.bob, incident.ts, 'show me the details');
    const details = await botReply(setup.lb, '#incidents', incident.ts, (t) => t.includes('SLO breached:'));
    expect(shows(details)).toContain('SLO breached: SLO checkout-api-latency-p99 breached on POST /checkout');
    // AWS's data, not samples of ours ("0 samples" before)
    expect(shows(details)).toContain('(CloudWatch Application Signals: 3 dependencies)');
    expect(shows(details)).not.toMatch(/\d+ samples\)/);
    expect(endpoint.hits()).toBe(0);

    await reply(lb, '#incidents', PEOPLE.bob, incident.ts, 'fix it');
    const restored = await botReply(setup.lb, '#incidents', incident.ts, (t) => t.includes('restored on checkout-api'));
    expect(shows(restored)).toMatch(/SLO checkout-api-latency-p99 restored on checkout-api in \d+s \(breach at .*after the remediation POST .*\/scale-payments\)\. Cause was dependency payment-service \(POST \/charge\)/);
    expect(endpoint.hits()).toBe(1);
    const decided = await waitFor(async () => (stepOf(await runOf(setup, id), 'monitor')?.output as { approve: unknown }[] | undefined)?.find((c) => c.approve)?.approve, { what: 'the incident check to be recorded' });
    expect(decided).toMatchObject({ decision: 'approved', by: 'slack:U0BOB' });
    // one alert for the incident
    expect(lb.messages('#incidents').filter((m) => m.bot_id !== undefined && shows(m).includes('SLO breach on checkout-api'))).toHaveLength(1);
    await waitRunStatus(setup, id, (r) => r.status === 'running' || r.status === 'waiting', 'the watch to go on');
    await slash(setup.lb, `cancel ${id}`, PEOPLE.bob);
  }, 150_000);
});

describe('profile_appsignals in Slack', () => {
  it('the thread ends with the worst operation and the slow dependency, the healthy ones not called slow', async () => {
    const world = mkdtempSync(join(tmpdir(), 'opaws-w-'));
    closers.push(async () => rmSync(world, { recursive: true, force: true }));
    const setup = await setupSlack({ config: (lb) => `${slackConfig(lb)}\n${awsYaml(join(world, 'aws-world.json'))}` });
    s = setup;
    await connected(setup);
    const { lb } = setup;
    const started = await slash(setup.lb, 'profile-aws checkout-api for 4 seconds interval=2s', PEOPLE.bob);
    const id = /`(r_[a-z0-9]+)`/.exec(started)?.[1] ?? '';
    expect(started).toContain('Started *profile_appsignals*');
    const header = await lb.waitForMessage('#ops-alerts', (m) => isTop(m) && shows(m).includes(id), 30_000);
    const report = await botReply(setup.lb, '#ops-alerts', header.ts, (t) => t.includes('Profiling checkout-api'));
    expect(shows(report)).toContain('Slow dependency: payment-service POST /charge (p99 2391.6 ms)');
    expect(shows(report)).toContain('Worst operations: POST /checkout p99 2455.1 ms (410 calls)');
    const done = await botReply(setup.lb, '#ops-alerts', header.ts, (t) => t.includes('profile_appsignals succeeded'));
    expect(shows(done)).toContain('worst operation POST /checkout (p99 2455.1 ms), slowest dependency payment-service (p99 2391.6 ms)');
    // the window is AWS's data, not samples of ours ("0 samples" before)
    expect(shows(done)).toContain('Window 4s of Application Signals, 3 operations, 3 dependencies');
    expect(shows(done)).not.toMatch(/\d+ samples/);
    expect(shows(done)).toMatch(/payment-service\s+p99_ms/);
    expect(shows(done)).not.toMatch(/(inventory-service|DynamoDB)[^\n]*slow/);
    await waitRunStatus(setup, id, (r) => r.status === 'succeeded', 'the profile to finish');
  }, 120_000);
});

describe('slo_appsignals in the dashboard', () => {
  it('the run detail shows the breached SLO by name and the slow dependency with its p99, never a healthy one as slow', async () => {
    h = tempHome('opawsd-');
    const state = join(h.home, 'aws-world.json');
    writeFileSync(join(h.home, 'config.yaml'), `notify: { desktop: "off" }\n${awsYaml(state)}`);
    expect((await cli(['daemon', 'start'], h.env)).code).toBe(0);
    const id = await start(h, ['slo_appsignals', 'checkout-api', 'every', '2s', 'recheck_every=1s']);
    await waitRun(h, id, (r) => (r.progress.watch?.breaches ?? 0) >= 1 && (r.progress.watch?.last ?? []).some((m) => m.metric.includes('slow dependency')), 'the breach in the watch');

    const d = await mountDashboard(h.env);
    const screen = d.screen;
    try {
      await screen([id, 'slo_appsignals'], 'the run listed');
      d.press('/');
      for (const ch of id) d.press(ch);
      d.press(KEY.enter);
      await screen([`filter: ${id}`], 'the list filtered');
      d.press(KEY.enter);
      const detail = await screen(['last check:', 'SLO checkout-api-latency-p99 BREACHED', /slow dependency payment-service POST \/charge p99/], 'the watch with the SLO and the slow dependency');
      expect(detail).toMatch(/watch: .*1 breach/);
      expect(detail.slice(detail.indexOf('last check:')).split('\n')[0]).not.toMatch(HEALTHY);
    } finally {
      d.stop();
    }
    expect((await cli(['cancel', id], h.env)).code).toBe(0);
  }, 120_000);
});

describe('slo_appsignals recalls past incidents of the service', () => {
  const userPrompt = (c: RecordedChat): string => String(c.body.messages.find((m) => m.role === 'user')?.content ?? '');

  it('the second incident\'s model prompt gets the first one (its SLO, slow dependency and the remediation that fixed it) as "seen before"; memory search finds it', async () => {
    ollama = await startOllamaLoopback(['qwen2.5:7b']);
    ollama.setHandler(storyModel);
    h = tempHome('opawsm-');
    const state = join(h.home, 'aws-world.json');
    writeFileSync(join(h.home, 'config.yaml'), `notify: { desktop: "off" }\nllm: { host: "${ollama.host}", model: "qwen2.5:7b" }\n${awsYaml(state)}`);
    const endpoint = await remediationEndpoint(state);
    closers.push(endpoint.close);
    const args = ['slo_appsignals', 'checkout-api', 'every', '2s', 'recheck_every=1s', `remediation_url=${endpoint.url}`];

    const first = await start(h, args);
    await waitRun(h, first, (r) => r.waiting_for?.kind === 'approval', 'the first approval');
    // nothing to recall the first time
    const explain1 = ollama.chats.filter((c) => userPrompt(c).includes('Application Signals SLO breach on service checkout-api'));
    expect(explain1.length).toBeGreaterThan(0);
    expect(explain1.every((c) => !userPrompt(c).includes('Seen before'))).toBe(true);
    expect((await cli(['approve', first], h.env)).code).toBe(0);
    await waitFor(async () => (((stepOf(await getRun(h!, first), 'monitor')?.output ?? []) as unknown[]).length >= 1 ? true : null), { what: 'the first incident to close', timeoutMs: 60_000 });
    expect((await cli(['cancel', first], h.env)).code).toBe(0);
    const search = await waitFor(async () => {
      const r = await cli(['memory', 'search', 'payment-service', '--json'], h!.env);
      return r.code === 0 && r.stdout.includes(first) ? r.stdout : null;
    }, { what: 'the first run remembered' });
    expect(search).toContain('checkout-api-latency-p99');

    // the same breach again, in a new watch
    writeFileSync(state, JSON.stringify({}));
    const before = ollama.chats.length;
    const second = await start(h, args);
    await waitRun(h, second, (r) => r.waiting_for?.kind === 'approval', 'the second approval');
    const prompt = ollama.chats.slice(before).map(userPrompt).find((p) => p.includes('Seen before')) ?? '';
    expect(prompt).toContain(`run ${first}`);
    expect(prompt).toMatch(/Seen before[^\n]*slo_appsignals runs on checkout-api/);
    const line = prompt.split('\n').find((l) => l.includes(`run ${first}`)) ?? '';
    expect(line).toContain('checkout-api-latency-p99');
    expect(line).toContain('payment-service');
    expect(line).toContain(`POST ${endpoint.url}`);
    expect(line).not.toMatch(HEALTHY);
    expect((await cli(['cancel', second], h.env)).code).toBe(0);
  }, 150_000);
});
