// A load-balancer lab: a client, a balancer and N nginx backends in network namespaces of one
// Lab (src/lab/netns.ts), routed through the balancer over one veth pair per neighbour. The
// balancer can front the backends with a VIP in several ways (kernel nftables DNAT, HAProxy
// mode tcp, later vxmesh's own VIP dataplane), so benches and e2e tests of service VIPs share
// one topology:
//
//               <prefix>-lbc                 <prefix>-lbb                    <prefix>-lb1..N
//   client 198.51.100.2/28 ── eth0 .1/28  [balancer, ip_forward=1]  ethI .16I+1/28 ── eth0 .16I+2/28 nginx :80
//                                          VIPs: .100 nftables DNAT (not a local address)
//                                                .101 HAProxy (on the balancer's lo)
//                                                .102 reserved for vxmesh
//
// Every host's default route points at the balancer, so backends send their replies back
// through it (needed by DNAT: conntrack rewrites the replies' source to the VIP).
//
// Safety: everything is created through the Lab (its unique prefix, deleted by name even on
// failure), every address is in 198.51.100.0/24 inside these namespaces, and every process is
// spawned by the Lab with a lifetime bound and stopped by PID.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, LabCommandError, LabWaitError, type LabProcess } from './netns.js';
import { AGENT_MAIN } from './overlay-topology.js';

// ── addresses ──────────────────────────────────────────────────────────────────────────────

/** Client side link: 198.51.100.0/28. */
export const LB_CLIENT_ADDRESS = '198.51.100.2';
export const LB_BALANCER_CLIENT_SIDE = '198.51.100.1';
/** The nftables VIP: DNAT in the balancer's prerouting, never a local address. */
export const LB_VIP_NFTABLES = '198.51.100.100';
/** The HAProxy VIP: a /32 on the balancer's lo. */
export const LB_VIP_HAPROXY = '198.51.100.101';
/** Reserved for vxmesh's VIP dataplane (see startVxmeshVip). */
export const LB_VIP_VXMESH = '198.51.100.102';
export const LB_PORT = 80;
const LINK_PREFIX_LENGTH = 28;
const MAX_BACKENDS = 5; // /28 subnets 16..95 stay clear of the VIPs at .100-.102

/**
 * Sysctls set in every namespace. tcp_timestamps=2 (timestamps without per-connection random
 * offsets) lets a reused client port get through a leftover TIME_WAIT socket on the server side
 * instead of stalling on it, which otherwise skews the connection-rate spread.
 */
export const LB_SYSCTLS_ALL: Readonly<Record<string, string>> = {
  'net.ipv4.tcp_timestamps': '2',
  'net.ipv4.ip_local_port_range': '1024 65000',
  'net.core.somaxconn': '4096',
  'net.ipv4.tcp_max_syn_backlog': '4096',
};
/** Extra sysctls in the balancer. */
export const LB_SYSCTLS_BALANCER: Readonly<Record<string, string>> = {
  'net.ipv4.ip_forward': '1',
};
/**
 * Conntrack TIME_WAIT timeout in the balancer once the nftables variant loaded conntrack:
 * each closed connection otherwise holds an entry for 120 s and long runs fill the table
 * (nf_conntrack_max is machine-wide). Recorded by benches.
 */
export const LB_CONNTRACK_TIME_WAIT_S = 10;

// ── the topology ───────────────────────────────────────────────────────────────────────────

export interface LbBackend {
  index: number;
  ns: string;
  address: string;
  /** The balancer's address on this backend's link (the backend's gateway). */
  gateway: string;
  nginx: LabProcess | undefined;
}

export interface LbLab {
  lab: Lab;
  clientNs: string;
  clientAddress: string;
  balancerNs: string;
  backends: LbBackend[];
  /** Config files (nginx, haproxy) live here; removed with the Lab. */
  tempDir: string;
  /** Whether this topology created the Lab (and so destroys it). */
  ownsLab: boolean;
}

export interface LbLabOptions {
  /** Number of backends (1..5). Default 3. */
  backends?: number;
  /** Build inside an existing Lab (it is then not destroyed by destroyLbLab). */
  lab?: Lab;
  /** Start nginx on every backend right away. Default true. */
  startNginx?: boolean;
}

export function backendAddress(index: number): string {
  return `198.51.100.${16 * index + 2}`;
}

function backendGateway(index: number): string {
  return `198.51.100.${16 * index + 1}`;
}

