import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { appsignalsServerYaml, remediationEndpoint, STANDIN, standinEnv } from '../support/appsignals.js';
import { cli, tempHome, waitFor, type TempHome } from '../support/home.js';
import type { Notification } from '../../src/protocol/index.js';
import { inbox, waitDelivery } from '../support/notify.js';
import { getRun, start, stepOf, waitRun } from '../support/runs.js';

// The AppSignals stories through the real CLI and daemon, with the stand-in of the AWS Labs
// Application Signals MCP server (test/support/appsignals-standin.mjs, mirroring release 0.1.40)
// configured as `appsignals`, exactly as a user configures the real one. Its world: checkout-api's
// latency SLO breached because payment-service is slow; inventory-service and DynamoDB healthy.


function config(state: string, env: Record<string, string> = {}): string {
  return ['notify: { desktop: "off" }', ...appsignalsServerYaml(standinEnv(state, env)), ''].join('\n');
}

function home(prefix: string, env: Record<string, string> = {}): { h: TempHome; state: string } {
  const h = tempHome(prefix);
  const state = join(h.home, 'aws-world.json');
  writeFileSync(join(h.home, 'config.yaml'), config(state, env));
  return { h, state };
}

function waitNote(h: TempHome, id: string, p: (n: Notification) => boolean, what: string): Promise<Notification> {
  return waitDelivery(h, id, (items) => items.some(p), what, 60_000).then((items) => items.find(p)!);
}


