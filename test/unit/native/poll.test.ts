// native.poll / pollStop on the env's own libuv loop, and the addon in worker threads.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { openSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import dgram from 'node:dgram';

import { native, stats } from './harness.js';
import { childScript } from './helpers.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('poll: level-triggered callbacks while readable, none after pollStop; pollStop is idempotent', async () => {
  const b = native.udpOpen('127.0.0.1', 0, 0, 0);
  const s = dgram.createSocket('udp4');
  try {
    let calls = 0;
    const h = native.poll(b.fd, () => {
      calls++;
    });
    assert.equal(h.fd, b.fd);
    await sleep(30);
    assert.equal(calls, 0, 'not readable yet');
    s.send(Buffer.from('ping'), b.port, '127.0.0.1');
    for (let i = 0; i < 100 && calls < 3; i++) await sleep(5);
    assert.ok(calls >= 3, `called again while the datagram stays unread (${calls})`);
    native.pollStop(h);
    const after = calls;
    await sleep(30);
    assert.equal(calls, after, 'no calls after pollStop');
    native.pollStop(h);
  } finally {
    s.close();
    native.close(b.fd);
  }
});

test('poll: errors carry code and syscall; bad arguments throw TypeError', () => {
  assert.throws(() => native.poll(1_000_000, () => {}), { code: 'EBADF', syscall: 'uv_poll_init', fd: 1_000_000 });
  const f = join(tmpdir(), `vxm-poll-${process.pid}`);
  const fd = openSync(f, 'w');
  try {
    assert.throws(() => native.poll(fd, () => {}), { code: 'EPERM', syscall: 'uv_poll_init' }); // epoll refuses regular files
  } finally {
    closeSync(fd);
    rmSync(f, { force: true });
  }
  assert.throws(() => native.poll(0, 'nope' as unknown as () => void), TypeError);
  assert.throws(() => native.pollStop(undefined as unknown as { fd: number }), TypeError);
  native.pollStop({ fd: 0 }); // not one of ours: ignored
});

test('poll: an exception thrown by onReadable is reported as uncaught', async () => {
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [childScript, 'poll-throws'], { timeout: 10_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
  );
  assert.deepEqual(JSON.parse(out.trim().split('\n').pop()!), { message: 'boom from onReadable' });
});

test('worker_threads: each worker has its own addon instance and counters', async () => {
  const mainBefore = Float64Array.from(stats);
  const run = (): Promise<{ sent: number; got: number; stats: number[]; csum: number }> =>
    new Promise((resolve, reject) => {
      const w = new Worker(new URL('./fixtures/worker.js', import.meta.url), { workerData: { mode: 'send' } });
      w.once('message', (m) => {
        resolve(m as { sent: number; got: number; stats: number[]; csum: number });
        void w.terminate();
      });
      w.once('error', reject);
    });
  const [r1, r2] = await Promise.all([run(), run()]);
  for (const r of [r1, r2]) {
    assert.equal(r.sent, 8);
    assert.equal(r.got, 8);
    assert.equal(r.csum, 0x220d);
    assert.equal(r.stats[8], 1, 'udp_sends counted in the worker\'s own array');
    assert.equal(r.stats[12], 1, 'udp_recvs');
  }
  assert.deepEqual(Array.from(stats), Array.from(mainBefore), 'the main thread\'s counters did not move');
});

test('worker_threads: terminating a worker with an active poll handle tears down cleanly', async () => {
  for (let i = 0; i < 3; i++) {
    const w = new Worker(new URL('./fixtures/worker.js', import.meta.url), { workerData: { mode: 'poll-forever' } });
    await new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
    });
    const code = await w.terminate();
    assert.equal(code, 1);
  }
});
