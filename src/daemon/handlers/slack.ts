import { WireError, type slackMethods } from '../../protocol/index.js';
import type { HandlersFor } from './types.js';

const off = (): never => {
  throw new WireError('unavailable', 'Slack is not configured: set slack.app_token and slack.bot_token in config.yaml (see the README, "Slack")');
};

/** Thin: the bridge does the work. */
export const slackHandlers: HandlersFor<keyof typeof slackMethods> = {
  'slack.manifest': (_p, { ctx }) => (ctx.slack ? ctx.slack.manifest() : off()),
  'slack.test': (p, { ctx, actor }) => (ctx.slack ? ctx.slack.test(p, actor) : off()),
};
