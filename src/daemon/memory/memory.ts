import MiniSearch from 'minisearch';
import { WireError } from '../../protocol/index.js';
import type { Logger } from 'pino';
import type { CompiledConfig } from '../../config/load.js';
import type { Service } from '../context.js';
import type { LlmGateway } from '../llm/index.js';
import type { MemoryRepo } from '../repos/memory.js';
import type { KvStore } from '../store/kv.js';
import type { RunRecord } from '../engine/types.js';
import type { StoreOp } from '../store/store.js';
import { memoryOps } from '../repos/memory.js';
import { appliedText, rejectedText, serviceOf, summarize, type RunSummary } from './summary.js';

/** What the memory service uses: its repository, the store to commit to, and the LLM for embeddings. */
export interface MemoryDeps {
  log: Logger;
  config: Pick<CompiledConfig, 'llm'>;
  llm: Pick<LlmGateway, 'embed'> | null;
  store: Pick<KvStore, 'commit'>;
  memory: MemoryRepo;
}

export interface RecallHit {
  summary: RunSummary;
  score: number;
  by: 'embedding' | 'text';
}


/** How much of a score counts as "similar": below it, nothing is shown as seen before. */
const MIN_COSINE = 0.35;

/**
 * What OpStream remembers: one summary per finished run (what it found and what fixed it), indexed
 * for recall by full text (MiniSearch) and, when `llm.embed_model` is set, by embeddings from the
 * model server. Agent steps get the most similar past findings for the same workflow and service
 * as "seen before". Memory is the user's: `memory forget` removes a summary with its vector, and
 * `retention.memory` expires old ones (store/retention.ts).
 */
export class MemoryService implements Service {
  readonly name = 'memory';
  /** All summaries, for `memory search`; built on first use. */
  private globalIndex: MiniSearch<RunSummary> | null = null;
  /** Per workflow + service, for recall (what an agent step asks): small, built on first use. */
  private readonly groups = new Map<string, MiniSearch<RunSummary>>();
  private readonly summaries = new Map<string, RunSummary>();
  private readonly vectors = new Map<string, { model: string; dim: number; v: Float32Array }>();
  private embedding: Promise<void> = Promise.resolve();
  readonly figures = { reembedded: 0, embedFailures: 0 };

  constructor(private readonly d: MemoryDeps) {}

  private newIndex(fuzzy: number): MiniSearch<RunSummary> {
    return new MiniSearch<RunSummary>({ fields: ['text', 'headline', 'service'], storeFields: ['id'], searchOptions: { prefix: true, fuzzy, boost: { headline: 2 } } });
  }

  private groupKey(workflow: string, service: string): string {
    return `${workflow}\u0000${service}`;
  }

  private get index(): MiniSearch<RunSummary> {
    if (!this.globalIndex) {
      this.globalIndex = this.newIndex(0.15);
      this.globalIndex.addAll([...this.summaries.values()]);
    }
    return this.globalIndex;
  }

  private group(workflow: string, service: string): MiniSearch<RunSummary> {
    const key = this.groupKey(workflow, service);
    let g = this.groups.get(key);
    if (!g) {
      // recall needs speed more than typo tolerance: prefix matching only
      g = this.newIndex(0);
      g.addAll([...this.summaries.values()].filter((s) => s.workflow === workflow && s.service === service));
      this.groups.set(key, g);
    }
    return g;
  }

  private indexAdd(s: RunSummary): void {
    this.globalIndex?.add(s);
    this.groups.get(this.groupKey(s.workflow, s.service))?.add(s);
  }

  private indexRemove(s: RunSummary): void {
    this.globalIndex?.discard(s.id);
    this.groups.get(this.groupKey(s.workflow, s.service))?.discard(s.id);
  }

  async start(): Promise<void> {
    const memory = this.d.memory;
    for (const s of await memory.summaries<RunSummary>()) this.summaries.set(s.id, s);
    for (const [id, v] of await memory.vectors()) this.vectors.set(id, { model: v.model, dim: v.dim, v: Float32Array.from(v.v) });
    // vectors of another embedding model (or dimension) are re-made in the background
    this.reembedStale();
  }

  async stop(): Promise<void> {
    await this.embedding.catch(() => undefined);
  }

  // ---------------------------------------------------------------- writing

  /**
   * The summary of a run that is ending, as an op for the run's own terminal batch, and what to
   * do once that batch is durable. In the same batch, a crash can no longer leave a finished run
   * that recall and `ask` never heard of, and a finished run costs one synced write fewer.
   */
  prepare(run: RunRecord): { op: StoreOp; apply(): void } {
    const s = summarize(run, this.d.config.llm?.redactPatterns ?? []);
    return {
      op: memoryOps.summary(s.id, s),
      apply: () => {
        this.keep(s);
        this.embedLater([s]);
      },
    };
  }