/** A veth pair created directly inside the two namespaces, addressed, up, with a route-back. */
async function link(lab: Lab, a: { ns: string; dev: string; address: string }, b: { ns: string; dev: string; address: string }): Promise<void> {
  // Created inside a's namespace with the peer moved straight into b's: nothing touches the
  // caller's namespace.
  await lab.ip(a.ns, ['link', 'add', a.dev, 'type', 'veth', 'peer', 'name', b.dev, 'netns', b.ns]);
  await lab.ip(a.ns, ['addr', 'add', `${a.address}/${LINK_PREFIX_LENGTH}`, 'dev', a.dev]);
  await lab.ip(b.ns, ['addr', 'add', `${b.address}/${LINK_PREFIX_LENGTH}`, 'dev', b.dev]);
  await lab.ip(a.ns, ['link', 'set', a.dev, 'up']);
  await lab.ip(b.ns, ['link', 'set', b.dev, 'up']);
}

async function applySysctls(lab: Lab, ns: string, sysctls: Readonly<Record<string, string>>): Promise<void> {
  for (const [key, value] of Object.entries(sysctls)) await lab.sysctl(ns, key, value);
}

/**
 * Builds the namespaces, links, routes and sysctls, and (by default) starts nginx on every
 * backend. On any failure everything created so far is torn down before the error propagates.
 */
export async function buildLbLab(options: LbLabOptions = {}): Promise<LbLab> {
  const count = options.backends ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > MAX_BACKENDS) throw new LabCommandError(`backends must be 1..${MAX_BACKENDS}, got ${count}`, []);
  const ownsLab = options.lab === undefined;
  const lab = options.lab ?? new Lab();
  const lb: LbLab = {
    lab,
    clientNs: '',
    clientAddress: LB_CLIENT_ADDRESS,
    balancerNs: '',
    backends: [],
    tempDir: lab.makeTempDir(),
    ownsLab,
  };
  try {
    lb.clientNs = await lab.addNamespace('lbc');
    lb.balancerNs = await lab.addNamespace('lbb');
    await link(lab, { ns: lb.balancerNs, dev: 'eth0', address: LB_BALANCER_CLIENT_SIDE }, { ns: lb.clientNs, dev: 'eth0', address: LB_CLIENT_ADDRESS });
    await lab.ip(lb.clientNs, ['route', 'add', 'default', 'via', LB_BALANCER_CLIENT_SIDE]);
    for (let i = 1; i <= count; i++) {
      const ns = await lab.addNamespace(`lb${i}`);
      const backend: LbBackend = { index: i, ns, address: backendAddress(i), gateway: backendGateway(i), nginx: undefined };
      await link(lab, { ns: lb.balancerNs, dev: `eth${i}`, address: backend.gateway }, { ns, dev: 'eth0', address: backend.address });
      await lab.ip(ns, ['route', 'add', 'default', 'via', backend.gateway]);
      lb.backends.push(backend);
    }
    await lab.ip(lb.balancerNs, ['addr', 'add', `${LB_VIP_HAPROXY}/32`, 'dev', 'lo']);
    for (const ns of [lb.clientNs, lb.balancerNs, ...lb.backends.map((b) => b.ns)]) await applySysctls(lab, ns, LB_SYSCTLS_ALL);
    await applySysctls(lab, lb.balancerNs, LB_SYSCTLS_BALANCER);
    if (options.startNginx ?? true) await startNginx(lb);
    return lb;
  } catch (error) {
    await destroyLbLab(lb).catch(() => undefined);
    throw error;
  }
}

/** Tears down what buildLbLab made: stops every server, and destroys the Lab if it owns it. */
export async function destroyLbLab(lb: LbLab): Promise<void> {
  await Promise.all(lb.backends.map((b) => b.nginx?.stop(2000)));
  if (lb.ownsLab) await lb.lab.destroy();
}

// ── backends: nginx ────────────────────────────────────────────────────────────────────────

/** The body backend i answers with: same length for every backend, so no one is cheaper. */
export function backendBody(index: number): string {
  return `vxmesh lb backend ${index}\n`;
}

export function nginxConfig(backend: LbBackend, dir: string): string {
  const tmp = (name: string): string => join(dir, `nginx${backend.index}-${name}`);
  return `# vxmesh lb lab, backend ${backend.index} (${backend.ns})
daemon off;
master_process on;
worker_processes 1;
pid ${tmp('pid')};
error_log stderr warn;
worker_rlimit_nofile 65536;
events {
  worker_connections 16384;
}
http {
  access_log off;
  client_body_temp_path ${tmp('body')};
  proxy_temp_path ${tmp('proxy')};
  fastcgi_temp_path ${tmp('fastcgi')};
  uwsgi_temp_path ${tmp('uwsgi')};
  scgi_temp_path ${tmp('scgi')};
  keepalive_timeout 65s;
  keepalive_requests 10000000;
  server {
    # Every address of the namespace: the lab link, and the vxmesh overlay TUN when one exists.
    listen ${LB_PORT} backlog=4096;
    location / {
      default_type text/plain;
      return 200 "${backendBody(backend.index).trimEnd()}\\n";
    }
  }
}
`;
}

