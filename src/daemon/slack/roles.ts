import type { CompiledSlack } from '../../config/load.js';

export type Role = 'admin' | 'operator' | 'viewer' | 'none';

/** What a Slack user may ask for. Each role can do what the roles below it can. */
export type Permission = 'read' | 'operate' | 'admin';

const RANK: Record<Role, number> = { none: 0, viewer: 1, operator: 2, admin: 3 };
const NEEDS: Record<Permission, number> = { read: 1, operate: 2, admin: 3 };

/** `slack.users` first, else `default_role`. */
export function roleOf(config: Pick<CompiledSlack, 'users' | 'default_role'>, user: string): Role {
  return config.users?.[user] ?? config.default_role;
}

export function allows(role: Role, need: Permission): boolean {
  return RANK[role] >= NEEDS[need];
}

/**
 * The roles a user holds for an approval's `approvers` list: their own and every role below it
 * (an admin may answer what an operator may), never `none`.
 */
export function rolesHeld(role: Role): string[] {
  return (Object.keys(RANK) as Role[]).filter((r) => r !== 'none' && RANK[r] <= RANK[role]);
}

/** The Slack actor the engine, the run and the audit log record: never the OS user. */
export function actorOf(user: string): string {
  return `slack:${user}`;
}
