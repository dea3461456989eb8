import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  FORMAT_VERSION, MSG_ENTRY, MSG_STATE, Writer, decodeEntry, decodeState, encodeEntry, utf8Length,
} from '../../../../src/control/swim/tables/wire.js';
import type { GossipTables } from '../../../../src/control/swim/tables/index.js';
import { FC_SEED, b, node, str } from './helpers.js';

const T = 'endpoints';
const N = 'net1';

/** A replica with some of everything: two owners, live entries, a tombstone, a fence. */
function populated(): GossipTables {
  const a = node('a', 3);
  a.set(0, T, N, 'k1', b('v1'));
  a.set(0, T, 'net-é', 'k2', new Uint8Array(0));
  a.set(0, 'svc', N, 'k3', b('v3'));
  a.delete(0, T, N, 'k1');
  a.receive(0, 'c', node('c', 2).set(0, T, N, 'kc', b('from-c')).payload);
  a.memberGone(0, 'dead', 4);
  return a;
}

function totalCounted(t: GossipTables): number {
  const c = t.counters;
  return c.malformed + c.applied + c.stale + c.fenced + c.refuted;
}

describe('wire format', () => {
  test('a broadcast starts with the format version and the message type and round-trips', () => {
    const w = new Writer(4); // forces regrowth mid-string
    const e = { owner: 'node-é', epoch: 2 ** 53 - 1, seq: 300, table: T, network: N, key: 'x'.repeat(200), value: b('value') };
    const buf = encodeEntry(w, e);
    assert.equal(buf[0], FORMAT_VERSION);
    assert.equal(buf[1], MSG_ENTRY);
    const d = decodeEntry(buf, 1024);
    assert.ok(d.ok);
    assert.deepEqual({ ...d.value, value: str(d.value.value) }, { ...e, value: 'value' });
    const tomb = decodeEntry(encodeEntry(w, { ...e, value: null }), 1024);
    assert.ok(tomb.ok && tomb.value.value === null);
  });

  test('the full state round-trips: a fresh replica holds exactly what the source holds', () => {
    const a = populated();
    const s = a.localState();
    assert.equal(s[0], FORMAT_VERSION);
    assert.equal(s[1], MSG_STATE);
    const r = node('r');
    r.mergeRemoteState(1, 'a', s);
    const withoutR = (d: string): string => d.split('\n').filter((l) => !l.startsWith('owner r ')).join('\n');
    assert.equal(withoutR(r.dump()), a.dump());
    assert.equal(r.digest(), a.digest());
    const again = node('r2');
    again.mergeRemoteState(1, 'r', r.localState());
    assert.equal(again.digest(), a.digest(), 'a replica\'s state carries what it learned from others');
  });

  test('utf8Length agrees with TextEncoder, lone surrogates included', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => utf8Length(s) === new TextEncoder().encode(s).length),
      { seed: FC_SEED, numRuns: 200 },
    );
  });

  test('each kind of bad input is dropped with its reason', () => {
    const a = populated();
    const good = node('c', 2).set(0, T, N, 'kc', b('v')).payload;
    const cases: [string, Uint8Array][] = [
      ['version', Uint8Array.from([2, ...good.subarray(1)])],
      ['type', Uint8Array.from([1, 9, ...good.subarray(2)])],
      ['truncated', good.subarray(0, good.length - 1)],
      ['trailing', Uint8Array.from([...good, 0])],
      ['flags', Uint8Array.from([...good.subarray(0, good.length - 3), 0x02, 1, 0x76])],
      ['varint', Uint8Array.from([1, 1, 1, 0x61, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])],
      ['varint', Uint8Array.from([1, 1, 1, 0x61, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])], // 2^56 - 1 > 2^53 - 1
      ['utf8', Uint8Array.from([1, 1, 2, 0xc3, 0x28])],
      ['bound', Uint8Array.from([1, 1, 0])], // empty owner name
      ['bound', Uint8Array.from([1, 1, 0x80, 0x02, ...new Uint8Array(256).fill(0x61)])], // 256-byte owner
      ['bound', Uint8Array.from([1, 1, 1, 0x61, 0, 1])], // epoch 0
    ];
    for (const [reason, bytes] of cases) {
      const before = a.counters.dropsByReason[reason as 'version'];
      assert.doesNotThrow(() => a.receive(1, 'x', bytes));
      assert.equal(a.counters.dropsByReason[reason as 'version'], before + 1, reason);
    }
    // A value above maxValueBytes is a bound drop on the receiver.
    const small = node('s', 1, { maxValueBytes: 2 });
    small.receive(0, 'c', node('c', 2).set(0, T, N, 'kc', b('abc')).payload);
    assert.equal(small.counters.dropsByReason.bound, 1);
    // A state that announces 2^40 entries in a few bytes is refused before any allocation.
    const huge = Uint8Array.from([1, 2, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
    a.mergeRemoteState(1, 'x', huge);
    assert.equal(a.counters.dropsByReason.bound, cases.filter((c) => c[0] === 'bound').length + 1);
    // An entry pointing past the owner list.
    const r = node('r');
    const s = a.localState();
    assert.equal(decodeState(s, 1024).ok, true);
    r.mergeRemoteState(1, 'a', Uint8Array.from([1, 2, 1, 1, 0x61, 1, 0, 1, 0, 1, 0, 5, 0, 1, 0x6b, 1, 0, 0]));
    assert.equal(r.counters.dropsByReason.index, 1);
    assert.equal(r.counters.applied, 0);
  });

  test('fuzz: random bytes never throw and every undecodable one is counted', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (bytes, asState) => {
        const t = node('t');
        if (asState) t.mergeRemoteState(0, 'x', bytes);
        else t.receive(0, 'x', bytes);
        const ok = asState ? decodeState(bytes, 1024).ok : decodeEntry(bytes, 1024).ok;
        assert.equal(t.counters.malformed, ok ? 0 : 1);
      }),
      { seed: FC_SEED, numRuns: 3000 },
    );
  });

  test('fuzz: mutated valid broadcasts and states never throw; drops are counted, the rest applied or refused by version', () => {
    const a = populated();
    const state = a.localState();
    const payloads = [
      state,
      node('c', 2).set(0, T, N, 'kc', b('value')).payload,
      node('a', 3).set(0, T, N, 'kc', b('claim about a')).payload,
      ((): Uint8Array => {
        const c = node('c', 2);
        c.set(0, T, N, 'k1', b('v'));
        return c.delete(0, T, N, 'k1')!.payload;
      })(),
    ];
    fc.assert(
      fc.property(
        fc.nat({ max: payloads.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 }), fc.constantFrom('flip', 'set', 'cut', 'insert')), { minLength: 1, maxLength: 4 }),
        (which, muts) => {
          const bytes = Array.from(payloads[which]!);
          for (const [pos, v, kind] of muts) {
            const i = pos % (bytes.length + 1);
            if (kind === 'flip' && i < bytes.length) bytes[i] = bytes[i]! ^ (1 << (v & 7));
            else if (kind === 'set' && i < bytes.length) bytes[i] = v;
            else if (kind === 'cut') bytes.length = i;
            else bytes.splice(i, 0, v);
          }
          const buf = Uint8Array.from(bytes);
          const t = populated();
          const before = totalCounted(t);
          const isState = buf[1] === MSG_STATE;
          if (isState) t.mergeRemoteState(1, 'x', buf);
          else t.receive(1, 'x', buf);
          const ok = isState ? decodeState(buf, 1024).ok : decodeEntry(buf, 1024).ok;
          assert.equal(t.counters.malformed, ok ? 0 : 1);
          if (!ok) assert.equal(totalCounted(t), before + 1, 'a drop changes nothing else');
          // Whatever got in, the replica still encodes a state that decodes.
          assert.equal(decodeState(t.localState(), 1024).ok, true);
        },
      ),
      { seed: FC_SEED, numRuns: 3000 },
    );
  });
});
