// Property tests: the store is a deterministic state machine. Random mixes of valid, failing
// and malformed transactions, applied to several stores, must give identical results and
// byte-identical snapshots; a snapshot must restore to the same bytes, and a store restored
// mid-way must end where the one that applied every entry ends. restore() re-checks every
// pool bitmap against the addresses in use, so each run also checks IPAM bookkeeping.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ClusterStore, type ApplyResult } from '../../../src/control/store/store.js';
import { encodeTransaction } from '../../../src/control/store/commands.js';
import type { ChangeableKind } from '../../../src/control/store/schema.js';

type Step = { kind: ChangeableKind; op: 'create' | 'update' | 'delete'; id: number; a: number; b: number; stale: boolean };
type Entry = { type: 'tx'; steps: Step[] } | { type: 'junk'; bytes: Uint8Array };

const stepArb: fc.Arbitrary<Step> = fc.record({
  kind: fc.constantFrom<ChangeableKind>('node', 'network', 'service', 'task', 'task'),
  op: fc.constantFrom<'create' | 'update' | 'delete'>('create', 'create', 'update', 'delete'),
  id: fc.nat(3),
  a: fc.nat(1000),
  b: fc.nat(1000),
  stale: fc.nat(4).map((n) => n === 0),
});
const entryArb: fc.Arbitrary<Entry> = fc.oneof(
  { weight: 6, arbitrary: stepArb.map((step): Entry => ({ type: 'tx', steps: [step] })) },
  { weight: 3, arbitrary: fc.array(stepArb, { minLength: 2, maxLength: 4 }).map((steps): Entry => ({ type: 'tx', steps })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 24 }).map((bytes): Entry => ({ type: 'junk', bytes })) },
);

const SUBNETS = [[], [], ['10.1.0.0/24'], ['10.1.0.0/16'], ['10.2.0.0/30'], ['10.3.0.0/29', '10.3.1.0/30']];
const pick = <T>(xs: readonly T[], n: number): T => xs[n % xs.length]!;
const idOf = (kind: ChangeableKind, n: number) => `${kind === 'network' ? 'w' : kind[0]}${n}`;

/** A concrete object for a step; ids, names and addresses come from small sets so changes collide. */
function objectFor(s: Step, ref: ClusterStore): Record<string, unknown> {
  const id = idOf(s.kind, s.id);
  // Mostly refer to objects that exist (as a proposer would), sometimes to ones that do not.
  const existing = (kind: 'node' | 'network' | 'service', n: number, fallback: string) => {
    const ids = ref.list(kind).items.filter((o) => !(kind === 'network' && (o as { ingress: boolean }).ingress)).map((o) => o.id);
    return ids.length === 0 || n % 5 === 0 ? fallback : pick(ids, n);
  };
  switch (s.kind) {
    case 'node':
      return { id, name: pick(['alpha', 'beta', 'ALPHA', 'gamma'], s.a), availability: pick(['active', 'pause', 'drain'], s.b), addresses: s.b % 2 ? ['192.168.0.1'] : [] };
    case 'network':
      return { id, name: pick(['front', 'back', 'ingress', 'Front', 'data'], s.a), ingress: s.a % 5 === 2, vni: pick([0, 0, 5000, 4097], s.b), subnets: pick(SUBNETS, s.b >> 2), mtu: pick([1450, 1400], s.b) };
    case 'service':
      return {
        id,
        name: pick(['web', 'api', 'db', 'WEB'], s.a),
        task: { image: 'nginx:1.25', env: s.b % 3 ? ['A=1'] : [] },
        mode: s.b % 4 === 0 ? { kind: 'global' } : { kind: 'replicated', replicas: s.b % 5 },
        endpoint: s.b % 7 === 0 ? { mode: 'dnsrr' } : { ports: s.a % 3 === 0 ? [{ published: pick([80, 81], s.b), target: 8080, mode: pick(['ingress', 'host'], s.a >> 2) }] : [] },
        scheduler: pick(['rr', 'maglev', 'lc'], s.b),
        networks: [existing('network', s.a, 'w0'), existing('network', s.b, 'w3')].filter((x, i, xs) => xs.indexOf(x) === i).slice(0, s.a % 3),
      };
    case 'task':
      return {
        id,
        serviceId: existing('service', s.a, 's3'),
        slot: s.b % 4,
        nodeId: s.b % 3 === 0 ? '' : existing('node', s.b, 'n3'),
        observedState: pick(['new', 'running', 'failed'], s.a),
        networks: s.a % 2
          ? [{ networkId: existing('network', s.b, 'w2'), address: pick(['', '', '', '', '10.1.0.5', '10.2.0.2', '10.3.1.1'], s.a >> 1) }]
          : [],
      };
  }
}

