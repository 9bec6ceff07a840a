import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/client/client.js';
import { cli, daemonPid, tempHome, waitFor, waitGone, type TempHome } from '../support/home.js';
import { RawPeer } from '../support/raw-socket.js';

let h: TempHome;
let peers: RawPeer[] = [];
const sock = (): string => join(h.home, 'run', 'opstream.sock');
async function peer(): Promise<RawPeer> {
  const p = await RawPeer.open(sock());
  peers.push(p);
  return p;
}

beforeEach(async () => {
  h = tempHome();
  expect((await cli(['daemon', 'start'], h.env)).code).toBe(0);
});
afterEach(async () => {
  for (const p of peers) p.close();
  peers = [];
  await h.cleanup();
});

/** After any bad frame: the same connection still answers, and so does a fresh one. */
async function stillServing(p: RawPeer): Promise<void> {
  p.request(99, 'ping', {});
  expect(await p.next()).toMatchObject({ id: 99, result: { t: expect.any(Number) } });
  const other = await peer();
  await other.hello();
  other.request('o', 'daemon.status', {});
  expect(await other.next()).toMatchObject({ id: 'o', result: { pid: daemonPid(h.home) } });
}

describe('protocol edge: every bad frame gets an error reply and nothing else changes', () => {
  it('garbage and invalid JSON', async () => {
    const p = await peer();
    await p.hello();
    p.send('this is not json\n');
    expect(await p.next()).toMatchObject({ id: null, error: { code: 'bad_json', retryable: false } });
    p.send(Buffer.from([0xff, 0xfe, 0x00, 0x10, 0x0a]));
    expect(await p.next()).toMatchObject({ id: null, error: { code: 'bad_json' } });
    await stillServing(p);
  });

  it('a 10 MB frame is refused as soon as it passes the cap, and the connection recovers at the next newline', async () => {
    const p = await peer();
    await p.hello();
    const big = Buffer.alloc(10 * 1024 * 1024, 0x61);
    p.send(big);
    expect(await p.next()).toMatchObject({ id: null, error: { code: 'frame_too_large' } });
    p.send('\n');
    await stillServing(p);
  });

  it('unknown method, wrong envelope, schema failure, and requests before hello', async () => {
    const p = await peer();
    p.request(1, 'daemon.status', {});
    expect(await p.next()).toMatchObject({ id: 1, error: { code: 'invalid_request', message: 'send hello first' } });
    await p.hello();
    p.request(2, 'no.such.method', {});
    expect(await p.next()).toMatchObject({ id: 2, error: { code: 'unknown_method', message: 'unknown method "no.such.method"' } });
    p.send('{"id":3}\n');
    expect(await p.next()).toMatchObject({ id: 3, error: { code: 'invalid_request' } });
    p.send('[1,2,3]\n');
    expect(await p.next()).toMatchObject({ id: null, error: { code: 'invalid_request' } });
    p.request(4, 'memory.set', { key: '', value: 1 });
    expect(await p.next()).toMatchObject({ id: 4, error: { code: 'invalid_params', message: expect.stringContaining('key: ') } });
    p.request(5, 'daemon.status', { surprise: true });
    expect(await p.next()).toMatchObject({ id: 5, error: { code: 'invalid_params' } });
    await stillServing(p);
    // none of the refused requests wrote anything
    p.request(6, 'memory.list', {});
    expect(await p.next()).toMatchObject({ id: 6, result: { items: [] } });
  });

  it('a client that disconnects mid-request does not disturb the daemon or other clients', async () => {
    const watcher = await peer();
    await watcher.hello();
    for (let i = 0; i < 20; i++) {
      const p = await peer();
      p.send(`${JSON.stringify({ id: 1, method: 'hello', params: { protocol: 1, version: 'x' } })}\n${JSON.stringify({ id: 2, method: 'memory.set', params: { key: `k${i}`, value: i } })}\n`);
      p.close();
    }
    // half a frame, then gone
    const half = await peer();
    half.send('{"id":1,"method":"hel');
    half.close();
    await stillServing(watcher);
  });
});

