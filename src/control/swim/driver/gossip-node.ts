// The SWIM driver: owns the UDP and TCP sockets on the gossip port (7946 by default, as
// swarm's), the real clock and the one timer, and feeds the pure core (core.ts). Every
// packet and TCP frame is sealed (seal/: none, auth or encrypt with the cluster keyring); what
// fails to open is counted and dropped before the core sees it.
//
// TCP carries one exchange per connection: the opener writes one frame and, for a request the
// core opened (`stream`), reads one answer frame; an accepted connection reads one request,
// hands it to the core with a driver-chosen stream id and writes the core's `replyTo` answer.
// Frames are a 4-byte big-endian length and the sealed bytes, bounded by maxFrameBytes.
//
// Policy the core leaves to the driver (serf's, not memberlist's): seeds that are not alive
// members are re-joined every rejoinIntervalMs, so a node cut off long enough to be reaped on
// both sides finds its way back when the network heals.

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createConnection, createServer, isIPv6, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { SetupError } from '../../../errors.js';
import type { Sealer } from '../../seal/index.js';
import { resolveConfig, type SwimConfig } from '../config.js';
import { SwimCore, type MemberEvent, type Outbound, type SwimDelegate } from '../core.js';
import type { NodeMeta } from '../meta.js';

/** Protocol (ours): swarm's gossip port. */
export const DEFAULT_GOSSIP_PORT = 7946;
/** Implementation: the core decides what is due from `now`; 20 ms keeps timer error well under a probe timeout. */
const DEFAULT_TICK_MS = 20;
/** Implementation: a full push-pull state of 1000 members with endpoint tables stays far below this. */
const DEFAULT_MAX_FRAME_BYTES = 16 << 20;
/** Implementation: accepted TCP connections at once; more are closed at accept (counted). */
const MAX_INBOUND_TCP = 128;
/** Implementation: serf's ReconnectInterval. */
const DEFAULT_REJOIN_MS = 30_000;
/** Implementation: first retry of a join that reached nobody; doubles up to the rejoin interval. */
const LONELY_REJOIN_MS = 1000;

export interface GossipNodeOptions {
  name: string;
  /** Address to bind UDP and TCP on (an IPv4 or IPv6 literal). */
  bindAddress: string;
  port?: number;
  /** Address others reach us at, if not bindAddress (NAT, 0.0.0.0 binds). */
  advertiseAddress?: string;
  meta: NodeMeta;
  config?: Partial<SwimConfig>;
  /** Seals every packet and frame; required (use mode 'none' to send in clear). */
  sealer: Sealer;
  /** Bytes every sealed message is bound to (memberlist's label): keeps two clusters that share a key apart. */
  label?: string;
  seeds?: string[];
  delegate?: SwimDelegate;
  tickMs?: number;
  maxFrameBytes?: number;
  rejoinIntervalMs?: number;
  onEvent?: (e: MemberEvent) => void;
  /** Before every core tick (the endpoint tables reap tombstones and send what they queued). */
  onTick?: (now: number) => void;
  /**
   * After the core's output went out: the membership events of that round (often none). What
   * the hook makes the core produce (a TablesDelegate fencing a dead member, say) is sent
   * before the hook is called again.
   */
  onStep?: (now: number, events: readonly MemberEvent[]) => void;
}

/** "host:port" with IPv6 hosts in brackets. */
export function formatAddr(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Splits "host:port" / "[v6]:port"; undefined when it is not one. */
export function parseAddr(addr: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) ?? /^([^:]+):(\d+)$/.exec(addr);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1]!, port } : undefined;
}

/** A xorshift128 generator seeded from the OS, for the core's probe order and jitter. */
function osRng(): { next(): number } {
  const s = new Uint32Array(randomBytes(16).buffer.slice(0, 16));
  if ((s[0]! | s[1]! | s[2]! | s[3]!) === 0) s[0] = 1;
  return {
    next(): number {
      let t = s[3]!;
      const x = s[0]!;
      s[3] = s[2]!;
      s[2] = s[1]!;
      s[1] = x;
      t ^= t << 11;
      t ^= t >>> 8;
      s[0] = (t ^ x ^ (x >>> 19)) >>> 0;
      return s[0]!;
    },
  };
}

export class GossipNode {
  readonly core: SwimCore;
  readonly addr: string;
  readonly counters = { udpSendErrors: 0, udpDropped: 0, tcpDropped: 0, tcpRefused: 0, tcpErrors: 0, frameTooLarge: 0 };
  readonly #o: GossipNodeOptions;
  readonly #aad: Uint8Array | undefined;
  readonly #tcpTimeoutMs: number;
  #udp: UdpSocket | undefined;
  #tcp: Server | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #inbound = new Map<number, Socket>();
  #nextInbound = 1;
  #lastRejoin = 0;
  #lonelyRejoins = 0;
  #closed = false;

