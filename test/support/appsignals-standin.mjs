#!/usr/bin/env node
// A stand-in for the AWS Labs Application Signals MCP server, for tests on a machine without PyPI.
//
// Mirrors `awslabs.cloudwatch-applicationsignals-mcp-server` 0.1.40 (github.com/awslabs/mcp, tag
// 2026.08.20260810225031, commit ebcafaed027f56a2fc3faaa9ee6e95476b62adae): the same tool names, the
// same input schemas (parameter names, types, defaults, required) and the same output TEXT shapes of
// the tools OpStream's AppSignals workflows call (list_monitored_services, list_slis, list_slos,
// get_slo, audit_slos, search_transaction_spans, query_service_metrics), including how the real one
// reports failures: as ordinary text results ("Error getting SLI status: ...", "AWS Error: ...",
// "API call failed: ..." inside the audit JSON), and as MCP isError results only where the real one
// raises (search_transaction_spans). Written from reading that source; none of its code is here.
// It also mirrors the pinned release's query_service_metrics bug: the extended statistic (p99) is
// read from the wrong datapoint field, so only the standard statistic section ever comes back.
//
// The seeded world: service `checkout-api` (eks:prod/shop) whose latency SLO `checkout-api-latency-p99`
// on `POST /checkout` is breached because its dependency `payment-service` (`POST /charge`) is slow;
// its other dependencies (`inventory-service`, the DynamoDB table `orders`) are healthy; two more
// services are healthy. Scenario switches (environment):
//   APPSIGNALS_STANDIN_SCENARIO  breach (default) | healthy | throttled | no_credentials | error_result
//                              | start_failure (exits at start like the real one with a bad AWS_PROFILE)
//   APPSIGNALS_STANDIN_STATE   a JSON file read on every call, so one running server can change
//                              world: { "remediated": true } heals it (the test's remediation endpoint
//                              writes that), { "scenario": "throttled" } overrides the scenario,
//                              { "transaction_search": false } is an account without Transaction
//                              Search (list_slis says so; search_transaction_spans answers
//                              "Transaction Search Not Available", as the real one does),
//                              { "quiet": true } a service without traffic in the metrics' window
//                              (query_service_metrics: "No data points found ...")
// payment-service has no SLOs: the real list_slis reports such a service OK with "0 SLO(s) healthy"
// (its SLI report client says OK when there is nothing to breach), not as insufficient data.
//   no AWS_ACCESS_KEY_ID and no AWS_PROFILE: every AWS call fails as botocore's NoCredentialsError.
import { readFileSync } from 'node:fs';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const startScenario = process.env.APPSIGNALS_STANDIN_SCENARIO ?? 'breach';
const region = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1';

if (startScenario === 'start_failure') {
  // what the real server prints when AWS_PROFILE names a profile that does not exist: the clients are
  // created at import time, so the process dies before it answers `initialize`
  process.stderr.write(
    `${new Date().toISOString().replace('T', ' ').slice(0, 23)} | ERROR    | awslabs.cloudwatch_applicationsignals_mcp_server.aws_clients:<module>:152 - Failed to initialize AWS clients: The config profile (${process.env.AWS_PROFILE ?? 'default'}) could not be found\n` +
      'Traceback (most recent call last):\n' +
      `botocore.exceptions.ProfileNotFound: The config profile (${process.env.AWS_PROFILE ?? 'default'}) could not be found\n`,
  );
  process.exit(1);
}

// ---- the seeded world --------------------------------------------------------------------------

