import type { MethodName } from '../../protocol/index.js';
import { daemonHandlers } from './daemon.js';
import { memoryHandlers } from './memory.js';
import { notifyHandlers } from './notify.js';
import { runsHandlers } from './runs.js';
import { statsHandlers } from './stats.js';
import { storeHandlers } from './store.js';
import { slackHandlers } from './slack.js';
import { discordHandlers } from './discord.js';
import { toolsHandlers } from './tools.js';
import { workflowsHandlers } from './workflows.js';
import type { Handler } from './types.js';

/** One handler per protocol method; the compiler checks none is missing. */
export const handlers: { [M in MethodName]: Handler<M> } = {
  ...daemonHandlers,
  ...notifyHandlers,
  ...memoryHandlers,
  ...runsHandlers,
  ...statsHandlers,
  ...storeHandlers,
  ...slackHandlers,
  ...discordHandlers,
  ...toolsHandlers,
  ...workflowsHandlers,
};
