// Service VIPs end to end: real HTTP servers in task namespaces behind a VIP, a client task
// making short connections, every packet through the vxmesh agents.
//
//   h1: client h1t0 (10.0.1.2), web h1t1 (10.0.1.3), api h1t2 (10.0.1.4)
//   h2: web h2t0 (10.0.1.12), web h2t1 (10.0.1.13), api h2t2 (10.0.1.14)
//   service web: VIP 10.0.1.200 / fd00:1::c8, tcp 80 → 8080 on each backend, round robin
//   service api: DNS round robin (no VIP), the embedded resolver answers its task addresses

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { OverlayTopology } from '../../src/lab/overlay-topology.js';
import { CLIENT, SERVER } from './http-lab.js';

const skip = process.getuid?.() !== 0 ? 'service e2e needs root (network namespaces and TUN devices): run as root' : false;
const VIP = '10.0.1.200';
const VIP6 = 'fd00:1::c8';

// An upstream resolver for the test (vxmesh's own DnsServer, a different table): www.example.org.
const UPSTREAM = `const base = process.argv[1];
const { DnsServer } = await import(base + 'server.js'); const { NameTable } = await import(base + 'records.js');
const table = new NameTable({ domain: 'example.org', ttl: 30 });
table.addService({ name: 'www', mode: 'vip', vip4: '198.51.100.77' });
await new DnsServer({ table, address: '198.51.100.250', port: 53 }).start(); console.log('listening');`;

let topo: OverlayTopology | undefined;

before(async () => {
  if (skip) return;
  topo = await OverlayTopology.build({
    hosts: 2, tasksPerHost: 3,
    services: [{
      name: 'web', network: 'demo', vip: VIP, vip6: VIP6, scheduler: 'rr', ports: [{ protocol: 'tcp', port: 80, targetPort: 8080 }],
      backends: [
        { name: 'web.1', ipv4: '10.0.1.3', ipv6: 'fd00:1::3' },
        { name: 'web.2', ipv4: '10.0.1.12', ipv6: 'fd00:1::c' },
        { name: 'web.3', ipv4: '10.0.1.13', ipv6: 'fd00:1::d' },
      ],
    }, {
      name: 'api', network: 'demo', mode: 'dnsrr', ports: [{ protocol: 'tcp', port: 8080 }],
      backends: [{ name: 'api.1', ipv4: '10.0.1.4' }, { name: 'api.2', ipv4: '10.0.1.14' }],
    }],
    dnsUpstreams: ['198.51.100.250'],
  });
  // The upstream resolver, in its own namespace on the underlay: names under example.org.
  const up = await topo.lab.addNamespace('up');
  await topo.lab.connectHost(up, '198.51.100.250');
  const upstream = topo.lab.spawn(up, ['node', '--input-type=module', '-e', UPSTREAM, new URL('../../src/dataplane/dns/', import.meta.url).href], { lifetimeMs: 240_000 });
  await upstream.waitForLine((l) => l.includes('listening'), 10_000);
  await topo.startAgents({ readyTimeoutMs: 30_000 });
  for (const [h, t, name] of [[0, 1, 'web.1'], [1, 0, 'web.2'], [1, 1, 'web.3']] as const) {
    const p = topo.lab.spawn(topo.task(h, t).ns, ['node', '-e', SERVER, name, '8080'], { lifetimeMs: 240_000 });
    await p.waitForLine((l) => l.includes('listening'), 10_000);
  }
}, { timeout: 90_000 });

after(async () => {
  await topo?.destroy();
});

