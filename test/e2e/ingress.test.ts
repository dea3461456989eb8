// Published ports end to end: an outside client (its own namespace on the underlay, not a
// task) reaches a service on the hosts' own addresses, as with `docker service create
// --publish`. Every packet between the hosts goes through the vxmesh agents.
//
//   out (198.51.100.99) ──▶ h1 198.51.100.11:8080 ─nft DNAT─▶ VIP 10.0.1.200:80 ─▶ web.1 h1t0 (local)
//                                                                              └─▶ web.2 h2t0, web.3 h2t1 (VXLAN to h2;
//                                                                                  replies come back through h1)
//   service web: tcp 80 → 8080, rr; published 8080 (ingress), 9090 (host mode), 8181 (ingress, only on 198.51.100.11)
//   service pp: tcp 81 → 8081; published 8383 relayed by h1 with a PROXY v2 header (PROXY-aware backends)

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { OverlayTopology, hostUnderlay } from '../../src/lab/overlay-topology.js';
import { CLIENT, PROXY_SERVER, SERVER } from './http-lab.js';

const skip = process.getuid?.() !== 0 ? 'ingress e2e needs root (network namespaces, TUN devices, nftables): run as root' : false;
const OUTSIDE = '198.51.100.99';

let topo: OverlayTopology | undefined;
let outside = '';

before(async () => {
  if (skip) return;
  topo = await OverlayTopology.build({
    hosts: 2, tasksPerHost: 3, ingress: true,
    services: [{
      name: 'web', network: 'demo', vip: '10.0.1.200', vip6: 'fd00:1::c8', scheduler: 'rr',
      ports: [{ protocol: 'tcp', port: 80, targetPort: 8080 }],
      publish: [
        { published: 8080, target: 8080, mode: 'ingress' },
        { published: 9090, target: 8080, mode: 'host' },
        { published: 8181, target: 8080, mode: 'ingress', address: hostUnderlay(0) },
      ],
      backends: [
        { name: 'web.1', ipv4: '10.0.1.2', ipv6: 'fd00:1::2' },
        { name: 'web.2', ipv4: '10.0.1.12', ipv6: 'fd00:1::c' },
        { name: 'web.3', ipv4: '10.0.1.13', ipv6: 'fd00:1::d' },
      ],
    }, {
      // PROXY protocol v2: h1 terminates 8383 and relays to the VIP with the client in a header.
      name: 'pp', network: 'demo', vip: '10.0.1.201', scheduler: 'rr',
      ports: [{ protocol: 'tcp', port: 81, targetPort: 8081 }],
      publish: [{ published: 8383, target: 8081, mode: 'ingress', proxyProtocol: true }],
      backends: [{ name: 'pp.1', ipv4: '10.0.1.3' }, { name: 'pp.2', ipv4: '10.0.1.14' }],
    }],
  });
  outside = await topo.lab.addNamespace('out');
  await topo.lab.connectHost(outside, OUTSIDE);
  await topo.startAgents({ readyTimeoutMs: 30_000 });
  for (const [h, t, name] of [[0, 0, 'web.1'], [1, 0, 'web.2'], [1, 1, 'web.3']] as const) {
    const p = topo.lab.spawn(topo.task(h, t).ns, ['node', '-e', SERVER, name, '8080'], { lifetimeMs: 240_000 });
    await p.waitForLine((l) => l.includes('listening'), 10_000);
  }
  const relayModule = new URL('../../src/control/agent/proxy-relay.js', import.meta.url).href;
  for (const [h, t, name] of [[0, 1, 'pp.1'], [1, 2, 'pp.2']] as const) {
    const pp = topo.lab.spawn(topo.task(h, t).ns, ['node', '-e', PROXY_SERVER, name, '8081', relayModule], { lifetimeMs: 240_000 });
    await pp.waitForLine((l) => l.includes('listening'), 10_000);
  }
}, { timeout: 90_000 });

after(async () => {
  await topo?.destroy();
});

