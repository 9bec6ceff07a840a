import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// Which AWS identity, region and endpoint the Application Signals MCP server (mcpServers.appsignals)
// would use, worked out from exactly the environment the daemon spawns it with (PATH, HOME, LANG and
// the server's configured env: nothing else of the shell leaks into it) and the way boto3 resolves
// credentials: env keys, AWS_PROFILE, web identity, container credentials, the default profile in
// ~/.aws, then instance metadata. Never reads or prints a secret: an access key id is shown by its
// last 4 characters, ~/.aws files are read for section names and `region` lines only.

export interface AwsIdentity {
  status: 'ok' | 'warn' | 'fail';
  detail: string;
}

const mask = (id: string): string => `****${id.slice(-4)}`;

/** Section names and their region lines of an AWS ini file ("profile x" in config, "x" in credentials). */
function iniProfiles(file: string, config: boolean): Map<string, string | null> {
  const out = new Map<string, string | null>();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  let current: string | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const sec = /^\[\s*([^\]]+?)\s*\]$/.exec(line);
    if (sec) {
      current = config ? sec[1].replace(/^profile\s+/, '') : sec[1];
      if (!out.has(current)) out.set(current, null);
      continue;
    }
    const region = /^region\s*=\s*(\S+)/.exec(line);
    if (current !== null && region) out.set(current, region[1]);
  }
  return out;
}

export function awsIdentity(env: Record<string, string>): AwsIdentity {
  const home = env.HOME ?? '';
  const configFile = env.AWS_CONFIG_FILE ?? join(home, '.aws', 'config');
  const credsFile = env.AWS_SHARED_CREDENTIALS_FILE ?? join(home, '.aws', 'credentials');
  const config = iniProfiles(configFile, true);
  const creds = iniProfiles(credsFile, false);
  const profile = env.AWS_PROFILE;
  const regionOf = (p: string): string | null => config.get(p) ?? null;

  let who: string;
  let status: AwsIdentity['status'] = 'ok';
  if (env.AWS_ACCESS_KEY_ID) {
    who = `access key ${mask(env.AWS_ACCESS_KEY_ID)} from mcpServers.appsignals.env${env.AWS_SESSION_TOKEN ? ' (with a session token)' : ''}`;
    if (!env.AWS_SECRET_ACCESS_KEY) {
      status = 'fail';
      who += ', but AWS_SECRET_ACCESS_KEY is not set';
    }
  } else if (profile) {
    if (!config.has(profile) && !creds.has(profile)) {
      return { status: 'fail', detail: `AWS_PROFILE=${profile} is not in ${configFile} or ${credsFile}: the server will not start (ProfileNotFound)` };
    }
    who = `profile ${profile} (${config.has(profile) ? configFile : credsFile})`;
  } else if (env.AWS_WEB_IDENTITY_TOKEN_FILE && env.AWS_ROLE_ARN) {
    who = `web identity role ${env.AWS_ROLE_ARN}`;
  } else if (env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || env.AWS_CONTAINER_CREDENTIALS_FULL_URI) {
    who = 'container credentials (ECS/EKS task role)';
  } else if (creds.has('default') || config.has('default')) {
    who = `default profile (${creds.has('default') ? credsFile : configFile})`;
  } else {
    status = 'warn';
    who = 'no credentials in its environment or ~/.aws: only an EC2/ECS instance role can serve; elsewhere every call answers "Unable to locate credentials" (set AWS_PROFILE or keys in mcpServers.appsignals.env)';
  }
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (profile ? regionOf(profile) : regionOf('default'));
  const endpoint = env.MCP_APPLICATIONSIGNALS_ENDPOINT ?? env.AWS_ENDPOINT_URL_APPLICATION_SIGNALS ?? env.AWS_ENDPOINT_URL;
  const where = `region ${region ?? 'us-east-1 (none set: the server falls back to it)'}${endpoint ? `, endpoint ${endpoint}` : ''}`;
  return { status, detail: `${who}; ${where}` };
}
