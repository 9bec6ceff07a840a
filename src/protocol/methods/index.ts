import type { z } from 'zod';
import type { MethodSpec } from '../messages.js';
import { daemonMethods } from './daemon.js';
import { memoryMethods } from './memory.js';
import { notifyMethods } from './notify.js';
import { runsMethods } from './runs.js';
import { statsMethods } from './stats.js';
import { storeMethods } from './store.js';
import { slackMethods } from './slack.js';
import { discordMethods } from './discord.js';
import { toolsMethods } from './tools.js';
import { workflowsMethods } from './workflows.js';

/** Every method the daemon serves. Each domain owns one file in this folder. */
export const methods = {
  ...daemonMethods,
  ...notifyMethods,
  ...memoryMethods,
  ...runsMethods,
  ...statsMethods,
  ...storeMethods,
  ...slackMethods,
  ...discordMethods,
  ...toolsMethods,
  ...workflowsMethods,
} as const satisfies Record<string, MethodSpec>;

export type Methods = typeof methods;
export type MethodName = keyof Methods;
export type ParamsIn<M extends MethodName> = z.input<Methods[M]['params']>;
export type Params<M extends MethodName> = z.output<Methods[M]['params']>;
export type Result<M extends MethodName> = z.output<Methods[M]['result']>;

export function isMethodName(name: string): name is MethodName {
  return Object.prototype.hasOwnProperty.call(methods, name);
}
