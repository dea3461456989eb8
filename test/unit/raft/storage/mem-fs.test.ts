import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openWal, type Wal } from '../../../../src/control/raft/storage/wal.js';
import { RaftStorage } from '../../../../src/control/raft/storage/storage.js';
import type { Entry, HardState } from '../../../../src/control/raft/storage/types.js';
import { MemFs, describe, saltSource, seededRng } from './helpers.js';

test('mem-fs: unsynced data and unsynced directory ops are lost on crash', () => {
  const fs = new MemFs();
  fs.mkdirp('/d');
  const fd = fs.openWrite('/d/a', true);
  fs.write(fd, new Uint8Array([1, 2, 3]), 0);
  fs.fdatasync(fd);
  fs.write(fd, new Uint8Array([4, 5]), 3);
  fs.crash(seededRng(1), { keepUnsynced: false });
  assert.deepEqual(fs.readdir('/d'), [], 'create was not dir-synced');

  const fd2 = fs.openWrite('/d/b', true);
  fs.write(fd2, new Uint8Array([1, 2, 3]), 0);
  fs.fdatasync(fd2);
  fs.fsyncDir('/d');
  fs.write(fd2, new Uint8Array([4, 5]), 3);
  fs.rename('/d/b', '/d/c');
  fs.crash(seededRng(1), { keepUnsynced: false });
  assert.deepEqual(fs.readdir('/d'), ['b']);
  assert.deepEqual([...fs.readFile('/d/b')], [1, 2, 3]);
  assert.throws(() => fs.write(fd2, new Uint8Array(1), 0), { code: 'EBADF' });
});

test('mem-fs: crash with keepUnsynced keeps an in-order prefix, possibly torn, deterministically per seed', () => {
  const outcomes = new Set<string>();
  for (let seed = 1; seed <= 200; seed++) {
    const run = (): string => {
      const fs = new MemFs();
      fs.mkdirp('/d');
      const fd = fs.openWrite('/d/a', true);
      fs.fsyncDir('/d');
      fs.write(fd, new Uint8Array([1, 1, 1, 1]), 0);
      fs.fdatasync(fd);
      fs.write(fd, new Uint8Array([2, 2, 2, 2]), 4);
      fs.write(fd, new Uint8Array([3, 3, 3, 3]), 8);
      fs.crash(seededRng(seed));
      return Buffer.from(fs.readFile('/d/a')).toString('hex');
    };
    const a = run();
    assert.equal(run(), a, 'same seed, same outcome');
    // durable 01x4, then: a torn prefix of write 2 (its bytes or zeros), or write 2 whole and a
    // torn prefix of write 3, or both whole.
    assert.match(a, /^01010101((02){0,3}|(00){1,3}|02020202((03){0,4}|(00){1,3}))$/, a);
    outcomes.add(a);
  }
  assert.ok(outcomes.size >= 6, `varied outcomes: ${[...outcomes].join(' ')}`);
});

/** Reference replay of a record list: the spec the WAL must meet. */
type Rec = { kind: 'e'; e: Entry } | { kind: 'hs'; hs: HardState };
function referenceReplay(recs: readonly Rec[]): { entries: Entry[]; hs: HardState } {
  let entries: Entry[] = [];
  let hs: HardState = { term: 0, vote: 0, commit: 0 };
  for (const r of recs) {
    if (r.kind === 'hs') hs = r.hs;
    else {
      const first = entries.length > 0 ? entries[0]!.index : r.e.index;
      entries = entries.slice(0, r.e.index - first);
      entries.push(r.e);
    }
  }
  return { entries, hs };
}

function key(s: { entries: Entry[]; hs: HardState }): string {
  return JSON.stringify([describe(s.entries), s.hs]);
}

