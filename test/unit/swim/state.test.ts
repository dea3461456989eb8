// Member state precedence (SWIM 4.2, memberlist state.go) and core contracts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodePacket, encodePacket, type SwimMessage } from '../../../src/control/swim/codec.js';
import { SwimArgumentError, SwimCore, supersedes, type MemberState } from '../../../src/control/swim/core.js';
import { encodeMeta } from '../../../src/control/swim/meta.js';

function rng(seed: number): { next(): number } {
  let x = seed >>> 0 || 1;
  return { next: () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), x >>> 0) };
}
const META = { role: 'worker', addrs: [], labels: {} };
const metaBytes = encodeMeta(META, 512);

function core(name = 'me', config = {}): SwimCore {
  return new SwimCore({ name, addr: `${name}:7946`, meta: META, rng: rng(7), now: 0, config: { pushPullIntervalMs: 0, ...config } });
}
function send(c: SwimCore, now: number, msgs: SwimMessage[], from = 'peer:7946'): void {
  c.step(now, { from, transport: 'udp', bytes: encodePacket(msgs) });
}
const alive = (node: string, incarnation: number): SwimMessage => ({ type: 'alive', incarnation, node, addr: `${node}:7946`, meta: metaBytes });

const RANK: Record<MemberState, number> = { alive: 0, suspect: 1, dead: 2, left: 3 };

test('supersedes: incarnation first, then alive < suspect < dead < left', () => {
  assert.equal(supersedes(2, 'alive', 1, 'dead'), true);
  assert.equal(supersedes(1, 'alive', 1, 'alive'), false);
  assert.equal(supersedes(1, 'suspect', 1, 'alive'), true);
  assert.equal(supersedes(1, 'dead', 1, 'suspect'), true);
  assert.equal(supersedes(1, 'left', 1, 'dead'), true);
  assert.equal(supersedes(1, 'dead', 1, 'left'), false);
  assert.equal(supersedes(1, 'left', 2, 'alive'), false);
});

