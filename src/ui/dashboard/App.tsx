import { Box, Text, useApp, useInput } from 'ink';
import { useEffect, useReducer, useRef, useState, useSyncExternalStore, type ReactElement } from 'react';
import type { RunJson } from '../../protocol/index.js';
import type { DashboardFeed } from './feed.js';
import { ConfirmBar, gatedCall, type Decision } from './ConfirmBar.js';
import { HelpView } from './HelpView.js';
import { RunDetail } from './RunDetail.js';
import { RunList } from './RunList.js';
import { useTerminalSize } from './use-terminal-size.js';

type Waiting = NonNullable<RunJson['waiting_for']>;

type Mode =
  | { kind: 'list' }
  | { kind: 'detail'; id: string }
  | { kind: 'help'; back: Mode }
  | { kind: 'confirm'; id: string; back: Mode }
  /** Approve or reject, asked first; `waiting` is what the person was shown (and what gets answered). */
  | { kind: 'decide'; decision: Decision; id: string; waiting: Waiting; text: string; back: Mode }
  | { kind: 'prompt'; what: 'filter' | 'answer'; id: string | null; text: string; back: Mode };

export interface AppProps {
  feed: DashboardFeed;
  /** Redraw at least this often so ages, ETAs and spinners move (ms). */
  tickMs?: number;
}

const KEYS = '↑↓ move · ⏎ open · p pause · r resume · c cancel · a approve · x reject · i answer · / filter · ? help · q quit';

