import type { DaemonContext, Service } from './context.js';

/** The daemon's services, in start order. Each domain adds its own here. */
export function createServices(_ctx: DaemonContext): Service[] {
  return [];
}
