import type { OpsTool } from '../tool.js';
import analyzeSamples from './analyze-samples.js';
import appsignalsFacts from './appsignals-facts.js';
import httpProbe from './http-probe.js';
import httpRequest from './http-request.js';
import logScan from './log-scan.js';
import processStats from './process-stats.js';
import runCommand from './run-command.js';
import systemStats from './system-stats.js';

/** Every built-in ops tool. To add one: a file in this folder default-exporting an OpsTool, and one line here. */
export const opsTools: OpsTool[] = [
  httpProbe,
  processStats,
  systemStats,
  logScan,
  analyzeSamples,
  httpRequest,
  runCommand,
  appsignalsFacts,
] as unknown as OpsTool[];