  constructor(o: GossipNodeOptions) {
    this.#o = o;
    const port = o.port ?? DEFAULT_GOSSIP_PORT;
    this.addr = formatAddr(o.advertiseAddress ?? o.bindAddress, port);
    this.#aad = o.label !== undefined ? Buffer.from(o.label) : undefined;
    this.#tcpTimeoutMs = resolveConfig(o.config).tcpTimeoutMs;
    this.core = new SwimCore({
      name: o.name, addr: this.addr, meta: o.meta, rng: osRng(), now: now(),
      ...(o.config ? { config: o.config } : {}), ...(o.delegate ? { delegate: o.delegate } : {}),
    });
  }

  /** Binds UDP and TCP, starts the timer and joins the seeds. */
  async start(): Promise<void> {
    const o = this.#o;
    const port = o.port ?? DEFAULT_GOSSIP_PORT;
    const udp = createSocket({ type: isIPv6(o.bindAddress) ? 'udp6' : 'udp4' });
    this.#udp = udp;
    await new Promise<void>((resolve, reject) => {
      udp.once('error', (e) => reject(new SetupError(`gossip: bind udp ${formatAddr(o.bindAddress, port)}: ${e.message}: is another node running on this port?`, { cause: e })));
      udp.bind(port, o.bindAddress, () => resolve());
    });
    udp.on('error', () => this.counters.udpSendErrors++);
    udp.on('message', (msg, rinfo) => {
      const plain = o.sealer.open(msg, this.#aad);
      if (plain === null) return void this.counters.udpDropped++;
      this.core.step(now(), { from: formatAddr(rinfo.address, rinfo.port), transport: 'udp', bytes: plain });
      this.#flush();
    });
    const tcp = createServer((s) => this.#accept(s));
    this.#tcp = tcp;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', (e) => reject(new SetupError(`gossip: listen tcp ${formatAddr(o.bindAddress, port)}: ${e.message}: is another node running on this port?`, { cause: e })));
      tcp.listen(port, o.bindAddress, () => resolve());
    });
    tcp.on('error', () => this.counters.tcpErrors++);
    this.#timer = setInterval(() => this.#tick(), o.tickMs ?? DEFAULT_TICK_MS);
    const seeds = (o.seeds ?? []).filter((s) => s !== this.addr);
    if (seeds.length > 0) this.core.join(now(), seeds);
    this.#lastRejoin = now();
    this.#flush();
  }

