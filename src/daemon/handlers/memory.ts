import type { memoryMethods } from '../../protocol/methods/memory.js';
import { ask, conversation } from '../memory/conversation.js';
import { replay } from '../memory/replay.js';
import type { HandlersFor } from './types.js';

export const memoryHandlers: HandlersFor<keyof typeof memoryMethods> = {
  'memory.search': (p, { ctx }) => ({ items: ctx.memory.search(p.text, p.limit).map((s) => ({ ...s, applied: s.applied ?? [], rejected: s.rejected ?? [] })) }),
  'memory.show': (p, { ctx }) => ctx.memory.show(p.id),
  'memory.forget': (p, { ctx, actor }) => ctx.memory.forget(p.id, actor),
  'memory.stats': (_p, { ctx }) => ctx.memory.stats(),
  'runs.ask': (p, { ctx, actor }) => ask(ctx, p.id, p.question, actor),
  'runs.conversation': async (p, { ctx }) => {
    await ctx.engine.get(p.id); // an unknown run id is an error, not an empty conversation
    return { turns: await conversation(ctx, p.id) };
  },
  'runs.replay': (p, { ctx, actor }) => replay(ctx, p, actor),
};