test('property: any order of alive/suspect/dead/left messages about a member converges', () => {
  const claim = fc.record({
    kind: fc.constantFrom('alive', 'suspect', 'dead', 'left'),
    inc: fc.integer({ min: 1, max: 5 }),
    from: fc.constantFrom('a', 'b', 'c'),
  });
  const toMsg = (c: { kind: string; inc: number; from: string }): SwimMessage => {
    switch (c.kind) {
      case 'alive': return alive('x', c.inc);
      case 'suspect': return { type: 'suspect', incarnation: c.inc, node: 'x', from: c.from };
      case 'dead': return { type: 'dead', incarnation: c.inc, node: 'x', from: c.from };
      default: return { type: 'dead', incarnation: c.inc, node: 'x', from: 'x' };
    }
  };
  fc.assert(
    fc.property(fc.array(claim, { minLength: 1, maxLength: 10 }), fc.integer(), (claims, seed) => {
      const msgs = claims.map(toMsg);
      const shuffled = [...msgs];
      let s = seed >>> 0;
      for (let i = shuffled.length - 1; i > 0; i--) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        const j = s % (i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      const finals = [msgs, shuffled, [...msgs].reverse()].map((order) => {
        const c = core();
        send(c, 0, [alive('x', 1)]);
        for (const m of order) send(c, 1, [m]);
        const x = c.member('x')!;
        assert.equal(c.numAlive(), c.members().filter((m) => m.state === 'alive').length);
        return `${x.state}@${x.incarnation}`;
      });
      assert.equal(finals[1], finals[0]);
      assert.equal(finals[2], finals[0]);
      // and it is the maximum claim under (incarnation, state rank)
      let best = { inc: 1, st: 'alive' as MemberState };
      for (const c of claims) {
        const st = c.kind as MemberState;
        if (c.inc > best.inc || (c.inc === best.inc && RANK[st] > RANK[best.st])) best = { inc: c.inc, st };
      }
      assert.equal(finals[0], `${best.st}@${best.inc}`);
    }),
    { numRuns: 300 },
  );
});

test('refutation: suspect/dead about us at our incarnation bumps it and broadcasts alive', () => {
  const c = core();
  send(c, 0, [alive('p', 1)]);
  c.ready();
  c.advance();
  send(c, 10, [{ type: 'suspect', incarnation: 1, node: 'me', from: 'p' }]);
  assert.equal(c.member('me')!.incarnation, 2);
  assert.equal(c.counters['refutes'], 1);
  assert.equal(c.healthScore(), 1, 'Lifeguard: refuting raises the health score');
  send(c, 20, [{ type: 'dead', incarnation: 5, node: 'me', from: 'p' }]);
  assert.equal(c.member('me')!.incarnation, 6);
  assert.equal(c.member('me')!.state, 'alive');
  // a stale accusation does not bump again
  send(c, 30, [{ type: 'suspect', incarnation: 3, node: 'me', from: 'p' }]);
  assert.equal(c.member('me')!.incarnation, 6);
  assert.equal(c.counters['stale_accusations'], 1);
  // the alive goes out on the next gossip round
  c.tick(1000);
  const sent = c.ready().messages.flatMap((o) => {
    const d = decodePacket(o.bytes);
    return d.ok ? d.msgs : [];
  });
  assert.ok(sent.some((m) => m.type === 'alive' && m.node === 'me' && m.incarnation === 6));
});

test('ready/advance: ready returns everything since the last advance; advance acknowledges it', () => {
  const c = core();
  send(c, 0, [alive('p', 1)]);
  assert.equal(c.hasReady(), true);
  const r1 = c.ready();
  assert.deepEqual(r1.events.map((e) => `${e.type} ${e.member.name}`), ['join p']);
  send(c, 1, [alive('q', 1)]); // produced between ready() and advance(): must survive advance()
  c.advance();
  const r2 = c.ready();
  assert.deepEqual(r2.events.map((e) => `${e.type} ${e.member.name}`), ['join q']);
  c.advance();
  assert.equal(c.hasReady(), false);
});

test('malformed packets are counted by reason, never thrown', () => {
  const c = core();
  c.step(0, { from: 'x:1', transport: 'udp', bytes: Uint8Array.of(1) });
  c.step(0, { from: 'x:1', transport: 'udp', bytes: Uint8Array.of(99, 1, 2) });
  c.step(0, { from: 'x:1', transport: 'udp', bytes: new Uint8Array(0) });
  send(c, 0, [{ type: 'alive', incarnation: 1, node: 'bad', addr: 'b:1', meta: Uint8Array.of(5, 1) }]);
  send(c, 0, [{ type: 'ping', seq: 1, target: 'someone-else', source: 'x' }]);
  assert.equal(c.counters['drop_truncated'], 1);
  assert.equal(c.counters['drop_bad_version'], 1);
  assert.equal(c.counters['drop_empty'], 1);
  assert.equal(c.counters['drop_bad_meta'], 1);
  assert.equal(c.counters['drop_ping_wrong_target'], 1);
  assert.equal(c.member('bad'), undefined);
});

test('leave with no peers completes at once; with peers after the retransmit limit', () => {
  const lonely = core();
  lonely.leave(0);
  assert.equal(lonely.leaveComplete, true);
  assert.equal(lonely.member('me')!.state, 'left');
  const c = core();
  send(c, 0, [alive('p', 1)]);
  c.leave(1);
  assert.equal(c.leaveComplete, false);
  let t = 1;
  for (let i = 0; i < 20 && !c.leaveComplete; i++) c.tick((t += 200));
  assert.equal(c.leaveComplete, true);
  const left = c.ready().messages.filter((o) => {
    const d = decodePacket(o.bytes);
    return d.ok && d.msgs.some((m) => m.type === 'dead' && m.node === 'me' && m.from === 'me');
  });
  assert.equal(left.length, 4, 'retransmitMult 4 * ceil(log10(2 + 1))');
});

test('updateMeta bumps incarnation; oversize metadata and payloads throw coded errors', () => {
  const c = core();
  c.updateMeta(0, { role: 'manager', addrs: ['10.0.0.1'], labels: {} });
  assert.equal(c.member('me')!.incarnation, 2);
  assert.equal(c.member('me')!.meta.role, 'manager');
  assert.throws(() => c.updateMeta(0, { role: 'x'.repeat(300), addrs: [], labels: {} }), { code: 'VXM_ERR_SWIM_META' });
  assert.throws(() => c.broadcastUser('k', new Uint8Array(2000)), (e: unknown) => e instanceof SwimArgumentError);
});

test('dead members are reaped after deadReapMs with an event; per-tick work does not scan them', () => {
  const c = core('me', { deadReapMs: 5000, gossipToTheDeadMs: 5000 });
  send(c, 0, [alive('p', 1), alive('q', 1)]);
  send(c, 100, [{ type: 'dead', incarnation: 1, node: 'p', from: 'q' }]);
  c.tick(5000);
  assert.equal(c.member('p')?.state, 'dead');
  assert.equal(c.nextDeadline() <= 5100, true);
  c.tick(5100);
  assert.equal(c.member('p'), undefined);
  const evs = c.ready().events.map((e) => `${e.type} ${e.member.name}`);
  assert.ok(evs.includes('reaped p'));
});

test('user broadcasts: delivered once per (key, version), newer versions supersede', () => {
  const got: string[] = [];
  const c = new SwimCore({
    name: 'me', addr: 'me:1', meta: META, rng: rng(1), now: 0,
    delegate: { localState: () => new Uint8Array(0), mergeRemoteState: () => {}, notifyUser: (_n, from, p) => got.push(`${from}:${p[0]}`) },
  });
  const u = (version: number, v: number, origin = 'o'): SwimMessage => ({ type: 'user', origin, key: 'k', version, payload: Uint8Array.of(v) });
  send(c, 0, [u(2, 20)]);
  send(c, 0, [u(2, 20)]);
  send(c, 0, [u(1, 10)]);
  send(c, 0, [u(3, 30)]);
  send(c, 0, [u(3, 31, 'p')]); // same version, greater origin wins the tie
  assert.deepEqual(got, ['o:20', 'o:30', 'p:31']);
  assert.equal(c.counters['user_duplicate'], 2);
});

test('user keys quiet for userSeenTtlMs are forgotten (memory follows recent keys, not every key ever written)', () => {
  const got: string[] = [];
  const c = new SwimCore({
    name: 'me', addr: 'me:1', meta: META, rng: rng(1), now: 0, config: { pushPullIntervalMs: 0, userSeenTtlMs: 60_000 },
    delegate: { localState: () => new Uint8Array(0), mergeRemoteState: () => {}, notifyUser: (_n, from, p) => got.push(`${from}:${p[0]}`) },
  });
  const u = (key: string, version: number, v: number): SwimMessage => ({ type: 'user', origin: 'o', key, version, payload: Uint8Array.of(v) });
  send(c, 0, [u('old', 1, 1)]);
  send(c, 50_000, [u('fresh', 2, 2)]);
  c.tick(61_000);
  assert.equal(c.counters['user_keys_forgotten'], 1, 'only the key quiet for over a minute goes');
  send(c, 61_000, [u('fresh', 2, 2)]);
  assert.equal(c.counters['user_duplicate'], 1, 'the recent key is still deduplicated');
  // The forgotten key's old version is delivered again (the tables drop it as stale).
  send(c, 61_000, [u('old', 1, 1)]);
  assert.deepEqual(got, ['o:1', 'o:2', 'o:1']);
});
