// The standard overlay lab: vxmesh hosts and their tasks on one underlay bridge, optionally a
// host whose overlay side is the Linux kernel's own vxlan device (interop), and optionally a
// kernel-only pair for baselines measured on the same underlay in the same run.
//
//                         underlay: bridge br0 in <prefix>-sw, 198.51.100.0/24, UDP 4789
//      ┌────────────────────────┬────────────────────────┬──────────────────────┬─────────────────┐
//   <prefix>-h1              <prefix>-h2        ...   <prefix>-kh             <prefix>-k1, -k2
//   198.51.100.11            198.51.100.12            198.51.100.40            198.51.100.21, .22
//   vxmesh agent             vxmesh agent             kernel vxlan vx0         kernel vxlan (baseline,
//    ├ tun vxt-1a → h1t0      ├ tun vxt-2a → h2t0       VNI 4097, learning      VNI 4200), each vx0
//    │  10.0.1.2 fd00:1::2    │  10.0.1.12 fd00:1::c    10.0.1.100              moved into its task
//    └ tun vxt-1b → h1t1      └ tun vxt-2b → h2t1       fd00:1::64              namespace k1t0/k2t0
//       10.0.1.3 fd00:1::3       10.0.1.13 fd00:1::d    02:42:0a:00:01:64       10.0.1.201 / .202
//
// Addressing: host h (0-based) has underlay 198.51.100.(11+h); its task t has overlay
// 10.0.1.(2 + 10h + t) and fd00:1::<same number in hex>. Inner MACs are 02:42 + the IPv4 bytes
// (DESIGN.md section 2). Each vxmesh host runs one agent, `node dist/src/control/cli/main.js
// dataplane --config <file>`, inside its namespace; the agent creates the TUNs and moves them
// into the task namespaces (which we create empty).

import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, LabCommandError, readProcessCpuSeconds, type LabProcess, type UnderlayLink } from './netns.js';

// ── the network every lab uses ─────────────────────────────────────────────────────────────

export const NETWORK_NAME = 'demo';
/** First VNI of swarm's allocation range (DESIGN.md section 2). */
export const VNI = 4097;
/** The kernel-only baseline pair's VNI: a different segment on the same underlay. */
export const BASELINE_VNI = 4200;
/** IANA VXLAN port, RFC 7348 section 5. */
export const VXLAN_PORT = 4789;
export const SUBNET = '10.0.1.0/24';
export const GATEWAY = '10.0.1.1';
export const SUBNET6 = 'fd00:1::/64';
export const GATEWAY6 = 'fd00:1::1';
/** 1500 minus 50 bytes of outer IPv4 + UDP + VXLAN + inner Ethernet headers. */
export const NETWORK_MTU = 1450;

export const KERNEL_HOST_UNDERLAY = '198.51.100.40';
export const KERNEL_HOST_IPV4 = '10.0.1.100';
export const KERNEL_HOST_IPV6 = 'fd00:1::64';
export const KERNEL_VXLAN_DEV = 'vx0';

/** The repository root, from this file's place in dist/src/lab/. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const AGENT_MAIN = join(REPO_ROOT, 'dist', 'src', 'control', 'cli', 'main.js');
export const NATIVE_ADDON = join(REPO_ROOT, 'build', 'Release', 'vxmesh.node');

/** What is missing for vxmesh agents to run, as a sentence, or undefined when all is there. */
export function missingAgentPieces(): string | undefined {
  const missing: string[] = [];
  if (!existsSync(AGENT_MAIN)) missing.push(`${AGENT_MAIN} (run: npx tsc -p .)`);
  if (!existsSync(NATIVE_ADDON)) missing.push(`${NATIVE_ADDON} (run: npm run build:native)`);
  return missing.length ? `vxmesh agent not built: missing ${missing.join(' and ')}` : undefined;
}

// ── address helpers ────────────────────────────────────────────────────────────────────────

