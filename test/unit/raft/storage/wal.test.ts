import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openWal, segmentName } from '../../../../src/control/raft/storage/wal.js';
import { crc32, crc32Table } from '../../../../src/control/raft/storage/crc.js';
import { WalCorruptError } from '../../../../src/control/raft/storage/errors.js';
import { MemFs, describe, entry, hs, range, saltSource, seededRng } from './helpers.js';

const DIR = '/data/wal';

/** A MemFs holding one durable segment file with `bytes`. */
function fsWithSegment(name: string, bytes: Uint8Array): MemFs {
  const fs = new MemFs();
  fs.mkdirp(DIR);
  const fd = fs.openWrite(`${DIR}/${name}`, true);
  fs.write(fd, bytes, 0);
  fs.fdatasync(fd);
  fs.close(fd);
  fs.fsyncDir(DIR);
  return fs;
}

/** Write entries 1..n one save (= one record) each; returns the file bytes and record ends. */
function buildLog(n: number): { bytes: Uint8Array; name: string; ends: number[] } {
  const fs = new MemFs();
  const { wal } = openWal(DIR, fs, { randomU32: saltSource() });
  const name = wal.segmentNames()[0]!;
  const ends: number[] = [fs.fileSize(`${DIR}/${name}`)];
  for (let i = 1; i <= n; i++) {
    wal.save(null, [entry(i, 1, 'x'.repeat(i * 3))], { sync: true });
    ends.push(fs.fileSize(`${DIR}/${name}`));
  }
  wal.close();
  return { bytes: fs.readFile(`${DIR}/${name}`), name, ends };
}

test('crc32: zlib and the table fallback agree, and chaining equals one pass', () => {
  const rng = seededRng(7);
  for (let n = 0; n < 300; n += 7) {
    const data = new Uint8Array(n).map(() => Math.floor(rng() * 256));
    assert.equal(crc32(data), crc32Table(data));
    const cut = Math.floor(n / 3);
    assert.equal(crc32(data.subarray(cut), crc32(data.subarray(0, cut))), crc32(data));
    assert.equal(crc32Table(data.subarray(cut), crc32Table(data.subarray(0, cut))), crc32(data));
  }
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926); // the CRC-32 check value
});

test('save and reopen returns the hard state and entries', () => {
  const fs = new MemFs();
  const a = openWal(DIR, fs, { randomU32: saltSource(), metadata: new Uint8Array([9, 9]) });
  assert.deepEqual(a.replay.entries, []);
  a.wal.save(hs(2, 3, 1), range(1, 5, 2), { sync: true });
  a.wal.save(hs(2, 3, 4), [], { sync: false });
  a.wal.close();
  const b = openWal(DIR, fs);
  assert.deepEqual(b.replay.hardState, hs(2, 3, 4));
  assert.deepEqual(describe(b.replay.entries), describe(range(1, 5, 2)));
  assert.deepEqual([...b.replay.metadata], [9, 9]);
  assert.equal(b.replay.snapshot, null);
});

test('a log cut at every byte offset of its last 3 records recovers exactly the complete records', () => {
  const n = 8;
  const { bytes, name, ends } = buildLog(n);
  const from = ends[n - 3]!;
  for (let cut = from; cut <= bytes.length; cut++) {
    const fs = fsWithSegment(name, bytes.subarray(0, cut));
    const complete = ends.filter((e) => e <= cut).length - 1; // records fully inside the cut
    const { wal, replay } = openWal(DIR, fs, { randomU32: saltSource(2) });
    assert.deepEqual(
      describe(replay.entries),
      describe(range(1, complete, 1).map((e) => entry(e.index, 1, 'x'.repeat(e.index * 3)))),
      `cut at ${cut}`,
    );
    assert.equal(fs.fileSize(`${DIR}/${name}`), ends[complete], `truncated to the last complete record (cut ${cut})`);
    // The repaired log accepts appends and replays them.
    wal.save(null, [entry(complete + 1, 2)], { sync: true });
    wal.close();
    const again = openWal(DIR, fs);
    assert.equal(again.replay.entries.length, complete + 1);
    assert.equal(again.replay.entries[complete]!.term, 2);
  }
});