async function requests(host: string, n: number): Promise<string[]> {
  const w = topo!;
  const r = await w.lab.exec(w.task(0, 0).ns, ['node', '-e', CLIENT, host, String(n)], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `client failed: ${r.stderr}\n${w.agents.map((a) => a.stderr).join('\n')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as string[];
}

test('300 short connections to the VIP: round robin within ±1, each backend sees the real client address', { skip, timeout: 150_000 }, async () => {
  const bodies = await requests(VIP, 300);
  const counts = new Map<string, number>();
  for (const b of bodies) {
    const [name, peer] = b.split(' ');
    counts.set(name!, (counts.get(name!) ?? 0) + 1);
    assert.match(peer!, /(^|:)10\.0\.1\.2$/, `backend ${name} saw ${peer}, not the client 10.0.1.2`);
  }
  assert.deepEqual([...counts.keys()].sort(), ['web.1', 'web.2', 'web.3']);
  for (const [name, n] of counts) assert.ok(Math.abs(n - 100) <= 1, `${name} got ${n} of 300`);
});

test("the IPv6 VIP balances too, and the backend sees the client's IPv6 address", { skip, timeout: 60_000 }, async () => {
  const bodies = await requests(VIP6, 30);
  const names = new Set(bodies.map((b) => b.split(' ')[0]));
  assert.equal(names.size, 3);
  for (const b of bodies) assert.equal(b.split(' ')[1], 'fd00:1::2');
});

test("the agent on the client's node counted the flows and the NATed replies", { skip, timeout: 30_000 }, async () => {
  const st = await topo!.agents[0]!.stats();
  const lb = (st as unknown as { lb: Record<string, number> }).lb;
  assert.ok(lb['new_flows']! >= 330, JSON.stringify(lb));
  assert.ok(lb['replies_nated']! > 0);
  assert.equal(lb['no_backend'], 0);
  // The same counters, scraped as Prometheus would (the agent's namespace, 127.0.0.1:9323).
  const w = topo!;
  const r = await w.lab.exec(w.hosts[0]!.ns, ['curl', '-sf', 'http://127.0.0.1:9323/metrics'], { timeoutMs: 10_000 });
  assert.equal(r.code, 0, r.stderr);
  const flows = /^vxmesh_lb_events_total\{name="new_flows",node="h1"\} (\d+)$/m.exec(r.stdout);
  assert.ok(flows && Number(flows[1]) >= 330, `no new_flows counter in the scrape:\n${r.stdout.slice(0, 2000)}`);
  assert.match(r.stdout, /^vxmesh_dataplane_drops_total\{reason="spoofed_source",node="h1"\} 0$/m);
  assert.match(r.stdout, /^# TYPE vxmesh_lb_events_total counter$/m);
});

async function dig(...args: string[]): Promise<string> {
  const w = topo!;
  const r = await w.lab.exec(w.task(0, 0).ns, ['dig', '@10.0.1.1', '+time=2', '+tries=1', ...args], { timeoutMs: 15_000 });
  assert.equal(r.code, 0, `dig ${args.join(' ')} failed: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

test('dig from a task: the embedded resolver on the gateway answers A, AAAA, tasks., SRV, PTR, NXDOMAIN, and forwards the rest', { skip, timeout: 60_000 }, async () => {
  assert.equal((await dig('+short', 'web.mesh', 'A')).trim(), VIP);
  assert.equal((await dig('+short', 'web', 'AAAA')).trim(), VIP6);
  assert.deepEqual((await dig('+short', 'tasks.web.mesh', 'A')).trim().split('\n').sort(), ['10.0.1.12', '10.0.1.13', '10.0.1.3']);
  assert.match(await dig('+short', '_80._tcp.web.mesh', 'SRV'), /\b80 web\.mesh\./);
  assert.equal((await dig('+short', '-x', VIP)).trim(), 'web.mesh.');
  const missing = await dig('nope.mesh', 'A');
  assert.match(missing, /status: NXDOMAIN/);
  assert.match(missing, /flags: qr aa/);
  // A name it does not own goes to the upstream (in its own namespace) and back to the task.
  const forwarded = await dig('www.example.org', 'A');
  assert.match(forwarded, /www\.example\.org\.\s+\d+\s+IN\s+A\s+198\.51\.100\.77/);
  assert.match(await dig('nope.example.org', 'A'), /status: NXDOMAIN/);
  assert.match(await dig('web.mesh', 'A'), /web\.mesh\.\s+5\s+IN\s+A\s+10\.0\.1\.200/); // TTL 5 s, not 600
});

test('dig from a task: a dnsrr service answers every task address, in changing order', { skip, timeout: 60_000 }, async () => {
  const orders = new Set<string>();
  for (let i = 0; i < 8; i++) {
    const ips = (await dig('+short', 'api.mesh', 'A')).trim().split('\n');
    assert.deepEqual([...ips].sort(), ['10.0.1.14', '10.0.1.4']);
    orders.add(ips.join(','));
  }
  assert.ok(orders.size > 1, 'dnsrr answers never changed order');
});

test('draining a backend under steady load loses no request, and it takes no new one after the reload', { skip, timeout: 120_000 }, async () => {
  const w = topo!;
  const load = w.lab.exec(w.task(0, 0).ns, ['node', '-e', CLIENT, VIP, '600'], { timeoutMs: 100_000 });
  await new Promise((r) => setTimeout(r, 400));
  // Mark web.1 draining in every agent's config and tell the agents to re-read it (SIGHUP).
  const services = w.options.services as { name: string; backends: { name: string; state?: string }[] }[];
  services[0]!.backends[0]!.state = 'draining';
  w.writeConfigs();
  const marks = w.agents.map((a) => a.process.lines.length);
  for (const a of w.agents) process.kill(a.pid, 'SIGHUP');
  for (const [i, a] of w.agents.entries()) {
    await a.process.waitForLine((l) => l.includes('"event":"reloaded"') && l.includes('"web"'), 10_000, { since: marks[i] });
  }
  const r = await load;
  assert.equal(r.code, 0, `requests failed during the drain: ${r.stderr}`);
  const names = (JSON.parse(r.stdout.trim().split('\n').pop()!) as string[]).map((b) => b.split(' ')[0]);
  assert.equal(names.length, 600);
  const last = names.lastIndexOf('web.1');
  assert.ok(last < 600 - 150, `web.1 still got new connections after draining (last at request ${last} of 600)`);
  assert.ok(names.slice(last + 1).every((n) => n === 'web.2' || n === 'web.3'));
});
