import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { publishRuleset } from '../../../src/control/agent/publish.js';

const ports = [
  { protocol: 'tcp' as const, published: 8080, to4: ['10.0.1.200'], to6: ['fd00:1::c8'], port: 80, label: 'web ingress tcp/8080' },
  { protocol: 'udp' as const, published: 5353, address: '198.51.100.11', to4: ['10.0.1.2', '10.0.1.3'], to6: [], port: 53, label: 'dns host udp/5353' },
  { protocol: 'tcp' as const, published: 8443, address: 'fd00:99::1', to4: ['10.0.1.200'], to6: ['fd00:1::c8'], port: 443, label: 'v6 only' },
];

test('the ruleset DNATs each published port per family, spreads host mode with numgen, binds addresses', () => {
  const r = publishRuleset(ports, ['vxm-in']);
  assert.match(r, /meta nfproto ipv4 fib daddr type local ip daddr != 127\.0\.0\.0\/8 tcp dport 8080 dnat ip to 10\.0\.1\.200:80/);
  assert.match(r, /meta nfproto ipv6 fib daddr type local ip6 daddr != ::1 tcp dport 8080 dnat ip6 to \[fd00:1::c8\]:80/);
  assert.match(r, /ip daddr 198\.51\.100\.11 udp dport 5353 dnat ip to numgen inc mod 2 map \{ 0 : 10\.0\.1\.2, 1 : 10\.0\.1\.3 \}:53/);
  // An IPv6 bind address publishes only the IPv6 destination.
  assert.doesNotMatch(r, /ip daddr fd00:99::1/);
  assert.match(r, /ip6 daddr fd00:99::1 tcp dport 8443 dnat ip6 to \[fd00:1::c8\]:443/);
  assert.match(r, /oifname "vxm-in" tcp flags syn tcp option maxseg size set rt mtu/);
  assert.match(r, /iifname "vxm-in" counter drop/);
});

test('nft accepts the ruleset (syntax check, nothing applied)', { skip: process.getuid?.() !== 0 || !hasNft() ? 'needs root and nft' : false }, () => {
  execFileSync('nft', ['-c', '-f', '-'], { input: publishRuleset(ports, ['vxm-in']), stdio: ['pipe', 'pipe', 'pipe'] });
});

function hasNft(): boolean {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