const ENV = 'eks:prod/shop';
const SERVICES = [
  { Name: 'checkout-api', Environment: ENV },
  { Name: 'inventory-service', Environment: ENV },
  { Name: 'payment-service', Environment: ENV },
];
const ACCOUNT = '123456789012';
const sloArn = (name) => `arn:aws:application-signals:${region}:${ACCOUNT}:slo/${name}`;
const SLOS = [
  { Name: 'checkout-api-latency-p99', service: 'checkout-api', operation: 'POST /checkout', type: 'LATENCY', threshold: 500, stat: 'p99', comparison: 'LessThanOrEqualTo' },
  { Name: 'checkout-api-availability', service: 'checkout-api', operation: 'POST /checkout', type: 'AVAILABILITY', threshold: 99.9, stat: 'Average', comparison: 'GreaterThanOrEqualTo' },
  { Name: 'inventory-service-latency', service: 'inventory-service', operation: 'GET /stock', type: 'LATENCY', threshold: 200, stat: 'p99', comparison: 'LessThanOrEqualTo' },
];
/** checkout-api's CLIENT spans, aggregated by remote service and operation (ms). */
function dependencyRows(healed) {
  return [
    { 'attributes.aws.remote.service': 'payment-service', 'attributes.aws.remote.operation': 'POST /charge', calls: '412', avg_ms: healed ? '41.7' : '1840.2', p99_ms: healed ? '88.3' : '2391.6' },
    { 'attributes.aws.remote.service': 'inventory-service', 'attributes.aws.remote.operation': 'GET /stock', calls: '398', avg_ms: '18.4', p99_ms: '46.9' },
    { 'attributes.aws.remote.service': 'AWS::DynamoDB', 'attributes.aws.remote.operation': 'PutItem', calls: '405', avg_ms: '6.2', p99_ms: '14.8' },
  ].sort((a, b) => Number(b.p99_ms) - Number(a.p99_ms));
}
/** checkout-api's SERVER spans by operation (ms). */
function operationRows(healed) {
  return [
    { 'attributes.aws.local.operation': 'POST /checkout', calls: '410', avg_ms: healed ? '72.5' : '1893.0', p99_ms: healed ? '160.2' : '2455.1', faults: '0' },
    { 'attributes.aws.local.operation': 'GET /cart', calls: '1210', avg_ms: '22.1', p99_ms: '61.0', faults: '0' },
    { 'attributes.aws.local.operation': 'GET /health', calls: '720', avg_ms: '1.2', p99_ms: '3.9', faults: '0' },
  ].sort((a, b) => Number(b.p99_ms) - Number(a.p99_ms));
}

function state() {
  const file = process.env.APPSIGNALS_STANDIN_STATE;
  if (!file) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return {};
  }
}
const scenarioNow = () => state().scenario ?? startScenario;
/** The real check_transaction_search_enabled: any failure of the X-Ray call reads as (false, Unknown, Error). */
function transactionSearch() {
  if (awsFailure('GetTraceSegmentDestination')) return { enabled: false, destination: 'Unknown', status: 'Error' };
  if (state().transaction_search === false) return { enabled: false, destination: 'XRay', status: 'ACTIVE' };
  return { enabled: true, destination: 'CloudWatchLogs', status: 'ACTIVE' };
}
const healed = () => scenarioNow() === 'healthy' || state().remediated === true;

/** Raises what boto3 raises for an API call in the current scenario (null: the call goes through). */
function awsFailure(operation) {
  const scenario = scenarioNow();
  if (scenario === 'no_credentials' || (!process.env.AWS_ACCESS_KEY_ID && !process.env.AWS_PROFILE)) return 'Unable to locate credentials';
  if (scenario === 'throttled') return `An error occurred (ThrottlingException) when calling the ${operation} operation (reached max retries: 4): Rate exceeded`;
  return null;
}

/**
 * The text of the tools that catch botocore's ClientError apart (list_monitored_services,
 * query_service_metrics, list_slos, get_slo): `AWS Error: ` and the error's Message only ("Rate
 * exceeded", no code, no operation); anything else (NoCredentialsError) as `Error: ` and str(e).
 */
function caughtText(err) {
  const client = /^An error occurred \((\w+)\) when calling the \w+ operation(?: \(reached max retries: \d+\))?: (.*)$/.exec(err);
  return client ? `AWS Error: ${client[2]}` : `Error: ${err}`;
}

// ---- tool schemas: FastMCP's JSON Schema for the pinned signatures --------------------------------

