import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAgentConfig } from '../../../src/control/agent/config.js';

const good = () => ({
  node: 'h1',
  underlay: { address: '198.51.100.11' },
  networks: [{ name: 'demo', vni: 4097, subnet: '10.0.1.0/24', subnet6: 'fd00:1::/64' }],
  endpoints: [{ network: 'demo', ipv4: '10.0.1.2', ipv6: 'fd00:1::2', tun: 'vxt0', netns: 'task1' }],
  peers: [{ network: 'demo', ipv4: '10.0.1.12', ipv6: 'fd00:1::c', vtep: '198.51.100.12' }],
  services: [{
    name: 'web', network: 'demo', vip: '10.0.1.200', vip6: 'fd00:1::c8', ports: [{ port: 80, targetPort: 8080 }],
    backends: [{ name: 'web.1', ipv4: '10.0.1.2', ipv6: 'fd00:1::2' }, { name: 'web.2', ipv4: '10.0.1.12', ipv6: 'fd00:1::c', weight: 3 }],
  }],
});

test('a valid config gets swarm defaults: port 4789, MTU 1450, gateway .1, 02:42 MACs', () => {
  const c = parseAgentConfig(good());
  assert.equal(c.underlay.port, 4789);
  assert.equal(c.networks[0]!.mtu, 1450);
  assert.equal(c.networks[0]!.gateway, 0x0a000101);
  assert.deepEqual([...c.networks[0]!.gateway6!], [0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual([...c.endpoints[0]!.mac], [0x02, 0x42, 10, 0, 1, 2]);
  assert.equal(c.peers[0]!.port, 4789);
  assert.equal(c.peers[0]!.vtep, 0xc633640c);
  assert.equal(c.dataplane.offloads, true);
  const web = c.services[0]!;
  assert.equal(web.mode, 'vip');
  assert.equal(web.scheduler, 'rr');
  assert.equal(web.idleSeconds, 7200); // not swarm's silent 900 s
  assert.deepEqual(web.ports, [{ protocol: 'tcp', port: 80, targetPort: 8080 }]);
  assert.equal(web.vip4, 0x0a0001c8);
  assert.deepEqual(web.backends.map((b) => [b.name, b.weight, b.state]), [['web.1', 1, 'active'], ['web.2', 3, 'active']]);
});

// Each bad input names the field and says what to do; none throws anything but a ConfigError.
const cases: [string, (c: any) => void, RegExp][] = [
  ['missing underlay', (c) => delete c.underlay, /^underlay: must be an object/],
  ['bad underlay address', (c) => (c.underlay.address = '198.51.100.300'), /underlay\.address: .* is not an IPv4 address/],
  ['VNI out of range', (c) => (c.networks[0].vni = 1 << 24), /networks\[0\]\.vni: must be an integer from 1 to 16777215/],
  ['MTU below IPv6 minimum', (c) => (c.networks[0].mtu = 1000), /networks\[0\]\.mtu/],
  ['endpoint outside subnet', (c) => (c.endpoints[0].ipv4 = '10.0.2.2'), /endpoints\[0\]\.ipv4: not inside 10\.0\.1\.0\/24/],
  ['unknown network', (c) => (c.peers[0].network = 'nope'), /peers\[0\]\.network: unknown network nope/],
  ['duplicate address', (c) => (c.peers[0].ipv4 = '10.0.1.2'), /appears twice/],
  ['bad tun name', (c) => (c.endpoints[0].tun = 'this-name-is-too-long'), /endpoints\[0\]\.tun/],
  ['bad MAC', (c) => (c.peers[0].mac = '02:42:zz:00:00:00'), /peers\[0\]\.mac: .* is not a MAC address/],
  ['duplicate VNI', (c) => c.networks.push({ name: 'b', vni: 4097, subnet: '10.0.2.0/24' }), /VNI 4097 is used twice/],
  ['IPv6 without subnet6', (c) => delete c.networks[0].subnet6, /has no subnet6/],
  ['not an object', (c) => (c.endpoints[0] = 7), /endpoints\[0\]: must be an object/],
  ['the same IPv6 address written two ways', (c) => (c.peers[0].ipv6 = 'FD00:1:0::2'), /appears twice/],
  ['endpoint IPv6 outside subnet6', (c) => (c.endpoints[0].ipv6 = 'fd00:2::2'), /endpoints\[0\]\.ipv6: not inside fd00:1::\/64/],
  ['gateway6 outside subnet6', (c) => (c.networks[0].gateway6 = 'fd00:9::1'), /networks\[0\]\.gateway6: not inside/],
  ['a /32 network', (c) => (c.networks[0].subnet = '255.255.255.255/32'), /networks\[0\]\.subnet: .* too small/],
  ['a service VIP outside the subnet', (c) => (c.services[0].vip = '10.9.9.9'), /services\[0\]\.vip: not inside 10\.0\.1\.0\/24/],
  ['a service VIP that is a task address', (c) => (c.services[0].vip = '10.0.1.2'), /appears twice/],
  ['an unknown scheduler', (c) => (c.services[0].scheduler = 'random'), /services\[0\]\.scheduler: must be one of rr, wrr, lc, sh, maglev/],
  ['a backend without IPv6 for an IPv6 VIP', (c) => delete c.services[0].backends[0].ipv6, /services\[0\]\.backends\[0\]\.ipv6: the service has an IPv6 VIP/],
  ['a port published twice', (c) => c.services[0].ports.push({ port: 80 }), /tcp\/80 is published twice/],
  ['a vip service without VIP', (c) => { delete c.services[0].vip; delete c.services[0].vip6; }, /needs vip or vip6/],
  ['a service name that is not a DNS label', (c) => (c.services[0].name = 'web_1'), /DNS label/],
  ['a namespace name that is a PID', (c) => (c.endpoints[0].netns = '1'), /endpoints\[0\]\.netns: 1 is not a network namespace name/],
  ['ingress publishing on a network that is not ingress', (c) => (c.services[0].publish = [{ published: 8080, target: 8080 }]), /publish\[0\]\.mode: network demo is not an ingress network/],
  ['ingress publishing of a target the service does not have', (c) => { c.networks[0].ingress = true; c.services[0].publish = [{ published: 8080, target: 9999 }]; }, /publish\[0\]\.target: the service has no tcp port with targetPort 9999/],
  ['a published port bound to something that is not an address', (c) => { c.networks[0].ingress = true; c.services[0].publish = [{ published: 8080, address: 'eth0' }]; }, /publish\[0\]\.address: eth0 is not an IP address/],
  ['the same port published twice', (c) => { c.networks[0].ingress = true; c.services[0].publish = [{ published: 8080 }, { published: 8080, mode: 'host' }]; }, /publish\[1\]\.published: tcp port 8080 is published twice/],
  ['a host endpoint with a namespace', (c) => c.endpoints.push({ network: 'demo', ipv4: '10.0.1.90', tun: 'vxm-in', host: true, netns: 'x' }), /endpoints\[1\]\.netns: a host endpoint stays/],
  ['two host endpoints on one network', (c) => c.endpoints.push({ network: 'demo', ipv4: '10.0.1.90', tun: 'vxm-in', host: true }, { network: 'demo', ipv4: '10.0.1.91', tun: 'vxm-in2', host: true }), /endpoints\[2\]\.host: network demo already has a host endpoint/],
];
for (const [name, mutate, message] of cases) {
  test(`rejects ${name} with VXM_ERR_CONFIG`, () => {
    const c = good();
    mutate(c);
    assert.throws(() => parseAgentConfig(c), (err: any) => {
      assert.equal(err.code, 'VXM_ERR_CONFIG');
      assert.match(err.message, message);
      return true;
    });
  });
}

test('publishing: ingress to the VIP with the target defaulting to the first port, host mode, bound addresses', () => {
  const c = good();
  (c.networks[0] as Record<string, unknown>).ingress = true;
  (c.endpoints as unknown[]).push({ network: 'demo', ipv4: '10.0.1.90', ipv6: 'fd00:1::5a', tun: 'vxm-in', host: true });
  (c.services[0] as Record<string, unknown>).publish = [{ published: 8080 }, { published: 9090, mode: 'host', address: '198.51.100.11' }];
  const p = parseAgentConfig(c);
  assert.equal(p.networks[0]!.ingress, true);
  const host = p.endpoints[1]!;
  assert.equal(host.host, true);
  assert.equal(host.netns, '');
  assert.deepEqual(p.services[0]!.publish, [
    { protocol: 'tcp', published: 8080, target: 8080, mode: 'ingress', address: undefined, proxyProtocol: false },
    { protocol: 'tcp', published: 9090, target: 8080, mode: 'host', address: '198.51.100.11', proxyProtocol: false },
  ]);
});
