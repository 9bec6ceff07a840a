/**
 * The secret values the daemon holds, so they can be masked wherever text leaves it (the masker is
 * SecretMasker in daemon/llm/redact.ts): environment variables whose names say they are secrets, and
 * the config's secret fields, whatever their variables are called.
 */

/** Environment variable names whose values are secrets. */
export const SECRET_ENV = /(SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH|PIN|ROUTING_KEY|DSN)/i;

export interface SecretValue {
  /** Where it came from, shown in the mask (an env var name or a config path). */
  name: string;
  value: string;
}

export interface SecretFields {
  slack?: { app_token?: string; bot_token?: string } | null;
  discord?: { token?: string } | null;
  llm?: { api_key?: string } | null;
  webhooks?: readonly { secret?: string; routing_key?: string; url?: string; format?: string }[];
  mcpEnv?: readonly Record<string, string>[];
}

export function secretValues(env: NodeJS.ProcessEnv, config: SecretFields = {}): SecretValue[] {
  const out: SecretValue[] = [];
  for (const [name, value] of Object.entries(env)) if (value && SECRET_ENV.test(name)) out.push({ name, value });
  if (config.slack?.app_token) out.push({ name: 'slack.app_token', value: config.slack.app_token });
  if (config.slack?.bot_token) out.push({ name: 'slack.bot_token', value: config.slack.bot_token });
  if (config.discord?.token) out.push({ name: 'discord.token', value: config.discord.token });
  if (config.llm?.api_key) out.push({ name: 'llm.api_key', value: config.llm.api_key });
  for (const w of config.webhooks ?? []) {
    if (w.secret) out.push({ name: 'webhook.secret', value: w.secret });
    if (w.routing_key) out.push({ name: 'webhook.routing_key', value: w.routing_key });
    // a Teams Workflows URL carries its credential in the query (`sig=`): whoever has it can post
    if (w.format === 'teams' && w.url) {
      const sig = safeParam(w.url, 'sig');
      if (sig) out.push({ name: 'webhook.url sig', value: sig });
    }
  }
  for (const e of config.mcpEnv ?? []) for (const [name, value] of Object.entries(e)) if (value && SECRET_ENV.test(name)) out.push({ name, value });
  return out;
}

function safeParam(url: string, name: string): string | null {
  try {
    return new URL(url).searchParams.get(name);
  } catch {
    return null;
  }
}
