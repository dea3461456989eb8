// The node agent's dataplane half: turns an AgentConfig into devices and table deltas, runs
// the dataplane, and reports what it counted. Until the control plane exists, the config
// file is the only source of deltas.

import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Dataplane } from '../../dataplane/dataplane.js';
import { nativeStats } from '../../dataplane/io/native.js';
import { NATIVE_STAT_NAMES, TUN_F_ALL } from '../../dataplane/io/native-api.js';
import { NativeTun } from '../../dataplane/io/tun.js';
import { NativeUdpBind } from '../../dataplane/io/udp-bind.js';
import { ConfigError } from '../../errors.js';
import { formatIPv4, formatIPv6, type AgentConfig } from './config.js';
import { placeTaskTun } from './task-netns.js';

/** Implementation: sample the event loop every 10 ms; cheap, and fine enough for timer lag. */
const LOOP_DELAY_RESOLUTION_MS = 10;

export interface AgentStats {
  counters: Record<string, number>;
  drops: Record<string, number>;
  native: Record<string, number>;
  /** Timer lag on the agent's event loop, in milliseconds: what gossip/raft timers would feel. */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  underlay: { gro: boolean; gso: boolean; rcvbuf: number; sndbuf: number };
  tunOffloads: Record<string, number>;
}

export class OverlayAgent {
  readonly config: AgentConfig;
  readonly dataplane: Dataplane;
  readonly udp: NativeUdpBind;
  readonly #tuns: NativeTun[] = [];
  readonly #loopDelay: IntervalHistogram;

  constructor(config: AgentConfig) {
    this.config = config;
    this.udp = NativeUdpBind.open(config.underlay.address, config.underlay.port, config.underlay.socketBuffer);
    this.dataplane = new Dataplane(this.udp, { coalesce: config.dataplane.coalesce, dataPort: config.underlay.port });
    this.#loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  }

  /** Creates every device and table entry, then starts forwarding. */
  start(): void {
    const { tables } = this.dataplane;
    const cfg = this.config;
    if (cfg.services.length > 0) {
      // Parsed and validated already (so configs can be written now), but nothing forwards
      // to a VIP yet: refuse rather than pretend.
      throw new ConfigError('services', 'service VIPs are parsed but not forwarded by this build yet (issue 4): remove "services" to run the overlay');
    }
    try {
      for (const n of cfg.networks) {
        tables.addNetwork({ name: n.name, vni: n.vni, mtu: n.mtu, gateway4: n.gateway, gateway6: n.gateway6 });
      }
      for (const p of cfg.peers) tables.addPeer(p);
      for (const ep of cfg.endpoints) {
        const tun = NativeTun.open(ep.tun, cfg.dataplane.offloads ? TUN_F_ALL : 0);
        this.#tuns.push(tun);
        const net = cfg.networks.find((n) => n.name === ep.network)!;
        placeTaskTun(ep, net.mtu, cfg.dataplane.offloads);
        tables.addLocalEndpoint({ network: ep.network, ipv4: ep.ipv4, ipv6: ep.ipv6, mac: ep.mac, tun });
      }
    } catch (err) {
      this.close();
      throw err;
    }
    this.dataplane.start();
    this.#loopDelay.enable();
  }

  describeEndpoints(): { tun: string; netns: string; ipv4: string; ipv6?: string }[] {
    return this.config.endpoints.map((e) => ({
      tun: e.tun, netns: e.netns, ipv4: formatIPv4(e.ipv4), ...(e.ipv6 ? { ipv6: formatIPv6(e.ipv6) } : {}),
    }));
  }

  stats(): AgentStats {
    const { counters, drops } = this.dataplane.counters.snapshot();
    const native: Record<string, number> = {};
    NATIVE_STAT_NAMES.forEach((name, i) => (native[name] = nativeStats[i]!));
    const h = this.#loopDelay;
    // The histogram records whole timer intervals; the lag is what exceeds the resolution.
    const ms = (ns: number): number => Math.max(0, Math.round((ns - LOOP_DELAY_RESOLUTION_MS * 1e6) / 1e4) / 100);
    return {
      counters, drops, native,
      eventLoopDelayMs: { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) },
      underlay: { gro: this.udp.info.gro, gso: this.udp.info.gso, rcvbuf: this.udp.info.rcvbuf, sndbuf: this.udp.info.sndbuf },
      tunOffloads: Object.fromEntries(this.#tuns.map((t) => [t.name, t.offloads])),
    };
  }

  close(): void {
    this.#loopDelay.disable();
    this.dataplane.close();
    for (const t of this.#tuns) t.close();
  }
}