const str = (title, description, dflt) => ({ title, description, type: 'string', ...(dflt === undefined ? {} : { default: dflt }) });
const optStr = (title, description) => ({ title, description, anyOf: [{ type: 'string' }, { type: 'null' }], default: null });
const int = (title, description, dflt) => ({ title, description, type: 'integer', ...(dflt === undefined ? {} : { default: dflt }) });
const obj = (title, properties, required = []) => ({ type: 'object', title: `${title}Arguments`, properties, required });

const tools = [
  { name: 'list_monitored_services', description: 'List all services monitored by AWS Application Signals.', inputSchema: obj('list_monitored_services', {}) },
  {
    name: 'query_service_metrics',
    description: 'Get CloudWatch metrics for a specific Application Signals service.',
    inputSchema: obj(
      'query_service_metrics',
      {
        service_name: str('Service Name', 'Name of the service to get metrics for (case-sensitive)'),
        metric_name: str('Metric Name', 'Specific metric name (e.g., Latency, Error, Fault). Leave empty to list available metrics'),
        statistic: str('Statistic', 'Standard statistic type (Average, Sum, Maximum, Minimum, SampleCount)', 'Average'),
        extended_statistic: str('Extended Statistic', 'Extended statistic (p99, p95, p90, p50, etc)', 'p99'),
        hours: int('Hours', 'Number of hours to look back (default 1, max 168 for 1 week)', 1),
      },
      ['service_name', 'metric_name'],
    ),
  },
  { name: 'get_slo', description: 'Get detailed information about a specific Service Level Objective (SLO).', inputSchema: obj('get_slo', { slo_id: str('Slo Id', 'The ARN or name of the SLO to retrieve') }, ['slo_id']) },
  {
    name: 'list_slos',
    description: 'List all Service Level Objectives (SLOs) in Application Signals.',
    inputSchema: obj('list_slos', {
      key_attributes: str('Key Attributes', 'JSON string of key attributes to filter SLOs', '{}'),
      include_linked_accounts: { title: 'Include Linked Accounts', description: 'Whether to include SLOs from linked accounts (default: True)', type: 'boolean', default: true },
      max_results: int('Max Results', 'Maximum number of SLOs to return (default: 50, max: 50)', 50),
    }),
  },
  {
    name: 'search_transaction_spans',
    description: 'Executes a CloudWatch Logs Insights query against trace span records stored in CloudWatch Logs.',
    inputSchema: obj('search_transaction_spans', {
      log_group_name: str('Log Group Name', 'Optional CloudWatch Logs log group name.', ''),
      start_time: str('Start Time', 'Start time in ISO 8601 format (e.g., "2025-04-19T20:00:00+00:00")', ''),
      end_time: str('End Time', 'End time in ISO 8601 format (e.g., "2025-04-19T21:00:00+00:00")', ''),
      query_string: str('Query String', 'CloudWatch Logs Insights query string', ''),
      limit: { title: 'Limit', description: 'Maximum number of results to return', anyOf: [{ type: 'integer' }, { type: 'null' }], default: null },
      max_timeout: int('Max Timeout', 'Maximum time in seconds to wait for query completion', 30),
    }),
    outputSchema: { type: 'object', additionalProperties: true, title: 'search_transaction_spansDictOutput' },
  },
  { name: 'list_slis', description: 'SPECIALIZED TOOL - basic SLI status report of every service.', inputSchema: obj('list_slis', { hours: int('Hours', 'Number of hours to look back (default 24, typically use 24 for daily checks)', 24) }) },
  {
    name: 'audit_slos',
    description: 'PRIMARY SLO AUDIT TOOL - comprehensive SLO compliance monitoring and breach analysis.',
    inputSchema: obj(
      'audit_slos',
      {
        slo_targets: str('Slo Targets', 'REQUIRED. JSON array of SLO targets.'),
        start_time: optStr('Start Time', "Start time (unix seconds or 'YYYY-MM-DD HH:MM:SS'). Defaults to now-24h UTC."),
        end_time: optStr('End Time', "End time (unix seconds or 'YYYY-MM-DD HH:MM:SS'). Defaults to now UTC."),
        auditors: optStr('Auditors', "Optional. Comma-separated auditors (e.g., 'slo,trace,log'). Defaults to 'slo'."),
        next_token: optStr('Next Token', 'Optional. Token for pagination through SLOs.'),
        max_slos: int('Max Slos', 'Optional. Maximum number of SLOs to process per call when using wildcard patterns (default: 5, max: 10).', 5),
      },
      ['slo_targets'],
    ),
  },
];

