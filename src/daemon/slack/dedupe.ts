// chat-neutral (chat/dedupe.ts): Slack envelopes, Discord interactions
export { Dedupe } from '../chat/dedupe.js';
