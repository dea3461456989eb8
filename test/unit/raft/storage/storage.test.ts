import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftStorage } from '../../../../src/control/raft/storage/storage.js';
import { ENTRY_CONF_CHANGE, mustSync, type ConfState } from '../../../../src/control/raft/storage/types.js';
import { MemFs, describe, entry, hs, range, saltSource } from './helpers.js';

function open(fs = new MemFs(), segmentBytes?: number): { fs: MemFs; s: RaftStorage } {
  return { fs, s: RaftStorage.open('/n', fs, { randomU32: saltSource(), ...(segmentBytes ? { segmentBytes } : {}) }) };
}

test('fresh storage: empty state, index 0 is the (empty) snapshot', () => {
  const { s } = open();
  assert.deepEqual(s.initialState(), { hardState: hs(0, 0, 0), confState: { voters: [], learners: [] } });
  assert.equal(s.firstIndex(), 1);
  assert.equal(s.lastIndex(), 0);
  assert.equal(s.term(0), 0);
  assert.deepEqual(s.entries(1, 1), []);
  assert.throws(() => s.term(1), { code: 'VXM_ERR_RAFT_UNAVAILABLE' });
});

test('entries/term/firstIndex/lastIndex follow etcd raft Storage, with coded errors', () => {
  const { s } = open();
  s.save(hs(3, 1, 0), [...range(1, 4, 1), ...range(5, 8, 3)]);
  assert.equal(s.term(4), 1);
  assert.equal(s.term(5), 3);
  assert.deepEqual(describe(s.entries(3, 6)), describe([entry(3, 1), entry(4, 1), entry(5, 3)]));
  assert.throws(() => s.entries(0, 3), { code: 'VXM_ERR_RAFT_COMPACTED' });
  assert.throws(() => s.entries(3, 10), { code: 'VXM_ERR_RAFT_UNAVAILABLE' });
  // maxBytes: at least one entry; then whole entries while they fit (24 + data bytes each).
  const one = 24 + entry(1, 1).data.length;
  assert.equal(s.entries(1, 9, 0).length, 1);
  assert.equal(s.entries(1, 9, one * 3).length, 3);
  assert.equal(s.entries(1, 9, one * 3 - 1).length, 2);
  assert.throws(() => s.save(null, [entry(11, 3)]), { code: 'VXM_ERR_RAFT_UNAVAILABLE' }, 'a gap is refused');
  assert.throws(() => s.save(null, [entry(9, 3), entry(11, 3)]), { code: 'VXM_ERR_RAFT_UNAVAILABLE' });
});

test('append with a conflict replaces the tail in memory and after reopen', () => {
  const { fs, s } = open();
  s.append(range(1, 10, 1));
  s.append(range(7, 8, 2));
  const want = describe([...range(1, 6, 1), ...range(7, 8, 2)]);
  assert.deepEqual(describe(s.entries(1, s.lastIndex() + 1)), want);
  s.close();
  const r = RaftStorage.open('/n', fs);
  assert.deepEqual(describe(r.entries(1, r.lastIndex() + 1)), want);
});

test('mustSync: term/vote change or new entries; commit alone does not sync', () => {
  assert.equal(mustSync(hs(1, 1, 1), hs(1, 1, 5), 0), false);
  assert.equal(mustSync(hs(1, 1, 1), hs(2, 1, 1), 0), true);
  assert.equal(mustSync(hs(1, 1, 1), hs(1, 2, 1), 0), true);
  assert.equal(mustSync(hs(1, 1, 1), hs(1, 1, 1), 1), true);
  const { fs, s } = open();
  const before = fs.stats.fdatasyncs;
  s.setHardState(hs(0, 0, 0));
  s.setHardState(hs(1, 0, 0));
  assert.equal(fs.stats.fdatasyncs, before + 1);
  s.append([entry(1, 1)]);
  s.setHardState(hs(1, 0, 1));
  assert.equal(fs.stats.fdatasyncs, before + 2);
});