// ---- tool behaviour, in the real tools' words ---------------------------------------------------

const pad2 = (n) => String(n).padStart(2, '0');
const ymdhm = (d) => `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`;

function listMonitoredServices() {
  const err = awsFailure('ListServices');
  if (err) return caughtText(err);
  let r = `Application Signals Services (${SERVICES.length} total: ${SERVICES.length} instrumented, 0 uninstrumented):\n\n`;
  r += `Instrumented Services (${SERVICES.length}):\n\n`;
  for (const s of SERVICES) {
    r += `• Service: ${s.Name}\n  Type: Service\n  Key Attributes:\n    Environment: ${s.Environment}\n    Name: ${s.Name}\n    Type: Service\n\n`;
  }
  return r;
}

function breachedOf(service) {
  if (healed()) return [];
  return service === 'checkout-api' ? ['checkout-api-latency-p99'] : [];
}

function listSlis(a) {
  const hours = a.hours ?? 24;
  const err = awsFailure('ListServices');
  if (err) return `Error getting SLI status: ${err}`;
  const end = new Date();
  const start = new Date(end.getTime() - hours * 3600_000);
  const reports = SERVICES.map((s) => {
    const total = SLOS.filter((o) => o.service === s.Name).length;
    const breached = breachedOf(s.Name);
    return { s, total, breached, status: breached.length > 0 ? 'BREACHED' : 'OK' };
  });
  let r = `SLI Status Report - Last ${hours} hours\n`;
  r += `Time Range: ${ymdhm(start)} - ${ymdhm(end)}\n\n`;
  const ts = transactionSearch();
  if (ts.enabled) r += '✅ Transaction Search: ENABLED (100% trace visibility available)\n\n';
  else r += `⚠️ Transaction Search: NOT ENABLED (only 5% sampled traces available)\n   Current config: Destination=${ts.destination}, Status=${ts.status}\n   Enable Transaction Search for accurate root cause analysis\n\n`;
  const count = (st) => reports.filter((x) => x.status === st).length;
  r += `Summary:\n• Total Services: ${reports.length}\n• Healthy (OK): ${count('OK')}\n• Breached: ${count('BREACHED')}\n• Insufficient Data: ${count('INSUFFICIENT_DATA')}\n\n`;
  if (count('BREACHED') > 0) {
    r += '⚠️  BREACHED SERVICES:\n';
    for (const x of reports.filter((y) => y.status === 'BREACHED')) {
      r += `\n• ${x.s.Name} (${x.s.Environment})\n  SLOs: ${x.breached.length}/${x.total} breached\n`;
      r += '  Breached SLOs:\n';
      for (const n of x.breached) r += `    - ${n}\n`;
    }
  }
  if (count('OK') > 0) {
    r += '\n✅ HEALTHY SERVICES:\n';
    for (const x of reports.filter((y) => y.status === 'OK')) r += `• ${x.s.Name} (${x.s.Environment}) - ${x.total - x.breached.length} SLO(s) healthy\n`;
  }
  if (count('INSUFFICIENT_DATA') > 0) {
    r += '\n❓ INSUFFICIENT DATA:\n';
    for (const x of reports.filter((y) => y.status === 'INSUFFICIENT_DATA')) r += `• ${x.s.Name} (${x.s.Environment})\n`;
  }
  return r;
}

