// Endpoint discovery by gossip, end to end: three agents in namespaces that list no peers at
// all, only each other's underlay addresses to join on 7946. Each learns the others' tasks from
// the gossip tables; a SIGKILLed agent's tasks are dropped everywhere once SWIM declares it
// dead; a restarted one is learned again; one that stops cleanly (SIGTERM, a "left" broadcast)
// is dropped at once. Swarm's networkdb is where "dead tasks lingering" comes from.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ping } from '../../src/lab/netns.js';
import { OverlayTopology, missingAgentPieces, type OverlayHost } from '../../src/lab/overlay-topology.js';

const skip = process.getuid?.() !== 0 ? 'endpoint gossip e2e needs root (network namespaces and TUN devices): run as root' : false;
let topo: OverlayTopology | undefined;

interface PeerEvent { event: string; op: string; network: string; ipv4: string; node: string; at: number }

function peerEvents(h: OverlayHost, since = 0): PeerEvent[] {
  const out: PeerEvent[] = [];
  const lines = h.agent!.process.lines;
  for (let i = since; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.stream !== 'stdout' || !l.text.includes('"event":"peer"')) continue;
    out.push(JSON.parse(l.text) as PeerEvent);
  }
  return out;
}

async function until(what: string, fn: () => boolean, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - t0;
}

before(async () => {
  if (skip) return;
  const missing = missingAgentPieces();
  if (missing) throw new Error(missing);
  topo = await OverlayTopology.build({ hosts: 3, tasksPerHost: 1, gossip: true });
  await topo.startAgents({ readyTimeoutMs: 30_000 });
}, { timeout: 90_000 });

after(async () => {
  await topo?.destroy();
});

test('agents with no static peers learn every other node\'s tasks by gossip and reach them', { skip, timeout: 60_000 }, async () => {
  const [h1, h2, h3] = topo!.hosts as [OverlayHost, OverlayHost, OverlayHost];
  for (const h of [h1, h2, h3]) assert.equal(h.config.peers.length, 0, 'the configs list no peers');
  const ms = await until('every agent learned the other two tasks', () => [h1, h2, h3].every((h) => peerEvents(h).filter((e) => e.op === 'add').length >= 2), 15_000);
  process.stdout.write(`# all three agents learned each other's tasks ${ms} ms after the last one was ready\n`);
  for (const [from, to] of [[h1, h2], [h2, h3], [h3, h1]] as const) {
    const r = await ping(topo!.lab, from.tasks[0]!.ns, to.tasks[0]!.ipv4, { count: 3 });
    assert.ok(r.received >= 3, `ping ${from.tasks[0]!.name} → ${to.tasks[0]!.ipv4}: ${r.output}`);
  }
});

test('a SIGKILLed agent\'s tasks are dropped on the others when SWIM declares it dead; a restarted one is learned again', { skip, timeout: 90_000 }, async () => {
  const [h1, h2, h3] = topo!.hosts as [OverlayHost, OverlayHost, OverlayHost];
  const task3 = h3.tasks[0]!.ipv4;
  const since1 = h1.agent!.process.lineCount;
  const since2 = h2.agent!.process.lineCount;
  const killedAt = Date.now();
  h3.agent!.process.kill('SIGKILL');
  await until('h1 and h2 dropped h3\'s task', () => [[h1, since1], [h2, since2]].every(([h, s]) => peerEvents(h as OverlayHost, s as number).some((e) => e.op === 'remove' && e.ipv4 === task3)), 20_000);
  const removedAt = Math.max(...[[h1, since1], [h2, since2]].map(([h, s]) => peerEvents(h as OverlayHost, s as number).find((e) => e.op === 'remove' && e.ipv4 === task3)!.at));
  process.stdout.write(`# h3 SIGKILLed: its task dropped on h1 and h2 after ${removedAt - killedAt} ms (SWIM LAN defaults: ~5-6 s)\n`);
  assert.ok(removedAt - killedAt < 15_000);
  // Only h3's task went: h1 still reaches h2.
  const still = await ping(topo!.lab, h1.tasks[0]!.ns, h2.tasks[0]!.ipv4, { count: 2 });
  assert.ok(still.received >= 2, still.output);
  // h3 comes back (a new epoch of its entries): learned again, reachable again.
  const back1 = h1.agent!.process.lineCount;
  await topo!.startAgent(h3, { readyTimeoutMs: 30_000 });
  const ms = await until('h1 learned h3\'s task again', () => peerEvents(h1, back1).some((e) => e.op === 'add' && e.ipv4 === task3), 15_000);
  process.stdout.write(`# h3 restarted: its task learned again by h1 ${ms} ms after h3 was ready\n`);
  const r = await ping(topo!.lab, h1.tasks[0]!.ns, task3, { count: 3 });
  assert.ok(r.received >= 3, r.output);
});

test('an agent that stops cleanly is dropped at once (a "left" broadcast, no failure detection)', { skip, timeout: 60_000 }, async () => {
  const [h1, h2] = topo!.hosts as [OverlayHost, OverlayHost];
  const task2 = h2.tasks[0]!.ipv4;
  const since = h1.agent!.process.lineCount;
  const t0 = Date.now();
  await h2.agent!.stop(5000);
  await until('h1 dropped h2\'s task', () => peerEvents(h1, since).some((e) => e.op === 'remove' && e.ipv4 === task2), 5000);
  const at = peerEvents(h1, since).find((e) => e.op === 'remove' && e.ipv4 === task2)!.at;
  process.stdout.write(`# h2 stopped with SIGTERM: its task dropped on h1 after ${at - t0} ms\n`);
  assert.ok(at - t0 < 3000, `dropped after ${at - t0} ms`);
  const stats = await h1.agent!.stats();
  const g = (stats as unknown as { gossip: Record<string, number> }).gossip;
  assert.ok(g.added >= 3 && g.removed >= 2, JSON.stringify(g));
  assert.equal(g.conflicts, 0);
  assert.equal(g.badValue, 0);
});
