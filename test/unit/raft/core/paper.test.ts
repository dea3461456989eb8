// Tests named after sections of the Raft paper, in the manner of etcd-io/raft raft_paper_test.go.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cluster, rng } from './cluster.js';
import { defaultRaftConfig } from '../../../../src/control/raft/core/config.js';
import { MemoryStorage } from '../../../../src/control/raft/core/memory-storage.js';
import { Raft } from '../../../../src/control/raft/core/raft.js';
import { MessageType, newMessage, Role } from '../../../../src/control/raft/core/types.js';

const enc = new TextEncoder();

function raft(id: number, voters: number[], preVote = false): { r: Raft; s: MemoryStorage } {
  const s = new MemoryStorage({ voters, learners: [] });
  const cfg = defaultRaftConfig(id, s, () => 0);
  cfg.preVote = preVote;
  return { r: new Raft(cfg), s };
}

// Reference: section 5.2 — a follower that hears nothing for an election timeout becomes a
// candidate: increments its term, votes for itself and sends RequestVote to every other voter.
test('§5.2 follower starts an election on timeout', () => {
  const { r } = raft(1, [1, 2, 3]);
  for (let i = 0; i < 10; i++) r.tick();
  assert.equal(r.role, Role.Candidate);
  assert.equal(r.term, 1);
  assert.equal(r.vote, 1);
  assert.deepEqual(r.msgs.map((m) => [m.type, m.to, m.term]), [[MessageType.Vote, 2, 1], [MessageType.Vote, 3, 1]]);
});

// Reference: section 5.2 — each server votes for at most one candidate in a given term.
test('§5.2 at most one vote per term', () => {
  const { r } = raft(1, [1, 2, 3]);
  r.step(newMessage({ type: MessageType.Vote, from: 2, to: 1, term: 1 }));
  r.step(newMessage({ type: MessageType.Vote, from: 3, to: 1, term: 1 }));
  assert.deepEqual(r.msgs.map((m) => [m.to, m.reject]), [[2, false], [3, true]]);
  assert.equal(r.vote, 2);
});

// Reference: section 5.4.1 — a voter denies its vote if its own log is more up-to-date.
test('§5.4.1 election restriction rejects a stale candidate', () => {
  const { r, s } = raft(1, [1, 2, 3]);
  s.append([{ term: 2, index: 1, type: 0, data: new Uint8Array(0) }]);
  const r2 = new Raft({ ...r.cfg, storage: s });
  r2.step(newMessage({ type: MessageType.Vote, from: 2, to: 1, term: 3, index: 5, logTerm: 1 }));
  r2.step(newMessage({ type: MessageType.Vote, from: 3, to: 1, term: 3, index: 1, logTerm: 2 }));
  assert.deepEqual(r2.msgs.map((m) => [m.to, m.reject]), [[2, true], [3, false]]);
});

// Reference: section 5.3 — a follower rejects AppendEntries whose prevLogIndex/prevLogTerm do
// not match its log (log matching property), and truncates conflicting entries otherwise.
test('§5.3 log matching: reject on mismatch, overwrite conflicts', () => {
  const { r } = raft(2, [1, 2, 3]);
  const e = (term: number, index: number) => ({ term, index, type: 0, data: new Uint8Array(0) });
  r.step(newMessage({ type: MessageType.App, from: 1, to: 2, term: 2, index: 0, logTerm: 0, entries: [e(1, 1), e(1, 2)] }));
  assert.equal(r.msgs.at(-1)!.reject, false);
  r.step(newMessage({ type: MessageType.App, from: 1, to: 2, term: 2, index: 3, logTerm: 1, entries: [e(2, 4)] }));
  assert.equal(r.msgs.at(-1)!.reject, true);
  r.step(newMessage({ type: MessageType.App, from: 1, to: 2, term: 2, index: 1, logTerm: 1, entries: [e(2, 2)] }));
  assert.equal(r.msgs.at(-1)!.reject, false);
  assert.deepEqual(r.log.allEntries().map((x) => `${x.term}/${x.index}`), ['1/1', '2/2']);
});

// Reference: section 5.3 — the leader commits an entry once it is replicated on a majority,
// and followers learn the commit index from later AppendEntries.
test('§5.3 leader commits on majority replication', () => {
  const c = new Cluster([1, 2, 3], rng(1));
  c.nodes.get(1)!.node!.campaign();
  c.stabilize();
  c.crash(3);
  const { index } = c.nodes.get(1)!.node!.propose(enc.encode('x'));
  c.stabilize();
  assert.equal(c.nodes.get(1)!.node!.raft.log.committed, index);
  assert.equal(c.nodes.get(2)!.node!.raft.log.committed, index);
  c.crash(2);
  const second = c.nodes.get(1)!.node!.propose(enc.encode('y'));
  c.stabilize();
  assert.ok(c.nodes.get(1)!.node!.raft.log.committed < second.index, 'no majority, no commit');
});

// Reference: section 5.4.2 (Figure 8) — a leader never commits an entry of a previous term by
// counting replicas; only its own term's entries, which then commit everything before them.
test('§5.4.2 no commit of previous-term entries by counting', () => {
  const { r, s } = raft(1, [1, 2, 3]);
  r.becomeFollower(1, 0);
  r.step(newMessage({ type: MessageType.App, from: 2, to: 1, term: 1, index: 0, logTerm: 0, entries: [{ term: 1, index: 1, type: 0, data: new Uint8Array(0) }] }));
  s.append(r.log.unstable.entries); // persist, as the driver does before advance()
  r.onStable(1, 1);
  for (let i = 0; i < 10; i++) r.tick();
  r.step(newMessage({ type: MessageType.VoteResp, from: 2, to: 1, term: 2 }));
  assert.equal(r.role, Role.Leader);
  // Follower 2 acks the old entry 1 only: quorum has index 1 (term 1) but it must not commit.
  s.append(r.log.unstable.entries);
  r.onStable(2, 2);
  r.step(newMessage({ type: MessageType.AppResp, from: 2, to: 1, term: 2, index: 1 }));
  assert.equal(r.log.committed, 0);
  r.step(newMessage({ type: MessageType.AppResp, from: 2, to: 1, term: 2, index: 2 }));
  assert.equal(r.log.committed, 2);
});

// Reference: section 5.2 — election safety across a cluster driven to elect repeatedly.
test('§5.2 one leader per term across repeated elections', () => {
  const c = new Cluster([1, 2, 3, 4, 5], rng(7));
  const leaderOf = new Map<number, number>();
  for (let step = 0; step < 3000; step++) {
    for (const n of c.nodes.values()) n.node!.tick();
    c.processReadies();
    c.deliver();
    for (const id of c.leaders()) {
      const t = c.nodes.get(id)!.node!.raft.term;
      assert.equal(leaderOf.get(t) ?? id, id, `two leaders in term ${t}`);
      leaderOf.set(t, id);
    }
    if (step % 500 === 499) for (const id of c.leaders()) c.nodes.get(id)!.node!.raft.becomeFollower(c.nodes.get(id)!.node!.raft.term, 0);
  }
  assert.ok(leaderOf.size >= 2, 'several terms were exercised');
});
