/**
 * What the engine needs of team mode (src/daemon/team/service.ts implements it). In solo mode the
 * engine has none and everything stays as it was: one daemon hosts every run of its LevelDB store.
 *
 * In team mode every non-terminal run is HOSTED by exactly one daemon of the team: the host keeps
 * it in memory, runs its steps and arms its timers, exactly as a solo daemon does. Hosting is a
 * DBOS workflow (`host:<run>`), so when a host dies DBOS's recovery hands the workflow, and with it
 * the run, to a survivor. Who hosts is also a row (`run_owner`: executor + epoch) that every commit
 * of the run is fenced on: a daemon that lost a run (it was thought dead) cannot write to it again.
 */
export interface TeamPort {
  /** This daemon's DBOS executor id (stable per OPSTREAM_HOME and machine). */
  readonly executorId: string;
  /**
   * Makes this daemon the host of a run about to be created: its DBOS host workflow is recorded
   * before the run's creation commit (whose fence creates the owner row at epoch 1), so a crash
   * in between leaves a workflow that finds no run and ends, never a run nobody hosts.
   */
  hostNew(runId: string): Promise<void>;
  /**
   * Takes over a run (owner row: this executor, epoch + 1); the new epoch fences its commits. Null:
   * the run's DBOS host workflow is no longer this daemon's (a survivor took it while this one was
   * thought dead), so the run is not taken.
   */
  claim(runId: string): Promise<number | null>;
  /**
   * Asks the member hosting the run to do `op` (engine.ts ForwardedOp) and returns its answer; its
   * error is thrown as if local. Undefined: no other live member hosts it; decide here.
   */
  forward(runId: string, op: 'pause' | 'resume' | 'cancel' | 'answer', args: Record<string, unknown>): Promise<unknown>;
  /** A NOTIFY sent with a commit of run events, so the other members' watchers see them. */
  announce(runId: string, first: number, last: number, status: string): { channel: string; payload: string };
}

/**
 * The NOTIFY channel on which a host announces the events it committed: `<executor> <run> <first
 * seq> <last seq> <status>` (`team migrate` announces the runs it copied with status `ended`).
 */
export const EVENTS_CHANNEL = 'opstream_run_events';

/** Epoch of a run created by its host (the creation commit's fence inserts the owner row with it). */
export const FIRST_EPOCH = 1;
