// The Raft config plane end to end: `vxmesh manager` processes in their own namespaces on one
// underlay bridge, TCP 2377 between them, the KV API on 2378, default timing (25 ms ticks).
// A client in its own namespace writes sequential keys the whole time and logs every write
// the cluster acknowledged; after every fault each acknowledged write must still be there.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Lab, type LabProcess } from '../../src/lab/netns.js';
import { AGENT_MAIN, missingAgentPieces } from '../../src/lab/overlay-topology.js';

const skip = process.getuid?.() !== 0 ? 'raft e2e needs root (network namespaces): run as root' : false;
const addr = (i: number) => `198.51.100.${71 + i}`;

// The writer: PUT k<i> = <i> in order to the leader (following the 307 to it, or trying the next
// manager on an error), for `ms` milliseconds; one JSON line per acknowledged write.
const WRITER = `const [prefix, ms, ...hosts] = process.argv.slice(1); const http = require('http');
const agent = new http.Agent({ keepAlive: true });
function put(host, key, value) { return new Promise((ok) => {
  const q = http.request({ host, port: 2378, method: 'PUT', path: '/v1/kv/' + key, agent, timeout: 400 }, (r) => {
    let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => ok({ status: r.statusCode, loc: r.headers.location, body: b }));
  });
  q.on('error', () => ok({ status: 0 })); q.on('timeout', () => { q.destroy(); });
  q.end(value); }); }
(async () => { const end = Date.now() + Number(ms); let h = 0; let i = 0;
  while (Date.now() < end) {
    const key = prefix + i; let r = await put(hosts[h], key, String(i));
    if (r.status === 307 && r.loc) { const lh = new URL(r.loc).hostname; h = hosts.indexOf(lh); if (h < 0) h = 0; r = await put(hosts[h], key, String(i)); }
    if (r.status === 200) { console.log(JSON.stringify({ k: key, t: Date.now(), by: hosts[h], index: JSON.parse(r.body).index })); i++; }
    else { h = (h + 1) % hosts.length; await new Promise((s) => setTimeout(s, 20)); }
  } })();`;

let lab: Lab | undefined;
let client = '';
let dataRoot = '';
const managers = new Map<number, { ns: string; proc: LabProcess | undefined }>();

before(async () => {
  if (skip) return;
  const missing = missingAgentPieces();
  if (missing) throw new Error(missing);
  lab = new Lab();
  dataRoot = mkdtempSync(join(tmpdir(), 'vxm-raft-e2e-'));
  await lab.addBridgeUnderlay();
  for (let i = 1; i <= 5; i++) {
    const ns = await lab.addNamespace(`m${i}`);
    await lab.connectHost(ns, addr(i));
    managers.set(i, { ns, proc: undefined });
  }
  client = await lab.addNamespace('cl');
  await lab.connectHost(client, addr(20));
}, { timeout: 60_000 });

after(async () => {
  for (const m of managers.values()) if (m.proc?.running) m.proc.kill('SIGKILL');
  await lab?.destroy();
  if (dataRoot) rmSync(dataRoot, { recursive: true, force: true });
});

function start(i: number, ids: number[], cluster: string, extra: string[] = []): LabProcess {
  const m = managers.get(i)!;
  const peers = ids.map((j) => `${j}=${addr(j)}`).join(',');
  m.proc = lab!.spawn(m.ns, [process.execPath, AGENT_MAIN, 'manager', '--id', String(i), '--cluster-id', cluster, '--data-dir', join(dataRoot, `${cluster}-m${i}`), '--peers', peers, ...extra], { lifetimeMs: 300_000 });
  return m.proc;
}

function leaderOf(ids: number[]): number {
  // The newest role line of any running manager that says it leads.
  let best = { id: 0, term: -1 };
  for (const i of ids) {
    const p = managers.get(i)!.proc;
    if (!p?.running) continue;
    // Only a manager whose latest role line says it leads.
    const last = p.lines.filter((l) => l.text.includes('"event":"role"')).at(-1);
    if (!last) continue;
    const e = JSON.parse(last.text) as { role: string; term: number };
    if (e.role === 'StateLeader' && e.term > best.term) best = { id: i, term: e.term };
  }
  return best.id;
}

