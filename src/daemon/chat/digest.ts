import type { Notification } from '../../protocol/index.js';
import type { ChatServices } from './services.js';
import { waitOutcome } from './approvals.js';
import { quietText, type QuietHours } from './quiet.js';
import type { MetaTable } from '../repos/meta-table.js';

/** An approval in a digest that is still open: its buttons (or command) are bound to this wait. */
export interface DigestApproval {
  run: string;
  step: string;
  seq: number;
}

/**
 * Many held or merged notifications as one message, as every chat shows it (quiet hours digest,
 * max_frequency): the adapter renders it (Block Kit, Discord markdown) and derives nothing itself.
 */
export interface DigestView {
  heading: string;
  items: { id: string; title: string; /** The first line of the text, when it says more than the title. */ first: string | null; run: string | null; approval: DigestApproval | null }[];
  /** Entries not shown (the rest is in `opstream inbox`). */
  more: number;
}

const SHOWN = 20;

export function digestView(entries: Notification[], heading: string, approvals: Map<string, DigestApproval>): DigestView {
  const shown = entries.slice(0, SHOWN);
  return {
    heading,
    items: shown.map((n) => {
      const first = n.text.split('\n')[0];
      return { id: n.id, title: n.title, first: first && first !== n.title ? first : null, run: n.run_id ?? null, approval: approvals.get(n.id) ?? null };
    }),
    more: entries.length - shown.length,
  };
}

/** The heading of the digest sent when quiet hours end. */
export function quietHeading(count: number, quiet: QuietHours | null): string {
  return `While it was quiet${quiet ? ` (${quietText(quiet)})` : ''}: ${count} notification${count === 1 ? '' : 's'}`;
}

/** Approvals among `entries` that nobody answered yet (a digest offers to decide those only). */
export async function openApprovals(ctx: ChatServices, entries: Notification[]): Promise<Map<string, DigestApproval>> {
  const out = new Map<string, DigestApproval>();
  for (const e of entries) {
    if (e.kind !== 'approval' || !e.run_id || !e.step) continue;
    const seq = Number(e.data.wait_seq ?? 0);
    if (!(await waitOutcome(ctx, e.run_id, e.step, seq).catch(() => null))) out.set(e.id, { run: e.run_id, step: e.step, seq });
  }
  return out;
}

/**
 * The notifier's entries held in a lane of one chat channel (quiet hours, max_frequency), sent as
 * one message: the first entry of the lane to be delivered takes every entry still pending there,
 * and each is confirmed with that message's receipt, durably (`<prefix>_batched:<id>`), before the
 * first is reported delivered; the others are then reported delivered with the same receipt, also
 * after a restart.
 */
export class HeldBatches {
  /** lane -> the entries queued in it. */
  private readonly lanes = new Map<string, Map<string, Notification>>();
  /** Entries confirmed as part of a batch -> its receipt. */
  private readonly batched = new Map<string, string>();

  constructor(
    private readonly services: ChatServices,
    /** The notifier channel's name (`slack`, `discord`): whose delivery state is read. */
    private readonly channel: string,
  ) {}

  private get receipts(): MetaTable<string> {
    return this.services.repos.chat.batchedOf(this.channel);
  }

  /** An entry queued in a batching lane (from the channel's laneOf). */
  add(lane: string, entry: Notification): void {
    let m = this.lanes.get(lane);
    if (!m) this.lanes.set(lane, (m = new Map()));
    m.set(entry.id, entry);
  }

  /** An entry sent on its own after all. */
  drop(lane: string, id: string): void {
    this.lanes.get(lane)?.delete(id);
  }

  /** The receipt of the batch an entry went out in, if it did (forgotten once reported). */
  async receiptOf(id: string): Promise<string | undefined> {
    const r = this.batched.get(id) ?? (await this.receipts.get(id));
    if (r) this.batched.delete(id);
    return r;
  }

  /** Entries still pending on this channel in `lane`, oldest first (always including `first`). */
  pending(lane: string, first: Notification): Notification[] {
    const m = this.lanes.get(lane) ?? new Map<string, Notification>();
    m.set(first.id, first);
    return [...m.values()].filter((e) => e.channels[this.channel]?.state === 'pending' && !this.batched.has(e.id)).sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Every entry of the batch confirmed with `receipt`, durably. */
  async confirm(entries: Notification[], lane: string, receipt: string, first: Notification): Promise<void> {
    await this.services.store.commit(entries.map((e) => this.receipts.putOp(e.id, receipt)));
    const m = this.lanes.get(lane);
    for (const e of entries) {
      m?.delete(e.id);
      if (e.id !== first.id) this.batched.set(e.id, receipt);
    }
  }
}