/** Starts nginx (worker_processes 1, access_log off, keep-alive on) on every backend and waits until each answers. */
export async function startNginx(lb: LbLab): Promise<void> {
  for (const backend of lb.backends) {
    if (backend.nginx?.running) continue;
    const file = join(lb.tempDir, `nginx${backend.index}.conf`);
    writeFileSync(file, nginxConfig(backend, lb.tempDir));
    backend.nginx = lb.lab.spawn(backend.ns, ['nginx', '-c', file, '-p', lb.tempDir], { lifetimeMs: 6 * 3600_000 });
  }
  for (const backend of lb.backends) {
    // Probed from inside the backend's own namespace: up before any client sees it.
    await waitForHttp(lb, backend.ns, backend.address, LB_PORT, backendBody(backend.index), 10_000, backend.nginx);
  }
}

// ── probes ─────────────────────────────────────────────────────────────────────────────────

/**
 * One HTTP/1.0 GET of / from inside ns (socat, bounded): resolves with the response body, or
 * undefined when there was no complete response.
 */
export async function httpGet(lb: LbLab, ns: string, address: string, port = LB_PORT, timeoutMs = 3000): Promise<string | undefined> {
  const result = await lb.lab.exec(ns, ['socat', '-T', String(Math.ceil(timeoutMs / 1000)), '-', `TCP4:${address}:${port},connect-timeout=${Math.ceil(timeoutMs / 1000)}`], {
    input: `GET / HTTP/1.0\r\nHost: ${address}\r\n\r\n`,
    timeoutMs: timeoutMs + 2000,
  });
  if (result.code !== 0) return undefined;
  const split = result.stdout.indexOf('\r\n\r\n');
  if (!/^HTTP\/1\.[01] 200 /.test(result.stdout) || split < 0) return undefined;
  return result.stdout.slice(split + 4);
}

async function waitForHttp(lb: LbLab, ns: string, address: string, port: number, expected: string | undefined, timeoutMs: number, proc?: LabProcess): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last: string | undefined;
  while (Date.now() < until) {
    if (proc && !proc.running) throw new LabWaitError(`${proc.label} exited (${proc.exitCode ?? proc.exitSignal}): ${proc.stderr.trim()}`);
    last = await httpGet(lb, ns, address, port, 1000);
    if (last !== undefined && (expected === undefined || last === expected)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new LabWaitError(`http://${address}:${port}/ from ${ns} did not answer${expected ? ` ${JSON.stringify(expected)}` : ''} within ${timeoutMs} ms (last: ${JSON.stringify(last)})${proc ? `; stderr: ${proc.stderr.trim()}` : ''}`);
}

/**
 * `count` GETs of the VIP from the client; returns how many answers came from each backend
 * index (0 = no/unknown answer). For e2e checks that a VIP spreads over every backend.
 */
export async function spreadOverBackends(lb: LbLab, address: string, count: number, port = LB_PORT): Promise<Map<number, number>> {
  const hits = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    const body = await httpGet(lb, lb.clientNs, address, port);
    const index = lb.backends.find((b) => backendBody(b.index) === body)?.index ?? 0;
    hits.set(index, (hits.get(index) ?? 0) + 1);
  }
  return hits;
}

// ── VIP variants ───────────────────────────────────────────────────────────────────────────

/** A running VIP in front of the backends: where clients connect, and how to take it down. */
export interface LbVip {
  kind: string;
  address: string;
  port: number;
  /** Processes to account CPU to (HAProxy, a vxmesh agent); empty for the kernel. */
  pids: number[];
  stop(): Promise<void>;
}

const NFT_TABLE = 'vxmlb';

/** The nftables ruleset: kube-proxy nftables-mode style round robin DNAT. */
export function nftablesRuleset(vip: string, backends: readonly string[], port = LB_PORT): string {
  const map = backends.map((address, i) => `${i} : ${address}`).join(', ');
  return `table ip ${NFT_TABLE} {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${vip} tcp dport ${port} dnat to numgen inc mod ${backends.length} map { ${map} }
  }
}
`;
}

/**
 * Variant (b): in the balancer, `ip daddr VIP tcp dport 80 dnat to numgen inc mod N map {...}`
 * with forwarding on; replies come back through the balancer (the backends' default route).
 */
export async function startNftablesVip(lb: LbLab, vip = LB_VIP_NFTABLES): Promise<LbVip> {
  const backends = lb.backends.map((b) => b.address);
  await lb.lab.exec(lb.balancerNs, ['nft', 'delete', 'table', 'ip', NFT_TABLE]);
  await lb.lab.execOk(lb.balancerNs, ['nft', '-f', '-'], { input: nftablesRuleset(vip, backends) });
  // The nat table loaded conntrack; its per-namespace sysctls exist from now on.
  await lb.lab.exec(lb.balancerNs, ['sysctl', '-q', '-w', `net.netfilter.nf_conntrack_tcp_timeout_time_wait=${LB_CONNTRACK_TIME_WAIT_S}`]);
  return {
    kind: 'nftables',
    address: vip,
    port: LB_PORT,
    pids: [],
    stop: async () => {
      await lb.lab.exec(lb.balancerNs, ['nft', 'delete', 'table', 'ip', NFT_TABLE]);
    },
  };
}