async function waitLeader(ids: number[], timeoutMs: number): Promise<number> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const l = leaderOf(ids);
    if (l) return l;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no leader among managers ${ids.join(',')} within ${timeoutMs} ms`);
}

async function curl(args: string[]): Promise<{ code: number | null; out: string }> {
  const r = await lab!.exec(client, ['curl', '-s', '-m', '8', ...args], { timeoutMs: 15_000 });
  return { code: r.code, out: r.stdout };
}

/** Every acknowledged write is readable, linearizably, with its value. */
async function assertAllPresent(host: string, acked: { k: string }[]): Promise<void> {
  for (const a of acked) {
    const r = await curl([`http://${host}:2378/v1/kv/${a.k}`]);
    const body = JSON.parse(r.out || '{}') as { value?: string };
    assert.equal(body.value, a.k.slice(a.k.lastIndexOf('k') + 1), `acknowledged write ${a.k} lost: ${r.out}`);
  }
}

async function failover(ids: number[], cluster: string): Promise<{ electMs: number; firstAckMs: number; acked: { k: string; t: number }[] }> {
  await stopAll();
  for (const i of ids) start(i, ids, cluster);
  await Promise.all(ids.map((i) => managers.get(i)!.proc!.waitForLine((l) => l.includes('"event":"ready"'), 20_000)));
  const leader = await waitLeader(ids, 10_000);
  const writer = lab!.spawn(client, ['node', '-e', WRITER, `${cluster}k`, '4000', ...ids.map(addr)], { lifetimeMs: 30_000 });
  await new Promise((r) => setTimeout(r, 1500));
  const killedAt = Date.now();
  managers.get(leader)!.proc!.kill('SIGKILL');
  const rest = ids.filter((i) => i !== leader);
  const next = await waitLeader(rest, 5000);
  const electedAt = Date.now();
  await writer.exited;
  const acked = writer.lines.filter((l) => l.stream === 'stdout' && l.text.startsWith('{')).map((l) => JSON.parse(l.text) as { k: string; t: number; by: string });
  // The first write the NEW leader acknowledged (the old one may ack a last write in flight as it dies).
  const firstAfter = acked.find((a) => a.t > killedAt && a.by !== addr(leader));
  assert.ok(firstAfter, 'no write was acknowledged by a new leader after the old one died');
  assert.ok(acked.filter((a) => a.t < killedAt).length > 10, 'the writer made too few writes before the kill to mean anything');
  await assertAllPresent(addr(next), acked);
  return { electMs: electedAt - killedAt, firstAckMs: firstAfter.t - killedAt, acked };
}

test('3 managers: SIGKILL the leader; a new leader and the next acknowledged write within 1 s, no acknowledged write lost', { skip, timeout: 120_000 }, async () => {
  const r = await failover([1, 2, 3], '3');
  process.stdout.write(`# 3 managers: leader killed; new leader seen after ${r.electMs} ms, first acknowledged write after ${r.firstAckMs} ms; ${r.acked.length} acknowledged writes all present\n`);
  assert.ok(r.firstAckMs <= 1000, `first acknowledged write ${r.firstAckMs} ms after the kill (target 1 s)`);
});

test('3 managers: the cluster store through the API: schema-checked, versioned, replicated, readable from a follower', { skip, timeout: 60_000 }, async () => {
  const alive = [1, 2, 3].filter((i) => managers.get(i)!.proc?.running);
  const leader = await waitLeader(alive, 5000);
  const follower = alive.find((i) => i !== leader)!;
  const tx = (body: unknown) => curl(['-L', '-X', 'POST', '-H', 'content-type: application/json', '--data', JSON.stringify(body), `http://${addr(follower)}:2378/v1/tx`]);
  // A malformed object never reaches the log: refused with the field that is wrong.
  const bad = JSON.parse((await tx({ requestId: 'bad', changes: [{ op: 'create', kind: 'network', object: { id: 'n1', name: 'web net' } }] })).out) as { code: string; path: string };
  assert.equal(bad.code, 'VXM_ERR_STORE_INVALID');
  assert.match(bad.path, /name/);
  const made = JSON.parse((await tx({ requestId: 'mk', changes: [{ op: 'create', kind: 'network', object: { id: 'n1', name: 'web-net' } }] })).out) as { index: number };
  assert.ok(made.index > 0, JSON.stringify(made));
  // Replicated and allocated the same way everywhere: read it (linearizably) from the follower.
  const got = JSON.parse((await curl([`http://${addr(follower)}:2378/v1/objects/network/n1`])).out) as { vni: number; subnets: string[]; version: number };
  assert.equal(got.vni, 4097);
  assert.deepEqual(got.subnets, ['10.0.0.0/24']);
  // An update naming a version that is not current fails and changes nothing.
  const stale = JSON.parse((await tx({ requestId: 'up', changes: [{ op: 'update', kind: 'network', expectedVersion: got.version - 1, object: { ...got, labels: { a: 'b' } } }] })).out) as { code: string };
  assert.equal(stale.code, 'VXM_ERR_STORE_CONFLICT');
  const ok = JSON.parse((await tx({ requestId: 'up2', changes: [{ op: 'update', kind: 'network', expectedVersion: got.version, object: { ...got, labels: { a: 'b' } } }] })).out) as { index: number };
  assert.ok(ok.index > made.index);
  const list = JSON.parse((await curl([`http://${addr(leader)}:2378/v1/objects/network`])).out) as { items: { labels: Record<string, string> }[] };
  assert.deepEqual(list.items.map((n) => n.labels), [{ a: 'b' }]);
  // A watch from the create's index streams the create and the update, in order (curl stops it after 2 s).
  const w = await curl(['-N', '-m', '2', `http://${addr(follower)}:2378/v1/watch?from=${made.index}&kinds=network`]);
  const events = w.out.trim().split('\n').map((l) => JSON.parse(l) as { op: string; index: number; kind: string });
  assert.deepEqual(events.map((e) => `${e.kind} ${e.op}`), ['network create', 'network update'], w.out);
  assert.deepEqual(events.map((e) => e.index), [made.index, ok.index]);
});

