// RaftConfig.piggybackCommit: the leader does not announce a new commit index with a message of
// its own; followers learn it from the next MsgApp or heartbeat. What must hold: the leader
// commits as before, no empty MsgApp follows a commit, followers still reach the commit index
// (next write or next heartbeat), and a ReadIndex served through a follower is not held back.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cluster, rng } from './cluster.js';
import { MessageType, type Message } from '../../../../src/control/raft/core/types.js';

const enc = new TextEncoder();

function cluster(piggyback: boolean): Cluster {
  const c = new Cluster([1, 2, 3], rng(7), (cfg) => {
    cfg.piggybackCommit = piggyback;
  });
  c.nodes.get(1)!.node!.campaign();
  c.stabilize();
  return c;
}

/** Runs to quiescence and returns every message the leader sent meanwhile. */
function sentByLeader(c: Cluster): Message[] {
  const out: Message[] = [];
  for (let i = 0; i < 1000; i++) {
    const busy = c.processReadies();
    out.push(...c.queue.filter((m) => m.from === 1));
    if (!busy && c.queue.length === 0) return out;
    c.deliver();
  }
  throw new Error('did not settle');
}

const committed = (c: Cluster, id: number): number => c.nodes.get(id)!.node!.raft.log.committed;

test('eager (etcd): a commit is announced at once with an empty MsgApp to every follower', () => {
  const c = cluster(false);
  const { index } = c.nodes.get(1)!.node!.propose(enc.encode('x'));
  const sent = sentByLeader(c);
  assert.equal(committed(c, 1), index);
  const empties = sent.filter((m) => m.type === MessageType.App && m.entries.length === 0 && m.commit >= index);
  assert.equal(empties.length, 2, 'one commit notice per follower');
  assert.equal(committed(c, 2), index);
  assert.equal(committed(c, 3), index);
});

test('piggyback: no empty MsgApp after a commit; the next write carries the commit index', () => {
  const c = cluster(true);
  const leader = c.nodes.get(1)!.node!;
  const first = leader.propose(enc.encode('x')).index;
  const sent = sentByLeader(c);
  assert.equal(committed(c, 1), first, 'the leader commits as before');
  assert.equal(sent.filter((m) => m.type === MessageType.App && m.entries.length === 0).length, 0, 'no commit notices of their own');
  assert.ok(committed(c, 2) < first && committed(c, 3) < first, 'followers do not know yet');
  const second = leader.propose(enc.encode('y')).index;
  sentByLeader(c);
  assert.equal(committed(c, 1), second);
  for (const id of [2, 3]) assert.ok(committed(c, id) >= first, `follower ${id} learned the first commit from the second MsgApp`);
  const applied2 = c.nodes.get(2)!.applied.map((e) => e.index);
  assert.ok(applied2.includes(first), 'and applied it');
});

test('piggyback: when writes stop, the next heartbeat brings followers to the commit index', () => {
  const c = cluster(true);
  const leader = c.nodes.get(1)!.node!;
  const { index } = leader.propose(enc.encode('x'));
  sentByLeader(c);
  assert.ok(committed(c, 2) < index);
  for (let t = 0; t < leader.raft['cfg'].heartbeatTicks; t++) leader.tick();
  sentByLeader(c);
  assert.equal(committed(c, 2), index);
  assert.equal(committed(c, 3), index);
});

test('piggyback: a ReadIndex through a follower gets an index the follower already knows is committed', () => {
  const c = cluster(true);
  const { index } = c.nodes.get(1)!.node!.propose(enc.encode('x'));
  sentByLeader(c);
  const f = c.nodes.get(2)!.node!;
  assert.ok(committed(c, 2) < index);
  f.readIndex(enc.encode('r1'));
  // One message at a time: when the read's answer arrives, the follower must already know the
  // read index is committed (the leader's heartbeat round that confirms the read carried it).
  let seen = false;
  for (let i = 0; i < 1000 && !seen; i++) {
    c.processReadies();
    if (c.queue.length === 0) break;
    c.deliver(1);
    const rs = f.raft.readStates.at(-1);
    if (rs) {
      seen = true;
      assert.ok(rs.index >= index, 'the read index covers the write');
      assert.ok(committed(c, 2) >= rs.index, `follower commit ${committed(c, 2)} already reaches the read index ${rs.index}`);
    }
  }
  assert.ok(seen, 'the read was answered without a tick');
});