  /** A summary joins recall (replacing the run's earlier one, if any). */
  private keep(s: RunSummary): void {
    const old = this.summaries.get(s.id);
    if (old) this.indexRemove(old);
    this.summaries.set(s.id, s);
    this.indexAdd(s);
  }

  /** Team mode: a run that ended on another member; its summary (and vector, if made yet) joins recall here. */
  async learn(runId: string): Promise<void> {
    const s = await this.d.memory.summary<RunSummary>(runId);
    if (!s) return;
    this.keep(s);
    const v = await this.d.memory.vector(s.id);
    if (v) this.vectors.set(s.id, { model: v.model, dim: v.dim, v: Float32Array.from(v.v) });
  }

  private embedModel(): string | null {
    return this.d.llm && this.d.config.llm?.embed_model ? this.d.config.llm.embed_model : null;
  }

  /** Embeddings are made off the write path, in order, in batches; a failure leaves text search. */
  private embedLater(list: RunSummary[]): void {
    const model = this.embedModel();
    if (!model || list.length === 0) return;
    this.embedding = this.embedding.then(async () => {
      for (let i = 0; i < list.length; i += 64) {
        const batch = list.slice(i, i + 64).filter((s) => this.summaries.has(s.id));
        if (!batch.length) continue;
        try {
          const r = await this.d.llm!.embed(batch.map((s) => s.text), model);
          const ops: StoreOp[] = [];
          batch.forEach((s, j) => {
            const v = r.vectors[j];
            if (!v) return;
            this.vectors.set(s.id, { model: r.model, dim: v.length, v: Float32Array.from(v) });
            ops.push(memoryOps.vector(s.id, { model: r.model, dim: v.length, v }));
          });
          if (ops.length) await this.d.store.commit(ops);
        } catch (err) {
          this.figures.embedFailures++;
          this.d.log.warn({ err, model }, 'embedding run summaries failed; recall uses full-text search for them');
          return;
        }
      }
    });
  }

  private reembedStale(): void {
    const model = this.embedModel();
    if (!model) return;
    const stale = [...this.summaries.values()].filter((s) => this.vectors.get(s.id)?.model !== model);
    if (!stale.length) return;
    this.figures.reembedded += stale.length;
    this.d.log.info({ summaries: stale.length, model }, 're-embedding run summaries made with another embedding model');
    this.embedLater(stale);
  }

  async forget(id: string, actor: string): Promise<{ removed: boolean }> {
    if (!this.summaries.has(id)) throw new WireError('not_found', `no memory of run ${id}; \`opstream memory search TEXT\` lists what is remembered`);
    await this.d.store.commit(memoryOps.forget(id), { actor, action: 'memory.forget', target: `run:${id}` });
    this.indexRemove(this.summaries.get(id)!);
    this.summaries.delete(id);
    this.vectors.delete(id);
    return { removed: true };
  }

  // ---------------------------------------------------------------- reading

  /**
   * The most similar past runs of `workflow` on `service` (never `exclude`): by embedding when an
   * embedding model is configured and the summary has a vector of that model and dimension, by
   * full text otherwise.
   */
  async recall(o: { workflow: string; service: string; query: string; exclude?: string; limit?: number }): Promise<RecallHit[]> {
    const limit = o.limit ?? 3;
    const candidates = (s: RunSummary): boolean => s.workflow === o.workflow && s.service === o.service && s.id !== o.exclude;
    const hits: RecallHit[] = [];
    const model = this.embedModel();
    if (model) {
      try {
        const q = await this.d.llm!.embed([o.query.slice(0, 4000)], model);
        const qv = q.vectors[0];
        for (const s of this.summaries.values()) {
          if (!candidates(s)) continue;
          const v = this.vectors.get(s.id);
          if (!v || v.model !== q.model || v.dim !== qv.length) continue; // never across models or dimensions
          const score = dot(qv, v.v);
          if (score >= MIN_COSINE) hits.push({ summary: s, score, by: 'embedding' });
        }
      } catch (err) {
        this.d.log.warn({ err }, 'embedding the recall query failed; using full-text search');
      }
    }
    if (hits.length < limit) {
      const have = new Set(hits.map((h) => h.summary.id));
      const text = this.group(o.workflow, o.service).search(o.query, { filter: (r) => r.id !== o.exclude && !have.has(r.id as string), combineWith: 'OR' });
      for (const r of text.slice(0, limit)) hits.push({ summary: this.summaries.get(r.id as string)!, score: r.score, by: 'text' });
    }
    // the same service's latest runs count even without words in common
    if (hits.length === 0) {
      const recent = [...this.summaries.values()].filter(candidates).sort((a, b) => b.at.localeCompare(a.at)).slice(0, limit);
      for (const s of recent) hits.push({ summary: s, score: 0, by: 'text' });
    }
    return hits.sort((a, b) => (a.by === b.by ? b.score - a.score : a.by === 'embedding' ? -1 : 1)).slice(0, limit);
  }