function listSlos(a) {
  let filter;
  try {
    filter = a.key_attributes ? JSON.parse(a.key_attributes) : {};
  } catch (e) {
    return `Error: Invalid JSON in key_attributes parameter: ${e.message}`;
  }
  const err = awsFailure('ListServiceLevelObjectives');
  if (err) return caughtText(err);
  const found = SLOS.filter((o) => !filter.Name || o.service === filter.Name).slice(0, Math.min(Math.max(a.max_results ?? 50, 1), 50));
  if (found.length === 0) return 'No Service Level Objectives found matching the specified criteria.';
  let r = `Service Level Objectives (${found.length} total):\n\n`;
  for (const o of found) {
    r += `• SLO: ${o.Name}\n  ARN: ${sloArn(o.Name)}\n  Operation: ${o.operation}\n  Created: 2026-06-02 09:14:05+00:00\n`;
    r += `  Service Attributes:\n    Environment: ${ENV}\n    Name: ${o.service}\n    Type: Service\n\n`;
  }
  return r;
}

function getSlo(a) {
  const err = awsFailure('GetServiceLevelObjective');
  if (err) return caughtText(err);
  const o = SLOS.find((x) => x.Name === a.slo_id || sloArn(x.Name) === a.slo_id);
  if (!o) return `AWS Error: Service Level Objective ${a.slo_id} not found`;
  let r = 'Service Level Objective Details\n' + '='.repeat(50) + '\n\n';
  r += `Name: ${o.Name}\nARN: ${sloArn(o.Name)}\nEvaluation Type: PeriodBased\nCreated: 2026-06-02 09:14:05+00:00\nLast Updated: 2026-06-02 09:14:05+00:00\n\n`;
  r += 'Goal Configuration:\n• Attainment Goal: 99.0%\n• Warning Threshold: 50.0%\n• Interval: Rolling 1 DAY\n\n';
  r += `Period-Based SLI Configuration:\n• Key Attributes:\n  - Environment: ${ENV}\n  - Name: ${o.service}\n  - Type: Service\n`;
  r += `• Operation Name: ${o.operation}\n  (Use this in trace queries: annotation[aws.local.operation]="${o.operation}")\n`;
  r += `• Metric Type: ${o.type}\n• Threshold: ${o.threshold}\n• Comparison: ${o.comparison}\n\n`;
  return r;
}

function parseTime(v, fallback) {
  if (v === null || v === undefined || v === '') return fallback;
  if (/^\d+$/.test(String(v))) return Number(v);
  const t = Date.parse(String(v).replace(' ', 'T') + (String(v).includes('+') || String(v).endsWith('Z') ? '' : 'Z'));
  if (Number.isNaN(t)) throw new Error(`Invalid timestamp format: ${v}`);
  return Math.floor(t / 1000);
}

