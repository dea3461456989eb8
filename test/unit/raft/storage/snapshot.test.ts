import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Snapshotter, decodeSnapshot, encodeSnapshot, snapshotName } from '../../../../src/control/raft/storage/snapshot.js';
import { RaftStorage } from '../../../../src/control/raft/storage/storage.js';
import type { Snapshot } from '../../../../src/control/raft/storage/types.js';
import { FaultFs, MemFs, PowerCut, range, saltSource, seededRng } from './helpers.js';

function snap(index: number, term: number, fill = index): Snapshot {
  return { meta: { index, term, conf: { voters: [1, 2, 3], learners: [7] } }, data: new Uint8Array(100).fill(fill & 0xff) };
}

test('snapshot codec round-trips and rejects any single flipped bit or truncation', () => {
  const s = snap(1234567890123, 42);
  const bytes = encodeSnapshot(s);
  assert.deepEqual(decodeSnapshot(bytes), s);
  for (let off = 0; off < bytes.length; off++) {
    const bad = bytes.slice();
    bad[off]! ^= 1 << (off % 8);
    assert.equal(decodeSnapshot(bad), undefined, `flip at ${off}`);
  }
  for (let len = 0; len < bytes.length; len++) assert.equal(decodeSnapshot(bytes.subarray(0, len)), undefined);
});

test('snapshotter: newest valid wins, a corrupt newest is skipped and counted, prune keeps N', () => {
  const fs = new MemFs();
  const sn = new Snapshotter('/s', fs);
  for (const i of [10, 20, 30, 40]) sn.save(snap(i, 2));
  assert.deepEqual(sn.list().map((f) => f.index), [40, 30, 20, 10]);
  assert.equal(sn.loadNewest()!.meta.index, 40);
  fs.corrupt(`/s/${snapshotName(2, 40)}`, 30, 0x08);
  assert.equal(sn.loadNewest()!.meta.index, 30);
  assert.equal(sn.counters.corruptSkipped, 1);
  assert.ok(fs.readdir('/s').includes(`${snapshotName(2, 40)}.broken`), 'kept for the operator');
  assert.equal(sn.prune(2), 1);
  assert.deepEqual(sn.list().map((f) => f.index), [30, 20]);
});

test('snapshot atomicity: a power cut at any step of createSnapshot leaves the previous one loadable', () => {
  let cutsSeen = 0;
  for (let failAt = 0; ; failAt++) {
    for (const keepUnsynced of [false, true]) {
      const mem = new MemFs();
      const fs = new FaultFs(mem);
      const opts = { randomU32: saltSource(), keepSnapshots: 1 };
      const s = RaftStorage.open('/n', fs, opts);
      s.save({ term: 2, vote: 1, commit: 20 }, range(1, 20, 2));
      s.createSnapshot(10, { voters: [1, 2, 3], learners: [] }, new Uint8Array([10]));
      s.compact(10);
      fs.calls = 0;
      fs.failAt = failAt;
      let done = false;
      try {
        s.createSnapshot(20, { voters: [1, 2], learners: [] }, new Uint8Array([20]));
        s.compact(20);
        done = true;
      } catch (err) {
        if (!(err instanceof PowerCut)) throw err;
      }
      if (done && keepUnsynced) return void assert.ok(cutsSeen > 6, `cut points tried: ${cutsSeen}`);
      if (!done) cutsSeen++;
      mem.crash(seededRng(failAt * 2 + (keepUnsynced ? 1 : 0)), { keepUnsynced });
      const r = RaftStorage.open('/n', mem, opts);
      const at = r.snapshot().meta.index;
      assert.ok(at === 10 || at === 20, `failAt ${failAt}: snapshot ${at}`);
      assert.deepEqual([...r.snapshot().data], [at]);
      assert.deepEqual(r.initialState().confState.voters, at === 10 ? [1, 2, 3] : [1, 2]);
      assert.equal(r.lastIndex(), 20);
      assert.deepEqual(r.entries(r.firstIndex(), 21).map((e) => e.index), range(r.firstIndex(), 20, 2).map((e) => e.index));
      if (done) assert.equal(at, 20, 'a completed createSnapshot is durable');
      r.close();
    }
  }
});

test('a snapshot file without its WAL marker (crash in between) is ignored and removed', () => {
  const fs = new MemFs();
  const s = RaftStorage.open('/n', fs, { randomU32: saltSource() });
  s.save({ term: 1, vote: 1, commit: 5 }, range(1, 5, 1));
  s.createSnapshot(3, { voters: [1], learners: [] }, new Uint8Array([3]));
  s.close();
  new Snapshotter('/n/snap', fs).save(snap(5, 1)); // as if the marker never made it
  const r = RaftStorage.open('/n', fs);
  assert.equal(r.snapshot().meta.index, 3);
  assert.equal(r.counters.snapshotOrphansRemoved, 1);
  assert.equal(new Snapshotter('/n/snap', fs).list().length, 1);
});

test('a corrupt newest snapshot falls back to the previous one with the WAL entries after it', () => {
  const fs = new MemFs();
  const opts = { randomU32: saltSource(), segmentBytes: 600, keepSnapshots: 2 };
  const s = RaftStorage.open('/n', fs, opts);
  for (const e of range(1, 60, 1, 40)) s.save({ term: 1, vote: 1, commit: e.index }, [e]);
  s.createSnapshot(30, { voters: [1], learners: [] }, new Uint8Array([30]));
  s.compact(30);
  s.createSnapshot(50, { voters: [1], learners: [] }, new Uint8Array([50]));
  s.compact(50);
  assert.ok(s.wal.counters.segmentsReleased > 0, 'segments up to the oldest kept snapshot were released');
  s.close();
  fs.corrupt(`/n/snap/${snapshotName(1, 50)}`, 40, 1);
  const r = RaftStorage.open('/n', fs, opts);
  assert.equal(r.counters.snapshotCorruptSkipped, 1);
  assert.equal(r.snapshot().meta.index, 30);
  assert.equal(r.firstIndex(), 31);
  assert.equal(r.lastIndex(), 60);
  assert.equal(r.entries(31, 61).length, 30);
});

test('with every snapshot unreadable and the log start released, open refuses with VXM_ERR_SNAPSHOT_MISSING', () => {
  const fs = new MemFs();
  const opts = { randomU32: saltSource(), segmentBytes: 600, keepSnapshots: 1 };
  const s = RaftStorage.open('/n', fs, opts);
  for (const e of range(1, 60, 1, 40)) s.save({ term: 1, vote: 1, commit: e.index }, [e]);
  s.createSnapshot(50, { voters: [1], learners: [] }, new Uint8Array([50]));
  s.compact(50);
  s.close();
  fs.corrupt(`/n/snap/${snapshotName(1, 50)}`, 40, 1);
  assert.throws(() => RaftStorage.open('/n', fs, opts), { code: 'VXM_ERR_SNAPSHOT_MISSING' });
});
