import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createScheduler } from '../../../../src/dataplane/lb/schedulers/index.js';
import { PROTO_TCP, PROTO_UDP, ServiceTables, type ServiceBackend, type ServiceSpec } from '../../../../src/dataplane/lb/services.js';

const v6 = (last: number) => Uint8Array.of(0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last);
const spec = (over: Partial<ServiceSpec> = {}): ServiceSpec => ({
  name: 'web', network: 'demo', networkIndex: 0, vip4: 0x0a000164, vip6: v6(0x64),
  ports: [{ protocol: 'tcp', port: 80, targetPort: 8080 }, { protocol: 'udp', port: 53, targetPort: 5353 }],
  scheduler: 'rr', affinitySeconds: 0, idleSeconds: 7200, preferLocal: false, ...over,
});
const backends = (n: number): ServiceBackend[] =>
  Array.from({ length: n }, (_, i) => ({ name: `task${i}`, weight: 1, state: 'active' as const, ipv4: 0x0a00010a + i, ipv6: v6(0x0a + i) }));

test('frontends are found by network, VIP, protocol and port, for IPv4 and IPv6', () => {
  const t = new ServiceTables((k) => createScheduler(k));
  const idx = t.addService(spec(), backends(3));
  const f = t.frontend4(0, 0x0a000164, PROTO_TCP, 80);
  assert.ok(f >= 0);
  assert.equal(t.frontService[f], idx);
  assert.equal(t.frontTargetPort[f], 8080);
  const u = t.frontend4(0, 0x0a000164, PROTO_UDP, 53);
  assert.equal(t.frontTargetPort[u], 5353);
  assert.equal(t.frontend4(0, 0x0a000164, PROTO_UDP, 80), -1); // wrong protocol
  assert.equal(t.frontend4(0, 0x0a000164, PROTO_TCP, 81), -1); // unpublished port
  assert.equal(t.frontend4(1, 0x0a000164, PROTO_TCP, 80), -1); // other network
  const pkt = Buffer.alloc(40);
  pkt.set(v6(0x64), 24);
  assert.equal(t.frontTargetPort[t.frontend6(0, pkt, 24, PROTO_TCP, 80)], 8080);
  const s = t.service('web')!;
  assert.deepEqual([...s.backend4], [0x0a00010a, 0x0a00010b, 0x0a00010c]);
  assert.deepEqual([...s.backend6.subarray(16, 32)], [...v6(0x0b)]);
});

test('the scheduler picks only active backends; draining and down take no new flows', () => {
  const t = new ServiceTables((k) => createScheduler(k));
  t.addService(spec(), backends(3));
  const s = t.service('web')!;
  const counts = [0, 0, 0];
  for (let i = 0; i < 300; i++) counts[s.scheduler.pick(i)]!++;
  assert.deepEqual(counts, [100, 100, 100]);
  const down: number[] = [];
  t.onBackendDown = (_svc, b) => down.push(b);
  t.setBackendState('web', 'task1', 'draining');
  t.setBackendState('web', 'task2', 'down');
  assert.deepEqual(down, [2]); // only "down" clears flows; draining keeps them
  for (let i = 0; i < 50; i++) assert.equal(s.scheduler.pick(i), 0);
});

test('removing backends reports them so their flows can be cleared', () => {
  const t = new ServiceTables((k) => createScheduler(k));
  t.addService(spec(), backends(3));
  const gone: number[] = [];
  t.onBackendDown = (_svc, b) => gone.push(b);
  t.setBackends('web', backends(3).filter((b) => b.name !== 'task1'));
  assert.deepEqual(gone, [1]);
});

test('bad deltas fail with a code and change nothing', () => {
  const t = new ServiceTables((k) => createScheduler(k));
  t.addService(spec(), backends(2));
  const code = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      return (err as { code: string }).code;
    }
    return 'no error';
  };
  assert.equal(code(() => t.addService(spec(), backends(1))), 'VXM_ERR_DUPLICATE');
  assert.equal(code(() => t.addService(spec({ name: 'api' }), backends(1))), 'VXM_ERR_DUPLICATE'); // same VIP:port
  assert.equal(code(() => t.addService(spec({ name: 'x', vip4: undefined, vip6: undefined }), [])), 'VXM_ERR_NOT_FOUND');
  assert.equal(code(() => t.setBackendState('web', 'nope', 'down')), 'VXM_ERR_NOT_FOUND');
  assert.equal(code(() => t.setBackends('web', [{ name: 'a', weight: 1, state: 'active', ipv4: 1 }])), 'VXM_ERR_NOT_FOUND'); // no IPv6
  // A second service on the same VIP with other ports is fine (ports are the frontend key).
  t.addService(spec({ name: 'api', ports: [{ protocol: 'tcp', port: 443, targetPort: 8443 }] }), backends(1));
  t.removeService('web');
  assert.equal(t.frontend4(0, 0x0a000164, PROTO_TCP, 80), -1);
  assert.ok(t.frontend4(0, 0x0a000164, PROTO_TCP, 443) >= 0, 'the VIP stays while another service uses it');
  t.removeService('api');
  assert.equal(t.frontend4(0, 0x0a000164, PROTO_TCP, 443), -1);
  t.addService(spec(), backends(2)); // everything freed: the same service can come back
  assert.ok(t.frontend4(0, 0x0a000164, PROTO_TCP, 80) >= 0);
});
