// Seeded randomized check: 3-5 managers, a lossy router, random proposals, ticks and leader
// crashes (restart from storage). After every step assert: at most one leader per term
// (§5.2 election safety), log matching over persisted logs (§5.3), leader completeness for
// a newly elected leader (§5.4), and that applied (committed) entries never change (state
// machine safety, §5.4.3).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cluster, rng } from './cluster.js';
import type { Entry } from '../../../../src/control/raft/core/types.js';

const enc = new TextEncoder();

function key(e: Entry): string {
  return `${e.term}/${e.type}/${Buffer.from(e.data).toString('hex')}`;
}

for (const [seed, size] of [[1, 3], [2, 5], [3, 4], [4, 3]] as const) {
  test(`randomized safety seed=${seed} nodes=${size}`, () => {
    const rand = rng(seed);
    const ids = Array.from({ length: size }, (_, i) => i + 1);
    const c = new Cluster(ids, rand);
    c.dropRate = 0.1;
    const leaderOf = new Map<number, number>();
    const committed = new Map<number, string>(); // index -> entry key, from applied entries
    const seenLeader = new Set<string>();
    let proposals = 0;
    let crashes = 0;
    for (let step = 0; step < 4000; step++) {
      const r = rand();
      if (r < 0.35) {
        for (const n of c.nodes.values()) n.node?.tick();
      } else if (r < 0.55) {
        const leaders = c.leaders();
        if (leaders.length > 0) {
          try {
            c.nodes.get(leaders[0]!)!.node!.propose(enc.encode(`p${step}`));
            proposals++;
          } catch {
            // dropped (transfer/cap): fine
          }
        }
      } else if (r < 0.56) {
        const leaders = c.leaders();
        if (leaders.length > 0) {
          c.crash(leaders[0]!);
          crashes++;
        }
      } else if (r < 0.6) {
        for (const n of c.nodes.values()) if (n.node === null) c.start(n.id);
      }
      c.processReadies();
      c.deliver(1 + Math.floor(rand() * 8));

      // Election safety.
      for (const id of c.leaders()) {
        const raft = c.nodes.get(id)!.node!.raft;
        assert.equal(leaderOf.get(raft.term) ?? id, id, `seed ${seed}: two leaders in term ${raft.term}`);
        leaderOf.set(raft.term, id);
        // Leader completeness: a new leader's log holds every entry committed so far.
        const k = `${raft.term}/${id}`;
        if (!seenLeader.has(k)) {
          seenLeader.add(k);
          for (const [idx, ek] of committed) {
            if (idx < raft.log.firstIndex()) continue;
            const ents = raft.log.slice(idx, idx + 1, Number.MAX_SAFE_INTEGER)!;
            assert.equal(ents.length === 1 ? key(ents[0]!) : 'missing', ek, `seed ${seed}: leader ${id} term ${raft.term} lacks committed ${idx}`);
          }
        }
      }
      // State machine safety: applied entries never differ between nodes or over time.
      for (const n of c.nodes.values()) {
        for (const e of n.applied) {
          const prev = committed.get(e.index);
          if (prev === undefined) committed.set(e.index, key(e));
          else assert.equal(key(e), prev, `seed ${seed}: node ${n.id} applied a different entry at ${e.index}`);
        }
        n.applied.length = 0;
      }
      // Log matching over persisted logs.
      if (step % 50 === 0) {
        const logs = [...c.nodes.values()].map((n) => n.storage.entries(n.storage.firstIndex(), n.storage.lastIndex() + 1, Number.MAX_SAFE_INTEGER));
        for (let a = 0; a < logs.length; a++) {
          for (let b = a + 1; b < logs.length; b++) {
            const la = logs[a]!;
            const lb = logs[b]!;
            const n = Math.min(la.length, lb.length);
            let i = n - 1;
            while (i >= 0 && la[i]!.term !== lb[i]!.term) i--;
            for (; i >= 0; i--) assert.equal(key(la[i]!), key(lb[i]!), `seed ${seed}: logs ${a + 1},${b + 1} differ at ${la[i]!.index}`);
          }
        }
      }
    }
    assert.ok(committed.size > 20, `seed ${seed}: progress was made (${committed.size} committed, ${proposals} proposals, ${crashes} crashes)`);
    assert.ok(leaderOf.size >= 2, `seed ${seed}: several terms (${leaderOf.size})`);
  });
}
