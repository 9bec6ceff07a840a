import type { KvStore } from '../store/kv.js';
import { MetaTable } from './meta-table.js';

/**
 * What the chat bridges keep (slack/, discord/, chat/): bookkeeping rows in `meta`, one table per
 * purpose. Keys as they always were:
 *
 *   slack_inbox:<envelope>        Socket Mode envelopes held until handled
 *   slack_sent:<notification>     how a notification went out (message ts)
 *   slack_chart:<run>:<ts>        the chart posted in a run's thread
 *   slack_batched:<notification>  discord_batched:...  receipt of the digest an entry went out in
 *   slack_cmd:<key>               discord_start:<key>   redelivery guards of commands
 *   slack_prefs:<user>            a user's preferences
 *   slack_thread:<run>:<target>   discord_thread:<run>  a run's thread per destination
 *   slack_ts:<channel>:<ts>       the run of a Slack message
 *   slack_wait:<run>:<seq x9>     a waiting message to update when the wait ends
 *   discord_ix:<id>               interactions and messages seen (once only)
 */
export class ChatStateRepo {
  readonly slackInbox: MetaTable<unknown>;
  readonly slackSent: MetaTable<unknown>;
  readonly slackCharts: MetaTable<string>;
  readonly slackCommands: MetaTable<{ at?: string }>;
  readonly slackPrefs: MetaTable<unknown>;
  readonly slackThreads: MetaTable<unknown>;
  readonly slackTs: MetaTable<string>;
  readonly slackWaits: MetaTable<unknown>;
  readonly discordInteractions: MetaTable<{ at?: string }>;
  readonly discordStarts: MetaTable<unknown>;
  readonly discordThreads: MetaTable<unknown>;
  private readonly batched = new Map<string, MetaTable<string>>();

  constructor(private readonly store: KvStore) {
    this.slackInbox = new MetaTable(store, 'slack_inbox:');
    this.slackSent = new MetaTable(store, 'slack_sent:');
    this.slackCharts = new MetaTable(store, 'slack_chart:');
    this.slackCommands = new MetaTable(store, 'slack_cmd:', '~');
    this.slackPrefs = new MetaTable(store, 'slack_prefs:', '~');
    this.slackThreads = new MetaTable(store, 'slack_thread:');
    this.slackTs = new MetaTable(store, 'slack_ts:');
    this.slackWaits = new MetaTable(store, 'slack_wait:', '~');
    this.discordInteractions = new MetaTable(store, 'discord_ix:');
    this.discordStarts = new MetaTable(store, 'discord_start:');
    this.discordThreads = new MetaTable(store, 'discord_thread:');
  }

  /** Receipts of digests per channel (`slack`, `discord`): `<channel>_batched:<notification id>`. */
  batchedOf(channel: string): MetaTable<string> {
    let t = this.batched.get(channel);
    if (!t) this.batched.set(channel, (t = new MetaTable(this.store, `${channel}_batched:`)));
    return t;
  }
}

/** Ids within the tables above that have several parts. */
export const chatIds = {
  chart: (run: string, ts: string): string => `${run}:${ts}`,
  slackThread: (run: string, target: string): string => `${run}:${target}`,
  slackTs: (channel: string, ts: string): string => `${channel}:${ts}`,
  slackWait: (run: string, seq: number): string => `${run}:${String(seq).padStart(9, '0')}`,
  /** The prefix of every id of a run in the run-keyed tables (slackThreads, slackWaits). */
  ofRun: (run: string): string => `${run}:`,
};
