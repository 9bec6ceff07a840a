import { Box, Text } from 'ink';

const ROWS: [string, string][] = [
  ['↑ ↓  j k', 'move in the list (PgUp/PgDn, g/G: first/last)'],
  ['Enter', 'open the run: steps, what it waits for, series, notifications, log'],
  ['Esc  ← h', 'back to the list (in the list: clear the filter)'],
  ['p / r', 'pause / resume the run'],
  ['c', 'cancel the run (asks first)'],
  ['a', 'approve: shows what will run first; y/Enter approves, Esc/n sends nothing'],
  ['x', 'reject, with a comment: shows what first; Enter rejects, Esc sends nothing'],
  ['i', 'type the answer to an input request'],
  ['/', 'filter by run id, workflow, status or step'],
  ['?', 'this help'],
  ['q  Ctrl-C', 'quit (runs keep going: they live in the daemon)'],
];

export function HelpView({ width }: { width: number }) {
  return (
    <Box flexDirection="column" width={width} borderStyle="round" paddingX={1}>
      <Text bold>Keys</Text>
      {ROWS.map(([k, what]) => (
        <Text key={k} wrap="truncate">
          <Text color="cyan">{k.padEnd(12)}</Text>
          {what}
        </Text>
      ))}
      <Text dimColor>The list follows the daemon live; if the daemon restarts, the dashboard reconnects and catches up by itself.</Text>
      <Text dimColor>Press any key to go back.</Text>
    </Box>
  );
}