export function taskIpv4(host: number, task: number): string {
  return `10.0.1.${2 + host * 10 + task}`;
}

export function taskIpv6(host: number, task: number): string {
  return `fd00:1::${(2 + host * 10 + task).toString(16)}`;
}

/** Host h's host endpoint (the way in for published ports): 10.0.1.(90 + h). */
export function hostEndpointIpv4(host: number): string {
  return `10.0.1.${90 + host}`;
}

export function hostEndpointIpv6(host: number): string {
  return `fd00:1::${(90 + host).toString(16)}`;
}

/** The host endpoint's TUN name, in the host's own namespace. */
export const HOST_ENDPOINT_TUN = 'vxm-in';

export function hostUnderlay(host: number): string {
  return `198.51.100.${11 + host}`;
}

/** 02:42 followed by the four IPv4 bytes (docker's inner-MAC convention). */
export function macForIpv4(ipv4: string): string {
  return ['02', '42', ...ipv4.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');
}

// ── the agent config (the contract with src/control/cli) ───────────────────────────────────

export interface AgentConfig {
  node: string;
  underlay: { address: string; port: number };
  dataplane: { offloads: boolean; workers: number };
  networks: {
    name: string;
    vni: number;
    subnet: string;
    gateway: string;
    subnet6: string;
    gateway6: string;
    mtu: number;
    ingress?: boolean;
  }[];
  endpoints: { network: string; ipv4: string; ipv6: string; tun: string; netns?: string; host?: boolean }[];
  peers: { network: string; ipv4: string; ipv6: string; vtep: string; mac?: string; host?: boolean }[];
  /** Service VIPs, the same on every host (the agent's config format). */
  services?: unknown[];
  dns?: { upstreams: string[] };
  metrics?: { address: string; port: number };
  gossip?: { join: string[] };
}

// ── the topology's parts ───────────────────────────────────────────────────────────────────

export interface OverlayTask {
  /** "h1t0" */
  name: string;
  host: OverlayHost;
  index: number;
  ns: string;
  ipv4: string;
  ipv6: string;
  mac: string;
  /** The TUN device the agent creates and moves into ns. */
  tun: string;
}

export interface OverlayHost {
  /** "h1" (the agent's node name) */
  name: string;
  index: number;
  ns: string;
  underlay: UnderlayLink;
  tasks: OverlayTask[];
  configPath: string;
  config: AgentConfig;
  agent: VxmeshAgent | undefined;
}

export interface KernelVxlanHost {
  name: string;
  ns: string;
  underlay: UnderlayLink;
  /** Where the vxlan device lives (the host namespace, or a task namespace it was moved into). */
  overlayNs: string;
  dev: string;
  vni: number;
  ipv4: string;
  ipv6: string;
  mac: string;
}

export interface AgentEvent {
  event: string;
  [key: string]: unknown;
}

export interface AgentStats extends AgentEvent {
  counters: Record<string, number>;
  drops: Record<string, number>;
  native: Record<string, number>;
}

/** Parses one agent stdout line as a JSON event, or undefined for anything else. */
export function parseAgentEvent(line: string): AgentEvent | undefined {
  const text = line.trim();
  if (!text.startsWith('{')) return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    if (value && typeof value === 'object' && typeof (value as AgentEvent).event === 'string') return value as AgentEvent;
  } catch {
    // not an event line
  }
  return undefined;
}