  /** The "seen before" text an agent's prompt gets. Empty when there is nothing to recall. */
  async seenBefore(run: { id: string; workflow: string; params: Record<string, unknown> }, query: string): Promise<string> {
    const service = serviceOf(run.params, run.workflow);
    const hits = await this.recall({ workflow: run.workflow, service, query, exclude: run.id });
    if (!hits.length) return '';
    const lines = hits.map((h) => {
      const s = h.summary;
      // what was done about it first (a fix that worked, or one a person turned down, and why), then suggestions
      const decided = [...(s.applied ?? []).map(appliedText), ...(s.rejected ?? []).map(rejectedText)].map((t) => `; ${t}`).join('');
      return `- ${s.at.slice(0, 16).replace('T', ' ')} UTC, run ${s.id} (${s.outcome}): ${s.headline}${s.root_cause ? `; root cause: ${s.root_cause}` : ''}${decided}${s.fixes.length ? `; fixed by / suggested: ${s.fixes.slice(0, 3).join('; ')}` : ''}`;
    });
    return `Seen before (OpStream's memory of earlier ${run.workflow} runs on ${service}; check whether the same cause applies):\n${lines.join('\n')}`;
  }

  search(text: string, limit: number): RunSummary[] {
    return this.index.search(text, { combineWith: 'OR' }).slice(0, limit).map((r) => this.summaries.get(r.id as string)!).filter(Boolean);
  }

  get(id: string): RunSummary | undefined {
    return this.summaries.get(id);
  }

  /** `memory show`: one run's summary, or a not_found that says where to look. */
  show(id: string): RunSummary & Required<Pick<RunSummary, 'applied' | 'rejected'>> {
    const s = this.summaries.get(id);
    if (!s) throw new WireError('not_found', `no memory of run ${id}; \`opstream memory search TEXT\` lists what is remembered`);
    return { ...s, applied: s.applied ?? [], rejected: s.rejected ?? [] };
  }

  stats(): { summaries: number; by_workflow: Record<string, number>; vectors: Record<string, number>; embed_model: string | null; oldest: string | null; newest: string | null } {
    const by: Record<string, number> = {};
    let oldest: string | null = null;
    let newest: string | null = null;
    for (const s of this.summaries.values()) {
      by[s.workflow] = (by[s.workflow] ?? 0) + 1;
      if (!oldest || s.at < oldest) oldest = s.at;
      if (!newest || s.at > newest) newest = s.at;
    }
    const vectors: Record<string, number> = {};
    for (const v of this.vectors.values()) vectors[`${v.model} (${v.dim} dims)`] = (vectors[`${v.model} (${v.dim} dims)`] ?? 0) + 1;
    return { summaries: this.summaries.size, by_workflow: by, vectors, embed_model: this.embedModel(), oldest, newest };
  }

  /**
   * Summaries remembered before `cutoff` (ISO time) are removed with their vectors; the retention
   * sweep (store/retention.ts) calls it with `retention.memory`. `dryRun` only counts.
   */
  async expire(cutoff: string, dryRun: boolean): Promise<{ removed: number; bytes: number }> {
    const old = [...this.summaries.values()].filter((s) => s.at < cutoff);
    const bytes = old.reduce((n, s) => n + JSON.stringify(s).length + (this.vectors.get(s.id)?.v.length ?? 0) * 8, 0);
    if (!old.length || dryRun) return { removed: old.length, bytes };
    const ops: StoreOp[] = old.flatMap((s) => memoryOps.forget(s.id));
    await this.d.store.commit(ops);
    for (const s of old) {
      this.indexRemove(s);
      this.summaries.delete(s.id);
      this.vectors.delete(s.id);
    }
    return { removed: old.length, bytes };
  }
}

/** Both sides are L2-normalised (Ollama's /api/embed is): the dot product is the cosine. */
function dot(a: number[], b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i++) s += a[i] * b[i];
  return s;
}