test('3 managers: losing quorum fails writes with VXM_ERR_NO_QUORUM and marks reads stale; restarting restores; force-new-cluster recovers a survivor, and new managers join it', { skip, timeout: 180_000 }, async () => {
  const ids = [1, 2, 3];
  const alive = ids.filter((i) => managers.get(i)!.proc?.running);
  assert.equal(alive.length, 2, 'the previous test leaves two managers');
  const leader = await waitLeader(alive, 5000);
  const w = await curl(['-X', 'PUT', '--data', 'v1', '-L', `http://${addr(leader)}:2378/v1/kv/q`]);
  assert.match(w.out, /"index"/);
  // Lose quorum: one manager of three left.
  const other = alive.find((i) => i !== leader)!;
  managers.get(other)!.proc!.kill('SIGKILL');
  const survivor = leader;
  const t0 = Date.now();
  const write = await curl(['-X', 'PUT', '--data', 'v2', `http://${addr(survivor)}:2378/v1/kv/q`]);
  const body = JSON.parse(write.out) as { code: string; message: string };
  assert.equal(body.code, 'VXM_ERR_NO_QUORUM', write.out);
  assert.match(body.message, /quorum/);
  process.stdout.write(`# quorum lost: the write failed with ${body.code} after ${Date.now() - t0} ms\n`);
  const lin = JSON.parse((await curl([`http://${addr(survivor)}:2378/v1/kv/q`])).out) as { code: string };
  assert.equal(lin.code, 'VXM_ERR_NO_QUORUM');
  const stale = JSON.parse((await curl([`http://${addr(survivor)}:2378/v1/kv/q?stale=1`])).out) as { value: string; stale: boolean };
  assert.equal(stale.value, 'v1');
  assert.equal(stale.stale, true);
  // Restore: the killed managers come back from their own data.
  for (const i of ids.filter((j) => j !== survivor)) start(i, ids, '3');
  const l2 = await waitLeader(ids, 10_000);
  const w2 = await curl(['-X', 'PUT', '--data', 'v3', '-L', `http://${addr(l2)}:2378/v1/kv/q`]);
  assert.match(w2.out, /"index"/, `after restoring quorum: ${w2.out}`);
  // Lose two managers for good; force-new-cluster on the survivor.
  const keep = ids.find((i) => managers.get(i)!.proc?.running)!;
  for (const i of ids) if (i !== keep) managers.get(i)!.proc!.kill('SIGKILL');
  managers.get(keep)!.proc!.kill('SIGTERM');
  await managers.get(keep)!.proc!.exited;
  const p = start(keep, ids, '3', ['--force-new-cluster']);
  await p.waitForLine((l) => l.includes('"role":"StateLeader"'), 10_000);
  const w3 = await curl(['-X', 'PUT', '--data', 'v4', `http://${addr(keep)}:2378/v1/kv/q`]);
  assert.match(w3.out, /"index"/, `after force-new-cluster: ${w3.out}`);
  const r = JSON.parse((await curl([`http://${addr(keep)}:2378/v1/kv/q`])).out) as { value: string };
  assert.equal(r.value, 'v4');
  const st = JSON.parse((await curl([`http://${addr(keep)}:2378/v1/status`])).out) as { conf: { voters: number[] } };
  assert.deepEqual(st.conf.voters, [keep]);
  // Writes acknowledged before any of this (the failover test's) are still there.
  const old = JSON.parse((await curl([`http://${addr(keep)}:2378/v1/kv/3k5`])).out) as { value: string };
  assert.equal(old.value, '5');
  const net = JSON.parse((await curl([`http://${addr(keep)}:2378/v1/objects/network/n1`])).out) as { name: string };
  assert.equal(net.name, 'web-net', 'the cluster store survived force-new-cluster');

  // Back to three managers: two fresh ones (ids 4 and 5) start with --join and the survivor,
  // now leader, adds them (learner, catch-up, voter).
  const member = (host: number, body: unknown) => curl(['-X', 'POST', '-H', 'content-type: application/json', '--data', JSON.stringify(body), `http://${addr(host)}:2378/v1/members`]);
  for (const n of [4, 5]) {
    const j = start(n, [keep, n], '3', ['--join']);
    await j.waitForLine((l) => l.includes('"event":"ready"'), 20_000);
    const t = Date.now();
    const add = await member(keep, { id: n, host: addr(n) });
    assert.match(add.out, /"index"/, `adding manager ${n}: ${add.out}`);
    process.stdout.write(`# manager ${n} added (learner, caught up, voter) in ${Date.now() - t} ms\n`);
  }
  const ms = JSON.parse((await curl([`http://${addr(keep)}:2378/v1/members`])).out) as { members: { id: number; role: string; host: string }[] };
  assert.deepEqual(ms.members.map((m) => `${m.id} ${m.role} ${m.host}`).sort(), [`${keep} voter ${addr(keep)}`, `4 voter ${addr(4)}`, `5 voter ${addr(5)}`]);
  // The new managers hold the whole state: read linearizably from manager 4.
  const r4 = JSON.parse((await curl([`http://${addr(4)}:2378/v1/kv/q`])).out) as { value: string };
  assert.equal(r4.value, 'v4');
  // An id removed by force-new-cluster is never reused.
  const gone = ids.find((i) => i !== keep)!;
  const reuse = JSON.parse((await member(keep, { id: gone, host: addr(gone) })).out) as { code: string };
  assert.equal(reuse.code, 'VXM_ERR_NODE_ID_REMOVED');
  // The rebuilt cluster tolerates a failure again: kill the survivor, 4 and 5 elect a leader and write.
  managers.get(keep)!.proc!.kill('SIGKILL');
  const l3 = await waitLeader([4, 5], 5000);
  const w5 = await curl(['-X', 'PUT', '--data', 'v5', '-L', `http://${addr(l3)}:2378/v1/kv/q`]);
  assert.match(w5.out, /"index"/, `after losing ${keep} from the rebuilt cluster: ${w5.out}`);
  // Remove the dead manager; then a restarted member finds its peers from the replicated
  // membership, not from its flags (it is given only itself).
  const del = await curl(['-X', 'DELETE', '-L', `http://${addr(l3)}:2378/v1/members/${keep}`]);
  assert.match(del.out, /"index"/, `removing ${keep}: ${del.out}`);
  const other45 = l3 === 4 ? 5 : 4;
  managers.get(other45)!.proc!.kill('SIGKILL');
  await managers.get(other45)!.proc!.exited;
  start(other45, [other45], '3');
  const l4 = await waitLeader([4, 5], 10_000);
  const w6 = await curl(['-X', 'PUT', '--data', 'v6', '-L', `http://${addr(l4)}:2378/v1/kv/q`]);
  assert.match(w6.out, /"index"/, `with both of 4 and 5 (one restarted knowing only itself): ${w6.out}`);
  await stopAll();
});

async function stopAll(): Promise<void> {
  for (const m of managers.values()) {
    if (m.proc?.running) {
      m.proc.kill('SIGKILL');
      await m.proc.exited;
    }
  }
}

test('5 managers: SIGKILL the leader; a new leader and the next acknowledged write within 1 s, no acknowledged write lost', { skip, timeout: 120_000 }, async () => {
  const r = await failover([1, 2, 3, 4, 5], '5');
  process.stdout.write(`# 5 managers: leader killed; new leader seen after ${r.electMs} ms, first acknowledged write after ${r.firstAckMs} ms; ${r.acked.length} acknowledged writes all present\n`);
  assert.ok(r.firstAckMs <= 1000, `first acknowledged write ${r.firstAckMs} ms after the kill (target 1 s)`);
  await stopAll();
});