/** Turns abstract entries into bytes, reading versions from a reference store as a proposer would. */
function entryBytes(e: Entry, ref: ClusterStore, n: number): Uint8Array {
  if (e.type === 'junk') return e.bytes;
  const changes = e.steps.map((step) => {
    // Updates and deletes mostly name an object that exists; creates reuse ids (collisions).
    const ids = ref.list(step.kind).items.map((o) => o.id);
    let s = step;
    if (step.b % 8 !== 0) {
      if (step.kind === 'task' && ref.count('service') === 0) s = { ...step, kind: 'service', op: 'create' };
      else if (step.op !== 'create') s = ids.length === 0 ? { ...step, op: 'create' } : { ...step, id: Number(pick(ids, step.a).slice(1)) };
    }
    const id = idOf(s.kind, s.id);
    const cur = ref.get(s.kind, id);
    const version = cur === undefined || s.stale ? 1 + (s.a % 3) : cur.version;
    if (s.op === 'create') return { op: 'create', kind: s.kind, object: objectFor(s, ref) };
    if (s.op === 'delete') return { op: 'delete', kind: s.kind, id, expectedVersion: version };
    return { op: 'update', kind: s.kind, object: objectFor(s, ref), expectedVersion: version };
  });
  const tx = { requestId: `r${n}`, changes };
  try {
    return encodeTransaction(tx);
  } catch {
    // Refused by the encoder: commit it anyway, as a buggy proposer might; apply must skip it.
    return new Uint8Array([1, ...Buffer.from(JSON.stringify(tx))]);
  }
}

const summary = (r: ApplyResult) => (r.ok ? `ok ${r.events.length}` : `${r.error.code} ${r.changeIndex}`);
const hex = (b: Uint8Array) => Buffer.from(b).toString('base64');

test('same entries on several stores: same results, byte-identical snapshots; restore round-trips and resumes', (t) => {
  let okCount = 0;
  let failCount = 0;
  const outcomes = new Map<string, number>();
  fc.assert(
    fc.property(fc.array(entryArb, { minLength: 1, maxLength: 40, size: 'max' }), fc.nat(), (entries, cutSeed) => {
      const a = new ClusterStore();
      const b = new ClusterStore({ watchRetention: 3 }); // local settings must not matter
      const seen: number[] = [];
      b.watch(1, { onEvent: (e) => seen.push(e.index) }); // nor watchers
      const cut = cutSeed % entries.length;
      let resumed: ClusterStore | undefined;
      entries.forEach((e, i) => {
        const index = 2 * i + 1; // gaps, as the driver skips empty entries
        const bytes = entryBytes(e, a, i);
        const ra = a.apply(index, bytes);
        const rb = b.apply(index, bytes);
        assert.equal(summary(rb), summary(ra));
        if (ra.ok) okCount++;
        else failCount++;
        const key = ra.ok ? 'ok' : ra.error.code;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        resumed?.apply(index, bytes);
        if (i === cut) {
          resumed = new ClusterStore();
          resumed.restore(a.snapshot());
        }
      });
      const snap = a.snapshot();
      assert.equal(hex(b.snapshot()), hex(snap));
      const c = new ClusterStore();
      c.restore(snap);
      assert.equal(hex(c.snapshot()), hex(snap));
      assert.equal(hex(resumed!.snapshot()), hex(snap));
      assert.deepEqual(seen, [...seen].sort((x, y) => x - y));
    }),
    { numRuns: 150, seed: 20261122 },
  );
  t.diagnostic(`outcomes: ${[...outcomes].sort().map(([k, v]) => `${k} ${v}`).join(', ')}`);
  // The generator must exercise both paths, or the property says little.
  assert.ok(okCount > 600 && failCount > 600, `ok ${okCount} fail ${failCount}`);
});

