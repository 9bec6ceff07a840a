export * from './version.js';
export * from './errors.js';
export * from './framing.js';
export * from './messages.js';
export * from './methods/index.js';
export * from './methods/daemon.js';
