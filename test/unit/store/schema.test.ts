import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkInput, newObjectId, readInput, type ChangeableKind } from '../../../src/control/store/schema.js';
import { StoreInvalidError } from '../../../src/control/store/errors.js';

const svc = { id: 's1', name: 'web', task: { image: 'nginx:1.25' } };

// Each refusal: [kind, object, expected path, a phrase of the "what to do" part].
const refusals: [string, ChangeableKind, unknown, string, RegExp][] = [
  ['not an object', 'node', [1], 'object', /expected an object/],
  ['unknown field', 'node', { id: 'n1', name: 'a', color: 'red' }, 'object.color', /unknown field, remove it/],
  ['missing name', 'node', { id: 'n1' }, 'object.name', /required field is missing, set it/],
  ['bad id', 'node', { id: '-x', name: 'a' }, 'object.id', /not a valid id, use 1-64/],
  ['bad name', 'node', { id: 'n1', name: 'has space' }, 'object.name', /not a valid name, use 1-63/],
  ['name too long', 'network', { id: 'w', name: 'a'.repeat(64) }, 'object.name', /not a valid name/],
  ['bad role', 'node', { id: 'n1', name: 'a', role: 'boss' }, 'object.role', /expected one of manager, worker/],
  ['bad availability', 'node', { id: 'n1', name: 'a', availability: 'off' }, 'object.availability', /expected one of active, pause, drain/],
  ['bad address', 'node', { id: 'n1', name: 'a', addresses: ['10.0.0.256'] }, 'object.addresses[0]', /not an IPv4 address, write it as a.b.c.d/],
  ['leading zero', 'node', { id: 'n1', name: 'a', addresses: ['10.0.0.01'] }, 'object.addresses[0]', /without leading zeros/],
  ['duplicate address', 'node', { id: 'n1', name: 'a', addresses: ['10.0.0.1', '10.0.0.1'] }, 'object.addresses[1]', /duplicate address 10.0.0.1, list each once/],
  ['bad label key', 'node', { id: 'n1', name: 'a', labels: { '-k': 'v' } }, 'object.labels.-k', /label key is not valid/],
  ['label value type', 'node', { id: 'n1', name: 'a', labels: { k: 1 } }, 'object.labels.k', /expected a string/],
  ['unaligned subnet', 'network', { id: 'w', name: 'n', subnets: ['10.1.2.3/24'] }, 'object.subnets[0]', /not aligned, use 10.1.2.0\/24/],
  ['subnet too big', 'network', { id: 'w', name: 'n', subnets: ['10.0.0.0/8'] }, 'object.subnets[0]', /use a prefix length from \/16 to \/30/],
  ['overlapping subnets', 'network', { id: 'w', name: 'n', subnets: ['10.1.0.0/16', '10.1.2.0/24'] }, 'object.subnets[1]', /overlaps subnets\[0\], use disjoint subnets/],
  ['gateway outside', 'network', { id: 'w', name: 'n', subnets: ['10.1.2.0/24'], gateway: '10.1.3.1' }, 'object.gateway', /not a host address of 10.1.2.0\/24/],
  ['gateway is broadcast', 'network', { id: 'w', name: 'n', subnets: ['10.1.2.0/24'], gateway: '10.1.2.255' }, 'object.gateway', /pick one between/],
  ['gateway without subnet', 'network', { id: 'w', name: 'n', gateway: '10.1.2.1' }, 'object.gateway', /set subnets or leave the gateway empty/],
  ['vni range', 'network', { id: 'w', name: 'n', vni: 1 << 24 }, 'object.vni', /out of range, use 0 to 16777215/],
  ['mtu range', 'network', { id: 'w', name: 'n', mtu: 100 }, 'object.mtu', /use 576 to 9216/],
  ['driver', 'network', { id: 'w', name: 'n', driver: 'bridge' }, 'object.driver', /expected one of overlay/],
  ['attachable ingress', 'network', { id: 'w', name: 'n', ingress: true, attachable: true }, 'object.attachable', /cannot be attachable/],
  ['missing task', 'service', { id: 's', name: 'x' }, 'object.task', /required field is missing/],
  ['bad image', 'service', { ...svc, task: { image: 'nginx latest' } }, 'object.task.image', /not an image reference/],
  ['env format', 'service', { ...svc, task: { image: 'a', env: ['NOEQUALS'] } }, 'object.task.env[0]', /not KEY=VALUE/],
  ['env duplicate', 'service', { ...svc, task: { image: 'a', env: ['A=1', 'A=2'] } }, 'object.task.env[1]', /duplicate variable A/],
  ['replicas', 'service', { ...svc, mode: { kind: 'replicated', replicas: -1 } }, 'object.mode.replicas', /out of range/],
  ['global with replicas', 'service', { ...svc, mode: { kind: 'global', replicas: 3 } }, 'object.mode.replicas', /remove replicas or use kind replicated/],
  ['scheduler', 'service', { ...svc, scheduler: 'random' }, 'object.scheduler', /expected one of rr, wrr, lc, sh, maglev/],
  ['port range', 'service', { ...svc, endpoint: { ports: [{ published: 0, target: 80 }] } }, 'object.endpoint.ports[0].published', /use 1 to 65535/],
  ['port protocol', 'service', { ...svc, endpoint: { ports: [{ protocol: 'icmp', published: 80, target: 80 }] } }, 'object.endpoint.ports[0].protocol', /tcp, udp/],
  ['address on ingress port', 'service', { ...svc, endpoint: { ports: [{ published: 80, target: 80, address: '10.0.0.1' }] } }, 'object.endpoint.ports[0].address', /set mode to host/],
  ['dnsrr with ingress', 'service', { ...svc, endpoint: { mode: 'dnsrr', ports: [{ published: 80, target: 80 }] } }, 'object.endpoint.ports[0].mode', /set the endpoint mode to vip or publish in host mode/],
  ['duplicate published', 'service', { ...svc, endpoint: { ports: [{ published: 80, target: 80 }, { published: 80, target: 81 }] } }, 'object.endpoint.ports[1]', /duplicate published port tcp\/80/],
  ['duplicate network', 'service', { ...svc, networks: ['w1', 'w1'] }, 'object.networks[1]', /duplicate network w1/],
  ['idle zero', 'service', { ...svc, idleSeconds: 0 }, 'object.idleSeconds', /use 1 to 86400/],
  ['task state', 'task', { id: 't', serviceId: 's', observedState: 'dancing' }, 'object.observedState', /expected one of new, pending/],
  ['desired state', 'task', { id: 't', serviceId: 's', desiredState: 'new' }, 'object.desiredState', /expected one of ready, running, shutdown, remove/],
  ['task address', 'task', { id: 't', serviceId: 's', networks: [{ networkId: 'w', address: 'x' }] }, 'object.networks[0].address', /not an IPv4 address/],
  ['control chars', 'task', { id: 't', serviceId: 's', message: 'a\u0000b' }, 'object.message', /contains control characters, remove them/],
  ['float slot', 'task', { id: 't', serviceId: 's', slot: 1.5 }, 'object.slot', /expected an integer/],
];