describe('AppSignals stories (stand-in of the AWS Labs server as mcpServers.appsignals)', () => {
  let h: TempHome | undefined;
  let endpoint: Awaited<ReturnType<typeof remediationEndpoint>> | undefined;

  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
    await endpoint?.close();
    endpoint = undefined;
  });

  it('without remediation_url: names the breached SLO and the slow dependency (none of the healthy ones), never waits for approval, says when restored', async () => {
    const w = home('opaws1-');
    h = w.h;
    const id = await start(h, ['slo_appsignals', 'checkout-api', 'every', '2s', 'recheck_every=1s']);
    const alert = await waitNote(h, id, (n) => n.level === 'critical', 'the breach alert');
    expect(alert.text).toContain('SLO breach on checkout-api: SLO checkout-api-latency-p99 breached on POST /checkout');
    expect(alert.text).toContain('Likely root cause: dependency payment-service (POST /charge) is slow: p99 2391.6 ms');
    expect(alert.text).toContain('No remediation configured; watching for recovery.');
    for (const healthy of ['inventory-service', 'DynamoDB', 'GET /stock', 'PutItem']) expect(alert.text).not.toContain(healthy);

    const run = await getRun(h, id);
    expect(run.waiting_for?.kind).not.toBe('approval');
    expect(stepOf(run, 'monitor[0].approve')?.status).toBe('skipped');
    const facts = stepOf(run, 'monitor[0].diagnose')?.output as { slo_name: string; operation: string; slow_dependency: { name: string }; slo: { met: boolean }; summary: { root_cause: string }; dependencies: { name: string; slow: boolean }[] };
    expect(facts).toMatchObject({ slo_name: 'checkout-api-latency-p99', operation: 'POST /checkout', slow_dependency: { name: 'payment-service' }, slo: { met: false } });
    expect(facts.dependencies.filter((d) => d.slow).map((d) => d.name)).toEqual(['payment-service']);

    // status and report name the SLO and the slow dependency (never a healthy one), as the built-in SLO story does
    const healthy = /inventory-service|DynamoDB|GET \/stock|PutItem/;
    const status = await cli(['status', id], h.env);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('checkout-api-latency-p99');
    expect(status.stdout).toContain('payment-service');
    expect(status.stdout).toMatch(/breach/i);
    const statusJson = JSON.parse((await cli(['status', id, '--json'], h.env)).stdout) as { progress: { watch?: { breaches: number; state: string; last: { metric: string }[] } } };
    expect(statusJson.progress.watch?.breaches).toBeGreaterThanOrEqual(1);
    expect(statusJson.progress.watch?.last.map((m) => m.metric).join(' ')).toContain('checkout-api-latency-p99');
    const report = await cli(['report', id], h.env);
    expect(report.code, report.stderr).toBe(0);
    expect(report.stdout).toContain('SLO checkout-api-latency-p99: BREACHED on POST /checkout');
    expect(report.stdout).toMatch(/Slow dependency: payment-service POST \/charge p99 2392 ms/);
    expect(report.stdout).toContain('not restored yet');
    // the verdict (headline, root cause, SLO, slow dependency) names no healthy dependency; the tables list them as healthy
    expect(report.stdout.slice(0, report.stdout.indexOf('Worst operations:'))).not.toMatch(healthy);
    expect(report.stdout).toMatch(/inventory-service\s+GET \/stock\s+398\s+18.4 ms\s+46.9 ms\n/);
    expect(report.stdout).not.toContain('no samples yet');
    const reportJson = JSON.parse((await cli(['report', id, '--json'], h.env)).stdout) as { analysis: { appsignals: { slo_name: string; slow_dependency: { name: string } }; summary: { root_cause: string } } };
    expect(reportJson.analysis.appsignals).toMatchObject({ slo_name: 'checkout-api-latency-p99', slow_dependency: { name: 'payment-service' } });
    expect(reportJson.analysis.summary.root_cause).not.toMatch(healthy);

    // fixed by someone else: the re-check sees it and says so
    writeFileSync(w.state, JSON.stringify({ remediated: true }));
    const restored = await waitNote(h, id, (n) => /SLO checkout-api-latency-p99 restored/.test(n.text), 'the restored report');
    expect(restored.text).toMatch(/SLO checkout-api-latency-p99 restored on checkout-api in \d+s \(breach at .*, restored at .*; without remediation\)\. Cause was dependency payment-service/);
    const all = await inbox(h, id);
    expect(all.filter((n) => n.level === 'critical')).toHaveLength(1);
    expect(all.filter((n) => n.kind === 'approval')).toEqual([]);
    const after = await waitFor(async () => {
      const r = await cli(['report', id], h!.env);
      return /time to recovery \d+s/.test(r.stdout) ? r.stdout : undefined;
    }, { what: 'the report to say the SLO was restored' });
    expect(after).toMatch(/SLO checkout-api-latency-p99: RECOVERED on POST \/checkout/);
    expect((await cli(['cancel', id], h.env)).code).toBe(0);
  }, 120_000);

  it('a breach that appears while it watches is alerted by the check running then or the next one; healthy checks raise nothing', async () => {
    const w = home('opaws8-');
    h = w.h;
    writeFileSync(w.state, JSON.stringify({ scenario: 'healthy' }));
    const id = await start(h, ['slo_appsignals', 'checkout-api', 'every', '2s', 'recheck_every=1s']);
    type Check = { check: { slo: { met: boolean; status: string } }; alert: unknown };
    const checks = async (): Promise<Check[]> => (stepOf(await getRun(h!, id), 'monitor')?.output ?? []) as Check[];
    await waitFor(async () => (await checks()).length >= 2, { what: 'two healthy checks', timeoutMs: 60_000 });
    expect((await checks()).every((c) => c.check.slo.met && c.check.slo.status === 'met' && c.alert === null)).toBe(true);
    expect((await inbox(h, id)).filter((n) => n.level === 'critical')).toEqual([]);

    const before = (await checks()).length;
    writeFileSync(w.state, JSON.stringify({}));
    await waitNote(h, id, (n) => n.level === 'critical' && n.text.includes('payment-service'), 'the breach alert');
    // the incident's check is still open (re-checking): its steps are listed by their own ids
    const alertStep = (await getRun(h, id)).steps.find((st) => /^monitor\[\d+\]\.alert$/.test(st.id) && st.status === 'succeeded');
    const at = Number(/^monitor\[(\d+)\]/.exec(alertStep?.id ?? '')?.[1]);
    expect([before, before + 1]).toContain(at);
    expect((await cli(['cancel', id], h.env)).code).toBe(0);
  }, 120_000);

  it('with remediation_url: waits for approval, calls the remediation exactly once after it, then says the SLO is restored', async () => {
    const w = home('opaws2-');
    h = w.h;
    endpoint = await remediationEndpoint(w.state);
    const id = await start(h, ['slo_appsignals', 'checkout-api', `remediation_url=${endpoint.url}`, 'every', '2s', 'recheck_every=1s']);
    const waiting = await waitRun(h, id, (r) => r.status === 'waiting' && r.waiting_for?.kind === 'approval', 'the approval');
    expect(waiting.waiting_for?.prompt).toContain(`Apply the remediation POST ${endpoint.url}?`);
    expect(waiting.waiting_for?.prompt).toContain('payment-service');
    const alert = await waitNote(h, id, (n) => n.level === 'critical' && /SLO breach/.test(n.text), 'the breach alert');
    expect(alert.text).toContain(`opstream approve ${id}`);
    expect(endpoint.hits()).toBe(0);

    const ok = await cli(['approve', id, '--comment', 'scale payments'], h.env);
    expect(ok.code, ok.stderr).toBe(0);
    const restored = await waitNote(h, id, (n) => /restored on checkout-api/.test(n.text), 'the restored report');
    expect(restored.text).toContain(`after the remediation POST ${endpoint.url}`);
    expect(endpoint.hits()).toBe(1);
    // the incident's check, once finished, is the monitor's first iteration output
    type Check = { remediate: { status: number; ok: boolean } | null; recheck: { verify: { slo: { met: boolean; status: string } } }[] };
    const incident = await waitFor(async () => ((stepOf(await getRun(h!, id), 'monitor')?.output ?? []) as Check[])[0], { what: 'the incident check to be recorded' });
    expect(incident.remediate).toMatchObject({ status: 200, ok: true });
    expect(incident.recheck.at(-1)!.verify.slo).toMatchObject({ met: true, status: 'recovered' });

    // monitoring goes on healthy; the remediation is not called again
    await waitRun(h, id, (r) => Array.isArray(stepOf(r, 'monitor')?.output) && (stepOf(r, 'monitor')!.output as unknown[]).length >= 2, 'a healthy check after the incident');
    expect(endpoint.hits()).toBe(1);
    expect((await cli(['cancel', id], h.env)).code).toBe(0);
  }, 120_000);

  it('profile_appsignals of a service without traffic in the metrics\' window: the report says there were no data points, it does not drop them silently', async () => {
    const w = home('opawsq-');
    h = w.h;
    writeFileSync(w.state, JSON.stringify({ quiet: true }));
    const id = await start(h, ['profile_appsignals', 'checkout-api', 'for', '2s', 'interval=1s']);
    const done = await waitRun(h, id, (r) => r.status === 'succeeded', 'the profile to finish');
    const analyze = stepOf(done, 'analyze')?.output as { metrics: unknown[]; notes: string[] };
    expect(analyze.metrics).toEqual([]);
    expect(analyze.notes).toContain("query_service_metrics: No data points found for metric 'Latency' on service 'checkout-api' in the last 1 hour(s).");
    const report = await cli(['report', id], h.env);
    expect(report.stdout.replace(/\s+/g, ' ')).toContain("No data points found for metric 'Fault' on service 'checkout-api'");
  }, 60_000);

  it('an account without Transaction Search: the spans answer "Transaction Search Not Available"; the slow dependency comes from the audit, the note says why', async () => {
    const w = home('opawsa-');
    h = w.h;
    writeFileSync(w.state, JSON.stringify({ transaction_search: false }));
    const id = await start(h, ['slo_appsignals', 'checkout-api', 'every', '2s', 'recheck_every=1s']);
    const alert = await waitNote(h, id, (n) => n.level === 'critical', 'the breach alert');
    expect(alert.text).toContain('SLO breach on checkout-api: SLO checkout-api-latency-p99 breached on POST /checkout');
    expect(alert.text).toContain('Likely root cause: dependency payment-service (POST /charge) is slow: p99 2392 ms');
    expect(alert.text).not.toMatch(/inventory-service|DynamoDB|GET \/stock|PutItem/);
    const run = await getRun(h, id);
    const spans = stepOf(run, 'monitor[0].spans')?.output as { status: string };
    expect(spans.status).toBe('Transaction Search Not Available');
    const facts = stepOf(run, 'monitor[0].diagnose')?.output as { notes: string[]; slow_dependency: { name: string } };
    expect(facts.slow_dependency.name).toBe('payment-service');
    expect(facts.notes.join('\n')).toMatch(/search_transaction_spans: Transaction Search Not Available \(⚠️ Transaction Search is not enabled for this account\)/);
    expect(facts.notes.join('\n')).toContain("no span rows: the dependency comes from the audit's dependency graph");
    expect((await cli(['cancel', id], h.env)).code).toBe(0);

    // a profile there has no spans to rank; it says nothing about SLOs it never read
    const prof = await start(h, ['profile_appsignals', 'checkout-api', 'for', '2s', 'interval=1s']);
    await waitRun(h, prof, (r) => r.status === 'succeeded', 'the profile to finish');
    const status = await cli(['status', prof], h.env);
    expect(status.stdout).not.toMatch(/SLOs? .*met|all SLOs/);
    const report = await cli(['report', prof], h.env);
    expect(report.code, report.stderr).toBe(0);
    expect(report.stdout).not.toMatch(/SLO|all SLOs met/);
    expect(report.stdout).toContain('Transaction Search Not Available');
  }, 120_000);

  it('profile_appsignals: reports the worst operations and the slow dependency over a short window', async () => {
    const w = home('opaws3-');
    h = w.h;
    const id = await start(h, ['profile_appsignals', 'checkout-api', 'for', '4s', 'interval=2s']);
    const done = await waitRun(h, id, (r) => r.status === 'succeeded', 'the profile to finish');
    const analyze = stepOf(done, 'analyze')?.output as { operations: { name: string }[]; slow_dependency: { name: string }; metrics: { metric: string; percentiles_missing: boolean }[] };
    expect(analyze.operations[0].name).toBe('POST /checkout');
    expect(analyze.slow_dependency.name).toBe('payment-service');
    expect(analyze.metrics.map((m) => m.metric)).toEqual(['Latency', 'Fault']);
    expect(analyze.metrics.every((m) => m.percentiles_missing)).toBe(true); // the pinned release's bug, said not hidden
    const report = await waitNote(h, id, (n) => /Profiling checkout-api/.test(n.text), 'the report');
    expect(report.level).toBe('warning');
    expect(report.text).toContain('Slow dependency: payment-service POST /charge (p99 2391.6 ms)');
    expect(report.text).toContain('Worst operations: POST /checkout p99 2455.1 ms (410 calls)');
    const text = await cli(['report', id], h.env);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('Slow dependency: payment-service POST /charge p99 2392 ms');
    // a profile reads no SLOs: its advice does not invoke one
    expect(text.stdout.replace(/\s+/g, ' ')).toContain('fix: Look at payment-service first: its p99 (2391.6 ms) stands out from the other dependencies of POST /checkout.');
    expect(text.stdout).not.toMatch(/\bSLOs?\b/);
    expect(text.stdout).toMatch(/Operations \(worst first\)\n\s+OPERATION.*\n\s+POST \/checkout\s+410/);
    expect(text.stdout).toMatch(/Dependencies \(worst first\)\n\s+DEPENDENCY.*\n\s+payment-service\s+POST \/charge.*SLOW/);
  }, 120_000);
});