test('crash simulation: synced saves survive, unsynced ones are a prefix, recovery never throws', () => {
  const runs = 150;
  let recoveredUnsynced = 0;
  let lostUnsynced = 0;
  for (let seed = 1; seed <= runs; seed++) {
    const rng = seededRng(seed);
    const fs = new MemFs();
    const dir = '/n/wal';
    const opts = { segmentBytes: 700 + Math.floor(rng() * 2000), randomU32: saltSource(seed) };
    let wal: Wal = openWal(dir, fs, opts).wal;
    const records: Rec[] = []; // everything written, in order
    let synced = 0; // records[0, synced) are durable
    let term = 1;
    for (let round = 0; round < 4; round++) {
      const ops = 1 + Math.floor(rng() * 12);
      for (let op = 0; op < ops; op++) {
        const cur = referenceReplay(records);
        const last = cur.entries.length > 0 ? cur.entries[cur.entries.length - 1]!.index : 0;
        // Sometimes rewrite the tail (a new leader's entries), else append.
        let start = last + 1;
        if (last > 2 && rng() < 0.2) {
          start = last - Math.floor(rng() * Math.min(last - 1, 5));
          term++;
        }
        const n = Math.floor(rng() * 5);
        const es: Entry[] = [];
        for (let i = 0; i < n; i++) {
          const data = new Uint8Array(Math.floor(rng() * 200)).map(() => Math.floor(rng() * 256));
          es.push({ index: start + i, term, type: rng() < 0.1 ? 1 : 0, data });
        }
        const h: HardState | null = rng() < 0.6 ? { term, vote: 1 + Math.floor(rng() * 3), commit: Math.max(0, last - 2) } : null;
        const sync = rng() < 0.5;
        const cutsBefore = wal.counters.segmentsCut;
        wal.save(h, es, { sync });
        for (const e of es) records.push({ kind: 'e', e });
        if (h) records.push({ kind: 'hs', hs: h });
        if ((sync && (es.length > 0 || h)) || wal.counters.segmentsCut > cutsBefore) synced = records.length;
      }
      // Power cut, then recover.
      fs.crash(rng, { keepUnsynced: rng() < 0.8 });
      const { wal: reopened, replay } = openWal(dir, fs, opts);
      wal = reopened;
      const got = key({ entries: replay.entries, hs: replay.hardState });
      // The recovered state must be the replay of the durable records plus some prefix of the
      // unsynced ones (a torn record counts as absent).
      let match = -1;
      for (let j = synced; j <= records.length; j++) {
        if (key(referenceReplay(records.slice(0, j))) === got) {
          match = j;
          break;
        }
      }
      assert.ok(match >= 0, `seed ${seed} round ${round}: recovered state is not a prefix state; got ${got}`);
      if (match > synced) recoveredUnsynced++;
      if (match < records.length) lostUnsynced++;
      records.length = match;
      synced = match;
    }
    wal.close();
  }
  // Both outcomes were exercised (the test can fail in either direction).
  assert.ok(recoveredUnsynced > 10, `some unsynced records survived: ${recoveredUnsynced}`);
  assert.ok(lostUnsynced > 10, `some unsynced records were lost: ${lostUnsynced}`);
});

test('crash simulation through RaftStorage with snapshots and compaction', () => {
  let released = 0;
  let compactions = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const rng = seededRng(1000 + seed);
    const fs = new MemFs();
    const opts = { segmentBytes: 800, keepSnapshots: 1 + Math.floor(rng() * 3), randomU32: saltSource(seed) };
    let s = RaftStorage.open('/n', fs, opts);
    let expectLast = 0;
    let expectSnap = 0;
    let ackCommit = 0;
    for (let round = 0; round < 3; round++) {
      for (let op = 0; op < 25; op++) {
        const r = rng();
        const last = s.lastIndex();
        if (r < 0.6) {
          const n = 1 + Math.floor(rng() * 4);
          const es: Entry[] = [];
          for (let i = 1; i <= n; i++) es.push({ index: last + i, term: 1, type: 0, data: new Uint8Array(30).fill(i) });
          s.append(es); // synced
          expectLast = last + n;
        } else if (r < 0.8) {
          const commit = last;
          s.setHardState({ term: 1, vote: 1, commit }); // commit-only change: not synced
          if (rng() < 0.3) {
            s.wal.sync();
            ackCommit = commit;
          }
        } else if (s.hardStateNow().commit > s.snapshot().meta.index) {
          const at = s.hardStateNow().commit;
          s.createSnapshot(at, { voters: [1], learners: [] }, new Uint8Array([at & 0xff]));
          expectSnap = at;
          ackCommit = Math.max(ackCommit, at);
          if (rng() < 0.7) {
            s.compact(at - Math.floor(rng() * Math.min(3, at - s.firstIndex())));
            compactions++;
          }
        }
      }
      released += s.wal.counters.segmentsReleased;
      fs.crash(rng);
      s = RaftStorage.open('/n', fs, opts);
      assert.equal(s.lastIndex(), expectLast, `seed ${seed}: every synced append survives`);
      assert.equal(s.snapshot().meta.index, expectSnap, `seed ${seed}: the acknowledged snapshot is used`);
      assert.deepEqual([...s.snapshot().data], expectSnap ? [expectSnap & 0xff] : []);
      assert.ok(s.hardStateNow().commit >= ackCommit, `seed ${seed}: commit ${s.hardStateNow().commit} >= ${ackCommit}`);
      const es = s.entries(s.firstIndex(), s.lastIndex() + 1);
      es.forEach((e, i) => assert.equal(e.index, s.firstIndex() + i));
      ackCommit = s.hardStateNow().commit;
    }
    s.close();
  }
  assert.ok(compactions > 50 && released > 20, `compactions ${compactions}, segments released ${released}`);
});
