import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterStore } from '../../../src/control/store/store.js';
import { encodeTransaction, updateOf } from '../../../src/control/store/commands.js';
import { Harness, create, del, network, node, service, task, update } from './helpers.js';

test('create stamps version, createdAt and updatedAt with the log index', () => {
  const h = new Harness();
  const r = h.ok(create('node', node('n1', { role: 'manager', addresses: ['192.168.1.10'] })));
  assert.equal(r.index, 1);
  assert.equal(r.requestId, 'r1');
  const n = h.store.get('node', 'n1')!;
  assert.deepEqual([n.version, n.createdAt, n.updatedAt], [1, 1, 1]);
  assert.equal(n.role, 'manager');
  assert.equal(n.availability, 'active');
  assert.ok(Object.isFrozen(n));
  h.apply(create('node', node('n2')), 4); // a gap, like the driver's skipped empty entries
  const u = h.ok(updateOf('node', { ...h.store.get('node', 'n1')!, availability: 'drain' }));
  assert.equal(u.index, 7);
  const n1 = h.store.get('node', 'n1')!;
  assert.deepEqual([n1.version, n1.createdAt, n1.updatedAt, n1.availability], [7, 1, 7, 'drain']);
  assert.equal(h.store.getByName('node', 'HOST-N1')!.id, 'n1');
});

test('optimistic concurrency: a stale version fails with a conflict and changes nothing', () => {
  const h = new Harness();
  h.ok(create('node', node('n1')));
  const read = h.store.get('node', 'n1')!;
  h.ok(updateOf('node', { ...read, availability: 'pause' })); // someone else wins
  const r = h.fails(updateOf('node', { ...read, availability: 'drain' }), 'VXM_ERR_STORE_CONFLICT');
  assert.equal(r.changeIndex, 0);
  assert.equal(r.error.path, 'changes[0].expectedVersion');
  assert.match(r.error.message, /node n1 is at version 2, not 1: read it again and reapply the change/);
  assert.equal(h.store.get('node', 'n1')!.availability, 'pause');
  h.fails(del('node', 'n1', 1), 'VXM_ERR_STORE_CONFLICT');
  h.fails(del('node', 'nx', 1), 'VXM_ERR_STORE_NOT_FOUND');
  h.fails(update('node', node('nx'), 1), 'VXM_ERR_STORE_NOT_FOUND');
  h.ok(del('node', 'n1', 2));
  assert.equal(h.store.get('node', 'n1'), undefined);
});

test('transactions are all-or-nothing, including IPAM side effects', () => {
  const h = new Harness();
  h.ok([create('network', network('w1', { subnets: ['10.9.0.0/24'] })), create('service', service('s1', { networks: ['w1'] }))]);
  // Three good changes that allocate addresses, then a bad one: nothing stays.
  const r = h.fails(
    [
      create('task', task('t1', 's1', { networks: [{ networkId: 'w1' }] })),
      create('network', network('w2')),
      create('service', service('s2', { networks: ['w1', 'w2'] })),
      create('task', task('t2', 'missing')),
    ],
    'VXM_ERR_STORE_NOT_FOUND',
  );
  assert.equal(r.changeIndex, 3);
  assert.equal(r.error.path, 'changes[3].object.serviceId');
  assert.equal(h.store.get('task', 't1'), undefined);
  assert.equal(h.store.get('network', 'w2'), undefined);
  assert.equal(h.store.get('pool', 'w2/0'), undefined);
  assert.equal(h.store.isAllocated('w1', '10.9.0.3'), false);
  assert.equal(h.store.get('pool', 'w1/0')!.used, 4); // network, broadcast, gateway, s1's VIP
  // The same changes without the bad one go through together.
  const ok = h.ok([create('task', task('t1', 's1', { networks: [{ networkId: 'w1' }] })), create('network', network('w2'))]);
  assert.deepEqual(ok.events.map((e) => `${e.kind}:${e.op}:${e.object.id}`), ['pool:update:w1/0', 'task:create:t1', 'pool:create:w2/0', 'network:create:w2']);
});

