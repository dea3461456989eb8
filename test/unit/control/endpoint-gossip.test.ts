import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAgentConfig } from '../../../src/control/agent/config.js';
import { BACKEND_TABLE, decodeBackend, decodeEndpoint, encodeBackend, encodeEndpoint, EndpointGossip, ENDPOINT_TABLE, type GossipBackend } from '../../../src/control/agent/endpoint-gossip.js';
import type { PeerSpec, TableWriter } from '../../../src/dataplane/tables.js';
import { TableError } from '../../../src/errors.js';
import { GossipTables } from '../../../src/control/swim/tables/index.js';
import { formatIPv4 } from '../../../src/dataplane/packet/ipv4.js';

const config = (node = 'h1') => parseAgentConfig({
  node,
  underlay: { address: '198.51.100.11' },
  networks: [{ name: 'demo', vni: 4097, subnet: '10.0.1.0/24', subnet6: 'fd00:1::/64' }],
  endpoints: [{ network: 'demo', ipv4: '10.0.1.2', ipv6: 'fd00:1::2', tun: 'vxt0', netns: 'task1' }],
  peers: [{ network: 'demo', ipv4: '10.0.1.50', vtep: '198.51.100.50' }],
  gossip: { bind: '127.0.0.1', port: 17946, join: ['198.51.100.12', '198.51.100.13:7000'] },
  services: [{ name: 'web', network: 'demo', vip: '10.0.1.200', ports: [{ port: 80, targetPort: 8080 }], backends: [{ name: 'web.1', ipv4: '10.0.1.2' }] }],
});

/** A TableWriter that records peers and refuses duplicates, as the dataplane's does. */
class FakeTables implements TableWriter {
  readonly peers = new Map<string, PeerSpec>();
  constructor(taken: string[]) {
    for (const t of taken) this.peers.set(t, { network: 'demo', ipv4: 0, mac: new Uint8Array(6), vtep: 0, port: 0 });
  }
  addNetwork(): void {}
  removeNetwork(): void {}
  addLocalEndpoint(): number { return 0; }
  removeLocalEndpoint(): never { throw new Error('unused'); }
  addPeer(spec: PeerSpec): void {
    const k = `${spec.network}/${formatIPv4(spec.ipv4!)}`;
    if (this.peers.has(k)) throw new TableError('VXM_ERR_DUPLICATE', `${k} exists`);
    this.peers.set(k, spec);
  }
  removePeer(network: string, ipv4: number | undefined): void {
    const k = `${network}/${formatIPv4(ipv4!)}`;
    if (!this.peers.delete(k)) throw new TableError('VXM_ERR_NOT_FOUND', k);
  }
}

test('endpoint gossip config: defaults to the underlay address and 7946, join takes address[:port]', () => {
  const c = parseAgentConfig({ ...JSON.parse(JSON.stringify({ node: 'h1', underlay: { address: '198.51.100.11' }, networks: [], endpoints: [] })), gossip: { join: ['198.51.100.12', '[fd00::1]:7000'] } });
  assert.deepEqual(c.gossip, { bind: '198.51.100.11', port: 7946, join: ['198.51.100.12:7946', '[fd00::1]:7000'], seal: 'none', keyFile: undefined, clusterLabel: undefined });
  const base = { node: 'h1', underlay: { address: '198.51.100.11' }, networks: [], endpoints: [] };
  assert.throws(() => parseAgentConfig({ ...base, gossip: { join: ['nope'] } }), /gossip.join\[0\]/);
  assert.throws(() => parseAgentConfig({ ...base, gossip: { seal: 'encrypt' } }), /keyFile/);
});

test('an endpoint value round-trips into a peer on the sender\'s VTEP; damaged values are refused', () => {
  const c = config();
  const ep = c.endpoints[0]!;
  const v = encodeEndpoint(ep, c.underlay.addressU32, 4789);
  const p = decodeEndpoint('demo', '10.0.1.2', v)!;
  assert.equal(formatIPv4(p.ipv4!), '10.0.1.2');
  assert.equal(formatIPv4(p.vtep), '198.51.100.11');
  assert.deepEqual([...p.mac], [...ep.mac]);
  assert.deepEqual([...p.ipv6!], [...ep.ipv6!]);
  assert.equal(p.port, 4789);
  const bad = (o: unknown) => decodeEndpoint('demo', '10.0.1.2', new TextEncoder().encode(JSON.stringify(o)));
  const good = JSON.parse(new TextDecoder().decode(v)) as Record<string, unknown>;
  assert.equal(bad({ ...good, v: 2 }), undefined);
  assert.equal(bad({ ...good, mac: '02:42:0a' }), undefined);
  assert.equal(bad({ ...good, vtep: '300.1.1.1' }), undefined);
  assert.equal(bad({ ...good, port: 0 }), undefined);
  assert.equal(bad({ ...good, ipv6: 'fd00::zz' }), undefined);
  assert.equal(decodeEndpoint('demo', 'not-an-ip', v), undefined);
  assert.equal(decodeEndpoint('demo', '10.0.1.2', new Uint8Array([0xff])), undefined);
});