test('zeroed space after the last record (preallocation) ends the log: kept, written into, replayed', () => {
  const { bytes, name, ends } = buildLog(4);
  const padded = new Uint8Array(bytes.length + 4096);
  padded.set(bytes);
  const fs = fsWithSegment(name, padded);
  const { wal, replay } = openWal(DIR, fs);
  assert.equal(replay.entries.length, 4);
  assert.equal(fs.fileSize(`${DIR}/${name}`), padded.length, 'the preallocated zeros stay');
  assert.equal(wal.counters.tornTailBytesTruncated, 0, 'zeros are not a torn record');
  wal.save(null, [entry(5, 2)], { sync: true });
  wal.close();
  assert.equal(fs.fileSize(`${DIR}/${name}`), padded.length, 'the append went into the zeros');
  assert.ok(ends[4]! < padded.length);
  const again = openWal(DIR, fs);
  assert.deepEqual(again.replay.entries.map((e) => [e.index, e.term]), [[1, 1], [2, 1], [3, 1], [4, 1], [5, 2]]);
});

test('preallocate: segments are extended to segmentBytes, and a torn record inside the zeros is cut at every byte offset', () => {
  const SEG = 8192;
  const fs = new MemFs();
  const { wal } = openWal(DIR, fs, { randomU32: saltSource(), preallocate: true, segmentBytes: SEG });
  const name = wal.segmentNames()[0]!;
  assert.equal(fs.fileSize(`${DIR}/${name}`), SEG, 'the new segment is preallocated');
  const ends: number[] = [];
  for (let i = 1; i <= 6; i++) {
    wal.save(null, [entry(i, 1, 'y'.repeat(i * 5))], { sync: true });
    ends.push(fs.readFile(`${DIR}/${name}`).findLastIndex((b) => b !== 0) + 1);
  }
  wal.close();
  assert.equal(fs.fileSize(`${DIR}/${name}`), SEG, 'appends do not change the size');
  const full = fs.readFile(`${DIR}/${name}`);
  // Each cut keeps the bytes before it and zeros after it, as a crash in mid-write can leave.
  for (let cut = ends[2]!; cut <= ends[5]!; cut++) {
    const img = new Uint8Array(SEG);
    img.set(full.subarray(0, cut));
    const f2 = fsWithSegment(name, img);
    const complete = ends.filter((e) => e <= cut).length;
    const r = openWal(DIR, f2, { preallocate: true, segmentBytes: SEG });
    assert.deepEqual(r.replay.entries.map((e) => e.index), range(1, complete, 1).map((e) => e.index), `cut at ${cut}`);
    assert.equal(f2.fileSize(`${DIR}/${name}`), SEG, `still preallocated after repair (cut ${cut})`);
    r.wal.save(null, [entry(complete + 1, 2)], { sync: true });
    r.wal.close();
    const again = openWal(DIR, f2);
    assert.equal(again.replay.entries.length, complete + 1, `append after repair replays (cut ${cut})`);
    assert.equal(again.replay.entries[complete]!.term, 2);
  }
});

test('preallocate: a segment cut before its zeros were used (segmentBytes lowered) still replays, and cuts continue', () => {
  const fs = new MemFs();
  const a = openWal(DIR, fs, { randomU32: saltSource(), preallocate: true, segmentBytes: 64 * 1024 });
  a.wal.save(hs(1, 1, 2), range(1, 3, 1), { sync: true });
  a.wal.close();
  // Reopened with smaller segments: the first (mostly zeros) segment is cut on the next write.
  const b = openWal(DIR, fs, { randomU32: saltSource(3), preallocate: true, segmentBytes: 1024 });
  for (let i = 4; i <= 40; i++) b.wal.save(null, [entry(i, 1, 'z'.repeat(40))], { sync: true });
  assert.ok(b.wal.segmentNames().length >= 3, `segments: ${b.wal.segmentNames().join(' ')}`);
  b.wal.close();
  const c = openWal(DIR, fs, { preallocate: true, segmentBytes: 1024 });
  assert.deepEqual(c.replay.entries.map((e) => e.index), range(1, 40, 1).map((e) => e.index));
  assert.deepEqual(c.replay.hardState, hs(1, 1, 2));
});

