/**
 * Authorisation for every chat front door (Slack, Discord): a person is a platform identity
 * (`slack:U123`, `discord:111`) with one role. The engine knows no roles: the chat layer checks them
 * before it asks the engine for anything, and tells the engine only which approver roles it vouches for.
 */
export type Role = 'admin' | 'operator' | 'viewer' | 'none';

/** What a person may ask for. Each role can do what the roles below it can. */
export type Permission = 'read' | 'operate' | 'admin';

export type Platform = 'slack' | 'discord';

const RANK: Record<Role, number> = { none: 0, viewer: 1, operator: 2, admin: 3 };
const NEEDS: Record<Permission, number> = { read: 1, operate: 2, admin: 3 };

/** The role of `user` in a platform's `users`/`roles` map, else the default. */
export function roleIn(map: Readonly<Record<string, Role>> | undefined, fallback: Role, user: string): Role {
  return map?.[user] ?? fallback;
}

export function allows(role: Role, need: Permission): boolean {
  return RANK[role] >= NEEDS[need];
}

/** The role named in a refusal ("that needs the operator role"). */
export function roleNeeded(need: Permission): string {
  return need === 'operate' ? 'operator' : need === 'admin' ? 'admin' : 'viewer';
}

/**
 * The roles a person holds for an approval's `approvers` list: their own and every role below it
 * (an admin may answer what an operator may), never `none`.
 */
export function rolesHeld(role: Role): string[] {
  return (Object.keys(RANK) as Role[]).filter((r) => r !== 'none' && RANK[r] <= RANK[role]);
}

/** The actor the engine, the run and the audit log record for a chat user: never the OS user. */
export function platformActor(platform: Platform, user: string): string {
  return `${platform}:${user}`;
}
