import { z } from 'zod';

/**
 * What the bridge reads of Slack's payloads, parsed once where an envelope comes in. Slack (or
 * whoever holds the app token) may send anything: a field of the wrong type reads as absent, so a
 * handler never trips over a null where it expects a string, and the rest of the envelope still
 * counts (an unknown or missing field means what it means for a real payload: refused or ignored).
 */
const str = z.string().optional().catch(undefined);
const obj = <T extends z.ZodRawShape>(shape: T) => z.object(shape).optional().catch(undefined);

export const SlashBody = z
  .object({ command: str, text: str, user_id: str, channel_id: str, response_url: str, trigger_id: str })
  .catch({});
export type SlashBody = z.infer<typeof SlashBody>;

export const MessageEvent = z
  .object({
    type: z.string().catch(''),
    subtype: str,
    user: str,
    bot_id: str,
    text: str,
    channel: str,
    channel_type: str,
    ts: str,
    thread_ts: str,
  })
  .catch({ type: '' });
export type MessageEvent = z.infer<typeof MessageEvent>;

const Action = z.object({ action_id: str, value: str });

export const ActionBody = z
  .object({
    type: z.string().catch(''),
    user: obj({ id: str }),
    channel: obj({ id: str }),
    container: obj({ message_ts: str, channel_id: str, thread_ts: str }),
    message: obj({ ts: str, thread_ts: str }),
    response_url: str,
    trigger_id: str,
    // one malformed action drops that action, not the others
    actions: z
      .array(z.unknown())
      .catch([])
      .optional()
      .transform((list) => (list ?? []).flatMap((a) => {
        const p = Action.safeParse(a);
        return p.success ? [p.data] : [];
      })),
    view: obj({
      id: str,
      callback_id: str,
      private_metadata: str,
      state: obj({ values: z.record(z.string(), z.record(z.string(), z.object({ value: str }).catch({}))).optional().catch(undefined) }),
    }),
  })
  .catch({ type: '', actions: [] });
export type ActionBody = z.infer<typeof ActionBody>;
