import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PoolBits, VNI_FIRST, canonicalIPv4ToNumber, formatIPv4, lowestFreeSubnet, lowestFreeVni } from '../../../src/control/store/ipam.js';
import { Harness, create, del, network, service, task, update } from './helpers.js';

test('PoolBits: network and broadcast reserved, lowest free first, release makes it lowest again', () => {
  const p = new PoolBits(canonicalIPv4ToNumber('10.0.0.0'), 24);
  assert.equal(p.size, 256);
  assert.equal(p.used, 2);
  assert.ok(p.isSet(0) && p.isSet(255));
  for (let i = 1; i <= 254; i++) {
    assert.equal(p.lowestFree(), i);
    p.set(i);
  }
  assert.equal(p.lowestFree(), -1);
  assert.equal(p.used, 256);
  p.clear(77);
  p.clear(31);
  p.clear(32);
  assert.equal(p.lowestFree(), 31);
  p.set(31);
  assert.equal(p.lowestFree(), 32);
  assert.deepEqual(p.runs(), [[0, 32], [33, 44], [78, 178]]);
  const small = new PoolBits(canonicalIPv4ToNumber('10.0.0.4'), 30);
  assert.equal(small.lowestFree(), 1);
  small.set(1);
  small.set(2);
  assert.equal(small.lowestFree(), -1, 'bits past the end of a /30 are not addresses');
  const c = p.clone();
  c.set(77);
  assert.equal(p.isSet(77), false, 'a clone does not share its bitmap');
  assert.equal(p.equals(p.clone()), true);
});

test('lowestFreeSubnet and lowestFreeVni take the lowest gap', () => {
  const t = (s: string, prefix: number) => ({ base: canonicalIPv4ToNumber(s), prefix });
  const base = canonicalIPv4ToNumber('10.0.0.0');
  assert.equal(formatIPv4(lowestFreeSubnet([], base, 8, 24)), '10.0.0.0');
  assert.equal(formatIPv4(lowestFreeSubnet([t('10.0.0.0', 24), t('10.0.1.0', 24), t('10.0.3.0', 24)], base, 8, 24)), '10.0.2.0');
  assert.equal(formatIPv4(lowestFreeSubnet([t('10.0.0.0', 16)], base, 8, 24)), '10.1.0.0');
  assert.equal(formatIPv4(lowestFreeSubnet([t('10.0.0.128', 30), t('192.168.0.0', 16)], base, 8, 24)), '10.0.1.0');
  assert.equal(lowestFreeSubnet([t('10.0.0.0', 16)], base, 16, 24), -1);
  assert.equal(lowestFreeVni(new Set()), VNI_FIRST);
  assert.equal(lowestFreeVni(new Set([4097, 4098, 4100])), 4099);
  assert.equal(formatIPv4(canonicalIPv4ToNumber('255.1.0.9')), '255.1.0.9');
});