function auditSlos(a) {
  const now = Math.floor(Date.now() / 1000);
  let start, end;
  try {
    start = parseTime(a.start_time, now - 86400);
    end = parseTime(a.end_time, now);
  } catch (e) {
    return `Error: ${e.message}`;
  }
  if (end <= start) return 'Error: end_time must be greater than start_time.';
  let provided;
  try {
    provided = JSON.parse(a.slo_targets);
  } catch {
    return 'Error: `slo_targets` must be valid JSON (array).';
  }
  if (!Array.isArray(provided)) return 'Error: `slo_targets` must be a JSON array';
  if (provided.length === 0) return 'Error: `slo_targets` must contain at least 1 item';
  const targets = provided.filter((t) => t && typeof t === 'object' && String(t.Type ?? '').toLowerCase() === 'slo');
  if (targets.some((t) => String(t.Data?.Slo?.SloName ?? '').includes('*'))) return 'Error: this stand-in does not expand SLO wildcards; name the SLOs';
  if (targets.length === 0) return 'Error: No SLO targets found after wildcard expansion.';
  const banner = `[MCP-SLO] Application Signals SLO Compliance Audit\n🎯 Scope: ${targets.length} SLO target(s) | Region: ${region}\n⏰ Time: ${start}–${end}\n\n`;
  const err = awsFailure('ListAuditFindings');
  if (err) return banner + JSON.stringify({ AuditFindings: [], ListAuditFindingsErrors: [{ error: `API call failed: ${err}`, targets }] }, null, 2);
  const auditors = (a.auditors ?? 'slo').split(',').map((s) => s.trim().toLowerCase());
  const all = auditors.includes('all');
  const findings = [];
  for (const t of targets) {
    const name = t.Data?.Slo?.SloName ?? '';
    const o = SLOS.find((x) => x.Name === name || sloArn(x.Name) === t.Data?.Slo?.SloArn);
    if (!o || !breachedOf(o.service).includes(o.Name)) continue;
    const results = [
      { Auditor: 'SLO', Description: `SLO \`${o.Name}\` is breached: the ${o.stat} latency of \`${o.operation}\` exceeded its ${o.threshold} ms threshold in 37 of the last 144 periods (attainment 74.31% against a goal of 99.0%).`, Severity: 'CRITICAL' },
    ];
    if (all || auditors.includes('trace')) {
      results.push({
        Auditor: 'TRACE',
        Description:
          'Traces show the long latency is caused by a slow dependency invocation, see a [sample trace](<#xray:transaction-search/1-6a1f0c2e-4b7d2a9e1c3f5b7d9e0a1b2c~7f3a9c1d2e4b6a80?~(context~(timeRange~(start~\'2026-08-20T10*3A00*3A00Z~end~\'2026-08-20T10*3A10*3A00Z)))&segmentName=checkout-api>).  \n* **Dependency**: Service *payment-service*  \n* **Invoked operation**: `POST /charge`&nbsp;',
        Severity: 'HIGH',
      });
    }
    if (all || auditors.includes('dependency_metric')) {
      results.push({ Auditor: 'DEPENDENCY_METRIC', Description: 'The p99 latency of dependency `payment-service` operation `POST /charge` rose from 84 ms to 2392 ms at the same time as the breach; other dependencies are unchanged.', Severity: 'HIGH' });
    }
    findings.push({
      AuditorResults: results,
      DependencyGraph: {
        Edges: [
          { ConnectionType: 'DIRECT', DestinationNodeId: 'NodeId2', SourceNodeId: 'NodeId1' },
          { ConnectionType: 'DIRECT', DestinationNodeId: 'NodeId3', SourceNodeId: 'NodeId1' },
          { ConnectionType: 'DIRECT', DestinationNodeId: 'NodeId4', SourceNodeId: 'NodeId1' },
        ],
        Nodes: [
          { Duration: 2.4551, KeyAttributes: { Environment: ENV, Name: o.service, Type: 'Service' }, Name: o.service, NodeId: 'NodeId1', Operation: o.operation, Status: 'Ok', Type: 'Service' },
          { Duration: 2.3916, KeyAttributes: { Environment: ENV, Name: 'payment-service', Type: 'Service' }, Name: 'payment-service', NodeId: 'NodeId2', Operation: 'POST /charge', Status: 'Ok', Type: 'Service' },
          { Duration: 0.0469, KeyAttributes: { Environment: ENV, Name: 'inventory-service', Type: 'Service' }, Name: 'inventory-service', NodeId: 'NodeId3', Operation: 'GET /stock', Status: 'Ok', Type: 'Service' },
          { Duration: 0.0148, KeyAttributes: { Identifier: 'orders', ResourceType: 'AWS::DynamoDB::Table', Type: 'AWS::Resource' }, Name: 'DynamoDB', NodeId: 'NodeId4', Operation: 'PutItem', Status: 'Ok', Type: 'AWS::Resource' },
        ],
      },
      KeyAttributes: { Environment: ENV, Name: o.service, Type: 'Service' },
      MetricGraph: {
        EndTime: new Date(end * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '+00:00'),
        MetricDataQueries: [
          {
            AccountId: ACCOUNT,
            Id: 'm1',
            MetricStat: { Metric: { Dimensions: [{ Name: 'Operation', Value: o.operation }, { Name: 'Service', Value: o.service }, { Name: 'Environment', Value: ENV }], MetricName: 'Latency', Namespace: 'ApplicationSignals' }, Period: 600, Stat: o.stat },
            Period: 600,
            ReturnData: true,
          },
        ],
        StartTime: new Date(start * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '+00:00'),
      },
      Operation: o.operation,
      Type: 'Latency',
    });
  }
  return banner + JSON.stringify({ AuditFindings: findings }, null, 2);
}

