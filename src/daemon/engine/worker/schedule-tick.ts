/**
 * The Bree job behind every schedule: Bree's cron starts it at each fire time; it tells the main
 * thread which schedule fired and ends. Starting runs stays on the main thread (the store's owner).
 */
import { parentPort, workerData } from 'node:worker_threads';

const { workflow } = workerData as { workflow: string };
parentPort?.postMessage({ type: 'tick', workflow, at: Date.now() });
parentPort?.postMessage('done');