test('store IPAM: VNIs from 4097, default /24s, lowest addresses, release on delete, reuse', () => {
  const h = new Harness();
  h.ok([create('network', network('a')), create('network', network('b')), create('network', network('c', { vni: 4099, subnets: ['10.0.2.0/24'] }))]);
  const vni = (id: string) => h.store.get('network', id)!.vni;
  assert.deepEqual([vni('a'), vni('b'), vni('c')], [4097, 4098, 4099]);
  assert.deepEqual(['a', 'b'].map((id) => h.store.get('network', id)!.subnets[0]), ['10.0.0.0/24', '10.0.1.0/24']);
  h.ok(create('network', network('d')));
  assert.deepEqual([vni('d'), h.store.get('network', 'd')!.subnets[0], h.store.get('network', 'd')!.gateway], [4100, '10.0.3.0/24', '10.0.3.1']);
  h.ok(del('network', 'b', h.store.get('network', 'b')!.version));
  h.ok(create('network', network('e')));
  assert.deepEqual([vni('e'), h.store.get('network', 'e')!.subnets[0]], [4098, '10.0.1.0/24'], 'a freed VNI and subnet are reused lowest-first');

  h.ok(create('service', service('s', { networks: ['a'] })));
  assert.deepEqual(h.store.get('service', 's')!.virtualIps, [{ networkId: 'a', address: '10.0.0.2' }]);
  h.ok([1, 2, 3].map((i) => create('task', task(`t${i}`, 's', { networks: [{ networkId: 'a' }] }))));
  const addr = (id: string) => h.store.get('task', id)!.networks[0]!.address;
  assert.deepEqual(['t1', 't2', 't3'].map(addr), ['10.0.0.3', '10.0.0.4', '10.0.0.5']);
  h.ok(del('task', 't2', h.store.get('task', 't2')!.version));
  assert.equal(h.store.isAllocated('a', '10.0.0.4'), false);
  h.ok(create('task', task('t4', 's', { networks: [{ networkId: 'a' }] })));
  assert.equal(addr('t4'), '10.0.0.4');
  // An explicit address is reserved once; a taken one is refused.
  h.ok(create('task', task('t5', 's', { networks: [{ networkId: 'a', address: '10.0.0.200' }] })));
  let r = h.fails(create('task', task('t6', 's', { networks: [{ networkId: 'a', address: '10.0.0.200' }] })), 'VXM_ERR_STORE_EXISTS');
  assert.match(r.error.message, /10.0.0.200 is already allocated in network net-a/);
  h.fails(create('task', task('t6', 's', { networks: [{ networkId: 'a', address: '10.0.0.1' }] })), 'VXM_ERR_STORE_EXISTS'); // the gateway
  r = h.fails(create('task', task('t6', 's', { networks: [{ networkId: 'a', address: '10.9.9.9' }] })), 'VXM_ERR_STORE_INVALID');
  assert.match(r.error.message, /is not in a subnet of network net-a/);
  // An update keeps an attachment's address unless it names another; moving frees the old one.
  const t1 = h.store.get('task', 't1')!;
  h.ok(update('task', { ...t1, observedState: 'running', networks: [{ networkId: 'a' }] }, t1.version));
  assert.equal(addr('t1'), '10.0.0.3');
  h.ok(update('task', { ...t1, networks: [{ networkId: 'a', address: '10.0.0.100' }] }, h.store.get('task', 't1')!.version));
  assert.equal(addr('t1'), '10.0.0.100');
  assert.equal(h.store.isAllocated('a', '10.0.0.3'), false);
  // dnsrr services hold no VIP.
  h.ok(update('service', { ...h.store.get('service', 's')!, endpoint: { mode: 'dnsrr' } }, h.store.get('service', 's')!.version));
  assert.deepEqual(h.store.get('service', 's')!.virtualIps, []);
  assert.equal(h.store.isAllocated('a', '10.0.0.2'), false);
});

test('store IPAM: an exhausted pool fails the transaction with VXM_ERR_STORE_EXHAUSTED', () => {
  const h = new Harness();
  h.ok([create('network', network('tiny', { subnets: ['10.8.0.0/30'] })), create('service', service('s', { endpoint: { mode: 'dnsrr' } }))]);
  h.ok(create('task', task('t1', 's', { networks: [{ networkId: 'tiny' }] }))); // .2 (the gateway took .1)
  const r = h.fails(create('task', task('t2', 's', { networks: [{ networkId: 'tiny' }] })), 'VXM_ERR_STORE_EXHAUSTED');
  assert.equal(r.error.path, 'changes[0].object.networks[0]');
  assert.match(r.error.message, /no free address in 10.8.0.0\/30, delete unused tasks or use a network with a larger subnet/);
  // A second subnet extends the network: allocation continues in it.
  h.ok(create('network', network('two', { subnets: ['10.8.1.0/30', '10.8.2.0/29'] })));
  h.ok(create('task', task('t3', 's', { networks: [{ networkId: 'two' }] })));
  h.ok(create('task', task('t4', 's', { networks: [{ networkId: 'two' }] })));
  assert.deepEqual(['t3', 't4'].map((id) => h.store.get('task', id)!.networks[0]!.address), ['10.8.1.2', '10.8.2.1']);
});