test('restore refuses corrupt snapshots and leaves the store as it was', () => {
  const a = new ClusterStore();
  a.apply(1, encodeTransaction({ requestId: 'r', changes: [
    { op: 'create', kind: 'network', object: { id: 'w', name: 'w', subnets: ['10.4.0.0/24'] } },
    { op: 'create', kind: 'service', object: { id: 's', name: 's', task: { image: 'x' }, networks: ['w'] } },
  ] }));
  const good = a.snapshot();
  const text = Buffer.from(good).toString('utf8');
  const mutate = (from: string, to: string) => new Uint8Array(Buffer.from(text.replace(from, to)));
  const bad: [string, Uint8Array, RegExp][] = [
    ['no magic', new Uint8Array([1, 2, 3, 4, 5, 6]), /no VXMS magic/],
    ['truncated', good.subarray(0, good.length - 3), /corrupt JSON/],
    ['double allocation', mutate('"address":"10.4.0.2"', '"address":"10.4.0.1"'), /allocated twice/],
    ['bitmap mismatch', mutate('"allocated":[[0,3]', '"allocated":[[0,4]'), /does not match the addresses/],
    ['dangling reference', mutate('"networks":["w"]', '"networks":["zz"]'), /network zz does not exist/],
    ['future version', mutate('"version":1,', '"version":9,'), /above the snapshot index|version/],
  ];
  const st = new ClusterStore();
  st.restore(good);
  for (const [name, bytes, re] of bad) {
    assert.throws(() => st.restore(bytes), (e: unknown) => {
      assert.equal((e as { code?: string }).code, 'VXM_ERR_STORE_INVALID', name);
      assert.match((e as Error).message, re, name);
      return true;
    }, name);
    assert.equal(hex(st.snapshot()), hex(good), `${name}: the store is unchanged`);
  }
  st.restore(new Uint8Array(0));
  assert.equal(st.count('network'), 0);
});

test('apply throughput for small updates (printed, not asserted)', (t) => {
  const st = new ClusterStore();
  const N = 1000;
  const M = 20_000;
  const last = new Array<number>(N).fill(0);
  let index = 0;
  for (let i = 0; i < N; i++) {
    st.apply(++index, encodeTransaction({ requestId: `c${i}`, changes: [{ op: 'create', kind: 'node', object: { id: `n${i}`, name: `host-${i}`, addresses: ['10.0.0.1'] } }] }));
    last[i] = index;
  }
  const entries: Uint8Array[] = [];
  const t0 = performance.now();
  for (let k = 0; k < M; k++) {
    const i = k % N;
    const ix = N + 1 + k;
    entries.push(encodeTransaction({ requestId: `u${k}`, changes: [{ op: 'update', kind: 'node', object: { id: `n${i}`, name: `host-${i}`, availability: k % 2 ? 'drain' : 'active', addresses: ['10.0.0.1'] }, expectedVersion: last[i]! }] }));
    last[i] = ix;
  }
  const t1 = performance.now();
  let ok = 0;
  for (const e of entries) if (st.apply(++index, e).ok) ok++;
  const t2 = performance.now();
  assert.equal(ok, M, 'every update names the current version');
  const snap = st.snapshot();
  const t3 = performance.now();
  const msg =
    `store: encode ${Math.round(M / ((t1 - t0) / 1000))} tx/s, apply ${Math.round(M / ((t2 - t1) / 1000))} tx/s ` +
    `(1-change node updates, ${N} nodes); snapshot ${snap.length} bytes in ${(t3 - t2).toFixed(1)} ms`;
  t.diagnostic(msg);
  console.log(msg);
});