/** The dashboard: a live run list; Enter opens a run; keys act on the selected or open run. */
export function App({ feed, tickMs = 1000 }: AppProps) {
  const { exit } = useApp();
  const { columns, rows } = useTerminalSize();
  useSyncExternalStore(
    (fn) => feed.subscribe(fn),
    () => feed.model.version,
  );
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), tickMs);
    return () => clearInterval(t);
  }, [tickMs]);

  // UI state lives in a ref: keys typed faster than frames are drawn each see the state the key
  // before them left (state captured by a render would drop all but the last of them)
  const ui = useRef<{ mode: Mode; filter: string; selectedId: string | null }>({ mode: { kind: 'list' }, filter: '', selectedId: null });
  const [, redraw] = useReducer((n: number) => n + 1, 0);
  const setMode = (m: Mode) => {
    ui.current.mode = m;
    redraw();
  };
  const setFilter = (f: string) => {
    ui.current.filter = f;
    redraw();
  };
  const setSelectedId = (id: string | null) => {
    ui.current.selectedId = id;
    redraw();
  };

  const model = feed.model;
  const view = () => {
    const { mode, filter, selectedId } = ui.current;
    const liveFilter = mode.kind === 'prompt' && mode.what === 'filter' ? mode.text : filter;
    const runs = model.list(liveFilter);
    let selected = selectedId ? runs.findIndex((r) => r.id === selectedId) : 0;
    if (selected < 0) selected = 0;
    const current = runs[selected] ?? null;
    const openId = mode.kind === 'detail' ? mode.id : mode.kind !== 'list' && 'back' in mode && mode.back.kind === 'detail' ? mode.back.id : null;
    return { mode, filter, runs, selected, current, openId, target: openId ?? current?.id ?? null };
  };
  const { mode, filter, runs, selected, openId } = view();

  const open = (id: string | null) => {
    void feed.open(id);
  };

  const act = (key: string, id: string) => {
    const c = (what: string, fn: Parameters<DashboardFeed['act']>[1]) => void feed.act(what, fn);
    if (key === 'p') c('pause', (cl) => cl.request('runs.pause', { id }));
    else if (key === 'r') c('resume', (cl) => cl.request('runs.resume', { id }));
  };

  /** `a` and `x` only ask: what the run waits for is shown, and nothing is sent before y/Enter. */
  const decide = (decision: Decision, id: string, back: Mode) => {
    const w = model.runs.get(id)?.waiting_for;
    if (!w || w.kind !== 'approval') {
      feed.say(`run ${id} is not waiting for an approval`, 'error');
      return;
    }
    setMode({ kind: 'decide', decision, id, waiting: w, text: '', back });
  };

  useInput((input, key) => {
    const { mode, filter, runs, selected, current, target } = view();
    if (mode.kind === 'help') {
      setMode(mode.back);
      return;
    }
    if (mode.kind === 'confirm') {
      if (input === 'y' || input === 'Y') void feed.act('cancel', (cl) => cl.request('runs.cancel', { id: mode.id }));
      else feed.say(`run ${mode.id} was not cancelled`);
      setMode(mode.back);
      return;
    }
    if (mode.kind === 'decide') {
      const { id, decision } = mode;
      const yes = key.return || (decision === 'approve' && (input === 'y' || input === 'Y'));
      if (key.escape || (decision === 'approve' && (input === 'n' || input === 'N'))) {
        feed.say(`nothing was sent; run ${id} still waits`);
        setMode(mode.back);
      } else if (yes) {
        // the run may have moved on while the question was open (a timeout, another person): answer only what was shown;
        // the daemon checks it too (step and argument hash sent), since the screen may lag behind the run
        const w = model.runs.get(id)?.waiting_for;
        const shown = { step: mode.waiting.step, ...(gatedCall(mode.waiting)?.hash ? { args_hash: gatedCall(mode.waiting)!.hash! } : {}) };
        if (!w || w.kind !== 'approval' || w.step !== mode.waiting.step || gatedCall(w)?.hash !== gatedCall(mode.waiting)?.hash) feed.say(`run ${id} no longer waits for what was shown; nothing was sent`, 'error');
        else if (decision === 'approve') void feed.act('approve', (cl) => cl.request('runs.approve', { id, ...shown }));
        else {
          const comment = mode.text.trim() || undefined;
          void feed.act('reject', (cl) => cl.request('runs.reject', { id, comment, ...shown }));
        }
        setMode(mode.back);
      } else if (decision === 'reject') {
        if (key.backspace || key.delete) setMode({ ...mode, text: mode.text.slice(0, -1) });
        else if (input && !key.ctrl && !key.meta) setMode({ ...mode, text: mode.text + input.replace(/[\r\n\t]/g, ' ') });
      }
      return;
    }
    if (mode.kind === 'prompt') {
      if (key.escape) {
        setMode(mode.back);
        return;
      }
      if (key.return) {
        const text = mode.text.trim();
        if (mode.what === 'filter') setFilter(text);
        else if (mode.what === 'answer' && mode.id) {
          const id = mode.id;
          if (text) void feed.act('answer', (cl) => cl.request('runs.respond', { id, text }));
          else feed.say('an empty answer was not sent', 'error');
        }
        setMode(mode.back);
        return;
      }
      if (key.backspace || key.delete) {
        setMode({ ...mode, text: mode.text.slice(0, -1) });
        return;
      }
      if (input && !key.ctrl && !key.meta) setMode({ ...mode, text: mode.text + input.replace(/[\r\n\t]/g, ' ') });
      return;
    }
    // list and detail
    if (input === 'q' || (key.ctrl && input === 'c')) {
      exit();
      return;
    }
    if (input === '?') {
      setMode({ kind: 'help', back: mode });
      return;
    }
    if (mode.kind === 'list') {
      const move = (to: number) => setSelectedId(runs[Math.max(0, Math.min(runs.length - 1, to))]?.id ?? null);
      if (key.upArrow || input === 'k') return move(selected - 1);
      if (key.downArrow || input === 'j') return move(selected + 1);
      if (key.pageUp) return move(selected - (rows - 6));
      if (key.pageDown) return move(selected + (rows - 6));
      if (input === 'g' || key.home) return move(0);
      if (input === 'G' || key.end) return move(runs.length - 1);
      if (input === '/') return setMode({ kind: 'prompt', what: 'filter', id: null, text: filter, back: mode });
      if (key.escape && filter) return setFilter('');
      if (key.return && current) {
        setSelectedId(current.id);
        setMode({ kind: 'detail', id: current.id });
        open(current.id);
        return;
      }
    } else if (mode.kind === 'detail') {
      if (key.escape || key.leftArrow || input === 'h' || key.backspace || key.delete) {
        setMode({ kind: 'list' });
        open(null);
        return;
      }
    }
    if (!target) return;
    if (input === 'p' || input === 'r') return act(input, target);
    if (input === 'a') return decide('approve', target, mode);
    if (input === 'x') return decide('reject', target, mode);
    if (input === 'c') return setMode({ kind: 'confirm', id: target, back: mode });
    if (input === 'i') return setMode({ kind: 'prompt', what: 'answer', id: target, text: '', back: mode });
  });

  const width = Math.max(40, columns);
  // one row short of the screen: Ink then updates lines in place instead of clearing the terminal
  const height = Math.max(10, rows - 1);
  const st = feed.state;
  const counts = model.counts();
  const countText = ['running', 'waiting', 'paused', 'queued'].filter((k) => counts[k]).map((k) => `${counts[k]} ${k}`).join(' · ') || 'no active runs';
  const conn =
    st.kind === 'connected' ? (
      <Text color="green">{`● daemon pid ${st.pid}`}</Text>
    ) : st.kind === 'reconnecting' ? (
      <Text color="red">{`○ reconnecting${st.attempt ? ` (try ${st.attempt})` : ''}: ${st.reason}`}</Text>
    ) : (
      <Text color="yellow">○ connecting…</Text>
    );
  const notice = feed.notice && now - feed.notice.at < 15_000 ? feed.notice : null;

  let footer: ReactElement;
  if (mode.kind === 'prompt') {
    const label = mode.what === 'filter' ? 'filter: ' : `answer for ${mode.id} (Enter sends, Esc cancels): `;
    footer = (
      <Text wrap="truncate">
        <Text color="cyan">{label}</Text>
        {mode.text}
        <Text inverse> </Text>
      </Text>
    );
  } else if (mode.kind === 'decide') {
    footer = <Text color="yellow" wrap="truncate">{mode.decision === 'approve' ? `approve run ${mode.id}? y/Enter approves · Esc/n: nothing is sent` : `reject run ${mode.id}? type a comment · Enter rejects · Esc: nothing is sent`}</Text>;
  } else if (mode.kind === 'confirm') {
    footer = <Text color="yellow" wrap="truncate">{`cancel run ${mode.id}? It stops at once and cannot be resumed. y cancels it, any other key keeps it`}</Text>;
  } else if (notice) {
    footer = <Text color={notice.level === 'error' ? 'red' : 'green'} wrap="truncate">{notice.text}</Text>;
  } else {
    footer = <Text dimColor wrap="truncate">{mode.kind === 'detail' ? `Esc back · ${KEYS.replace('↑↓ move · ⏎ open · ', '')}` : KEYS}</Text>;
  }

  const bodyHeight = height - 3;
  const detailRun = mode.kind === 'detail' || (mode.kind !== 'list' && 'back' in mode && mode.back.kind === 'detail') ? model.runs.get(openId!) : undefined;
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text wrap="truncate">
        <Text bold color="cyan">OpStream </Text>
        {conn}
        {`  ${countText}`}
      </Text>
      <Text dimColor wrap="truncate">{filter ? `filter: ${filter} (Esc clears)` : ' '}</Text>
      <Box height={bodyHeight} flexDirection="column" overflow="hidden">
        {mode.kind === 'help' ? (
          <HelpView width={width} />
        ) : mode.kind === 'decide' ? (
          <ConfirmBar decision={mode.decision} runId={mode.id} waiting={mode.waiting} comment={mode.text} width={width} />
        ) : detailRun ? (
          <RunDetail run={detailRun} log={model.logOf(detailRun.id)} notifications={model.notificationsOf(detailRun.id)} width={width} height={bodyHeight} now={now} />
        ) : openId ? (
          <Text dimColor>{`run ${openId} is no longer listed`}</Text>
        ) : (
          <RunList runs={runs} selected={selected} width={width} height={bodyHeight} now={now} />
        )}
      </Box>
      {footer}
    </Box>
  );
}
