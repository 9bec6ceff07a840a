export { ToolService } from './service.js';
export { ToolPool, splitName, type PoolOptions, type ResultCache } from './pool.js';
export { probeServer, type ProbeResult } from './probe.js';
export { serverSpecs, serverEnv, opsSpec, specFromConfig, type ServerSpec } from './server-specs.js';
export type { ToolsApi, ToolCallRequest, ToolCallResult, ToolCallError, ToolInfo, ServerInfo, ServerState, CallRecord } from './types.js';