/** One running `vxmesh dataplane` process. */
export class VxmeshAgent {
  ready: AgentEvent | undefined;
  /** The stats line printed on exit, once stop() returned. */
  finalStats: AgentStats | undefined;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    readonly host: OverlayHost,
    readonly process: LabProcess,
  ) {}

  get pid(): number {
    return this.process.pid;
  }

  get stderr(): string {
    return this.process.stderr;
  }

  /** Resolves with the ready event; rejects with the agent's error event or stderr. */
  async waitReady(timeoutMs: number): Promise<AgentEvent> {
    const line = await this.process.waitForLine((text, stream) => {
      const event = stream === 'stdout' ? parseAgentEvent(text) : undefined;
      return event?.event === 'ready' || event?.event === 'error';
    }, timeoutMs);
    const event = parseAgentEvent(line)!;
    if (event.event === 'error') {
      throw new LabCommandError(`Agent ${this.host.name} failed to start: ${line}; stderr: ${this.process.stderr.trim()}`, [AGENT_MAIN]);
    }
    this.ready = event;
    return event;
  }

  /** SIGUSR2: the agent prints a stats line and keeps running. */
  async stats(timeoutMs = 5000): Promise<AgentStats> {
    const since = this.process.lineCount;
    this.process.kill('SIGUSR2');
    const line = await this.process.waitForLine((text, stream) => stream === 'stdout' && parseAgentEvent(text)?.event === 'stats', timeoutMs, { since });
    return parseAgentEvent(line) as AgentStats;
  }

  /** SIGTERM; waits for exit (SIGKILL after graceMs) and returns the final stats line, if any. */
  async stop(graceMs = 5000): Promise<AgentStats | undefined> {
    // An agent that already died: its last stats line (if any) is anywhere in its output.
    const since = this.process.running ? this.process.lineCount : 0;
    this.exit = await this.process.stop(graceMs);
    for (let i = this.process.lines.length - 1; i >= since; i--) {
      const line = this.process.lines[i]!;
      const event = line.stream === 'stdout' ? parseAgentEvent(line.text) : undefined;
      if (event?.event === 'stats') {
        this.finalStats = event as AgentStats;
        break;
      }
    }
    return this.finalStats;
  }

  /** CPU seconds (user + system, all threads) the agent has used so far. */
  cpuSeconds(): number | undefined {
    return readProcessCpuSeconds(this.pid);
  }
}

// ── kernel vxlan devices ───────────────────────────────────────────────────────────────────

export interface KernelVxlanOptions {
  /** The namespace owning the underlay (the UDP socket stays here). */
  hostNs: string;
  underlay: UnderlayLink;
  vni: number;
  ipv4: string;
  ipv6: string;
  /** Move the device into this namespace after creation (a kernel-wired "task"). */
  moveTo?: string;
  /** Underlay addresses to flood BUM traffic to (head-end replication). */
  floodTo: readonly string[];
  mtu?: number;
  /**
   * Compute checksums (and segment) in software before frames leave on the underlay veth
   * (ethtool -K tx off), as a physical NIC would fill them in. Off in the standard topology on
   * purpose: over a veth with offloads on, the kernel's vxlan leaves inner TCP/UDP checksums
   * partial (CHECKSUM_PARTIAL survives veth and the bridge; GSO_PARTIAL chunks carry the sum for
   * one segment) and sends TSO output as whole tunnel GSO frames. vxmesh must handle both
   * (native/offload.c l4_csum_partial, counted as csum_partial_in; pipeline #tunnelSuperFrame),
   * and the interop test checks that it does.
   */
  softwareChecksums?: boolean;
}

/**
 * Creates a kernel vxlan device `vx0` with learning, MAC 02:42+IPv4, the overlay addresses
 * (IPv6 nodad), the network MTU, and one all-zero flood entry per remote VTEP. No static
 * neighbour entries: ARP and neighbour solicitation go out as floods and must be answered.
 */
