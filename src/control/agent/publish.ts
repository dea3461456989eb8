// Published ports: the host side of ingress and host-mode publishing, as one nftables table in
// the agent's namespace (the kernel's own DNAT, as swarm's iptables rules and kube-proxy's
// nftables mode do it; the packets then enter the overlay through the network's host endpoint).
//
//   client ──▶ host address:published ──(nft DNAT)──▶ VIP:port        (ingress: every node)
//                                     └─(nft DNAT)──▶ local task:target (host: nodes with a task)
//
// The source stays the client's: the pipeline balances and tunnels, the backend sees the real
// client, and the reply comes back through this node (return paths), where the kernel's
// conntrack un-DNATs it. The forward chain lets only those DNATed flows cross the host
// endpoint, so the overlay is not a routed network for anyone who points a route at it, and
// clamps the TCP MSS of flows into the overlay to the endpoint's MTU (no PMTU black holes for
// outside clients: swarm's MTU pain).
//
// Setup time only: one `nft -f -` per (re)configuration, never on the data path.

import { execFileSync } from 'node:child_process';
import { isIPv6 } from 'node:net';
import { SetupError } from '../../errors.js';

/** Implementation: the table vxmesh owns; replaced whole on every apply, deleted on stop. */
export const NFT_TABLE = 'vxmesh';

export interface PublishedPort {
  protocol: 'tcp' | 'udp';
  published: number;
  /** Host address to answer on; undefined: every local address except loopback. */
  address?: string | undefined;
  /** Where it goes: one address (a VIP) or several (local tasks, spread by the kernel's numgen). */
  to4: string[];
  to6: string[];
  port: number;
  /** For messages: "web ingress 8080->80". */
  label: string;
}

/** The nftables ruleset (text) for these published ports, crossing the given host endpoints. */
export function publishRuleset(ports: readonly PublishedPort[], hostTuns: readonly string[]): string {
  const pre: string[] = [];
  const out: string[] = [];
  for (const p of ports) {
    for (const family of ['ip', 'ip6'] as const) {
      const to = family === 'ip' ? p.to4 : p.to6;
      if (to.length === 0) continue;
      if (p.address !== undefined && isIPv6(p.address) !== (family === 'ip6')) continue;
      const match = [
        `meta nfproto ${family === 'ip' ? 'ipv4' : 'ipv6'}`,
        p.address !== undefined ? `${family} daddr ${p.address}` : `fib daddr type local ${family} daddr != ${family === 'ip' ? '127.0.0.0/8' : '::1'}`,
        `${p.protocol} dport ${p.published}`,
      ].join(' ');
      const addr = (a: string): string => (family === 'ip6' ? `[${a}]` : a);
      const target = to.length === 1
        ? `${addr(to[0]!)}:${p.port}`
        : `numgen inc mod ${to.length} map { ${to.map((a, i) => `${i} : ${a}`).join(', ')} }:${p.port}`;
      const rule = `${match} dnat ${family} to ${target} comment "${p.label}"`;
      pre.push(rule);
      out.push(rule);
    }
  }
  const fwd: string[] = [];
  for (const tun of hostTuns) {
    fwd.push(`oifname "${tun}" tcp flags syn tcp option maxseg size set rt mtu`);
    fwd.push(`oifname "${tun}" ct status dnat accept`);
    fwd.push(`iifname "${tun}" ct status dnat accept`);
    fwd.push(`oifname "${tun}" counter drop comment "only published ports enter the overlay"`);
    fwd.push(`iifname "${tun}" counter drop comment "tasks get no egress through the host endpoint"`);
  }
  const chain = (name: string, head: string, rules: string[]): string =>
    [`  chain ${name} {`, `    ${head}`, ...rules.map((r) => `    ${r}`), '  }'].join('\n');
  return [
    `table inet ${NFT_TABLE} {`,
    chain('prerouting', 'type nat hook prerouting priority dstnat; policy accept;', pre),
    chain('output', 'type nat hook output priority -100; policy accept;', out),
    chain('forward', 'type filter hook forward priority filter; policy accept;', fwd),
    '}',
    '',
  ].join('\n');
}

function nft(args: string[], input?: string): string {
  try {
    return execFileSync('nft', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string; code?: string };
    if (e.code === 'ENOENT') throw new SetupError('nft: not found: install nftables (apt-get install nftables) to publish ports', { cause: err });
    throw new SetupError(`nft ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}: check the published ports and that you are root`, { cause: err });
  }
}

/** Replaces vxmesh's table with one for these ports (atomically: one nft transaction). */
export function applyPublishing(ports: readonly PublishedPort[], hostTuns: readonly string[]): void {
  // "add table; delete table; table {...}" in one file: the old rules go and the new ones come
  // in one transaction, with no window in which published ports stop answering.
  nft(['-f', '-'], `add table inet ${NFT_TABLE}\ndelete table inet ${NFT_TABLE}\n${publishRuleset(ports, hostTuns)}`);
}

/** Removes vxmesh's table (no error if it is not there). */
export function removePublishing(): void {
  try {
    nft(['delete', 'table', 'inet', NFT_TABLE]);
  } catch {
    // already gone
  }
}