test('a flipped bit in a middle record is refused with VXM_ERR_WAL_CORRUPT naming file and offset', () => {
  const { bytes, name, ends } = buildLog(6);
  for (const rec of [0, 2, 4]) {
    // record `rec` spans [ends[rec], ends[rec+1]) ; rec 0 is the first entry after the header
    for (let off = ends[rec]!; off < ends[rec + 1]!; off++) {
      const bad = bytes.slice();
      bad[off]! ^= 1 << (off % 8);
      const fs = fsWithSegment(name, bad);
      assert.throws(
        () => openWal(DIR, fs),
        (err: unknown) =>
          err instanceof WalCorruptError &&
          err.code === 'VXM_ERR_WAL_CORRUPT' &&
          err.offset === ends[rec] &&
          err.file === `${DIR}/${name}` &&
          /peer/.test(err.message) &&
          /force-new-cluster/.test(err.message),
        `flip at ${off}`,
      );
    }
  }
  // The segment header is covered too.
  const bad = bytes.slice();
  bad[20]! ^= 4;
  assert.throws(() => openWal(DIR, fsWithSegment(name, bad)), { code: 'VXM_ERR_WAL_CORRUPT' });
});

test('a flipped bit in the final record is a torn tail: dropped, not an error', () => {
  const { bytes, name, ends } = buildLog(6);
  for (let off = ends[5]!; off < ends[6]!; off++) {
    const bad = bytes.slice();
    bad[off]! ^= 0x80;
    const fs = fsWithSegment(name, bad);
    const { replay } = openWal(DIR, fs);
    assert.equal(replay.entries.length, 5, `flip at ${off}`);
    assert.equal(fs.fileSize(`${DIR}/${name}`), ends[5]);
  }
});

test('conflicting appends: the later write for an index wins and drops everything after it', () => {
  const fs = new MemFs();
  const { wal } = openWal(DIR, fs, { randomU32: saltSource() });
  wal.save(hs(1, 1, 3), range(1, 10, 1), { sync: true });
  wal.save(hs(2, 2, 3), range(6, 7, 2), { sync: true }); // new leader replaced 6..10
  wal.save(null, range(8, 8, 2), { sync: true });
  wal.save(hs(3, 3, 4), range(5, 5, 3), { sync: true }); // and again from 5
  wal.close();
  const { replay } = openWal(DIR, fs);
  assert.deepEqual(describe(replay.entries), describe([...range(1, 4, 1), ...range(5, 5, 3)]));
  assert.deepEqual(replay.hardState, hs(3, 3, 4));
});

test('segment rotation: names carry seq and first index, replay spans segments and conflicts across them', () => {
  const fs = new MemFs();
  const { wal } = openWal(DIR, fs, { randomU32: saltSource(), segmentBytes: 1024 });
  for (let i = 1; i <= 60; i++) wal.save(hs(1, 0, i - 1), [entry(i, 1, 'y'.repeat(40))], { sync: false });
  const names = wal.segmentNames();
  assert.ok(names.length >= 5, `${names.length} segments`);
  assert.equal(names[0], segmentName(0, 1));
  names.forEach((n, i) => assert.ok(n.startsWith(i.toString(16).padStart(16, '0') + '-')));
  assert.deepEqual(fs.readdir(DIR), names);
  const firsts = names.map((n) => parseInt(n.slice(17, 33), 16));
  for (let i = 1; i < firsts.length; i++) assert.ok(firsts[i]! > firsts[i - 1]!);
  // Replace the tail starting inside an earlier segment.
  const back = firsts[firsts.length - 2]! - 3;
  wal.save(hs(2, 0, 20), range(back, back + 1, 2), { sync: true });
  wal.close();
  const { replay } = openWal(DIR, fs, { segmentBytes: 1024 });
  assert.equal(replay.entries.length, back + 1);
  assert.equal(replay.entries[back - 2]!.term, 1);
  assert.equal(replay.entries[back - 1]!.term, 2);
  assert.deepEqual(replay.hardState, hs(2, 0, 20));
});