export async function addKernelVxlan(lab: Lab, name: string, options: KernelVxlanOptions): Promise<KernelVxlanHost> {
  const { hostNs, underlay } = options;
  const mac = macForIpv4(options.ipv4);
  const dev = KERNEL_VXLAN_DEV;
  if (options.softwareChecksums) await lab.execOk(hostNs, ['ethtool', '-K', underlay.dev, 'tx', 'off']);
  await lab.ip(hostNs, ['link', 'add', dev, 'type', 'vxlan', 'id', String(options.vni), 'dstport', String(VXLAN_PORT), 'local', underlay.address, 'dev', underlay.dev, 'learning']);
  let overlayNs = hostNs;
  if (options.moveTo !== undefined) {
    // The device changes namespace; its UDP socket and underlay link stay in hostNs.
    await lab.ip(hostNs, ['link', 'set', dev, 'netns', options.moveTo]);
    overlayNs = options.moveTo;
  }
  await lab.ip(overlayNs, ['link', 'set', dev, 'address', mac]);
  await lab.ip(overlayNs, ['link', 'set', dev, 'mtu', String(options.mtu ?? NETWORK_MTU)]);
  await lab.ip(overlayNs, ['addr', 'add', `${options.ipv4}/24`, 'dev', dev]);
  await lab.ip(overlayNs, ['addr', 'add', `${options.ipv6}/64`, 'dev', dev, 'nodad']);
  await lab.ip(overlayNs, ['link', 'set', dev, 'up']);
  for (const vtep of options.floodTo) {
    await lab.bridgeCmd(overlayNs, ['fdb', 'append', '00:00:00:00:00:00', 'dev', dev, 'dst', vtep]);
  }
  return { name, ns: hostNs, underlay, overlayNs, dev, vni: options.vni, ipv4: options.ipv4, ipv6: options.ipv6, mac };
}

// ── the topology ───────────────────────────────────────────────────────────────────────────

export interface OverlayTopologyOptions {
  /** Number of vxmesh hosts (each runs one agent). */
  hosts: number;
  tasksPerHost: number;
  /** Add the kernel vxlan host 10.0.1.100 on VNI 4097 (interop with vxmesh). */
  kernelHost?: boolean;
  /** Add the kernel-only baseline pair k1t0/k2t0 (VNI 4200, 10.0.1.201-202). */
  kernelBaseline?: boolean;
  /** dataplane.offloads in the agent configs (default true). */
  offloads?: boolean;
  /** dataplane.workers in the agent configs (default 0). */
  workers?: number;
  mtu?: number;
  /** Services for every agent's config (VIPs, ports, scheduler, backends, publish). */
  services?: unknown[];
  /**
   * Make the network an ingress network and give every host a host endpoint (10.0.1.90 + h,
   * TUN vxm-in in the host namespace), so services can publish ports on the hosts' underlay
   * addresses.
   */
  ingress?: boolean;
  /**
   * DNS upstreams for every agent (address[:port] inside this lab). Default none: the agents
   * answer their own names and refuse the rest, so no query ever leaves the lab.
   */
  dnsUpstreams?: string[];
  /**
   * Agents find each other's endpoints by gossip on 7946 (each joins the others) instead of
   * listing them as static peers.
   */
  gossip?: boolean;
  /** Use this lab (default: a new one, destroyed by destroy()). */
  lab?: Lab;
  /** Progress messages (default: silent). */
  log?: (message: string) => void;
}

export class OverlayTopology {
  readonly hosts: OverlayHost[] = [];
  kernelHost: KernelVxlanHost | undefined;
  /** The kernel-only baseline "tasks" (vxlan devices living in k1t0 / k2t0). */
  readonly baseline: KernelVxlanHost[] = [];
  readonly configDir: string;
  #ownsLab: boolean;

  private constructor(
    readonly lab: Lab,
    readonly options: OverlayTopologyOptions,
    ownsLab: boolean,
  ) {
    this.#ownsLab = ownsLab;
    this.configDir = lab.makeTempDir();
  }

  get tasks(): OverlayTask[] {
    return this.hosts.flatMap((h) => h.tasks);
  }

  get agents(): VxmeshAgent[] {
    return this.hosts.flatMap((h) => (h.agent ? [h.agent] : []));
  }

