// Against the real disk (NodeFs) in a temp dir; also prints (does not assert) fdatasync latency
// and batched throughput, so a run shows what a Raft Ready costs on this machine.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeFs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NodeFs } from '../../../../src/control/raft/storage/fs.js';
import { RaftStorage } from '../../../../src/control/raft/storage/storage.js';
import { openWal } from '../../../../src/control/raft/storage/wal.js';
import { describe, entry, hs, range } from './helpers.js';

const root = nodeFs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-raftstore-'));
after(() => nodeFs.rmSync(root, { recursive: true, force: true }));

test('real disk: write, rotate, snapshot, compact, reopen', () => {
  const dir = path.join(root, 'a');
  const fs = new NodeFs();
  const s = RaftStorage.open(dir, fs, { segmentBytes: 4096 });
  for (let i = 1; i <= 200; i++) s.save(hs(1, 1, i), [entry(i, 1, 'd'.repeat(50))]);
  s.createSnapshot(150, { voters: [1, 2, 3], learners: [] }, new Uint8Array(1000).fill(7));
  s.compact(150);
  const segs = s.wal.segmentNames();
  assert.ok(s.wal.counters.segmentsReleased > 0);
  s.close();
  assert.deepEqual(nodeFs.readdirSync(path.join(dir, 'wal')).sort(), segs);
  const r = RaftStorage.open(dir, fs, { segmentBytes: 4096 });
  assert.equal(r.firstIndex(), 151);
  assert.equal(r.lastIndex(), 200);
  assert.deepEqual(r.snapshot().data, new Uint8Array(1000).fill(7));
  assert.deepEqual(describe(r.entries(199, 201)), describe([entry(199, 1, 'd'.repeat(50)), entry(200, 1, 'd'.repeat(50))]));
  r.close();
});

test('real disk: a torn tail is truncated, a corrupt middle record is refused', () => {
  const dir = path.join(root, 'b');
  const fs = new NodeFs();
  const { wal } = openWal(dir, fs);
  wal.save(hs(1, 1, 0), range(1, 5, 1), { sync: true });
  wal.close();
  const file = path.join(dir, wal.segmentNames()[0]!);
  const good = nodeFs.statSync(file).size;
  nodeFs.appendFileSync(file, Buffer.from([40, 0, 0, 0, 2, 0, 0, 0, 1, 2])); // a partial record
  const a = openWal(dir, fs);
  assert.equal(a.replay.entries.length, 5);
  assert.equal(nodeFs.statSync(file).size, good);
  a.wal.close();
  const bytes = nodeFs.readFileSync(file);
  bytes[good - 90]! ^= 0x40; // inside entry 3 or 4, with valid records after it
  nodeFs.writeFileSync(file, bytes);
  assert.throws(() => openWal(dir, fs), { code: 'VXM_ERR_WAL_CORRUPT' });
});

test('real disk: append+fdatasync latency and batched throughput (printed)', () => {
  const dir = path.join(root, 'bench');
  const fs = new NodeFs();
  const { wal } = openWal(dir, fs);
  const data = new Uint8Array(100).fill(0x61);
  const n = 200;
  const lat = new Float64Array(n);
  let index = 0;
  for (let i = 0; i < n; i++) {
    index++;
    const t0 = process.hrtime.bigint();
    wal.save({ term: 1, vote: 1, commit: index - 1 }, [{ term: 1, index, type: 0, data }], { sync: true });
    lat[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  lat.sort();
  const batches = 100;
  const batch = 64;
  const t0 = process.hrtime.bigint();
  for (let b = 0; b < batches; b++) {
    const es = [];
    for (let j = 0; j < batch; j++) es.push({ term: 1, index: ++index, type: 0, data });
    wal.save({ term: 1, vote: 1, commit: index - batch }, es, { sync: true });
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  wal.close();
  console.log(
    `raft WAL on ${os.tmpdir()}: 100-byte entry + hard state, one fdatasync each: ` +
      `p50 ${lat[n >> 1]!.toFixed(0)} us, p99 ${lat[Math.floor(n * 0.99)]!.toFixed(0)} us (n=${n}); ` +
      `batched ${batch}/sync: ${Math.round((batches * batch) / secs)} entries/s (${((secs / batches) * 1e3).toFixed(2)} ms per sync)`,
  );
  const { replay } = openWal(dir, fs);
  assert.equal(replay.entries.length, index);
});