test('compaction drops the prefix and releases WAL segments covered by the snapshot', () => {
  const { fs, s } = open(new MemFs(), 1024);
  for (let i = 1; i <= 100; i++) s.save(hs(1, 1, i), [entry(i, 1, 'c'.repeat(60))]);
  const segs = s.wal.segmentNames().length;
  assert.ok(segs > 5);
  s.createSnapshot(80, { voters: [1, 2, 3], learners: [] }, new Uint8Array([1, 2, 3]));
  assert.throws(() => s.compact(81), { code: 'VXM_ERR_RAFT_UNAVAILABLE' }, 'only what a snapshot covers');
  s.compact(70); // keep catch-up entries after... before the snapshot
  assert.equal(s.firstIndex(), 71);
  assert.equal(s.term(70), 1);
  assert.throws(() => s.term(69), { code: 'VXM_ERR_RAFT_COMPACTED' });
  assert.throws(() => s.compact(70), { code: 'VXM_ERR_RAFT_COMPACTED' });
  const after = s.wal.segmentNames();
  assert.ok(after.length < segs, `${segs} -> ${after.length} segments`);
  assert.deepEqual(fs.readdir('/n/wal'), after);
  s.close();
  const r = RaftStorage.open('/n', fs, { segmentBytes: 1024 });
  assert.equal(r.snapshot().meta.index, 80);
  assert.deepEqual(r.initialState().confState.voters, [1, 2, 3]);
  assert.equal(r.firstIndex(), 81);
  assert.equal(r.lastIndex(), 100);
  assert.deepEqual(r.initialState().hardState, hs(1, 1, 100));
});

test('applySnapshot: out of date refused; matching log suffix kept; otherwise the log is replaced', () => {
  const { fs, s } = open();
  s.save(hs(2, 1, 5), [...range(1, 5, 1), ...range(6, 10, 2)]);
  assert.throws(() => s.applySnapshot({ meta: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: new Uint8Array(0) }), {
    code: 'VXM_ERR_RAFT_SNAP_OUT_OF_DATE',
  });
  s.applySnapshot({ meta: { index: 7, term: 2, conf: { voters: [1, 2], learners: [] } }, data: new Uint8Array([7]) });
  assert.equal(s.firstIndex(), 8);
  assert.equal(s.lastIndex(), 10);
  s.applySnapshot({ meta: { index: 9, term: 5, conf: { voters: [1, 2], learners: [] } }, data: new Uint8Array([9]) });
  assert.equal(s.firstIndex(), 10);
  assert.equal(s.lastIndex(), 9, 'entry 9 had term 2: log replaced');
  s.save(hs(5, 0, 9), [entry(10, 5)]);
  s.close();
  const r = RaftStorage.open('/n', fs);
  assert.equal(r.snapshot().meta.index, 9);
  assert.deepEqual(describe(r.entries(10, 11)), describe([entry(10, 5)]));
});

test('forceNewCluster: drops uncommitted entries, appends a committed conf entry making self the only voter', () => {
  const { fs, s } = open();
  s.save(hs(4, 2, 6), range(1, 9, 4));
  s.createSnapshot(3, { voters: [1, 2, 3], learners: [4] }, new Uint8Array([3]));
  s.close();
  const r = RaftStorage.open('/n', fs);
  const encode = (c: ConfState): Uint8Array => new TextEncoder().encode(JSON.stringify(c));
  const e = r.forceNewCluster(2, encode);
  assert.deepEqual({ index: e.index, term: e.term, type: e.type }, { index: 7, term: 4, type: ENTRY_CONF_CHANGE });
  assert.equal(r.lastIndex(), 7);
  assert.deepEqual(r.initialState().hardState, hs(4, 2, 7));
  r.close();
  const again = RaftStorage.open('/n', fs);
  assert.equal(again.lastIndex(), 7, 'uncommitted 8..9 stay dropped after replay');
  assert.deepEqual(again.initialState().hardState, hs(4, 2, 7));
  const last = again.entries(7, 8)[0]!;
  assert.equal(last.type, ENTRY_CONF_CHANGE);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(last.data)), { voters: [2], learners: [] });
  assert.deepEqual(describe(again.entries(4, 7)), describe(range(4, 6, 4)), 'committed entries kept');
});

test('createSnapshot refuses indexes beyond commit', () => {
  const { s } = open();
  s.save(hs(1, 1, 3), range(1, 5, 1));
  assert.throws(() => s.createSnapshot(4, { voters: [1], learners: [] }, new Uint8Array(0)), { code: 'VXM_ERR_RAFT_UNAVAILABLE' });
  s.createSnapshot(3, { voters: [1], learners: [] }, new Uint8Array(0));
  assert.throws(() => s.createSnapshot(3, { voters: [1], learners: [] }, new Uint8Array(0)), { code: 'VXM_ERR_RAFT_SNAP_OUT_OF_DATE' });
});