  /** Task `t` of host `h` (both 0-based). */
  task(h: number, t: number): OverlayTask {
    const task = this.hosts[h]?.tasks[t];
    if (!task) throw new LabCommandError(`No task h${h + 1}t${t} in this topology`, []);
    return task;
  }

  /**
   * Creates the namespaces, the underlay, the kernel hosts, and writes one agent config per
   * host. Agents are not started (see startAgents). On failure everything created is removed.
   */
  static async build(options: OverlayTopologyOptions): Promise<OverlayTopology> {
    const lab = options.lab ?? new Lab();
    const topology = new OverlayTopology(lab, options, options.lab === undefined);
    try {
      await topology.#build();
      return topology;
    } catch (error) {
      await topology.destroy();
      throw error;
    }
  }

  async #build(): Promise<void> {
    const { lab, options } = this;
    const log = options.log ?? (() => {});
    const mtu = options.mtu ?? NETWORK_MTU;
    if (options.hosts > 9 || options.tasksPerHost > 9) throw new LabCommandError('At most 9 hosts and 9 tasks per host (addresses 10.0.1.2-99)', []);
    log(`creating the underlay switch ${lab.nsName('sw')} (a Linux bridge, 198.51.100.0/24)`);
    await lab.addBridgeUnderlay();

    for (let h = 0; h < options.hosts; h++) {
      const name = `h${h + 1}`;
      const ns = await lab.addNamespace(name);
      const underlay = await lab.connectHost(ns, hostUnderlay(h));
      const host: OverlayHost = { name, index: h, ns, underlay, tasks: [], configPath: join(this.configDir, `${name}.json`), config: undefined as unknown as AgentConfig, agent: undefined };
      for (let t = 0; t < options.tasksPerHost; t++) {
        const ipv4 = taskIpv4(h, t);
        host.tasks.push({
          name: `${name}t${t}`,
          host,
          index: t,
          ns: await lab.addNamespace(`${name}t${t}`),
          ipv4,
          ipv6: taskIpv6(h, t),
          mac: macForIpv4(ipv4),
          tun: `vxt-${h + 1}${String.fromCharCode(97 + t)}`,
        });
      }
      this.hosts.push(host);
      log(`host ${name}: namespace ${ns}, underlay ${underlay.address} on ${underlay.dev}, ${host.tasks.length} empty task namespaces`);
    }

    if (options.kernelHost) {
      const ns = await lab.addNamespace('kh');
      const underlay = await lab.connectHost(ns, KERNEL_HOST_UNDERLAY);
      this.kernelHost = await addKernelVxlan(lab, 'kh', {
        hostNs: ns,
        underlay,
        vni: VNI,
        ipv4: KERNEL_HOST_IPV4,
        ipv6: KERNEL_HOST_IPV6,
        floodTo: this.hosts.map((h) => h.underlay.address),
        mtu,
      });
      log(`kernel host kh: namespace ${ns}, underlay ${underlay.address}, Linux vxlan ${KERNEL_VXLAN_DEV} VNI ${VNI} with ${KERNEL_HOST_IPV4} and ${KERNEL_HOST_IPV6}, flooding to every vxmesh host`);
    }

    if (options.kernelBaseline) {
      const links: UnderlayLink[] = [];
      for (let k = 0; k < 2; k++) {
        const ns = await lab.addNamespace(`k${k + 1}`);
        links.push(await lab.connectHost(ns, `198.51.100.${21 + k}`));
      }
      for (let k = 0; k < 2; k++) {
        const taskNs = await lab.addNamespace(`k${k + 1}t0`);
        this.baseline.push(
          await addKernelVxlan(lab, `k${k + 1}t0`, {
            hostNs: links[k]!.ns,
            underlay: links[k]!,
            vni: BASELINE_VNI,
            ipv4: `10.0.1.${201 + k}`,
            ipv6: `fd00:1::${(201 + k).toString(16)}`,
            moveTo: taskNs,
            floodTo: [links[1 - k]!.address],
            mtu,
          }),
        );
      }
      log(`kernel baseline: k1t0 10.0.1.201 and k2t0 10.0.1.202 wired with the kernel's vxlan (VNI ${BASELINE_VNI}) over the same bridge`);
    }

