import { SimpleShardingStrategy, type ClientOptions } from 'discord.js';
import type { Logger } from 'pino';

type BuildStrategy = NonNullable<NonNullable<ClientOptions['ws']>['buildStrategy']>;
type Unpack = (data: unknown, isBinary: boolean) => Promise<unknown>;

/**
 * discord.js's sharding strategy (one shard, in this thread) with one addition: a gateway frame that
 * is not JSON is logged and skipped. @discordjs/ws drops such a frame without a word (its
 * `unpackMessage` answers null and no event is emitted), so we wrap that method on each shard this
 * strategy spawns. Only the frame's size is logged: a frame may carry interaction tokens.
 *
 * `shards` and `unpackMessage` are private in @discordjs/ws's typings; if a future version renames
 * them, the bridge still works and says once that it cannot report malformed frames.
 */
export function loggingStrategy(log: Logger): BuildStrategy {
  return (manager) =>
    new (class extends SimpleShardingStrategy {
      override async spawn(shardIds: number[]): Promise<void> {
        await super.spawn(shardIds);
        const shards = (this as unknown as { shards?: Map<number, { unpackMessage?: Unpack }> }).shards;
        for (const [id, shard] of shards ?? []) {
          const unpack = shard.unpackMessage;
          if (typeof unpack !== 'function') {
            log.warn('discord: this discord.js version hides gateway frames; malformed ones are skipped without a log line');
            continue;
          }
          shard.unpackMessage = async (data, isBinary) => {
            const payload = await unpack.call(shard, data, isBinary);
            // a binary frame may be a partial compressed chunk (null until it is whole); a text frame is whole
            if (payload === null && !isBinary) {
              const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data instanceof ArrayBuffer ? data.byteLength : Buffer.isBuffer(data) ? data.length : null;
              log.warn({ shard: id, bytes }, 'discord: skipped a malformed gateway payload (not JSON)');
            }
            return payload;
          };
        }
      }
    })(manager);
}
