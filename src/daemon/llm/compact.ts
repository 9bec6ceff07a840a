import { cutText, estimatePromptTokens, CHARS_PER_TOKEN } from './budget.js';
import type { ChatMessage, CompactionReport } from './types.js';

/**
 * Fits a conversation into a token budget before it is sent, because a real Ollama server fits it
 * by silently dropping the OLDEST messages (often the task itself). We keep what matters most and
 * leave a visible trace of everything shortened:
 *   1. system messages and the first user message (the task) are never touched;
 *   2. the latest turn (last assistant message and its tool results, or the last user message) is
 *      kept whole while anything older can give way;
 *   3. older tool results become "[older tool output dropped: N chars]" (oldest first);
 *   4. if still too long, older turns are folded (oldest first) into one summary note;
 *   5. last resort: the latest turn's tool results are cut with the usual truncation marker.
 * Returns the report, or null when the messages already fit. The caller checks the result against
 * num_ctx: if even this does not fit, the request must fail rather than be silently truncated.
 */
export function compactMessages(messages: readonly ChatMessage[], fixedTokens: number, budgetTokens: number): { messages: ChatMessage[]; report: CompactionReport | null } {
  const total = (ms: readonly ChatMessage[]) => fixedTokens + estimatePromptTokens(ms);
  const before = total(messages);
  if (before <= budgetTokens) return { messages: [...messages], report: null };

  const work = messages.map((m) => ({ ...m }));
  const firstUser = work.findIndex((m) => m.role === 'user');
  const pinned = (i: number) => work[i].role === 'system' || i === firstUser;

  // Turns after the pinned head: a user or assistant message opens one; tool results join it.
  const groups: number[][] = [];
  for (let i = 0; i < work.length; i++) {
    if (pinned(i)) continue;
    const m = work[i];
    if (m.role === 'tool' && groups.length > 0) groups[groups.length - 1].push(i);
    else groups.push([i]);
  }
  const older = groups.slice(0, -1);
  const latest = groups[groups.length - 1] ?? [];

  const report: CompactionReport = { estimated_tokens_before: before, estimated_tokens_after: before, budget_tokens: budgetTokens, tool_outputs_dropped: 0, messages_summarized: 0, tool_outputs_cut: 0, chars_removed: 0 };
  const summarized = new Set<number>();
  const facts = { calls: [] as string[], results: 0, resultChars: 0, assistant: [] as string[], user: [] as string[] };

  const summaryNote = (): ChatMessage => {
    const parts = [`[Context note from OpStream: ${summarized.size} earlier message(s) were condensed to fit the model's context window.`];
    if (facts.calls.length > 0) {
      const shown = facts.calls.slice(0, 8).join(', ');
      parts.push(`Tools called: ${shown}${facts.calls.length > 8 ? ` and ${facts.calls.length - 8} more` : ''}.`);
    }
    if (facts.results > 0) parts.push(`${facts.results} tool result(s) (${facts.resultChars} chars) are not repeated here.`);
    if (facts.user.length > 0) parts.push(`The user also said: ${facts.user.slice(-2).map((u) => `"${u}"`).join(' ')}.`);
    if (facts.assistant.length > 0) parts.push(`Your last condensed note: "${facts.assistant[facts.assistant.length - 1]}".`);
    return { role: 'user', content: `${parts.join(' ')}]` };
  };

  const build = (): ChatMessage[] => {
    const out: ChatMessage[] = [];
    let placed = false;
    for (let i = 0; i < work.length; i++) {
      if (summarized.has(i)) {
        if (!placed) out.push(summaryNote());
        placed = true;
      } else out.push(work[i]);
    }
    return out;
  };

  const done = () => {
    const out = build();
    report.estimated_tokens_after = total(out);
    return { messages: out, report };
  };
  const fits = () => total(build()) <= budgetTokens;

  // 3. Older tool results give way first: the model already acted on them.
  for (const g of older) {
    for (const i of g) {
      const m = work[i];
      if (m.role !== 'tool' || m.content.length <= 200) continue;
      const marker = `[older tool output dropped: ${m.content.length} chars]`;
      report.chars_removed += m.content.length - marker.length;
      report.tool_outputs_dropped++;
      work[i] = { ...m, content: marker };
      if (fits()) return done();
    }
  }

  // 4. Fold older turns into one note, oldest first.
  const excerpt = (s: string, n: number) => {
    const flat = s.replace(/\s+/g, ' ').trim();
    return flat.length > n ? `${flat.slice(0, n)}...` : flat;
  };
  for (const g of older) {
    for (const i of g) {
      const m = work[i];
      summarized.add(i);
      report.messages_summarized++;
      report.chars_removed += m.content.length;
      if (m.role === 'assistant') {
        for (const tc of m.tool_calls ?? []) facts.calls.push(`${tc.name}(${excerpt(JSON.stringify(tc.arguments), 60)})`);
        if (m.content.trim()) facts.assistant.push(excerpt(m.content, 200));
      } else if (m.role === 'tool') {
        facts.results++;
        const dropped = /^\[older tool output dropped: (\d+) chars\]$/.exec(m.content);
        facts.resultChars += dropped ? Number(dropped[1]) : m.content.length;
      } else if (m.role === 'user') facts.user.push(excerpt(m.content, 200));
    }
    if (fits()) return done();
  }

  // 5. Cut the latest turn's tool results (largest first) just enough.
  const tools = latest.filter((i) => work[i].role === 'tool').sort((a, b) => work[b].content.length - work[a].content.length);
  for (const i of tools) {
    const overChars = (total(build()) - budgetTokens) * CHARS_PER_TOKEN;
    const m = work[i];
    const target = Math.max(256, m.content.length - overChars - 120);
    if (target >= m.content.length) continue;
    const cut = cutText(m.content, target);
    report.chars_removed += m.content.length - cut.length;
    report.tool_outputs_cut++;
    work[i] = { ...m, content: cut };
    if (fits()) return done();
  }
  return done();
}