test('remote entries become peers, updates move them, a gone owner\'s are removed, collisions and other networks are counted', () => {
  const fake = new FakeTables(['demo/10.0.1.50']);
  const changes: string[] = [];
  const g = new EndpointGossip({ config: config(), tables: fake, onPeer: (c) => changes.push(`${c.op} ${c.ipv4} ${c.node}`) });
  try {
    const h2 = new GossipTables({ self: 'h2', epoch: 5 });
    const other = config('h2');
    const ep = { ...other.endpoints[0]!, ipv4: 0x0a01000c, ipv6: undefined };
    const send = (b: { payload: Uint8Array }) => g.gossipTables.receive(1000, 'h2', b.payload);
    send(h2.set(1000, ENDPOINT_TABLE, 'demo', '10.0.1.12', encodeEndpoint(ep, 0xc633640c, 4789)));
    send(h2.set(1000, ENDPOINT_TABLE, 'demo', '10.0.1.50', encodeEndpoint(ep, 0xc633640c, 4789))); // a configured peer's address
    send(h2.set(1000, ENDPOINT_TABLE, 'other', '10.9.0.1', encodeEndpoint(ep, 0xc633640c, 4789)));
    g.step(1000, []);
    assert.equal(formatIPv4(fake.peers.get('demo/10.0.1.12')!.vtep), '198.51.100.12');
    assert.deepEqual(changes, ['add 10.0.1.12 h2']);
    assert.equal(g.counters.conflicts, 1);
    assert.equal(g.counters.otherNetwork, 1);
    // The task moved to another VTEP: the peer follows.
    send(h2.set(1001, ENDPOINT_TABLE, 'demo', '10.0.1.12', encodeEndpoint(ep, 0xc633640d, 4789)));
    g.step(1001, []);
    assert.equal(formatIPv4(fake.peers.get('demo/10.0.1.12')!.vtep), '198.51.100.13');
    assert.equal(g.counters.updated, 1);
    // h2 is declared dead: its entries are fenced and the peer goes.
    g.gossipTables.memberGone(1002, 'h2', 5);
    g.step(1002, []);
    assert.equal(fake.peers.has('demo/10.0.1.12'), false);
    assert.deepEqual(changes.at(-1), 'remove 10.0.1.12 h2');
    assert.equal(fake.peers.has('demo/10.0.1.50'), true, 'the configured peer stays');
  } finally {
    g.close();
  }
});

test('backends: a value round-trips; damaged ones are refused', () => {
  const b: GossipBackend = { name: 'web.2', ipv4: 0x0a01000c, ipv6: undefined, weight: 3, state: 'draining' };
  const d = decodeBackend('web/web.2', encodeBackend(b))!;
  assert.deepEqual(d, { service: 'web', backend: b });
  const raw = JSON.parse(new TextDecoder().decode(encodeBackend(b))) as Record<string, unknown>;
  const bad = (o: unknown, key = 'web/web.2') => decodeBackend(key, new TextEncoder().encode(JSON.stringify(o)));
  assert.equal(bad(raw, 'noslash'), undefined);
  assert.equal(bad(raw, 'web/'), undefined);
  assert.equal(bad({ ...raw, state: 'gone' }), undefined);
  assert.equal(bad({ ...raw, weight: -1 }), undefined);
  assert.equal(bad({ ...raw, ipv4: '10.0.1' }), undefined);
  assert.equal(bad({ v: 1, weight: 1, state: 'active' }), undefined, 'no address');
});

test('other nodes\' backends of a known service are reported; a gone node\'s drop out; unknown services are counted', () => {
  const seen: string[][] = [];
  const g = new EndpointGossip({ config: config(), tables: new FakeTables([]), onBackends: (svc, remote) => seen.push([svc, ...remote.map((b) => b.name)]) });
  try {
    const h2 = new GossipTables({ self: 'h2', epoch: 9 });
    const send = (b: { payload: Uint8Array }) => g.gossipTables.receive(1000, 'h2', b.payload);
    send(h2.set(1000, BACKEND_TABLE, 'demo', 'web/web.2', encodeBackend({ name: 'web.2', ipv4: 0x0a01000c, ipv6: undefined, weight: 1, state: 'active' })));
    send(h2.set(1000, BACKEND_TABLE, 'demo', 'api/api.1', encodeBackend({ name: 'api.1', ipv4: 0x0a01000d, ipv6: undefined, weight: 1, state: 'active' })));
    g.step(1000, []);
    assert.deepEqual(seen, [['web', 'web.2']]);
    assert.equal(g.counters.otherService, 1);
    assert.deepEqual(g.remoteBackends('web').map((b) => b.name), ['web.2']);
    g.gossipTables.memberGone(1001, 'h2', 9);
    g.step(1001, []);
    assert.deepEqual(seen.at(-1), ['web']);
    assert.deepEqual(g.remoteBackends('web'), []);
  } finally {
    g.close();
  }
});