  /** Broadcasts that we leave, waits until it went out (at most `timeoutMs`), then closes. */
  async leave(timeoutMs = 3000): Promise<void> {
    if (this.#closed) return;
    this.core.leave(now());
    this.#flush();
    const deadline = now() + timeoutMs;
    while (!this.core.leaveComplete && now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#udp?.close();
    this.#tcp?.close();
    for (const s of this.#inbound.values()) s.destroy();
    this.#inbound.clear();
  }

  #tick(): void {
    const t = now();
    this.#o.onTick?.(t);
    this.core.tick(t);
    const every = this.#o.rejoinIntervalMs ?? DEFAULT_REJOIN_MS;
    // Alone (the first join failed: a seed that was not up yet, a partition at boot): retry
    // soon, backing off from 1 s, instead of waiting a whole rejoin interval.
    const lonely = this.core.members().every((m) => m.name === this.#o.name || m.state !== 'alive');
    const wait = lonely ? Math.min(every, LONELY_REJOIN_MS << Math.min(this.#lonelyRejoins, 5)) : every;
    if (!lonely) this.#lonelyRejoins = 0;
    if (t - this.#lastRejoin >= wait) {
      this.#lastRejoin = t;
      const alive = new Set(this.core.members().filter((m) => m.state === 'alive').map((m) => m.addr));
      const lost = (this.#o.seeds ?? []).filter((s) => s !== this.addr && !alive.has(s));
      if (lost.length > 0) {
        if (lonely) this.#lonelyRejoins++;
        this.core.join(t, lost);
      }
    }
    this.#flush();
  }

  /** Sends everything the core produced, reports its events, acknowledges; then onStep. */
  #flush(): void {
    const core = this.core;
    // Bounded: a hook that keeps making output would otherwise spin here.
    for (let round = 0; round < 8 && !this.#closed; round++) {
      const events: MemberEvent[] = [];
      while (!this.#closed && core.hasReady()) {
        const rd = core.ready();
        for (const m of rd.messages) this.#send(m);
        for (const e of rd.events) {
          events.push(e);
          this.#o.onEvent?.(e);
        }
        core.advance();
      }
      this.#o.onStep?.(now(), events);
      if (!core.hasReady()) return;
    }
  }

  /** The clock the core runs on (ms); give it to anything that steps with the core (the tables). */
  now(): number {
    return now();
  }

  #send(m: Outbound): void {
    const sealed = this.#o.sealer.seal(m.bytes, this.#aad);
    if (m.transport === 'udp') {
      const a = parseAddr(m.to);
      if (!a) return void this.counters.udpSendErrors++;
      this.#udp!.send(sealed, a.port, a.host, (err) => {
        if (err) this.counters.udpSendErrors++;
      });
      return;
    }
    if (m.replyTo !== undefined) {
      const s = this.#inbound.get(m.replyTo);
      if (!s) return;
      this.#inbound.delete(m.replyTo);
      s.end(frame(sealed));
      return;
    }
    this.#openTcp(m.to, sealed, m.stream);
  }

  /** An outbound exchange: one frame out, and one back when the core opened a stream. */
  #openTcp(to: string, sealed: Uint8Array, stream: number | undefined): void {
    const a = parseAddr(to);
    const fail = (): void => {
      if (stream === undefined) return;
      stream = undefined; // once
      this.counters.tcpErrors++;
      this.core.tcpFailed(now(), sid);
      this.#flush();
    };
    const sid = stream ?? 0;
    if (!a) return fail();
    const s = createConnection({ host: a.host, port: a.port });
    s.setTimeout(this.#tcpTimeoutMs, () => {
      s.destroy();
      fail();
    });
    s.on('error', fail);
    s.on('connect', () => {
      s.write(frame(sealed));
      if (stream === undefined) s.end();
    });
    readFrame(s, this.#o.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, (bytes) => {
      s.destroy();
      if (bytes === null) return fail();
      const plain = this.#o.sealer.open(bytes, this.#aad);
      if (plain === null) {
        this.counters.tcpDropped++;
        return fail();
      }
      if (stream === undefined) return;
      stream = undefined;
      this.core.step(now(), { from: to, transport: 'tcp', bytes: plain, stream: sid });
      this.#flush();
    });
  }

  #accept(s: Socket): void {
    if (this.#inbound.size >= MAX_INBOUND_TCP) {
      this.counters.tcpRefused++;
      s.destroy();
      return;
    }
    s.on('error', () => {});
    s.setTimeout(this.#tcpTimeoutMs, () => s.destroy());
    const id = this.#nextInbound++;
    readFrame(s, this.#o.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, (bytes) => {
      if (bytes === null) {
        this.counters.frameTooLarge++;
        return void s.destroy();
      }
      const plain = this.#o.sealer.open(bytes, this.#aad);
      if (plain === null) {
        this.counters.tcpDropped++;
        return void s.destroy();
      }
      this.#inbound.set(id, s);
      s.once('close', () => this.#inbound.delete(id));
      this.core.step(now(), { from: formatAddr(s.remoteAddress ?? '', s.remotePort ?? 0), transport: 'tcp', bytes: plain, stream: id });
      this.#flush();
      // Requests that need no answer (none today) must not hold the connection.
      if (this.#inbound.has(id)) setTimeout(() => {
        if (this.#inbound.get(id) === s) {
          this.#inbound.delete(id);
          s.end();
        }
      }, this.#tcpTimeoutMs).unref();
    });
  }
}

function now(): number {
  return performance.now();
}

function frame(sealed: Uint8Array): Buffer {
  const f = Buffer.allocUnsafe(4 + sealed.length);
  f.writeUInt32BE(sealed.length, 0);
  f.set(sealed, 4);
  return f;
}

/** Reads one length-prefixed frame; calls back once with its bytes, or null (closed early, too large). */
function readFrame(s: Socket, max: number, done: (bytes: Uint8Array | null) => void): void {
  let chunks: Buffer[] = [];
  let have = 0;
  let need = -1;
  let finished = false;
  const finish = (v: Uint8Array | null): void => {
    if (finished) return;
    finished = true;
    s.removeListener('data', onData);
    done(v);
  };
  const onData = (d: Buffer): void => {
    chunks.push(d);
    have += d.length;
    if (need < 0 && have >= 4) {
      const all = Buffer.concat(chunks);
      chunks = [all];
      need = all.readUInt32BE(0);
      if (need > max) return finish(null);
    }
    if (need >= 0 && have >= 4 + need) {
      const all = Buffer.concat(chunks);
      finish(all.subarray(4, 4 + need));
    }
  };
  s.on('data', onData);
  s.once('end', () => finish(null));
  s.once('close', () => finish(null));
}