export function haproxyConfig(vip: string, backends: readonly string[], port = LB_PORT): string {
  return `# vxmesh lb lab: HAProxy mode tcp, round robin
global
  nbthread 1
  # HAProxy raises its FD limit to ~2×maxconn: stay under the usual 20000 hard limit.
  maxconn 8000
  log stderr format raw local0 warning
defaults
  mode tcp
  log global
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend vip
  bind ${vip}:${port}
  default_backend nginx
backend nginx
  balance roundrobin
${backends.map((address, i) => `  server b${i + 1} ${address}:${port}`).join('\n')}
`;
}

/** Variant (c): HAProxy (mode tcp, balance roundrobin, nbthread 1) in the balancer, on the VIP. */
export async function startHaproxyVip(lb: LbLab, vip = LB_VIP_HAPROXY): Promise<LbVip> {
  const file = join(lb.tempDir, 'haproxy.cfg');
  writeFileSync(file, haproxyConfig(vip, lb.backends.map((b) => b.address)));
  await lb.lab.execOk(lb.balancerNs, ['haproxy', '-c', '-q', '-f', file]);
  // -db: foreground, so the PID we hold is HAProxy's own.
  const proc = lb.lab.spawn(lb.balancerNs, ['haproxy', '-db', '-f', file], { lifetimeMs: 6 * 3600_000 });
  try {
    await waitForHttp(lb, lb.clientNs, vip, LB_PORT, undefined, 10_000, proc);
  } catch (error) {
    await proc.stop(1000);
    throw error;
  }
  return {
    kind: 'haproxy',
    address: vip,
    port: LB_PORT,
    pids: [proc.pid],
    stop: async () => {
      await proc.stop(2000);
    },
  };
}

// ── vxmesh: the hook ───────────────────────────────────────────────────────────────────────

export class VxmeshVipNotImplementedError extends Error {
  readonly code = 'VXM_ERR_NOT_IMPLEMENTED';
  constructor() {
    super('not implemented yet');
    this.name = 'VxmeshVipNotImplementedError';
  }
}

/** The overlay the vxmesh variant adds to the lab's namespaces (inside them only). */
export const LB_OVERLAY_SUBNET = '10.0.9.0/24';
export const LB_VIP_OVERLAY = '10.0.9.200';

/**
 * Variant (d), vxmesh's own VIP: one agent in the balancer namespace gives the client and each
 * backend namespace a TUN on a small overlay (10.0.9.0/24) and publishes a round-robin VIP
 * there. The client connects to the VIP through its TUN, the agent DNATs to a backend's TUN
 * and rewrites the reply back: one userspace hop, like the balancer's hop in the other
 * variants, with the same nginx backends and the same wrk.
 */
export async function startVxmeshVip(lb: LbLab, backends: readonly string[]): Promise<LbVip> {
  const overlay = (i: number): string => `10.0.9.${10 + i}`;
  const config = {
    node: 'lb',
    underlay: { address: '127.0.0.1', port: 4789 },
    networks: [{ name: 'lb', vni: 4300, subnet: LB_OVERLAY_SUBNET, mtu: 1450 }],
    endpoints: [
      { network: 'lb', ipv4: '10.0.9.2', tun: 'vxc0', netns: lb.clientNs },
      ...lb.backends.slice(0, backends.length).map((b, i) => ({ network: 'lb', ipv4: overlay(i), tun: `vxb${i}`, netns: b.ns })),
    ],
    services: [{
      name: 'web', network: 'lb', vip: LB_VIP_OVERLAY, scheduler: 'rr', ports: [{ protocol: 'tcp', port: LB_PORT, targetPort: LB_PORT }],
      backends: backends.map((_, i) => ({ name: `web.${i + 1}`, ipv4: overlay(i) })),
    }],
    dns: { upstreams: [] },
  };
  const file = join(lb.tempDir, 'vxmesh-lb.json');
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  const agent = lb.lab.spawn(lb.balancerNs, ['node', AGENT_MAIN, 'dataplane', '--config', file], { lifetimeMs: 3_600_000 });
  try {
    await agent.waitForLine((l) => l.includes('"event":"ready"'), 30_000);
  } catch (err) {
    await agent.stop();
    throw err;
  }
  return {
    kind: 'vxmesh', address: LB_VIP_OVERLAY, port: LB_PORT, pids: agent.pid ? [agent.pid] : [],
    stop: async () => {
      await agent.stop();
    },
  };
}