    this.writeConfigs();
  }

  /** (Re)writes each host's agent config from the current options. */
  writeConfigs(overrides: { offloads?: boolean; workers?: number } = {}): void {
    const offloads = overrides.offloads ?? this.options.offloads ?? true;
    const workers = overrides.workers ?? this.options.workers ?? 0;
    const mtu = this.options.mtu ?? NETWORK_MTU;
    for (const host of this.hosts) {
      const peers: AgentConfig['peers'] = [];
      const ingress = this.options.ingress ?? false;
      const gossip = this.options.gossip ?? false;
      for (const other of this.hosts) {
        if (other === host || gossip) continue;
        for (const task of other.tasks) peers.push({ network: NETWORK_NAME, ipv4: task.ipv4, ipv6: task.ipv6, vtep: other.underlay.address });
        if (ingress) peers.push({ network: NETWORK_NAME, ipv4: hostEndpointIpv4(other.index), ipv6: hostEndpointIpv6(other.index), vtep: other.underlay.address, host: true });
      }
      if (this.kernelHost) {
        peers.push({ network: NETWORK_NAME, ipv4: this.kernelHost.ipv4, ipv6: this.kernelHost.ipv6, vtep: this.kernelHost.underlay.address, mac: this.kernelHost.mac });
      }
      host.config = {
        node: host.name,
        underlay: { address: host.underlay.address, port: VXLAN_PORT },
        dataplane: { offloads, workers },
        networks: [{ name: NETWORK_NAME, vni: VNI, subnet: SUBNET, gateway: GATEWAY, subnet6: SUBNET6, gateway6: GATEWAY6, mtu, ...(ingress ? { ingress } : {}) }],
        endpoints: [
          ...host.tasks.map((t) => ({ network: NETWORK_NAME, ipv4: t.ipv4, ipv6: t.ipv6, tun: t.tun, netns: t.ns })),
          ...(ingress ? [{ network: NETWORK_NAME, ipv4: hostEndpointIpv4(host.index), ipv6: hostEndpointIpv6(host.index), tun: HOST_ENDPOINT_TUN, host: true }] : []),
        ],
        peers,
        // With gossip each node lists only its own tasks as backends; the others' come by gossip.
        ...(this.options.services ? { services: gossip ? localBackendsOnly(this.options.services, host) : this.options.services } : {}),
        dns: { upstreams: this.options.dnsUpstreams ?? [] },
        // Each agent has its own namespace, so every one can serve Docker's metrics port.
        metrics: { address: '127.0.0.1', port: 9323 },
        ...(gossip ? { gossip: { join: this.hosts.filter((o) => o !== host).map((o) => o.underlay.address) } } : {}),
      };
      writeFileSync(host.configPath, `${JSON.stringify(host.config, null, 2)}\n`);
    }
  }

  /** Starts one agent per host (in parallel) and waits for every ready line. */
  async startAgents(options: { readyTimeoutMs?: number; lifetimeMs?: number } = {}): Promise<void> {
    const missing = missingAgentPieces();
    if (missing) throw new LabCommandError(missing, [AGENT_MAIN]);
    await Promise.all(this.hosts.map((h) => this.startAgent(h, options)));
  }

  /** Starts (or restarts, after it stopped) the agent of one host and waits for its ready line. */
  async startAgent(host: OverlayHost, options: { readyTimeoutMs?: number; lifetimeMs?: number } = {}): Promise<VxmeshAgent> {
    const missing = missingAgentPieces();
    if (missing) throw new LabCommandError(missing, [AGENT_MAIN]);
    if (host.agent?.process.running) throw new LabCommandError(`Agent ${host.name} is already running`, []);
    const proc = this.lab.spawn(host.ns, [process.execPath, AGENT_MAIN, 'dataplane', '--config', host.configPath], { lifetimeMs: options.lifetimeMs ?? 30 * 60_000 });
    const agent = new VxmeshAgent(host, proc);
    host.agent = agent;
    await agent.waitReady(options.readyTimeoutMs ?? 20_000);
    return agent;
  }

  /** Stops every running agent (SIGTERM) and returns their final stats by host name. */
  async stopAgents(graceMs = 5000): Promise<Map<string, AgentStats | undefined>> {
    const result = new Map<string, AgentStats | undefined>();
    await Promise.all(
      this.hosts.map(async (host) => {
        if (host.agent) result.set(host.name, await host.agent.stop(graceMs));
      }),
    );
    return result;
  }

  /** Stops the agents and, if this topology made its lab, destroys it. */
  async destroy(): Promise<void> {
    try {
      await this.stopAgents(3000);
    } finally {
      if (this.#ownsLab) await this.lab.destroy();
    }
  }

  /** An ASCII picture of this topology with its real namespace names and addresses. */
  diagram(): string {
    const lab = this.lab;
    const out: string[] = [];
    out.push(`  underlay switch: bridge br0 in ${lab.nsName('sw')}  (198.51.100.0/24, VXLAN over UDP ${VXLAN_PORT})`);
    const columns: string[][] = [];
    for (const host of this.hosts) {
      const col = [`${host.name}  ${host.ns}`, `eth0 ${host.underlay.address}`, `[vxmesh agent, VNI ${VNI}]`];
      for (const t of host.tasks) {
        col.push(` └ tun ${t.tun} → ${t.name}`);
        col.push(`    ${t.ipv4}  ${t.ipv6}`);
      }
      columns.push(col);
    }
    if (this.kernelHost) {
      const k = this.kernelHost;
      columns.push([`kh  ${k.ns}`, `eth0 ${k.underlay.address}`, `[Linux vxlan ${k.dev}, VNI ${k.vni}]`, ` ${k.ipv4}  ${k.ipv6}`, ` MAC ${k.mac}`, ` learning + flood to vxmesh`]);
    }
    for (const b of this.baseline) {
      columns.push([`${b.name} (kernel baseline)`, `underlay ${b.underlay.address}`, `[Linux vxlan, VNI ${b.vni}]`, ` ${b.ipv4}  ${b.ipv6}`]);
    }
    const width = Math.max(...columns.flat().map((s) => s.length)) + 3;
    const n = columns.length;
    const connectors = columns.map((_, i) => (n === 1 ? '│' : i === 0 ? '┌' : i === n - 1 ? '┐' : '┬'));
    out.push(`  ${connectors.join('─'.repeat(width - 1))}`);
    out.push(`  ${columns.map(() => '│'.padEnd(width)).join('').trimEnd()}`);
    const rows = Math.max(...columns.map((c) => c.length));
    for (let r = 0; r < rows; r++) out.push(`  ${columns.map((c) => (c[r] ?? '').padEnd(width)).join('').trimEnd()}`);
    return out.join('\n');
  }
}

/** The services with only the backends that are this host's tasks (by IPv4 or IPv6 text). */
function localBackendsOnly(services: unknown[], host: OverlayHost): unknown[] {
  const mine = new Set(host.tasks.flatMap((t) => [t.ipv4, t.ipv6]));
  return services.map((svc) => {
    const s = svc as { backends?: { ipv4?: string; ipv6?: string }[] };
    if (!Array.isArray(s.backends)) return svc;
    return { ...s, backends: s.backends.filter((b) => (b.ipv4 !== undefined && mine.has(b.ipv4)) || (b.ipv6 !== undefined && mine.has(b.ipv6))) };
  });
}
