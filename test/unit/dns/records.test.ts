import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NameTable, parseIPv6 } from '../../../src/dataplane/dns/records.js';
import { VxmeshError } from '../../../src/errors.js';

function code(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof VxmeshError);
    return e.code;
  }
  return 'no error';
}

test('lookup: bare and suffixed names, tasks., SRV, task names, apex, nxdomain, foreign', () => {
  const t = new NameTable({ domain: 'swarm.local' });
  t.addService({ name: 'Web', mode: 'vip', vip4: '10.1.0.10', ports: [{ name: 'http', port: 80, protocol: 'tcp' }] });
  t.addTask('web', { name: 'web.1.abc', ipv4: '10.1.0.11' });
  assert.equal(t.lookup('web').kind, 'service');
  assert.equal(t.lookup('web.swarm.local').kind, 'service');
  assert.equal(t.lookup('tasks.web.swarm.local').kind, 'tasks');
  assert.equal(t.lookup('_http._tcp.web').kind, 'srv');
  assert.equal(t.lookup('web.1.abc.swarm.local').kind, 'task');
  assert.equal(t.lookup('swarm.local').kind, 'apex');
  assert.equal(t.lookup('db.swarm.local').kind, 'nxdomain');
  assert.equal(t.lookup('db').kind, 'foreign');
  assert.equal(t.lookup('web.mesh').kind, 'foreign');
  assert.equal(t.ptrV4(0x0a01000a), 'web.swarm.local');
  assert.equal(t.ptrV4(0x0a01000b), 'web.1.abc.swarm.local');
});

test('deltas: remove service drops names and reverse entries; setTasks replaces atomically', () => {
  const t = new NameTable();
  t.addService({ name: 'web', mode: 'dnsrr', ports: [{ name: 'http', port: 80, protocol: 'tcp' }] });
  t.setTasks('web', [{ name: 'web.1.a', ipv4: '10.0.0.1' }, { name: 'web.2.b', ipv4: '10.0.0.2', ipv6: 'fd00::2' }]);
  assert.equal(t.service('web')?.tasks.length, 2);
  // A clash leaves the old tasks in place.
  t.addService({ name: 'db', mode: 'vip', vip4: '10.0.0.9' });
  assert.equal(code(() => t.setTasks('web', [{ name: 'web.3.c', ipv4: '10.0.0.9' }])), 'VXM_ERR_DUPLICATE');
  assert.equal(t.service('web')?.tasks.length, 2);
  // Re-setting the same tasks is fine (their own names and addresses are not clashes).
  t.setTasks('web', [{ name: 'web.2.b', ipv4: '10.0.0.2', ipv6: 'fd00::2' }]);
  assert.equal(t.lookup('web.1.a.mesh').kind, 'nxdomain');
  assert.equal(t.ptrV4(0x0a000001), undefined);
  t.removeTask('web', 'web.2.b');
  assert.equal(t.ptrV6('fd000000000000000000000000000002'), undefined);
  t.removeService('web');
  assert.equal(t.lookup('web.mesh').kind, 'nxdomain');
  assert.equal(t.lookup('_http._tcp.web.mesh').kind, 'nxdomain');
});

test('errors: stable codes for duplicates, unknowns and bad input', () => {
  const t = new NameTable();
  t.addService({ name: 'web', mode: 'vip', vip4: '10.0.0.1' });
  assert.equal(code(() => t.addService({ name: 'web', mode: 'vip' })), 'VXM_ERR_DUPLICATE');
  assert.equal(code(() => t.addService({ name: 'api', mode: 'vip', vip4: '10.0.0.1' })), 'VXM_ERR_DUPLICATE');
  assert.equal(code(() => t.addService({ name: 'bad name', mode: 'vip' })), 'VXM_ERR_CONFIG');
  assert.equal(code(() => t.addService({ name: 'tasks', mode: 'vip' })), 'VXM_ERR_CONFIG');
  assert.equal(code(() => t.addService({ name: 'x', mode: 'vip', vip4: '300.0.0.1' })), 'VXM_ERR_CONFIG');
  assert.equal(code(() => t.addService({ name: 'x', mode: 'vip', ports: [{ name: 'h', port: 0, protocol: 'tcp' }] })), 'VXM_ERR_CONFIG');
  assert.equal(code(() => t.setTasks('nope', [])), 'VXM_ERR_NOT_FOUND');
  assert.equal(code(() => t.removeTask('web', 'nope')), 'VXM_ERR_NOT_FOUND');
  assert.equal(code(() => t.addTask('web', { name: 'web', ipv4: '10.0.0.5' })), 'VXM_ERR_DUPLICATE');
  assert.equal(code(() => new NameTable({ ttl: -1 })), 'VXM_ERR_CONFIG');
});

test('parseIPv6 handles compressed, full and embedded-IPv4 forms', () => {
  const hex = (s: string) => Buffer.from(parseIPv6('t', s)).toString('hex');
  assert.equal(hex('fd00:1::a'), 'fd00000100000000000000000000000a');
  assert.equal(hex('::'), '00000000000000000000000000000000');
  assert.equal(hex('::1'), '00000000000000000000000000000001');
  assert.equal(hex('1:2:3:4:5:6:7:8'), '00010002000300040005000600070008');
  assert.equal(hex('::ffff:10.1.0.10'), '00000000000000000000ffff0a01000a');
  assert.equal(hex('fe80::'), 'fe800000000000000000000000000000');
});
