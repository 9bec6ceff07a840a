// The figures the report is held to (issue 13): stable ids, what each counts, and the goals.
// bench/run.js lists these first, in this order, and marks one missing from a run as failed.
// Goals: { op, value } in the figure's unit; `baseline` says what the same run measured beside it.
export const CONTRACT = [
  { id: 'start_ack_p50_ms', unit: 'ms', goal: { op: '<', value: 1 }, what: '`runs.start` over the daemon socket (one client, one at a time) until its durable acknowledgement, p50. Each run then waits on a timer.', baseline: 'ping round trip p50 on the same connection' },
  { id: 'start_ack_p99_ms', unit: 'ms', goal: { op: '<', value: 5 }, what: 'the same, p99', baseline: 'ping round trip p99' },
  { id: 'steps_per_s_noop', unit: 'steps/s', what: 'steps completed per second, 40 runs x 500 in-worker no-op steps (`engine_test.noop`, no tool call); each step\'s result is fsynced before the run\'s next step starts (commits of concurrent runs share fsyncs)' },
  { id: 'steps_per_s_mcp', unit: 'steps/s', goal: { op: '>=', value: 5000 }, what: 'the same with a no-op MCP tool step (`fault.echo` of a stdio MCP server) through the daemon\'s tool pool' },
  { id: 'events_per_s', unit: 'events/s', what: 'durable run events per second in the no-op run (two per step: started, succeeded; plus run events); what older reports called "durable step transitions/s"' },
  { id: 'waiting_runs_rss_mb', unit: 'MB', goal: { op: '<', value: 120 }, what: 'RSS of the daemon process (started by `opstream daemon start`, read from /proc) with 10,000 runs waiting (approval with a 2 h timeout: a timer armed per run), 6 s after its start returned' },
  { id: 'waiting_runs_idle_cpu_pct', unit: '% of a core', goal: { op: '<', value: 1 }, what: 'that daemon process\'s CPU over 5 s while those 10,000 runs wait (/proc utime+stime)' },
  { id: 'recovery_10k_s', unit: 's', goal: { op: '<', value: 3 }, what: 'daemon start after kill -9 with 10,000 runs in flight, until every run is recovered and its new activation has started' },
  { id: 'recovery_drain_runs_per_s', unit: 'runs/s', what: 'recovered runs finished per second (a two-step run each) while draining those 10,000' },
  { id: 'restart_with_100k_finished_s', unit: 's', goal: { op: '<', value: 1 }, what: 'daemon start (restart: its one-time stats backfill already done) with 100,000 finished runs in the store (header, step rows and events each), until it serves', baseline: 'the same start with an empty store' },
  { id: 'mcp_overhead_p99_ms', unit: 'ms', goal: { op: '<', value: 2 }, what: 'tool pool call p99 minus a raw MCP SDK client call p99 to the same server', baseline: 'raw MCP SDK client call p99' },
  { id: 'cli_status_vs_node_ratio', unit: 'x', goal: { op: '<=', value: 2 }, what: '`opstream status` wall time (whole process, median of 15) divided by `node -e 0`', baseline: '`node -e 0` median' },
  { id: 'cli_status_vs_node_ratio_under_load', unit: 'x', goal: { op: '<=', value: 2 }, what: 'the same while the daemon runs the no-op chain (40 concurrent runs kept going; bench/engine.bench.js statusUnderLoad)', baseline: '`node -e 0` median in the same window' },
  { id: 'slack_ack_p99_ms', unit: 'ms', goal: { op: '<', value: 300 }, what: 'Socket Mode envelope ack latency p99 at the loopback Slack while 1,000 runs wait, a slow step is in flight and a busy run edits its thread' },
  // issue 22: the Discord bridge (bench/discord.bench.js)
  { id: 'discord_ack_p99_ms', unit: 'ms', goal: { op: '<', value: 300 }, what: 'interaction (INTERACTION_CREATE at the loopback gateway) -> deferred acknowledgement received, p99, while 1,000 runs wait, a slow step is in flight and a busy run edits its card' },
  { id: 'discord_edit_p99_ms', unit: 'ms', goal: { op: '<', value: 500 }, what: 'run event (feed publish after the fsynced commit) -> the run card\'s PATCH answered by the loopback Discord (edit bucket 5/s, discord.js REST), p99' },
  { id: 'notify_p99_ms', unit: 'ms', goal: { op: '<', value: 50 }, what: 'a notify step\'s commit to the webhook receiver, p99' },
  { id: 'repeat_prompt_token_reduction', unit: '%', goal: { op: '>=', value: 60 }, what: 'prompt tokens saved by the second identical investigation within the cache TTL', baseline: 'prompt tokens of the first investigation' },
  { id: 'repeat_tool_call_reduction', unit: '%', goal: { op: '>=', value: 80 }, what: 'tool calls (reaching the server) saved by the repeat', baseline: 'tool calls of the first investigation' },
  { id: 'recall_p99_ms', unit: 'ms', goal: { op: '<', value: 20 }, what: 'memory recall ("seen before") over 10,000 stored run summaries, full text, p99' },
  { id: 'load_start_ack_p50_ms', unit: 'ms', what: '`runs.start` ack p50 with 20 concurrent clients starting 1,000 runs while 10,000 runs wait and the Slack bridge is connected (daemon in its own process)' },
  { id: 'load_start_ack_p99_ms', unit: 'ms', what: 'the same, p99' },
  { id: 'load_starts_acked', unit: 'starts', goal: { op: '==', value: 1000 }, what: 'starts acknowledged out of 1,000', strict: true },
  { id: 'load_runs_lost', unit: 'runs', goal: { op: '==', value: 0 }, what: 'started runs or waiting runs missing from the store after the daemon stopped', strict: true },
  // issue 20: the peers, measured by bench/peers.bench.js in the same run (`npm run bench -- peers`)
  // beside OpStream's own figures measured again in that part; a peer that cannot run here is
  // "not measured" (failed, with the one-line install), never estimated
  { id: 'peer_bullmq_steps_per_s', unit: 'steps/s', what: 'BullMQ on Redis (`appendfsync always`): 40 chains x 500 no-op steps, a job per step that adds the chain\'s next job before it completes (worker concurrency 40)' },
  { id: 'peer_dbos_steps_per_s', unit: 'steps/s', what: 'DBOS Transact on PostgreSQL (fsync, synchronous_commit on): 40 concurrent workflows x 500 no-op `DBOS.runStep` steps, each checkpointed before the next' },
  { id: 'ratio_steps_noop_vs_bullmq', unit: 'x', goal: { op: '>=', value: 1.5 }, what: 'OpStream no-op steps/s (`steps_per_s_noop`\'s part, measured again in the peers part) divided by `peer_bullmq_steps_per_s`, same run', baseline: 'the BullMQ figure' },
  { id: 'peer_bullmq_mcp_steps_per_s', unit: 'steps/s', what: 'the BullMQ chain with each step calling `echo` of the same stdio MCP server OpStream\'s `steps_per_s_mcp` calls (official SDK client, one per process, calls concurrent)' },
  { id: 'peer_dbos_mcp_steps_per_s', unit: 'steps/s', what: 'the DBOS chain with each step calling that tool' },
  { id: 'ratio_steps_mcp_vs_bullmq', unit: 'x', goal: { op: '>=', value: 1.5 }, what: 'OpStream MCP tool steps/s (measured again in the peers part) divided by `peer_bullmq_mcp_steps_per_s`, same run', baseline: 'the BullMQ figure' },
  { id: 'peer_bullmq_recovery_10k_s', unit: 's', what: 'BullMQ: 10,000 jobs active, the worker process killed (SIGKILL) and restarted: until every job ran again (stalled-job recovery; lockDuration 5 s, stalledInterval 1 s instead of the 30 s defaults)' },
  { id: 'peer_dbos_recovery_10k_s', unit: 's', what: 'DBOS: 10,000 workflows in their first step, the process killed (SIGKILL) and restarted with the same executor id: from `DBOS.launch()` until every workflow ran its step again' },
  { id: 'ratio_recovery_vs_dbos', unit: 'x', goal: { op: '>=', value: 5 }, what: '`peer_dbos_recovery_10k_s` divided by OpStream\'s recovery seconds (`recovery_10k_s`\'s part, measured again in the peers part), same run', baseline: 'the DBOS figure' },
  { id: 'peer_bullmq_waiting_rss_mb', unit: 'MB', what: 'BullMQ: RSS of a freshly started worker process with 10,000 jobs delayed 2 h (they live in Redis: its memory is `peer_bullmq_waiting_server_mb`)' },
  { id: 'peer_dbos_waiting_rss_mb', unit: 'MB', what: 'DBOS: RSS of a restarted process holding 10,000 workflows recovered into a 2 h `DBOS.sleep` (PostgreSQL\'s memory apart: `peer_dbos_waiting_server_mb`)' },
  // issue 21: team mode, several daemons on one PostgreSQL (bench/team.bench.js, `npm run bench --
  // team`); every daemon a process started by `opstream daemon start`, each its own OPSTREAM_HOME
  { id: 'team_steps_per_s_noop', unit: 'steps/s', goal: { op: '>=', value: 1500 }, what: 'a team of 2 daemons on one PostgreSQL (fsync, synchronous_commit on), 2 cores: steps completed per second, 40 runs x 500 in-worker no-op steps (`engine_test.noop`), half started on each daemon; each step\'s result committed before the run\'s next step starts' },
  { id: 'team_kill_resume_p99_ms', unit: 'ms', goal: { op: '<', value: 1000 }, what: 'kill -9 of a team member hosting 50 running runs (a step in flight each): from its process gone (/proc) until each run\'s next event is committed by the survivor (its NOTIFY on the team\'s event channel), p99 over 3 kills' },
  { id: 'team_leader_move_ms', unit: 'ms', goal: { op: '<', value: 1000 }, what: 'kill -9 of the scheduler\'s leader (`daemon status --json` team.leaders.scheduler): from its process gone until the survivor\'s `daemon.status` names the survivor, worst of 5 kills' },
  { id: 'team_waiting_rss_mb', unit: 'MB', goal: { op: '<', value: 250 }, what: 'a team of 2 with 10,000 runs waiting on a 2 h timer (half started on each over its socket): VmRSS of the larger daemon (/proc), 20 s after every run was waiting' },
  { id: 'team_waiting_idle_cpu_pct', unit: '% of a core', goal: { op: '<', value: 5 }, what: 'those waiting runs: CPU of the busier daemon over the minute from 10 s after every run was waiting (/proc utime+stime; its busiest 10 s in the note)' },
  { id: 'team_answer_p99_ms', unit: 'ms', goal: { op: '<', value: 250 }, what: '`runs.approve` over daemon B\'s socket for a run hosted on daemon A, one at a time: until A\'s commit of the answer is announced (NOTIFY), p99 over 100 runs' },
  { id: 'team_recovery_10k_s', unit: 's', goal: { op: '<', value: 30 }, what: 'kill -9 of a team member hosting 10,000 runs in flight (a step that never ends; at most 256 activations at once, the rest running and waiting for a slot): from its process gone until every run\'s next event (run.recovered) is committed by the survivor' },
  // issue 23: the AWS stories (bench/appsignals.bench.js, `npm run bench -- appsignals`), with the
  // stand-in of the AWS Labs Application Signals MCP server; the row carries the goal for the
  // interval it ran with (5 s checks: 10 s)
  { id: 'appsignals_breach_report_s', unit: 's', goal: { op: '<', value: 10 }, what: '`slo_appsignals checkout-api every 5s` through the CLI and a daemon process: from a breach appearing in the stand-in\'s world until the run\'s critical alert naming the SLO and the slow dependency arrives on a `notifications` subscription; the worst of 6 breaches, 3 at a random moment of a check interval and 3 just after a check read the SLI report (the worst moment), the world healed and the SLO reported restored between them', baseline: 'the check interval' },
  { id: 'appsignals_tokens_vs_builtin', unit: 'x', goal: { op: '<=', value: 1 }, what: 'model prompt tokens `slo_appsignals` spent explaining a slow-dependency breach (stand-in server), divided by those of the built-in `slo` story on the same incident (demo service, dependency timing out); both through the loopback Ollama with the story model, until each run\'s alert', baseline: 'the built-in story\'s prompt tokens' },
];

export const OPS = {
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
  '==': (a, b) => a === b,
};
