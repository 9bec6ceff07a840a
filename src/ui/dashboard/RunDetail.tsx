import { Box, Text } from 'ink';
import type { ReactElement } from 'react';
import { eventLine, clock } from '../events.js';
import { paint } from '../color.js';
import { formatDuration } from '../format.js';
import { deliveryText } from '../notifications.js';
import { decisionText, measurementsText, paramsLine, personWaitText, statusText, watchText } from '../runs.js';
import type { LogLine, RunView } from './model.js';
import type { Notification } from '../../protocol/index.js';
import { bar, fit, progressLabel, seriesLine, seriesOf, statusLabel } from './view-text.js';

export interface RunDetailProps {
  run: RunView;
  log: readonly LogLine[];
  notifications: readonly Notification[];
  width: number;
  height: number;
  now: number;
}

const plain = paint(false);

function stepMark(status: string): { mark: string; color?: string } {
  switch (status) {
    case 'succeeded':
      return { mark: '✔', color: 'green' };
    case 'failed':
      return { mark: '✘', color: 'red' };
    case 'running':
      return { mark: '●', color: 'cyan' };
    case 'waiting':
    case 'retrying':
      return { mark: '⏸', color: 'yellow' };
    case 'cancelled':
    case 'skipped':
      return { mark: '–', color: 'gray' };
    default:
      return { mark: ' ' };
  }
}

function took(s: RunView['steps'][number], now: number): string {
  if (!s.started_at) return '';
  const end = s.ended_at ? Date.parse(s.ended_at) : now;
  return formatDuration(Math.max(0, end - Date.parse(s.started_at)));
}

