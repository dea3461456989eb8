// Endpoint discovery by gossip, end to end: three agents in namespaces that list no peers at
// all, only each other's underlay addresses to join on 7946. Each learns the others' tasks from
// the gossip tables; a SIGKILLed agent's tasks are dropped everywhere once SWIM declares it
// dead; a restarted one is learned again; one that stops cleanly (SIGTERM, a "left" broadcast)
// is dropped at once. Swarm's networkdb is where "dead tasks lingering" comes from.
//
// A VIP service 'web' has a backend on every node (tN t1); each node's config lists only its
// own, and balances over all three once gossip brought the others, then stops sending new
// connections to a dead node's backend as soon as that node is declared dead.
//
//   h1: h1t0 10.0.1.2, web.1 h1t1 10.0.1.3   h2: h2t0 .12, web.2 .13   h3: h3t0 .22, web.3 .23

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ping } from '../../src/lab/netns.js';
import { CLIENT, SERVER } from './http-lab.js';
import { OverlayTopology, missingAgentPieces, type OverlayHost } from '../../src/lab/overlay-topology.js';

const VIP = '10.0.1.200';
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

/** n short HTTP connections from h1t0 to the VIP: the backends' names, in order. */
async function requests(n: number): Promise<string[]> {
  const r = await topo!.lab.exec(topo!.task(0, 0).ns, ['node', '-e', CLIENT, VIP, String(n)], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `client failed: ${r.stderr}`);
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as string[]).map((b) => b.split(' ')[0]!);
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
  topo = await OverlayTopology.build({
    hosts: 3, tasksPerHost: 2, gossip: true,
    services: [{
      name: 'web', network: 'demo', vip: VIP, scheduler: 'rr', ports: [{ protocol: 'tcp', port: 80, targetPort: 8080 }],
      backends: [{ name: 'web.1', ipv4: '10.0.1.3' }, { name: 'web.2', ipv4: '10.0.1.13' }, { name: 'web.3', ipv4: '10.0.1.23' }],
    }],
  });
  await topo.startAgents({ readyTimeoutMs: 30_000 });
  for (let h = 0; h < 3; h++) {
    const p = topo.lab.spawn(topo.task(h, 1).ns, ['node', '-e', SERVER, `web.${h + 1}`, '8080'], { lifetimeMs: 240_000 });
    await p.waitForLine((l) => l.includes('listening'), 10_000);
  }
}, { timeout: 90_000 });

after(async () => {
  await topo?.destroy();
});

test('agents with no static peers learn every other node\'s tasks by gossip and reach them', { skip, timeout: 60_000 }, async () => {
  const [h1, h2, h3] = topo!.hosts as [OverlayHost, OverlayHost, OverlayHost];
  for (const h of [h1, h2, h3]) assert.equal(h.config.peers.length, 0, 'the configs list no peers');
  const ms = await until('every agent learned the other four tasks', () => [h1, h2, h3].every((h) => peerEvents(h).filter((e) => e.op === 'add').length >= 4), 15_000);
  process.stdout.write(`# all three agents learned each other's tasks ${ms} ms after the last one was ready\n`);
  for (const [from, to] of [[h1, h2], [h2, h3], [h3, h1]] as const) {
    const r = await ping(topo!.lab, from.tasks[0]!.ns, to.tasks[0]!.ipv4, { count: 3 });
    assert.ok(r.received >= 3, `ping ${from.tasks[0]!.name} → ${to.tasks[0]!.ipv4}: ${r.output}`);
  }
  // h1's config names only web.1; the VIP balances over all three.
  assert.deepEqual(h1.config.services!.map((x) => (x as { backends: unknown[] }).backends.length), [1]);
  const names = await requests(30);
  assert.deepEqual([...new Set(names)].sort(), ['web.1', 'web.2', 'web.3'], names.join(' '));
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
  // Only h3's tasks went: h1 still reaches h2, and the VIP sends no new connection to web.3
  // (each would hang until the client's 3 s timeout).
  const still = await ping(topo!.lab, h1.tasks[0]!.ns, h2.tasks[0]!.ipv4, { count: 2 });
  assert.ok(still.received >= 2, still.output);
  const after = await requests(20);
  assert.deepEqual([...new Set(after)].sort(), ['web.1', 'web.2'], after.join(' '));
  // h3 comes back (a new epoch of its entries): learned again, reachable again.
  const back1 = h1.agent!.process.lineCount;
  await topo!.startAgent(h3, { readyTimeoutMs: 30_000 });
  const ms = await until('h1 learned h3\'s task again', () => peerEvents(h1, back1).some((e) => e.op === 'add' && e.ipv4 === task3), 15_000);
  process.stdout.write(`# h3 restarted: its task learned again by h1 ${ms} ms after h3 was ready\n`);
  const r = await ping(topo!.lab, h1.tasks[0]!.ns, task3, { count: 3 });
  assert.ok(r.received >= 3, r.output);
  const back = await requests(30);
  assert.deepEqual([...new Set(back)].sort(), ['web.1', 'web.2', 'web.3'], back.join(' '));
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
