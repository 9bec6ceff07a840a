import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ROOT } from './home.js';

/** The stand-in of the AWS Labs Application Signals MCP server (pinned release's tools and texts). */
export const STANDIN = join(ROOT, 'test', 'support', 'appsignals-standin.mjs');

/** The stand-in's environment: AWS's documented example keys (it never calls AWS) and its world file. */
export function standinEnv(state: string, extra: Record<string, string> = {}): Record<string, string> {
  return { AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', APPSIGNALS_STANDIN_STATE: state, ...extra };
}

/** config.yaml lines configuring the stand-in as `mcpServers.appsignals` with `env`. */
export function appsignalsServerYaml(env: Record<string, string>): string[] {
  return ['mcpServers:', '  appsignals:', '    command: node', `    args: [${JSON.stringify(STANDIN)}]`, `    env: ${JSON.stringify(env)}`];
}

/** A loopback remediation endpoint: counts its calls and heals the stand-in's world. */
export async function remediationEndpoint(state: string): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    req.resume();
    req.on('end', () => {
      writeFileSync(state, JSON.stringify({ remediated: true }));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"scaled":true}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/scale-payments`, hits: () => hits, close: () => new Promise((r) => server.close(() => r())) };
}
