import { Box, Text } from 'ink';
import type { RunJson } from '../../protocol/index.js';

export type Decision = 'approve' | 'reject';

/** What a run waits for, as the daemon reports it (an agent's gated call adds tool, args and args_hash). */
type Waiting = NonNullable<RunJson['waiting_for']>;

/** The exact call an approval would let run, when the daemon says (an agent's destructive tool call). */
export function gatedCall(w: Waiting): { tool: string; args: string; hash: string | null } | null {
  const x = w as { tool?: unknown; args?: unknown; args_hash?: unknown };
  if (typeof x.tool !== 'string') return null;
  return { tool: x.tool, args: JSON.stringify(x.args ?? {}), hash: typeof x.args_hash === 'string' ? x.args_hash : null };
}

export interface ConfirmBarProps {
  decision: Decision;
  runId: string;
  waiting: Waiting;
  /** A rejection's comment as typed so far. */
  comment: string;
  width: number;
}

/**
 * Asks before an approval or a rejection is sent, showing what the person is answering: the
 * approval's prompt (for a remediation it names the call) and, for an agent's gated tool call,
 * the exact call, its arguments and the hash the daemon will hold the answer to. Nothing is sent
 * until the person confirms.
 */
export function ConfirmBar({ decision, runId, waiting, comment, width }: ConfirmBarProps) {
  const call = gatedCall(waiting);
  const verb = decision === 'approve' ? 'Approve' : 'Reject';
  return (
    <Box flexDirection="column" width={width} borderStyle="round" borderColor={decision === 'approve' ? 'green' : 'yellow'} paddingX={1}>
      <Text bold>{`${verb} run ${runId}, step ${waiting.step}?`}</Text>
      {waiting.prompt ? <Text>{waiting.prompt}</Text> : null}
      {call ? (
        <>
          <Text>
            <Text color="cyan">{'runs exactly: '}</Text>
            {`${call.tool} ${call.args}`}
          </Text>
          {call.hash ? <Text dimColor>{`argument hash ${call.hash}`}</Text> : null}
        </>
      ) : null}
      {decision === 'reject' ? (
        <Text>
          <Text color="cyan">{'comment (optional): '}</Text>
          {comment}
          <Text inverse> </Text>
        </Text>
      ) : null}
      <Text color={decision === 'approve' ? 'green' : 'yellow'}>
        {decision === 'approve' ? 'y or Enter approves · Esc or n: nothing is sent' : 'Enter rejects · Esc: nothing is sent'}
      </Text>
    </Box>
  );
}