/** `n` sequential short requests from the outside client to host:port; the bodies ("name peer"). */
async function fromOutside(host: string, port: number, n: number): Promise<{ code: number | null; bodies: string[]; stderr: string }> {
  const w = topo!;
  const r = await w.lab.exec(outside, ['node', '-e', CLIENT, host, String(n), String(port)], { timeoutMs: 120_000 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return { code: r.code, bodies: r.code === 0 ? (JSON.parse(last) as string[]) : [], stderr: r.stderr };
}

function tally(bodies: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const b of bodies) {
    const [name, peer] = b.split(' ');
    assert.match(peer!, new RegExp(`(^|:)${OUTSIDE.replace(/\./g, '\\.')}$`), `backend ${name} saw ${peer}, not the outside client ${OUTSIDE}`);
    counts.set(name!, (counts.get(name!) ?? 0) + 1);
  }
  return counts;
}

test('ingress: 300 connections to one host\'s published port spread over all tasks on both hosts; every backend sees the real client', { skip, timeout: 150_000 }, async () => {
  const r = await fromOutside(hostUnderlay(0), 8080, 300);
  assert.equal(r.code, 0, `client failed: ${r.stderr}\n${topo!.agents.map((a) => a.stderr).join('\n')}`);
  const counts = tally(r.bodies);
  assert.deepEqual([...counts.keys()].sort(), ['web.1', 'web.2', 'web.3']);
  for (const [name, n] of counts) assert.ok(Math.abs(n - 100) <= 1, `${name} got ${n} of 300`);
  // The replies of web.2 and web.3 went back through h1 on learned return paths.
  const s2 = await topo!.hosts[1]!.agent!.stats();
  const lb2 = (s2 as unknown as { lb?: Record<string, number> }).lb ?? {};
  assert.ok((lb2['return_paths_learned'] ?? 0) >= 200, `h2 learned ${lb2['return_paths_learned']} return paths for ~200 flows`);
  assert.ok((lb2['return_paths_replies'] ?? 0) > 0, 'h2 sent replies back through h1');
});

test('ingress: the same published port answers on the other host too (routing mesh)', { skip, timeout: 60_000 }, async () => {
  const r = await fromOutside(hostUnderlay(1), 8080, 30);
  assert.equal(r.code, 0, r.stderr);
  const counts = tally(r.bodies);
  assert.deepEqual([...counts.keys()].sort(), ['web.1', 'web.2', 'web.3']);
});

test('host mode: a published port goes only to the tasks on that host', { skip, timeout: 60_000 }, async () => {
  const r1 = await fromOutside(hostUnderlay(0), 9090, 20);
  assert.equal(r1.code, 0, r1.stderr);
  assert.deepEqual([...tally(r1.bodies).keys()], ['web.1']);
  const r2 = await fromOutside(hostUnderlay(1), 9090, 20);
  assert.equal(r2.code, 0, r2.stderr);
  assert.deepEqual([...tally(r2.bodies).keys()].sort(), ['web.2', 'web.3']);
});

test('a port bound to one host address answers there and nowhere else', { skip, timeout: 60_000 }, async () => {
  const r1 = await fromOutside(hostUnderlay(0), 8181, 6);
  assert.equal(r1.code, 0, r1.stderr);
  assert.equal(r1.bodies.length, 6);
  tally(r1.bodies);
  const r2 = await fromOutside(hostUnderlay(1), 8181, 1);
  assert.notEqual(r2.code, 0, 'port 8181 answered on h2, which it is not bound to');
  assert.match(r2.stderr, /ECONNREFUSED/);
});

test('the overlay is not routable from outside: only published ports enter it', { skip, timeout: 30_000 }, async () => {
  const w = topo!;
  // Point a route at h1 for the overlay subnet, then try a task directly (its server listens on 8080).
  const route = await w.lab.exec(outside, ['ip', 'route', 'add', '10.0.1.0/24', 'via', hostUnderlay(0)]);
  assert.equal(route.code, 0, route.stderr);
  const r = await fromOutside('10.0.1.2', 8080, 1);
  assert.notEqual(r.code, 0, 'a task was reachable from outside without a published port');
  // It was the forward rule that stopped it (not a missing route): its drop counter moved.
  const rules = await w.lab.exec(w.hosts[0]!.ns, ['nft', 'list', 'chain', 'inet', 'vxmesh', 'forward']);
  const m = /counter packets (\d+) bytes \d+ drop comment "only published ports enter the overlay"/.exec(rules.stdout);
  assert.ok(m && Number(m[1]) > 0, `no packet counted by the overlay's forward drop rule:\n${rules.stdout}`);
});

test('PROXY protocol v2: a relayed published port tells PROXY-aware backends the real client', { skip, timeout: 60_000 }, async () => {
  const r = await fromOutside(hostUnderlay(0), 8383, 30);
  assert.equal(r.code, 0, `client failed: ${r.stderr}\n${topo!.agents.map((a) => a.stderr).join('\n')}`);
  const counts = tally(r.bodies);
  assert.deepEqual([...counts.keys()].sort(), ['pp.1', 'pp.2']);
  for (const [name, n] of counts) assert.equal(n, 15, `${name} got ${n} of 30`);
  const s1 = await topo!.hosts[0]!.agent!.stats();
  const lb1 = (s1 as unknown as { lb?: Record<string, number> }).lb ?? {};
  assert.equal(lb1['proxy_relay0_relayed'], 30);
});
