import type { CompiledSlack } from '../../config/load.js';
import { platformActor, roleIn, type Role } from '../chat/roles.js';

// the roles themselves are chat-neutral (chat/roles.ts); this is Slack's map of them
export { allows, type Permission, type Role } from '../chat/roles.js';

/** `slack.users` first, else `default_role`. */
export function roleOf(config: Pick<CompiledSlack, 'users' | 'default_role'>, user: string): Role {
  return roleIn(config.users, config.default_role, user);
}

/** The Slack actor the engine, the run and the audit log record: never the OS user. */
export function actorOf(user: string): string {
  return platformActor('slack', user);
}