test('uniqueness: names (case-insensitive), ids, VNIs, subnets, one ingress network, ingress ports', () => {
  const h = new Harness();
  h.ok([create('node', node('n1', { name: 'alpha' })), create('network', network('w1', { name: 'front', vni: 5000, subnets: ['10.5.0.0/16'] }))]);
  let r = h.fails(create('node', node('n2', { name: 'ALPHA' })), 'VXM_ERR_STORE_EXISTS');
  assert.match(r.error.message, /node name ALPHA is taken by node n1, pick another name/);
  h.fails(create('node', node('n1', { name: 'beta' })), 'VXM_ERR_STORE_EXISTS');
  h.fails(create('network', network('w2', { name: 'Front' })), 'VXM_ERR_STORE_EXISTS');
  r = h.fails(create('network', network('w2', { vni: 5000 })), 'VXM_ERR_STORE_EXISTS');
  assert.equal(r.error.path, 'changes[0].object.vni');
  r = h.fails(create('network', network('w2', { subnets: ['10.5.7.0/24'] })), 'VXM_ERR_STORE_EXISTS');
  assert.match(r.error.message, /10.5.7.0\/24 overlaps 10.5.0.0\/16 of network w1, pick a disjoint subnet/);
  // Two changes of one transaction collide with each other too.
  h.fails([create('node', node('n2', { name: 'gamma' })), create('node', node('n3', { name: 'gamma' }))], 'VXM_ERR_STORE_EXISTS');
  h.ok(create('network', network('in', { name: 'ingress', ingress: true })));
  r = h.fails(create('network', network('in2', { ingress: true })), 'VXM_ERR_STORE_EXISTS');
  assert.match(r.error.message, /only one may exist/);
  h.ok(create('service', service('s1', { endpoint: { ports: [{ published: 8080, target: 80 }] } })));
  r = h.fails(create('service', service('s2', { endpoint: { ports: [{ published: 8080, target: 80 }] } })), 'VXM_ERR_STORE_EXISTS');
  assert.equal(r.error.path, 'changes[0].object.endpoint.ports[0].published');
  // udp/8080 and host-mode tcp/8080 are different ports.
  h.ok(create('service', service('s2', { endpoint: { ports: [{ protocol: 'udp', published: 8080, target: 80 }, { published: 8080, target: 80, mode: 'host' }] } })));
  // Renaming onto a taken name fails; renaming to a free one works and frees the old name.
  const s1 = h.store.get('service', 's1')!;
  h.fails(updateOf('service', { ...s1, name: 'SVC-S2' }), 'VXM_ERR_STORE_EXISTS');
  h.ok(updateOf('service', { ...s1, name: 'renamed' }));
  assert.equal(h.store.getByName('service', 'svc-s1'), undefined);
  assert.equal(h.store.getByName('service', 'renamed')!.id, 's1');
});

test('referential integrity: tasks need their service and node; deletes of used objects fail', () => {
  const h = new Harness();
  h.ok([create('node', node('n1')), create('network', network('w1')), create('service', service('s1', { networks: ['w1'] }))]);
  let r = h.fails(create('task', task('t1', 's1', { nodeId: 'n9' })), 'VXM_ERR_STORE_NOT_FOUND');
  assert.equal(r.error.path, 'changes[0].object.nodeId');
  r = h.fails(create('service', service('s2', { networks: ['w9'] })), 'VXM_ERR_STORE_NOT_FOUND');
  assert.equal(r.error.path, 'changes[0].object.networks[0]');
  r = h.fails(create('task', task('t1', 's1', { networks: [{ networkId: 'w9' }] })), 'VXM_ERR_STORE_NOT_FOUND');
  assert.equal(r.error.path, 'changes[0].object.networks[0].networkId');
  h.ok(create('task', task('t1', 's1', { nodeId: 'n1', slot: 1, networks: [{ networkId: 'w1' }] })));
  assert.deepEqual(h.store.tasksByNode('n1').map((t) => t.id), ['t1']);
  assert.deepEqual(h.store.tasksByService('s1').map((t) => t.id), ['t1']);

  const w1 = h.store.get('network', 'w1')!;
  r = h.fails(del('network', 'w1', w1.version), 'VXM_ERR_STORE_IN_USE');
  assert.match(r.error.message, /network net-w1 is in use by 2 object\(s\) \(service s1 \.\.\.\), remove them from the network or delete them first/);
  r = h.fails(del('node', 'n1', 1), 'VXM_ERR_STORE_IN_USE');
  assert.match(r.error.message, /node n1 has 1 task\(s\) \(t1 \.\.\.\), delete them or move them/);
  const s1 = h.store.get('service', 's1')!;
  r = h.fails(del('service', 's1', s1.version), 'VXM_ERR_STORE_IN_USE');
  assert.match(r.error.message, /delete them earlier in the same transaction/);
  // In order, in one transaction: the task, the service, the network, the node.
  const t1 = h.store.get('task', 't1')!;
  h.ok([del('task', 't1', t1.version), del('service', 's1', s1.version), del('network', 'w1', w1.version), del('node', 'n1', 1)]);
  assert.equal(h.store.count('network') + h.store.count('pool') + h.store.count('service') + h.store.count('task') + h.store.count('node'), 0);
  assert.deepEqual(h.store.tasksByNode('n1'), []);
});

