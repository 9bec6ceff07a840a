import type { CompiledSlack } from '../../config/load.js';

/**
 * Slack platform errors that no retry can fix: the bridge stops with a clear message (the daemon
 * stays up) until the config is fixed and the daemon restarted.
 */
export const FATAL_ERRORS = new Set(['invalid_auth', 'not_authed', 'token_revoked', 'token_expired', 'account_inactive', 'not_allowed_token_type', 'team_disabled', 'user_removed_from_team', 'missing_scope', 'no_permission', 'app_missing_action_url']);

/** Why the configured tokens cannot work, before anything is sent to Slack; null when they look right. */
export function tokenProblem(s: Pick<CompiledSlack, 'app_token' | 'bot_token'>): string | null {
  const app = s.app_token ?? '';
  const bot = s.bot_token ?? '';
  if (app.startsWith('xoxb-') && bot.startsWith('xapp-')) return 'slack.app_token and slack.bot_token are swapped: app_token takes the app-level token (xapp-...), bot_token the bot token (xoxb-...)';
  if (!app) return 'slack.app_token is missing: Socket Mode needs the app-level token (xapp-..., Basic Information > App-Level Tokens, scope connections:write)';
  if (!bot) return 'slack.bot_token is missing: the Web API needs the bot token (xoxb-..., OAuth & Permissions)';
  if (!app.startsWith('xapp-')) return `slack.app_token must be an app-level token starting with xapp- (it starts with ${app.slice(0, 5)}...)${app.startsWith('xox') ? '; that looks like a bot or user token' : ''}`;
  if (!bot.startsWith('xoxb-')) return `slack.bot_token must be a bot token starting with xoxb- (it starts with ${bot.slice(0, 5)}...)${bot.startsWith('xapp-') ? '; that is an app-level token' : bot.startsWith('xoxp-') ? '; that is a user token, use the Bot User OAuth Token' : ''}`;
  return null;
}

/** A fatal platform error as the person fixing the config needs to read it. */
export function fatalText(error: string, token: 'app' | 'bot'): string {
  const which = token === 'app' ? 'slack.app_token (xapp-...)' : 'slack.bot_token (xoxb-...)';
  switch (error) {
    case 'invalid_auth':
    case 'not_authed':
      return `Slack refused ${which}: ${error}. Check the token (and that the app is installed), then restart the daemon`;
    case 'token_revoked':
    case 'token_expired':
      return `Slack says ${which} was revoked (${error}): reinstall the app or create a new token, then restart the daemon`;
    case 'not_allowed_token_type':
      return `Slack does not accept this kind of token as ${which} (not_allowed_token_type): are app_token and bot_token swapped?`;
    case 'missing_scope':
      return `${which} lacks a scope this needs (missing_scope): ${token === 'app' ? 'give the app-level token connections:write' : 'add the bot scopes from `opstream slack manifest` and reinstall'}`;
    default:
      return `Slack refused ${which}: ${error}`;
  }
}