for (const [name, kind, value, path, hint] of refusals) {
  test(`schema refuses ${kind}: ${name}, naming ${path}`, () => {
    const r = checkInput(kind, value);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.ok(r.error instanceof StoreInvalidError);
    assert.equal(r.error.code, 'VXM_ERR_STORE_INVALID');
    assert.equal(r.error.path, path);
    assert.ok(r.error.message.startsWith(`${path}: `), r.error.message);
    assert.match(r.error.message, hint);
    assert.ok(!r.error.message.endsWith('.'), 'messages have no trailing period');
  });
}

test('schema fills defaults in a fixed shape and sorts labels', () => {
  const a = readInput('service', { ...svc, labels: { z: '1', a: '2' } }, 'o');
  assert.deepEqual(a, {
    id: 's1',
    name: 'web',
    mode: { kind: 'replicated', replicas: 1 },
    task: { image: 'nginx:1.25', env: [], ports: [] },
    endpoint: { mode: 'vip', ports: [] },
    scheduler: 'rr',
    affinitySeconds: 0,
    idleSeconds: 900,
    networks: [],
    labels: { a: '2', z: '1' },
  });
  assert.deepEqual(Object.keys(a.labels), ['a', 'z']);
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a.task.env));
  // Key order of the input does not matter: the canonical form is the same.
  const b = readInput('service', { labels: { a: '2', z: '1' }, task: { image: 'nginx:1.25' }, name: 'web', id: 's1' }, 'o');
  assert.equal(JSON.stringify(a), JSON.stringify(b));
});

test('schema ignores the fields the store owns, so a read object can be proposed back', () => {
  const n = readInput('node', { id: 'n1', name: 'a', version: 7, createdAt: 3, updatedAt: 7 }, 'o');
  assert.deepEqual(Object.keys(n), ['id', 'name', 'role', 'availability', 'addresses', 'labels']);
  const s = readInput('service', { ...svc, virtualIps: [{ networkId: 'w', address: '10.0.0.2' }], version: 4 }, 'o');
  assert.equal('virtualIps' in s, false);
});

test('newObjectId is 26 base-32 characters and a valid id', () => {
  const id = newObjectId(new Uint8Array(16).fill(0xff));
  assert.equal(id.length, 26);
  assert.match(id, /^[a-z2-7]{26}$/);
  assert.equal(newObjectId(new Uint8Array(16)), 'a'.repeat(26));
  assert.ok(checkInput('node', { id, name: 'x' }).ok);
});
