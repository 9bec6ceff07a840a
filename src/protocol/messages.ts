import { z } from 'zod';
import { WireErrorSchema } from './errors.js';

export const RequestId = z.union([z.string().min(1).max(64), z.number().int()]);
export type RequestId = z.infer<typeof RequestId>;

/** Client -> daemon. `params` is checked against the method's own schema after routing. */
export const RequestEnvelope = z.object({
  id: RequestId,
  method: z.string().min(1).max(100),
  params: z.unknown().optional(),
});
export type RequestEnvelope = z.infer<typeof RequestEnvelope>;

/** Daemon -> client: exactly one of `result` / `error` per request id. `id` is null when the frame had none we could read. */
export const ResponseEnvelope = z.union([
  z.object({ id: RequestId, result: z.unknown() }),
  z.object({ id: RequestId.nullable(), error: WireErrorSchema }),
]);
export type ResponseEnvelope = z.infer<typeof ResponseEnvelope>;

/** Daemon -> client, unsolicited, on a subscription made on the same connection. */
export const EventEnvelope = z.object({
  event: z.string(),
  sub: z.string(),
  data: z.unknown(),
});
export type EventEnvelope = z.infer<typeof EventEnvelope>;

export const ServerFrame = z.union([EventEnvelope, ResponseEnvelope]);
export type ServerFrame = z.infer<typeof ServerFrame>;

/**
 * A method: its params and result schemas, and whether it changes state (such requests are
 * acknowledged only once durable and leave an audit entry).
 */
export interface MethodSpec<P extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  params: P;
  result: R;
  mutates: boolean;
}

export function defineMethod<P extends z.ZodType, R extends z.ZodType>(params: P, result: R, opts: { mutates?: boolean } = {}): MethodSpec<P, R> {
  return { params, result, mutates: opts.mutates ?? false };
}