describe('durability and audit', () => {
  it('a write acknowledged at the socket survives kill -9, with its audit entry', async () => {
    const c = await DaemonClient.connect({ env: h.env, autoStart: false });
    await c.request('memory.set', { key: 'service/web', value: { owner: 'ops', threshold: 250 } });
    const pid = daemonPid(h.home)!;
    process.kill(pid, 'SIGKILL');
    await waitGone(pid);
    c.close();
    const c2 = await DaemonClient.connect({ env: h.env });
    expect(c2.hello.pid).not.toBe(pid);
    expect(await c2.request('memory.get', { key: 'service/web' })).toMatchObject({ value: { owner: 'ops', threshold: 250 } });
    const audit = await c2.request('audit.list', {});
    expect(audit.items[0]).toMatchObject({ actor: expect.stringMatching(/^cli:/), action: 'memory.set', target: 'memory:service/web' });
    c2.close();
  });

  it('an idle daemon of another version is replaced; the audit trail records it', async () => {
    expect((await cli(['daemon', 'stop'], h.env)).code).toBe(0);
    const old = await cli(['daemon', 'start', '--json'], { ...h.env, OPSTREAM_TEST_PACKAGE_VERSION: '0.0.1-old' });
    const oldPid = JSON.parse(old.stdout).pid;
    const st = await cli(['daemon', 'status', '--json'], h.env);
    expect(JSON.parse(st.stdout).version).toBe('0.0.1-old');
    const r = await cli(['status', '--json'], h.env);
    expect(r.code, r.stderr).toBe(0);
    const now = JSON.parse(r.stdout).daemon;
    expect(now.pid).not.toBe(oldPid);
    expect(now.version).not.toBe('0.0.1-old');
    const c = await DaemonClient.connect({ env: h.env });
    const audit = await c.request('audit.list', {});
    expect(audit.items.map((a) => a.action)).toContain('daemon.shutdown');
    c.close();
  });
});

describe('version mismatch with active runs', () => {
  it('leaves a busy daemon of another version alone and says exactly what to run; the run survives the switch', async () => {
    expect((await cli(['daemon', 'stop'], h.env)).code).toBe(0);
    const oldEnv = { ...h.env, OPSTREAM_TEST_PACKAGE_VERSION: '0.0.1-old' };
    expect((await cli(['daemon', 'start'], oldEnv)).code).toBe(0);
    const started = await cli(['start', 'hello', 'to=mismatch', 'pause=1h', '--json'], oldEnv);
    expect(started.code, started.stderr).toBe(0);
    const id = JSON.parse(started.stdout).id as string;

    const refused = await cli(['status'], h.env);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/running daemon is version 0\.0\.1-old .* has 1 active run\(s\).*run `opstream daemon stop` and then repeat this command/);
    // nothing was stopped: the old daemon still serves its run, which goes on to its pause (it
    // may still be on its first step when the refusal came)
    await waitFor(async () => JSON.parse((await cli(['status', id, '--json'], oldEnv)).stdout).status === 'waiting', { what: 'the run to reach its pause on the old daemon' });

    expect((await cli(['daemon', 'stop'], h.env)).code).toBe(0);
    const after = await cli(['status', id, '--json'], h.env);
    expect(after.code, after.stderr).toBe(0);
    expect(JSON.parse(after.stdout)).toMatchObject({ id, status: 'waiting', current_step: 'pause' });
    const daemon = await cli(['daemon', 'status', '--json'], h.env);
    expect(JSON.parse(daemon.stdout).version).not.toBe('0.0.1-old');
  });

  it('an unknown run id is a one-line not-found error that changes nothing', async () => {
    const r = await cli(['status', 'r_nope99'], h.env);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^opstream: .*r_nope99/);
    for (const verb of ['pause', 'resume', 'cancel', 'approve']) {
      const x = await cli([verb, 'r_nope99'], h.env);
      expect(x.code).toBe(1);
      expect(x.stderr).toMatch(/r_nope99/);
    }
    const c = await DaemonClient.connect({ env: h.env });
    expect((await c.request('audit.list', {})).items).toEqual([]);
    c.close();
  });
});
