import { describe, expect, it } from 'vitest';
import tool from '../../src/ops-server/tools/appsignals-facts.js';

// Shapes of awslabs.cloudwatch-applicationsignals-mcp-server 0.1.40's outputs that the stories'
// stand-in does not exercise: no Transaction Search, wildcard pagination text after the audit JSON,
// insufficient data, and dependencies that are all alike (no single slow one to blame).

const run = (args: Record<string, unknown>) => tool.run(tool.input.parse(args), { allowedCommands: [], signal: new AbortController().signal });

const slis = (section: string): string =>
  `SLI Status Report - Last 24 hours\nTime Range: 2026-08-20 09:00 - 2026-08-21 09:00\n\n⚠️ Transaction Search: NOT ENABLED (only 5% sampled traces available)\n   Current config: Destination=XRay, Status=ACTIVE\n   Enable Transaction Search for accurate root cause analysis\n\nSummary:\n• Total Services: 2\n• Healthy (OK): 1\n• Breached: 1\n• Insufficient Data: 0\n\n${section}`;

const breached = slis('⚠️  BREACHED SERVICES:\n\n• orders (ecs:prod)\n  SLOs: 1/2 breached\n  Breached SLOs:\n    - orders-availability\n\n✅ HEALTHY SERVICES:\n• billing (ecs:prod) - 1 SLO(s) healthy\n');

const audit = (nodes: unknown[]): string =>
  '[MCP-SLO] Application Signals SLO Compliance Audit\n🎯 Scope: 1 SLO target(s) | Region: us-east-1\n⏰ Time: 1755680400–1755766800\n\n' +
  JSON.stringify({ AuditFindings: [{ KeyAttributes: { Name: 'orders', Type: 'Service', Environment: 'ecs:prod' }, Operation: 'POST /orders', Type: 'Availability', AuditorResults: [{ Auditor: 'TRACE', Description: 'a {brace} "quoted" text', Severity: 'HIGH' }], DependencyGraph: { Nodes: nodes } }] }, null, 2) +
  '\n\n📄 More SLOs available: call audit_slos again with next_token="abc" {not json}';

describe('ops.appsignals_facts', () => {
  it('without Transaction Search names the dependency from the audit graph (an AWS resource by type and id)', async () => {
    const out = await run({
      service: 'orders',
      list_slis: breached,
      audit: audit([
        { Name: 'orders', Duration: 3.1, Operation: 'POST /orders', Type: 'Service' },
        { Name: 'DynamoDB', Duration: 2.9, Operation: 'PutItem', Type: 'AWS::Resource', KeyAttributes: { ResourceType: 'AWS::DynamoDB::Table', Identifier: 'orders-table' } },
      ]),
      dependency_spans: { status: 'Transaction Search Not Available', message: '⚠️ Transaction Search is not enabled for this account. More text.' },
    });
    expect(out).toMatchObject({ status: 'breached', slo_name: 'orders-availability', operation: 'POST /orders', slow_dependency: { name: 'AWS::DynamoDB::Table orders-table', operation: 'PutItem', p99_ms: 2900 } });
    expect(out.notes).toContain('search_transaction_spans: Transaction Search Not Available (⚠️ Transaction Search is not enabled for this account)');
    expect(out.slo_targets).toBe('[{"Type":"slo","Data":{"Slo":{"SloName":"orders-availability"}}}]');
  });

  it('blames no dependency when none stands out, and says so', async () => {
    const rows = [
      { 'attributes.aws.remote.service': 'a', 'attributes.aws.remote.operation': 'GET /x', calls: '10', avg_ms: '300', p99_ms: '900' },
      { 'attributes.aws.remote.service': 'b', 'attributes.aws.remote.operation': 'GET /y', calls: '10', avg_ms: '280', p99_ms: '800' },
    ];
    const out = await run({ service: 'orders', list_slis: breached, dependency_spans: { result: { status: 'Complete', results: rows } } });
    expect(out.dependencies.map((d) => d.name)).toEqual(['a', 'b']);
    expect(out.slow_dependency).toBeNull();
    expect(out.summary.root_cause).toBe('no single slow dependency found in spans or the audit');
    expect(out.findings).toEqual([]);
  });

  it('a healthy service, insufficient data, and recovery with its duration', async () => {
    const ok = await run({ service: 'billing', list_slis: breached, breach_started_at: new Date(Date.now() - 90_000).toISOString() });
    expect(ok.slo).toMatchObject({ met: true, status: 'recovered' });
    expect(ok.slo.time_to_recovery).toMatch(/^1m3\d s$|^1m3\ds$/);
    const none = await run({ service: 'lonely', list_slis: slis('❓ INSUFFICIENT DATA:\n• lonely (lambda:default)\n') });
    expect(none).toMatchObject({ status: 'insufficient_data', slo: { met: false, status: 'no_data' } });
  });

  it("turns the server's error texts into one-line reasons", async () => {
    await expect(run({ service: 'x', list_slis: 'Error getting SLI status: Unable to locate credentials' })).rejects.toThrow(/^list_slis: no usable AWS credentials \(Unable to locate credentials\)/);
    await expect(run({ service: 'x', list_slis: 'No services found in Application Signals.' })).rejects.toThrow('service "x" is not in Application Signals (no services found)');
    await expect(run({ service: 'x', metrics: ["Service 'x' not found in Application Signals."] })).rejects.toThrow("query_service_metrics: Service 'x' not found in Application Signals.");
    const throttled = '[MCP-SLO] banner\n\n' + JSON.stringify({ AuditFindings: [], ListAuditFindingsErrors: [{ error: 'API call failed: An error occurred (ThrottlingException) when calling the ListAuditFindings operation: Rate exceeded', targets: [] }] });
    await expect(run({ service: 'x', audit: throttled })).rejects.toMatchObject({ retryable: true, message: expect.stringMatching(/^audit_slos: AWS throttled the call/) });
  });
});