/** Returns the dict the real tool returns, or throws what it raises (FastMCP makes that an isError result). */
function searchTransactionSpans(a) {
  if (!a.query_string || !a.query_string.trim()) {
    return { status: 'Invalid Input', message: 'query_string is required and must not be empty. Provide a CloudWatch Logs Insights query (e.g., "fields @timestamp, attributes.aws.local.service | limit 20").' };
  }
  // the real tool checks Transaction Search first and answers (not raises) when it is off or the
  // check failed (no credentials, throttled: check_transaction_search_enabled swallows the error)
  const ts = transactionSearch();
  if (!ts.enabled) {
    return {
      status: 'Transaction Search Not Available',
      transaction_search_status: { enabled: false, destination: ts.destination, status: ts.status },
      message:
        '⚠️ Transaction Search is not enabled for this account. ' +
        `Current configuration: Destination=${ts.destination}, Status=${ts.status}. ` +
        "Transaction Search requires sending traces to CloudWatch Logs (destination='CloudWatchLogs' and status='ACTIVE'). " +
        'Without Transaction Search, you only have access to 5% sampled trace data through X-Ray. ' +
        'To get 100% trace visibility, please enable Transaction Search in your X-Ray settings. ' +
        'As a fallback, you can use get_xray_trace() to look up specific traces by ID, but results may be incomplete due to sampling.',
      fallback_recommendation: 'Use get_xray_trace() to look up specific X-Ray trace IDs (5% sampled data).',
    };
  }
  const err = awsFailure('StartQuery');
  if (err) throw new Error(err);
  if (scenarioNow() === 'error_result') {
    throw new Error(`An error occurred (AccessDeniedException) when calling the StartQuery operation: User: arn:aws:iam::${ACCOUNT}:user/opstream is not authorized to perform: logs:StartQuery`);
  }
  // datetime.fromisoformat of Python 3.10 (the release's .python-version and its lowest supported):
  // no trailing Z, no bare date-time without the T or space separator
  for (const t of [a.start_time, a.end_time]) {
    if (!t || /Z$/i.test(t) || !/^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:\d\d)?)?$/.test(t) || Number.isNaN(Date.parse(t))) throw new Error(`Invalid isoformat string: '${t ?? ''}'`);
  }
  const q = a.query_string;
  const svc = /attributes\.aws\.local\.service\s*=\s*["']([^"']+)["']/.exec(q)?.[1];
  let rows = [];
  if (svc === 'checkout-api') {
    if (/by\s+attributes\.aws\.remote\.service/.test(q)) rows = dependencyRows(healed());
    else if (/by\s+attributes\.aws\.local\.operation/.test(q)) rows = operationRows(healed());
  }
  if (a.limit) rows = rows.slice(0, a.limit);
  const scanned = 52_113 + rows.length;
  return {
    queryId: '0c9f1a2b-3d4e-4f50-8a6b-7c8d9e0f1a2b',
    status: 'Complete',
    statistics: { recordsMatched: rows.reduce((n, r) => n + Number(r.calls ?? 0), 0), recordsScanned: scanned, bytesScanned: scanned * 1480 },
    results: rows,
    transaction_search_status: { enabled: true, destination: 'CloudWatchLogs', status: 'ACTIVE' },
    code_level_attributes_status: { detected: false, attributes_found: [], requested_in_query: false },
  };
}

