import type { DaemonContext, Service } from './context.js';
import { MetricsServer } from './stats/metrics-server.js';

/** The daemon's services, in start order. Each domain adds its own here. */
export function createServices(ctx: DaemonContext): Service[] {
  return [
    ctx.workflows, // first: the engine reads the workflow set when it starts
    ctx.feed, // before anything that commits run events or notifications
    ...(ctx.slack ? [ctx.slack.outbound] : []), // before the notifier: pending Slack deliveries resume into its channel
    ...(ctx.discord ? [ctx.discord.outbound] : []), // before the notifier: pending Discord deliveries resume into its channel
    ctx.notifier, // before the engine: recovery may write notifications; pending ones resume
    ...(ctx.llm ? [ctx.llm] : []), // before the engine: agent steps resume with it
    ctx.memory, // before the engine: runs ending during recovery are remembered
    ctx.tools, // before the engine: runs call tools as soon as they resume
    ctx.stats, // before the engine: its commits carry the stats of runs that end
    // team mode: before the engine, so it stops after it (a clean stop hands the runs to the team
    // only once no activation of them runs here); the runs DBOS hands it wait for the engine
    ...(ctx.team ? [ctx.team] : []),
    ctx.engine, // resumes runs, re-arms timers and schedules
    ctx.retention, // after the engine: it asks which runs are active; its first sweep waits a minute
    new MetricsServer({ log: ctx.log, config: ctx.config, stats: ctx.stats }), // after the engine: it reads all of the above (only when metrics.listen is set)
    // last: commands from chat reach a running engine. Team mode: the chat connections are a
    // singleton the team service starts on the elected daemon (their delivery channels, above, stay
    // on every daemon: a host delivers its own runs' notifications)
    ...(ctx.slack && !ctx.team ? [ctx.slack] : []),
    ...(ctx.discord && !ctx.team ? [ctx.discord] : []),
  ];
}