describe('AppSignals bad input: clear errors, nothing started wrongly, the daemon alive', () => {
  let w: { h: TempHome; state: string };
  beforeAll(() => {
    w = home('opaws4-');
  });
  afterAll(async () => {
    await w.h.cleanup();
  });

  async function failsWith(args: string[], scenario: string | null, reason: RegExp): Promise<void> {
    writeFileSync(w.state, JSON.stringify(scenario ? { scenario } : {}));
    const id = await start(w.h, args);
    const run = await waitRun(w.h, id, (r) => r.status === 'failed', `run ${args.join(' ')} to fail`).catch(async (e: unknown) => {
      throw new Error(`${String(e)}: ${JSON.stringify(await getRun(w.h, id))}`);
    });
    expect(run.error).toMatch(reason);
    expect(run.error!.split('\n')).toHaveLength(1);
    // nothing after the failing read ran: no alert, no approval, no remediation
    expect(run.steps.filter((s) => /\.(alert|approve|remediate)$/.test(s.id) && s.status !== 'skipped')).toEqual([]);
    expect((await inbox(w.h, id)).filter((n) => n.level === 'critical' && /SLO breach/.test(n.text))).toEqual([]);
    const alive = await cli(['daemon', 'status'], w.h.env);
    expect(alive.code, alive.stderr).toBe(0);
  }

  it('an unknown service', async () => {
    await failsWith(['slo_appsignals', 'checkout', 'remediation_url=http://127.0.0.1:9/never', 'every', '2s'], null, /service "checkout" is not in Application Signals \(services: checkout-api, inventory-service, payment-service\)/);
    await failsWith(['profile_appsignals', 'checkout', 'for', '4s', 'interval=2s'], null, /Service 'checkout' not found in Application Signals/);
  }, 120_000);

  it('a service without SLOs (the real list_slis reports it OK with "0 SLO(s) healthy"): refused at the first check, not watched as "all SLOs met"', async () => {
    await failsWith(['slo_appsignals', 'payment-service', 'every', '2s'], null, /service "payment-service" has no SLOs in Application Signals, so there is nothing to watch: create one/);
  }, 60_000);

  it('no AWS credentials', async () => {
    await failsWith(['slo_appsignals', 'checkout-api', 'every', '2s'], 'no_credentials', /no usable AWS credentials \(Unable to locate credentials\); set AWS_PROFILE/);
  }, 60_000);

  it('a throttled API (ThrottlingException text from the tool): that check is recorded failed with the reason, the watch goes on and alerts on the next check', async () => {
    writeFileSync(w.state, JSON.stringify({ scenario: 'throttled' }));
    const id = await start(w.h, ['slo_appsignals', 'checkout-api', 'every', '2s', 'recheck_every=1s']);
    const logs = async (): Promise<string> => (await cli(['logs', id], w.h.env)).stdout;
    await waitFor(async () => /check \(check 2\)\s+failed: ops\.appsignals_facts returned an error: list_slis: AWS throttled the call \(An error occurred \(ThrottlingException\)/.test(await logs()), {
      what: 'two throttled checks in the logs',
      timeoutMs: 60_000,
    });
    const events = (await cli(['logs', id, '--json'], w.h.env)).stdout;
    expect(events).toMatch(/AWS throttled the call \(An error occurred \(ThrottlingException\) when calling the ListServices operation \(reached max retries: 4\): Rate exceeded\)/);
    const run = await getRun(w.h, id);
    expect(run.status).not.toBe('failed');
    expect(run.error ?? null).toBeNull();
    // AWS answers again: the next check reads it and alerts
    writeFileSync(w.state, JSON.stringify({}));
    const alert = await waitNote(w.h, id, (n) => n.level === 'critical' && /SLO breach/.test(n.text), 'the breach alert after throttling');
    expect(alert.text).toContain('payment-service');
    const checks = (stepOf(await getRun(w.h, id), 'monitor')?.output ?? []) as { check: unknown; audit: unknown }[];
    expect(checks.length).toBeGreaterThanOrEqual(1);
    expect(checks.filter((c) => c.check === null).every((c) => c.audit === null)).toBe(true);
    expect((await cli(['cancel', id], w.h.env)).code).toBe(0);
    expect((await cli(['daemon', 'status'], w.h.env)).code).toBe(0);
  }, 90_000);

  it('no AWS credentials anywhere (no keys and no AWS_PROFILE in the server\'s env): both workflows fail at their first read, in one line saying how to give them', async () => {
    const n = tempHome('opawsn-');
    try {
      // a server env with a region only: boto3's chain finds nothing (the daemon passes no AWS_* of its own)
      const env = { AWS_REGION: 'eu-west-1', APPSIGNALS_STANDIN_STATE: join(n.home, 'aws-world.json') };
      writeFileSync(join(n.home, 'config.yaml'), ['notify: { desktop: "off" }', 'mcpServers:', '  appsignals:', '    command: node', `    args: [${JSON.stringify(STANDIN)}]`, `    env: ${JSON.stringify(env)}`, ''].join('\n'));
      for (const args of [['slo_appsignals', 'checkout-api', 'every', '2s'], ['profile_appsignals', 'checkout-api', 'for', '4s', 'interval=2s']]) {
        const id = await start(n, args);
        const run = await waitRun(n, id, (r) => r.status === 'failed', `${args[0]} to fail`);
        expect(run.error).toMatch(/no usable AWS credentials \(Unable to locate credentials\); set AWS_PROFILE or AWS_ACCESS_KEY_ID\/AWS_SECRET_ACCESS_KEY in mcpServers\.appsignals\.env/);
        expect(run.error!.split('\n')).toHaveLength(1);
        expect(run.steps.filter((st) => /\.(alert|approve|remediate)$|^(analyze|report|report_slow)$/.test(st.id) && st.status !== 'skipped')).toEqual([]);
      }
      expect((await cli(['daemon', 'status'], n.env)).code).toBe(0);
    } finally {
      await n.cleanup();
    }
  }, 90_000);

  it('profile_appsignals: a throttled sample is recorded failed with AWS\'s message and skipped; the profile goes on and reports from the samples AWS answered', async () => {
    const p = home('opawsp-');
    try {
      writeFileSync(p.state, JSON.stringify({ scenario: 'throttled' }));
      const id = await start(p.h, ['profile_appsignals', 'checkout-api', 'for', '20s', 'interval=2s']);
      await waitFor(async () => /read \(iteration 1\)\s+failed: ops\.appsignals_facts returned an error: query_service_metrics: AWS throttled the call/.test((await cli(['logs', id], p.h.env)).stdout), {
        what: 'the throttled first sample in the logs',
        timeoutMs: 60_000,
      });
      // the full message (the plain log line is cut to the terminal): query_service_metrics, like
      // the real one, says only "AWS Error: Rate exceeded" (a ClientError's Message, no code)
      expect((await cli(['logs', id, '--json'], p.h.env)).stdout).toMatch(/query_service_metrics: AWS throttled the call \(Rate exceeded\); try again later/);
      expect((await getRun(p.h, id)).status).not.toBe('failed');
      writeFileSync(p.state, JSON.stringify({}));
      const done = await waitRun(p.h, id, (r) => r.status === 'succeeded', 'the profile to finish');
      const samples = stepOf(done, 'sample')?.output as { read: unknown }[];
      expect(samples[0].read).toBeNull();
      expect(samples.some((x) => x.read !== null)).toBe(true);
      const analyze = stepOf(done, 'analyze')?.output as { metrics: { metric: string; average: number }[]; slow_dependency: { name: string } };
      expect(analyze.metrics.map((m) => m.metric)).toEqual(['Latency', 'Fault']);
      expect(analyze.slow_dependency.name).toBe('payment-service');
    } finally {
      await p.h.cleanup();
    }
  }, 120_000);

  it('an error result (isError) from the server', async () => {
    await failsWith(['slo_appsignals', 'checkout-api', 'remediation_url=http://127.0.0.1:9/never', 'every', '2s'], 'error_result', /search_transaction_spans.*AccessDeniedException.*logs:StartQuery/);
    await failsWith(['profile_appsignals', 'checkout-api', 'for', '2s', 'interval=1s'], 'error_result', /search_transaction_spans.*AccessDeniedException.*logs:StartQuery/);
  }, 60_000);

  it('a server that fails to start', async () => {
    const s = home('opaws5-', { APPSIGNALS_STANDIN_SCENARIO: 'start_failure', AWS_PROFILE: 'nope' });
    try {
      const id = await start(s.h, ['slo_appsignals', 'checkout-api', 'every', '2s']);
      const run = await waitRun(s.h, id, (r) => r.status === 'failed', 'the run to fail');
      expect(run.error).toMatch(/server "appsignals" is not available: exited with code 1/);
      // one line: the server's first meaningful stderr line (its log prefix dropped), not the traceback
      expect(run.error!.split('\n')).toHaveLength(1);
      expect(run.error).toMatch(/exited with code 1: Failed to initialize AWS clients: The config profile \(nope\) could not be found/);
      expect(run.error).not.toMatch(/Traceback|botocore\.exceptions|\| ERROR/);
      expect((await cli(['daemon', 'status'], s.h.env)).code).toBe(0);
      const tools = await cli(['tools'], s.h.env);
      expect(tools.stdout + tools.stderr).toMatch(/appsignals/);
    } finally {
      await s.h.cleanup();
    }
  }, 60_000);
});

describe('AppSignals workflows without mcpServers.appsignals', () => {
  let h: TempHome | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it('a start is refused in one line saying how to configure the server; nothing is started, the daemon alive', async () => {
    h = tempHome('opaws9-');
    writeFileSync(join(h.home, 'config.yaml'), 'notify: { desktop: "off" }\n');
    for (const args of [['slo_appsignals', 'checkout-api'], ['profile_appsignals', 'checkout-api', 'for', '1h']]) {
      const r = await cli(['start', ...args], h.env);
      expect(r.code).not.toBe(0);
      const line = r.stderr.trim();
      expect(line.split('\n')).toHaveLength(1);
      expect(line).toContain(`workflow ${args[0]} needs the MCP server "appsignals", which is not configured: add it under mcpServers.appsignals in config.yaml (README: "AWS: CloudWatch Application Signals")`);
    }
    const list = await cli(['list', '--all', '--json'], h.env);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([]);
    expect((await cli(['daemon', 'status'], h.env)).code).toBe(0);
    // configured, the same start is accepted
    writeFileSync(join(h.home, 'config.yaml'), config(join(h.home, 'aws-world.json')));
    await cli(['daemon', 'stop'], h.env);
    const id = await start(h, ['slo_appsignals', 'checkout-api']);
    expect((await cli(['cancel', id], h.env)).code).toBe(0);
  }, 60_000);
});

describe('opstream doctor with mcpServers.appsignals', () => {
  interface Doc {
    ok: boolean;
    checks: { name: string; status: string; detail: string }[];
  }
  const doctor = async (h: TempHome): Promise<{ code: number; out: string; doc: Doc }> => {
    const r = await cli(['doctor', '--json'], h.env, { timeoutMs: 60_000 });
    return { code: r.code, out: r.stdout + r.stderr, doc: JSON.parse(r.stdout) as Doc };
  };
  const check = (d: Doc, name: string) => d.checks.find((c) => c.name === name);

  it('starts the server, lists its tools and names the AWS identity without printing secrets', async () => {
    const w = home('opaws6-');
    try {
      const r = await doctor(w.h);
      expect(check(r.doc, 'mcp appsignals')).toMatchObject({ status: 'ok' });
      expect(check(r.doc, 'mcp appsignals')!.detail).toMatch(/7 tool\(s\): audit_slos, get_slo, list_monitored_services, list_slis, list_slos, query_service_metrics, search_transaction_spans/);
      expect(check(r.doc, 'aws identity')).toEqual({ name: 'aws identity', status: 'ok', detail: 'access key ****MPLE from mcpServers.appsignals.env; region eu-west-1' });
      expect(r.out).not.toContain('AKIAIOSFODNN7EXAMPLE');
      expect(r.out).not.toContain('wJalrXUtnFEMI');
    } finally {
      await w.h.cleanup();
    }
  }, 60_000);

  it('a profile from ~/.aws (region from it), and a missing profile fails with the server start', async () => {
    const h = tempHome('opaws7-');
    try {
      const fakeHome = join(h.home, 'user');
      mkdirSync(join(fakeHome, '.aws'), { recursive: true });
      writeFileSync(join(fakeHome, '.aws', 'config'), '[profile dev]\nregion = ap-south-1\n');
      writeFileSync(join(fakeHome, '.aws', 'credentials'), '[dev]\naws_access_key_id = AKIADEVDEVDEV1234567\naws_secret_access_key = s3cr3tS3CR3Ts3cr3tS3CR3Ts3cr3tS3CR3T0000\n');
      h.env.HOME = fakeHome;
      const cfg = (env: Record<string, string>) => ['mcpServers:', '  appsignals:', '    command: node', `    args: [${JSON.stringify(STANDIN)}]`, `    env: ${JSON.stringify(env)}`, ''].join('\n');
      writeFileSync(join(h.home, 'config.yaml'), cfg({ AWS_PROFILE: 'dev', AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' }));
      const ok = await doctor(h);
      expect(check(ok.doc, 'aws identity')).toMatchObject({ status: 'ok', detail: `profile dev (${join(fakeHome, '.aws', 'config')}); region ap-south-1, endpoint http://127.0.0.1:4566` });
      expect(ok.out).not.toMatch(/s3cr3t|AKIADEV/);

      writeFileSync(join(h.home, 'config.yaml'), cfg({ AWS_PROFILE: 'nope', APPSIGNALS_STANDIN_SCENARIO: 'start_failure' }));
      const bad = await doctor(h);
      expect(bad.code).not.toBe(0);
      expect(check(bad.doc, 'mcp appsignals')).toMatchObject({ status: 'fail' });
      expect(check(bad.doc, 'mcp appsignals')!.detail).toContain('The config profile (nope) could not be found');
      expect(check(bad.doc, 'aws identity')!.detail).toMatch(/^AWS_PROFILE=nope is not in .* the server will not start \(ProfileNotFound\)$/);
    } finally {
      await h.cleanup();
    }
  }, 60_000);
});