/** One run: header, what it waits for (all of it), steps, sparklines, notifications, its log. */
export function RunDetail({ run, log, notifications, width, height, now }: RunDetailProps) {
  const p = progressLabel(run, now);
  const w = run.waiting_for;
  const lines: ReactElement[] = [];
  // rows taken so far: the log gets exactly what is left, so the newest lines stay in view
  let used = 0;
  const push = (el: ReactElement, rows = 1) => {
    lines.push(el);
    used += rows;
  };
  const params = paramsLine(run);

  push(
    <Text key="head" wrap="truncate">
      <Text bold>{run.id}</Text>
      {`  ${run.workflow}  `}
      <Text color={run.status === 'failed' ? 'red' : run.status === 'succeeded' && run.outcome === 'succeeded' ? 'green' : run.status === 'running' ? 'cyan' : 'yellow'}>{run.status === 'succeeded' || run.status === 'failed' ? statusText(run) : statusLabel(run)}</Text>
      {`  ${run.current_step && !['succeeded', 'failed', 'cancelled'].includes(run.status) ? `at ${run.current_label ?? run.current_step}  ` : ''}${p.fraction !== null ? `${bar(p.fraction, 10)} ` : ''}${p.text}`}
    </Text>,
  );
  if (params) push(<Text key="params" wrap="truncate" dimColor>{`params: ${params}`}</Text>);
  const usage = run.usage;
  push(
    <Text key="usage" wrap="truncate" dimColor>
      {`created ${clock(run.created_at, now)}${run.ended_at ? `, ended ${clock(run.ended_at, now)}` : ''}; tool calls ${usage.tool_calls}; tokens ${usage.prompt_tokens + usage.completion_tokens} (${usage.prompt_tokens} prompt, ${usage.completion_tokens} completion)`}
    </Text>,
  );
  if (run.error) push(<Text key="err" color="red" wrap="truncate">{`error: ${run.error}`}</Text>);
  if (w && (w.kind === 'approval' || w.kind === 'input')) {
    // exactly what is asked, in full: the rendered prompt carries the arguments of the action
    const extra = w as typeof w & { approvers?: string[]; on_timeout?: string; resolve?: boolean };
    push(
      <Box key="wait" flexDirection="column" borderStyle="round" borderColor="yellow" paddingX={1}>
        <Text color="yellow" bold>{`${run.progress.waiting ? personWaitText(run.progress.waiting, now) : `waiting for ${w.kind}`} at ${run.progress.waiting?.label ?? w.step}`}</Text>
        <Text wrap="wrap">{w.prompt ?? ''}</Text>
        <Text dimColor wrap="truncate">
          {[
            w.until ? `until ${clock(w.until, now)}${extra.on_timeout ? ` (then ${extra.on_timeout})` : ''}` : 'no deadline',
            extra.approvers?.length ? `approvers: ${extra.approvers.join(', ')}` : null,
            w.kind === 'approval' ? 'a approve · x reject (with a comment)' : 'i type the answer',
          ]
            .filter(Boolean)
            .join(' · ')}
        </Text>
      </Box>,
      3 + Math.max(1, Math.ceil((w.prompt ?? '').length / Math.max(10, width - 4))) + 1,
    );
  } else if (w) {
    push(<Text key="wait" color="yellow" wrap="truncate">{`waiting: ${w.kind} at ${run.current_label ?? w.step}${w.until ? ` until ${clock(w.until, now)}` : ''}`}</Text>);
  }
  const watch = run.progress.watch;
  if (watch) {
    push(<Text key="watch" wrap="truncate" color={watch.breaches ? 'red' : undefined}>{`watch: ${watchText(watch, now)}`}</Text>);
    if (watch.last?.length) push(<Text key="last" wrap="truncate">{`last check: ${measurementsText(watch.last)}`}</Text>);
  }
  for (const d of (run.decisions ?? []).slice(-2)) push(<Text key={`dec-${d.at}-${d.step}`} wrap="truncate" color={d.decision === 'rejected' ? 'red' : 'green'}>{decisionText(d, now)}</Text>);

  // loop iterations in flight show too (a check waiting for approval); finished ones are in the series
  const topSteps = run.steps.filter((s) => !s.id.includes('[') || !['succeeded', 'skipped'].includes(s.status));
  const series = seriesOf(run);
  const stepRows = topSteps.slice(-8);
  const leftW = series.length ? Math.floor(width * 0.45) : width;
  push(
    <Box key="mid">
      <Box flexDirection="column" width={leftW}>
        <Text bold>Steps</Text>
        {topSteps.length > stepRows.length ? <Text dimColor>{`  … ${topSteps.length - stepRows.length} earlier`}</Text> : null}
        {stepRows.map((s) => {
          const m = stepMark(s.status);
          return (
            <Text key={s.id} wrap="truncate">
              <Text color={m.color}>{` ${m.mark} `}</Text>
              {`${fit(s.label ?? s.id, 22)} ${fit(s.status, 10)} ${fit(took(s, now), 8)}${s.attempts > 1 ? ` x${s.attempts}` : ''}${s.error ? ` ${s.error}` : ''}`}
            </Text>
          );
        })}
      </Box>
      {series.length ? (
        <Box flexDirection="column" width={width - leftW}>
          <Text bold>Series</Text>
          {series.map((s) => (
            <Text key={s.label} wrap="truncate">
              {`${fit(s.label, 26)} ${seriesLine(s, Math.max(8, width - leftW - 40))}`}
            </Text>
          ))}
        </Box>
      ) : null}
    </Box>,
    1 + Math.max(stepRows.length + (topSteps.length > stepRows.length ? 1 : 0), series.length),
  );
  if (notifications.length) {
    push(<Text key="nh" bold>Notifications</Text>);
    for (const n of notifications.slice(-3)) {
      push(
        <Text key={`note-${n.id}`} wrap="truncate">
          {` ${clock(n.at, now)} `}
          <Text color={n.level === 'critical' ? 'red' : n.level === 'warning' ? 'yellow' : 'blue'}>{`[${n.level}]`}</Text>
          {` ${n.title}  `}
          <Text dimColor>{deliveryText(n)}</Text>
        </Text>,
      );
    }
  }
  // the log takes the rows that are left, newest at the bottom
  const logRows = Math.max(1, height - used - 1);
  push(<Text key="lh" bold>Log</Text>);
  for (const l of log.slice(-logRows)) {
    const key = l.event ? `log-e${l.event.seq}` : `log-n${l.notification!.id}`;
    if (l.event) {
      const text = eventLine(l.event, { paint: plain, now });
      if (text) push(<Text key={key} wrap="truncate">{` ${text}`}</Text>);
    }
    else push(<Text key={key} wrap="truncate" color="blue">{` ${clock(l.at, now)}  notification [${l.notification!.level}] ${l.notification!.title}`}</Text>);
  }
  return (
    <Box flexDirection="column" height={height} overflow="hidden">
      {lines}
    </Box>
  );
}
