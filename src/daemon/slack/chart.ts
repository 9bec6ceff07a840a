// chat-neutral (chat/chart.ts): Slack and Discord attach the same PNG
export { seriesPng } from '../chat/chart.js';