function queryServiceMetrics(a) {
  const hours = a.hours ?? 1;
  const err = awsFailure('ListServices');
  if (err) return caughtText(err);
  if (!SERVICES.some((s) => s.Name === a.service_name)) return `Service '${a.service_name}' not found in Application Signals.`;
  const metrics = ['Latency', 'Error', 'Fault'];
  if (!a.metric_name) {
    let r = `Available metrics for service '${a.service_name}':\n\n`;
    for (const m of metrics) r += `• ${m}\n  Namespace: ApplicationSignals\n  Type: ${m.toUpperCase()}\n\n`;
    return r;
  }
  if (!metrics.includes(a.metric_name)) return `Metric '${a.metric_name}' not found for service '${a.service_name}'. Available: ${metrics.join(', ')}`;
  if (state().quiet === true) return `No data points found for metric '${a.metric_name}' on service '${a.service_name}' in the last ${hours} hour(s).`;
  const statistic = a.statistic ?? 'Average';
  const period = hours <= 3 ? 60 : hours <= 24 ? 300 : 3600;
  const bad = a.service_name === 'checkout-api' && !healed();
  const now = Date.now();
  const n = 10;
  const values = Array.from({ length: n }, (_, i) => {
    if (a.metric_name === 'Latency') return bad ? 1700 + ((i * 37) % 300) : 60 + ((i * 7) % 20);
    if (a.metric_name === 'Fault') return bad ? 0.4 : 0;
    return 0.1;
  });
  const unit = a.metric_name === 'Latency' ? 'Milliseconds' : 'None';
  let r = `Metrics for ${a.service_name} - ${a.metric_name}\nTime Range: Last ${hours} hour(s)\nPeriod: ${period} seconds\n\n`;
  r += 'Summary:\n';
  // the pinned release reads the extended statistic from the datapoint's top level, where CloudWatch
  // never puts it, so only the standard statistic section appears (the "percentiles bug")
  const avg = values.reduce((s, v) => s + v, 0) / n;
  r += `${statistic} Statistics:\n• Latest: ${values[n - 1].toFixed(2)}\n• Average: ${avg.toFixed(2)}\n• Maximum: ${Math.max(...values).toFixed(2)}\n• Minimum: ${Math.min(...values).toFixed(2)}\n\n`;
  r += `• Data Points: ${n}\n\nRecent Values:\n`;
  values.forEach((v, i) => {
    const d = new Date(now - (n - 1 - i) * period * 1000);
    r += `• ${pad2(d.getUTCMonth() + 1)}/${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}: ${statistic}: ${v.toFixed(2)} ${unit}\n`;
  });
  return r;
}

// ---- the MCP server ---------------------------------------------------------------------------

const server = new Server({ name: 'cloudwatch-applicationsignals', version: '1.29.0' }, { capabilities: { tools: {} } });
const text = (t) => ({ content: [{ type: 'text', text: t }], isError: false });
server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
server.setRequestHandler(CallToolRequestSchema, async (req) => {
  const a = req.params.arguments ?? {};
  const tool = tools.find((t) => t.name === req.params.name);
  if (!tool) return { isError: true, content: [{ type: 'text', text: `Unknown tool: ${req.params.name}` }] };
  for (const k of tool.inputSchema.required) {
    if (a[k] === undefined) {
      // pydantic's validation error, as FastMCP returns it
      return { isError: true, content: [{ type: 'text', text: `Error executing tool ${tool.name}: 1 validation error for ${tool.name}Arguments\n${k}\n  Field required [type=missing, input_value=${JSON.stringify(a)}, input_type=dict]` }] };
    }
  }
  try {
    switch (tool.name) {
      case 'list_monitored_services':
        return text(listMonitoredServices());
      case 'list_slis':
        return text(listSlis(a));
      case 'list_slos':
        return text(listSlos(a));
      case 'get_slo':
        return text(getSlo(a));
      case 'audit_slos':
        return text(auditSlos(a));
      case 'query_service_metrics':
        return text(queryServiceMetrics(a));
      case 'search_transaction_spans': {
        const out = searchTransactionSpans(a);
        return { content: [{ type: 'text', text: JSON.stringify(out, null, 2) }], structuredContent: out, isError: false };
      }
    }
  } catch (e) {
    return { isError: true, content: [{ type: 'text', text: `Error executing tool ${tool.name}: ${e instanceof Error ? e.message : String(e)}` }] };
  }
  return { isError: true, content: [{ type: 'text', text: `Unknown tool: ${req.params.name}` }] };
});
await server.connect(new StdioServerTransport());
