// The dashboard as `opstream dashboard` runs it (the same App and feed), drawing to a stand-in
// terminal (120x40) in its own process, so its frame times, lag and RSS are its own. Driven by
// bench/dashboard.bench.js over IPC: 'stop' -> it sends its figures and exits.
for (const k of ['CI', 'CONTINUOUS_INTEGRATION']) delete process.env[k];
// as `opstream dashboard` runs it: React's production build
process.env.NODE_ENV = 'production';
const { Writable, PassThrough } = await import('node:stream');
const React = (await import('react')).default;
const { render } = await import('ink');
const { App, DashboardFeed } = await import('../dist/ui/dashboard/index.js');

const frames = [];
const lags = [];
const e2e = [];
let items = 0;
let bytes = 0;
let maxRss = 0;
const feed = new DashboardFeed({ env: process.env, autoStart: false });
await feed.start();
const model = feed.model;
// end-to-end: the daemon's commit time of each run event, until the frame that follows it is written
let pendingAt = [];
const apply = model.apply.bind(model);
model.apply = (item) => {
  items++;
  if (item.topic === 'runs') pendingAt.push(Date.parse(item.data.at));
  apply(item);
};

const stdout = new Writable({
  write(chunk, _enc, cb) {
    bytes += chunk.length;
    const t = performance.now();
    if (model.pendingSince !== null) {
      lags.push(t - model.pendingSince);
      model.pendingSince = null;
    }
    const now = Date.now();
    for (const at of pendingAt) e2e.push(now - at);
    pendingAt = [];
    cb();
  },
});
Object.assign(stdout, { isTTY: true, columns: 120, rows: 40 });
const stdin = new PassThrough();
Object.assign(stdin, { isTTY: true, setRawMode() {}, ref() {}, unref() {} });
const app = render(React.createElement(App, { feed, tickMs: 1000 }), { stdout, stdin, patchConsole: false, exitOnCtrlC: false, maxFps: 30, onRender: ({ renderTime }) => frames.push(renderTime) });
const rssTimer = setInterval(() => (maxRss = Math.max(maxRss, process.memoryUsage().rss)), 200);
const cpu0 = process.cpuUsage();
process.send({ ready: true, runs: model.runs.size });
process.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(rssTimer);
  maxRss = Math.max(maxRss, process.memoryUsage().rss);
  app.unmount();
  feed.close();
  const cpu = process.cpuUsage(cpu0);
  const heap = process.memoryUsage().heapUsed;
  process.send({ frames, lags, e2e, items, bytes, rss: maxRss, heap, cpuMs: (cpu.user + cpu.system) / 1000, runs: model.runs.size }, () => process.exit(0));
});
