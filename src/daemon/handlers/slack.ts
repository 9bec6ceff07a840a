import { WireError, type slackMethods } from '../../protocol/index.js';
import { appManifest } from '../slack/manifest.js';
import type { HandlersFor } from './types.js';

const off = (): never => {
  throw new WireError('unavailable', 'Slack is not configured: set slack.app_token and slack.bot_token in config.yaml (see the README, "Slack")');
};

/** Thin: the bridge does the work. */
export const slackHandlers: HandlersFor<keyof typeof slackMethods> = {
  // works before the tokens exist: creating the app from it is how one gets them
  'slack.manifest': (_p, { ctx }) => (ctx.slack ? ctx.slack.manifest() : { manifest: appManifest({ app_name: ctx.config.raw.slack?.app_name ?? 'OpStream', command: ctx.config.raw.slack?.command ?? '/opstream' }) }),
  'slack.test': (p, { ctx, actor }) => (ctx.slack ? ctx.slack.test(p, actor) : off()),
};