test('a bad record in a non-final segment is corruption even at its end', () => {
  const fs = new MemFs();
  const { wal } = openWal(DIR, fs, { randomU32: saltSource(), segmentBytes: 512 });
  for (let i = 1; i <= 30; i++) wal.save(null, [entry(i, 1, 'z'.repeat(40))], { sync: false });
  wal.close();
  const first = `${DIR}/${wal.segmentNames()[0]!}`;
  fs.corrupt(first, fs.fileSize(first) - 20, 0x10);
  assert.throws(() => openWal(DIR, fs), { code: 'VXM_ERR_WAL_CORRUPT' });
});

test('snapshot markers: matching marker keeps the log, a non-matching one replaces it', () => {
  const fs = new MemFs();
  const { wal } = openWal(DIR, fs, { randomU32: saltSource() });
  wal.save(hs(1, 1, 8), range(1, 10, 1), { sync: true });
  wal.saveSnapshot({ index: 8, term: 1, conf: { voters: [1, 2, 3], learners: [4] } }, false);
  let r = openWal(DIR, fs).replay;
  assert.deepEqual(describe(r.entries), describe(range(9, 10, 1)));
  assert.deepEqual(r.snapshot, { index: 8, term: 1, conf: { voters: [1, 2, 3], learners: [4] } });
  assert.equal(r.entriesAfter(3).length, 7);
  // A leader's snapshot at 20 (term 3): the log is replaced.
  const w2 = openWal(DIR, fs).wal;
  w2.saveSnapshot({ index: 20, term: 3, conf: { voters: [1], learners: [] } }, true);
  w2.save(hs(3, 0, 21), [entry(21, 3)], { sync: true });
  w2.close();
  r = openWal(DIR, fs).replay;
  assert.equal(r.snapshot!.index, 20);
  assert.deepEqual(describe(r.entries), describe([entry(21, 3)]));
  assert.throws(() => r.entriesAfter(8), { code: 'VXM_ERR_SNAPSHOT_MISSING' });
});

test('releaseTo unlinks only segments whose entries are all covered', () => {
  const fs = new MemFs();
  const { wal } = openWal(DIR, fs, { randomU32: saltSource(), segmentBytes: 600 });
  for (let i = 1; i <= 40; i++) wal.save(null, [entry(i, 1, 'q'.repeat(50))], { sync: false });
  const before = wal.segmentNames();
  const firsts = before.map((n) => parseInt(n.slice(17, 33), 16));
  const to = firsts[3]! - 1; // segments 0..2 hold only entries <= to
  assert.equal(wal.releaseTo(to), 3);
  assert.deepEqual(wal.segmentNames(), before.slice(3));
  wal.saveSnapshot({ index: to, term: 1, conf: { voters: [1], learners: [] } }, false);
  wal.close();
  const { replay } = openWal(DIR, fs);
  assert.deepEqual(describe(replay.entries), describe(range(to + 1, 40, 1).map((e) => entry(e.index, 1, 'q'.repeat(50)))));
  assert.throws(() => replay.entriesAfter(to - 5), { code: 'VXM_ERR_SNAPSHOT_MISSING' });
});

