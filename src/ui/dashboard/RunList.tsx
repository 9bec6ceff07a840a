import { Box, Text } from 'ink';
import type { RunView } from './model.js';
import { age, bar, columnsFor, fit, progressLabel, statusLabel, stepLabel, tokens } from './view-text.js';

const STATUS_COLOR: Record<string, string> = { running: 'cyan', waiting: 'yellow', paused: 'yellow', pausing: 'yellow', 'approve?': 'yellow', 'answer?': 'yellow', queued: 'gray', succeeded: 'green', failed: 'red', cancelled: 'gray' };

export interface RunListProps {
  runs: RunView[];
  selected: number;
  width: number;
  height: number;
  now: number;
}

/** The list of runs, scrolled so the selected row stays in view. Only visible rows are rendered. */
export function RunList({ runs, selected, width, height, now }: RunListProps) {
  const c = columnsFor(width);
  const rows = Math.max(1, height - 1);
  const top = Math.min(Math.max(0, selected - Math.floor(rows / 2)), Math.max(0, runs.length - rows));
  const visible = runs.slice(top, top + rows);
  const head = [fit('ID', c.id), fit('WORKFLOW', c.workflow), fit('STATUS', c.status), fit('STEP', c.step), c.bar ? fit('PROGRESS', c.bar) : null, fit(c.bar ? '' : 'PROGRESS', c.progress), fit('AGE', c.age), fit('TOKENS', c.tokens)]
    .filter((x) => x !== null)
    .join(' ');
  return (
    <Box flexDirection="column" height={height}>
      <Text bold>{`  ${head}`}</Text>
      {runs.length === 0 ? <Text dimColor>  no runs yet: start one with `opstream start WORKFLOW` (the list updates by itself)</Text> : null}
      {visible.map((r, i) => {
        const sel = top + i === selected;
        const p = progressLabel(r, now, true);
        const st = statusLabel(r);
        const done = r.status === 'succeeded' || r.status === 'failed' || r.status === 'cancelled';
        // one Text per row (one layout node), status coloured inside it: with 1,000 runs and 200
        // events/s a frame's cost is mostly Ink measuring and styling text, so rows stay plain
        return (
          <Text key={r.id} inverse={sel} dimColor={done && !sel} wrap="truncate">
            {`${sel ? '>' : ' '} ${fit(r.id, c.id)} ${fit(r.workflow, c.workflow)} `}
            <Text color={STATUS_COLOR[st]}>{fit(st, c.status)}</Text>
            {` ${fit(stepLabel(r), c.step)} ${c.bar && p.fraction !== null ? `${bar(p.fraction, c.bar)} ${fit(p.text, c.progress)}` : fit(p.text, c.bar ? c.bar + 1 + c.progress : c.progress)} ${fit(age(r, now), c.age)} ${fit(tokens(r), c.tokens)}`}
          </Text>
        );
      })}
    </Box>
  );
}
