import type { notifyMethods } from '../../protocol/methods/notify.js';
import type { HandlersFor } from './types.js';

export const notifyHandlers: HandlersFor<keyof typeof notifyMethods> = {
  'notifications.list': (p, { ctx }) => ctx.notifier.list(p),
  'notifications.status': (p, { ctx }) => ctx.notifier.status(p.window),
};