test('garbage files: a segment of random bytes is refused, never a crash', () => {
  const rng = seededRng(99);
  for (let i = 0; i < 50; i++) {
    const junk = new Uint8Array(Math.floor(rng() * 300) + 1).map(() => Math.floor(rng() * 256));
    const fs = fsWithSegment(segmentName(0, 1), junk);
    try {
      openWal(DIR, fs);
      assert.fail('junk accepted');
    } catch (err) {
      assert.equal((err as { code?: string }).code, 'VXM_ERR_WAL_CORRUPT');
    }
  }
});

test('an interrupted release (a segment gap) finishes the release instead of failing', () => {
  const fs = new MemFs();
  const { wal } = openWal(DIR, fs, { randomU32: saltSource(), segmentBytes: 600 });
  for (let i = 1; i <= 40; i++) wal.save(null, [entry(i, 1, 'g'.repeat(50))], { sync: false });
  wal.saveSnapshot({ index: 30, term: 1, conf: { voters: [1], learners: [] } }, false);
  wal.close();
  const names = wal.segmentNames();
  assert.ok(names.length > 4);
  fs.unlink(`${DIR}/${names[1]!}`); // seg 1 unlinked, seg 0 resurrected by a crash
  fs.fsyncDir(DIR);
  const { wal: w2, replay } = openWal(DIR, fs);
  assert.deepEqual(w2.segmentNames(), names.slice(2));
  assert.deepEqual(fs.readdir(DIR), names.slice(2));
  assert.equal(replay.snapshot!.index, 30);
  assert.equal(replay.entries[replay.entries.length - 1]!.index, 40);
});

test('an unsynced save of a hard state alone is held back until the next entries, sync or close', () => {
  const fs = new MemFs();
  const { wal } = openWal(DIR, fs, { randomU32: saltSource() });
  const name = `${DIR}/${wal.segmentNames()[0]!}`;
  wal.save(hs(1, 1, 0), range(1, 2, 1), { sync: true });
  const size = fs.fileSize(name);
  wal.save(hs(1, 1, 2), [], { sync: false }); // the commit index moved: no write(2) yet
  assert.equal(fs.fileSize(name), size, 'held in memory');
  fs.crash(seededRng(1), { keepUnsynced: true });
  assert.deepEqual(openWal(DIR, fs).replay.hardState, hs(1, 1, 0), 'a crash loses only the commit index');

  const fs2 = new MemFs();
  const a = openWal(DIR, fs2, { randomU32: saltSource() });
  a.wal.save(hs(1, 1, 0), range(1, 2, 1), { sync: true });
  a.wal.save(hs(1, 1, 1), [], { sync: false });
  a.wal.save(hs(1, 1, 2), [], { sync: false });
  a.wal.save(null, range(3, 3, 1), { sync: true }); // written together, in order, before the entry
  const b = openWal(DIR, fs2);
  assert.deepEqual(b.replay.hardState, hs(1, 1, 2));
  assert.deepEqual(b.replay.entries.map((e) => e.index), [1, 2, 3]);

  const fs3 = new MemFs();
  const c = openWal(DIR, fs3, { randomU32: saltSource() });
  c.wal.save(hs(1, 1, 0), range(1, 2, 1), { sync: true });
  c.wal.save(hs(1, 1, 2), [], { sync: false });
  c.wal.sync();
  fs3.crash(seededRng(2), { keepUnsynced: false });
  assert.deepEqual(openWal(DIR, fs3).replay.hardState, hs(1, 1, 2), 'sync() writes what was held back');

  const fs4 = new MemFs();
  const d = openWal(DIR, fs4, { randomU32: saltSource() });
  d.wal.save(hs(1, 1, 2), range(1, 2, 1), { sync: true });
  d.wal.save(hs(1, 1, 2), [], { sync: false });
  d.wal.close();
  assert.deepEqual(openWal(DIR, fs4).replay.hardState, hs(1, 1, 2), 'close() writes it');
});
