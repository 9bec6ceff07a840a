/**
 * The MCP SDK's client side as the daemon uses it, imported by the first server start
 * (connection.ts) rather than with the daemon: with the zod v3 schemas and zod-to-json-schema it
 * brings ~150 ES modules, ~0.2 s of CPU and several MB of heap at every daemon start (a daemon
 * start's import was 580 ms of CPU, this module 220 of it), which a daemon that calls no tool
 * never needs.
 */
export { Client } from '@modelcontextprotocol/sdk/client/index.js';
export { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
export { ErrorCode, McpError, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
export { lazyValidator } from './lazy-validator.js';
export { StdioTransport } from './stdio-transport.js';