test('immutable fields: a network keeps its VNI, subnets and gateway; a task keeps its service', () => {
  const h = new Harness();
  h.ok([create('network', network('w1')), create('service', service('s1')), create('service', service('s2'))]);
  const w1 = h.store.get('network', 'w1')!;
  const r = h.fails(updateOf('network', { ...w1, vni: 9999 }), 'VXM_ERR_STORE_INVALID');
  assert.equal(r.error.path, 'changes[0].object.vni');
  assert.match(r.error.message, /cannot change, keep 4097 or create a new network/);
  h.fails(updateOf('network', { ...w1, subnets: ['10.77.0.0/24'], gateway: '10.77.0.1' }), 'VXM_ERR_STORE_INVALID');
  h.fails(updateOf('network', { ...w1, ingress: true }), 'VXM_ERR_STORE_INVALID');
  // Omitted allocated fields mean "unchanged"; mutable ones change.
  h.ok(update('network', { id: 'w1', name: 'renamed', attachable: true, mtu: 1400 }, w1.version));
  const w = h.store.get('network', 'w1')!;
  assert.deepEqual([w.name, w.vni, w.subnets, w.gateway, w.attachable, w.mtu], ['renamed', 4097, ['10.0.0.0/24'], '10.0.0.1', true, 1400]);
  h.ok(create('task', task('t1', 's1')));
  h.fails(update('task', task('t1', 's2'), h.store.get('task', 't1')!.version), 'VXM_ERR_STORE_INVALID');
});

test('ingress: publishing in ingress mode gives a VIP on the ingress network; the ingress network cannot be attached or deleted while used', () => {
  const h = new Harness();
  let r = h.fails(create('service', service('s1', { endpoint: { ports: [{ published: 80, target: 8080 }] } })), 'VXM_ERR_STORE_NOT_FOUND');
  assert.match(r.error.message, /create a network with ingress: true or publish in host mode/);
  h.ok([create('network', network('ing', { ingress: true, subnets: ['10.255.0.0/16'] })), create('network', network('w1', { subnets: ['10.1.0.0/24'] }))]);
  h.ok(create('service', service('s1', { networks: ['w1'], endpoint: { ports: [{ published: 80, target: 8080 }] } })));
  assert.deepEqual(h.store.get('service', 's1')!.virtualIps, [
    { networkId: 'ing', address: '10.255.0.2' },
    { networkId: 'w1', address: '10.1.0.2' },
  ]);
  r = h.fails(create('service', service('s2', { networks: ['ing'] })), 'VXM_ERR_STORE_INVALID');
  assert.match(r.error.message, /is the ingress network, publish a port in ingress mode/);
  h.fails(del('network', 'ing', h.store.ingressNetwork()!.version), 'VXM_ERR_STORE_IN_USE');
  // Moving to host mode releases the ingress VIP and keeps the w1 one.
  const s1 = h.store.get('service', 's1')!;
  h.ok(update('service', { ...s1, endpoint: { mode: 'vip', ports: [{ published: 80, target: 8080, mode: 'host' }] } }, s1.version));
  assert.deepEqual(h.store.get('service', 's1')!.virtualIps, [{ networkId: 'w1', address: '10.1.0.2' }]);
  assert.equal(h.store.isAllocated('ing', '10.255.0.2'), false);
  h.ok(del('network', 'ing', h.store.ingressNetwork()!.version));
});

test('apply never throws: junk, malformed committed entries and stale indexes are counted and skipped', () => {
  const st = new ClusterStore();
  const junk = [new Uint8Array(0), new Uint8Array([1]), new Uint8Array([7, 1, 2]), new Uint8Array([1, 0xc3, 0x28]), Buffer.from('\u0001{"requestId":"x","changes":[{"op":"create","kind":"node","object":{"id":"n"}}]}')];
  let index = 0;
  for (const j of junk) {
    const r = st.apply(++index, j);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error.code, 'VXM_ERR_STORE_INVALID');
      assert.equal(r.changeIndex, -1);
    }
  }
  assert.equal(st.stats.invalidEntries, junk.length);
  assert.equal(st.appliedIndex, junk.length);
  const good = encodeTransaction({ requestId: 'ok', changes: [create('node', node('n1'))] });
  assert.equal(st.apply(index, good).ok, false); // not above the applied index
  assert.equal(st.apply(Number.NaN, good).ok, false);
  assert.equal(st.stats.staleEntries, 2);
  assert.equal(st.get('node', 'n1'), undefined);
  assert.equal(st.apply(++index, good).ok, true);
  assert.equal(st.stats.committed, 1);
  // Random bytes never throw.
  let seed = 12345;
  for (let k = 0; k < 2000; k++) {
    const len = (seed = (seed * 1103515245 + 12345) >>> 0) % 64;
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i++) b[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    if (len > 0 && k % 2 === 0) b[0] = 1;
    assert.doesNotThrow(() => st.apply(++index, b));
  }
});

test('queries: list returns id order and the index to watch from; getByName and networkByVni', () => {
  const h = new Harness();
  h.ok([create('node', node('b')), create('node', node('a')), create('network', network('w', { vni: 7000 }))]);
  const l = h.store.list('node');
  assert.equal(l.index, 1);
  assert.deepEqual(l.items.map((n) => n.id), ['a', 'b']);
  assert.equal(h.store.networkByVni(7000)!.id, 'w');
  assert.equal(h.store.getByName('network', 'NET-W')!.id, 'w');
  assert.deepEqual(h.store.list('pool').items.map((p) => [p.id, p.subnet, p.size, p.used]), [['w/0', '10.0.0.0/24', 256, 3]]);
});
