import type { CompiledSlack } from '../../config/load.js';

/**
 * The app manifest (api.slack.com/apps > Create New App > From a manifest): Socket Mode, the
 * slash command, interactivity (buttons, modals), the bot events the bridge handles and the
 * scopes its Web API calls need. Paste it, install the app, copy the two tokens.
 */
export function appManifest(s: Pick<CompiledSlack, 'app_name' | 'command'>): Record<string, unknown> {
  return {
    _metadata: { major_version: 1, minor_version: 1 },
    display_information: {
      name: s.app_name,
      description: 'Runs long operations work in the background: start, follow, ask and approve from Slack.',
      background_color: '#1d3557',
    },
    features: {
      // the Messages tab is where DMs with the bot happen ("profile checkout-api for 2 hours")
      app_home: { home_tab_enabled: false, messages_tab_enabled: true, messages_tab_read_only_enabled: false },
      bot_user: { display_name: s.app_name.toLowerCase().replace(/[^a-z0-9._-]/g, '-'), always_online: true },
      slash_commands: [
        {
          command: s.command,
          description: 'Start, follow and control OpStream runs',
          usage_hint: 'start|status|list|pause|resume|cancel|approve|reject|prefs|help, or a workflow verb',
          should_escape: true,
        },
      ],
    },
    oauth_config: {
      scopes: {
        bot: [
          'app_mentions:read', // @opstream in channels
          'channels:history', // replies in run threads in public channels
          'groups:history', // ... and in private channels
          'chat:write', // run threads, approvals, digests
          'chat:write.public', // post to a configured channel without being invited first
          'commands', // the slash command
          'files:write', // charts of a run's key series
          'im:history', // DMs to the bot
          'im:read',
          'im:write', // DMs to the person who started a run
          'users:read', // a person's time zone for quiet hours
        ],
      },
    },
    settings: {
      event_subscriptions: { bot_events: ['app_mention', 'message.im', 'message.channels', 'message.groups'] },
      interactivity: { is_enabled: true },
      org_deploy_enabled: false,
      socket_mode_enabled: true,
      token_rotation_enabled: false,
    },
  };
}
