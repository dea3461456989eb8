// PROXY protocol v2 publishing: for backends whose replies cannot come back through the node
// the client entered by (the reason ingress keeps the client's address without SNAT), the
// published port is terminated here instead, and each connection is relayed to the VIP with a
// PROXY v2 header first, so a PROXY-aware backend (nginx `proxy_protocol`, HAProxy
// `accept-proxy`, Envoy's proxy_protocol listener filter) still learns the real client.
//
// Reference: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt section 2.2 (binary
// header format, version 2). This runs off the data path: a userspace TCP relay per published
// port, its cost is a socket pair per connection, and it is an option, not the default.

import { createConnection, createServer, isIPv4, isIPv6, type Server, type Socket } from 'node:net';
import { SetupError } from '../../errors.js';

/** Protocol: the 12-byte signature that starts every v2 header (section 2.2). */
export const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Protocol: version 2 (high nibble), command PROXY (low nibble 1). */
const VER_CMD_PROXY = 0x21;
/** Protocol: address family and transport: TCP over IPv4 = 0x11, TCP over IPv6 = 0x21. */
const FAM_TCP4 = 0x11;
const FAM_TCP6 = 0x21;

/** An address as Node reports it, IPv4-mapped IPv6 turned back into IPv4. */
function plain(address: string): string {
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

function ipv6Bytes(a: string, out: Buffer, off: number): void {
  const [head, tail] = a.includes('::') ? a.split('::') as [string, string] : [a, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  for (let i = 0; i < 8; i++) out.writeUInt16BE(parseInt(groups[i]!, 16), off + 2 * i);
}

/**
 * The v2 header for a TCP connection from src to dst (both the same family once IPv4-mapped
 * addresses are unwrapped; mixed families are sent as IPv6 with the IPv4 one mapped).
 */
export function proxyV2Header(srcAddr: string, srcPort: number, dstAddr: string, dstPort: number): Buffer {
  let s = plain(srcAddr);
  let d = plain(dstAddr);
  const v4 = isIPv4(s) && isIPv4(d);
  if (!v4) {
    if (isIPv4(s)) s = `::ffff:${s}`;
    if (isIPv4(d)) d = `::ffff:${d}`;
  }
  const addrLen = v4 ? 12 : 36;
  const h = Buffer.alloc(16 + addrLen);
  PROXY_V2_SIGNATURE.copy(h, 0);
  h[12] = VER_CMD_PROXY;
  h[13] = v4 ? FAM_TCP4 : FAM_TCP6;
  h.writeUInt16BE(addrLen, 14);
  if (v4) {
    s.split('.').forEach((b, i) => (h[16 + i] = Number(b)));
    d.split('.').forEach((b, i) => (h[20 + i] = Number(b)));
    h.writeUInt16BE(srcPort, 24);
    h.writeUInt16BE(dstPort, 26);
  } else {
    ipv6Bytes(mappedToHex(s), h, 16);
    ipv6Bytes(mappedToHex(d), h, 32);
    h.writeUInt16BE(srcPort, 48);
    h.writeUInt16BE(dstPort, 50);
  }
  return h;
}

/** ::ffff:1.2.3.4 → ::ffff:102:304 (so the hex parser above sees only groups). */
function mappedToHex(a: string): string {
  const m = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (!m) return a;
  const b = m[2]!.split('.').map(Number);
  return `${m[1]}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
}

export type ProxyV2Parse =
  | { ok: true; length: number; src: string; srcPort: number; dst: string; dstPort: number }
  | { ok: false; reason: 'short' | 'signature' | 'version' | 'family' };

/** Parses a v2 header at the start of buf (for tests and PROXY-aware test servers). Never throws. */
export function parseProxyV2(buf: Uint8Array): ProxyV2Parse {
  if (buf.length < 16) return { ok: false, reason: 'short' };
  if (!Buffer.from(buf.subarray(0, 12)).equals(PROXY_V2_SIGNATURE)) return { ok: false, reason: 'signature' };
  if (buf[12]! >> 4 !== 2) return { ok: false, reason: 'version' };
  const len = (buf[14]! << 8) | buf[15]!;
  if (buf.length < 16 + len) return { ok: false, reason: 'short' };
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  if (buf[13] === FAM_TCP4 && len >= 12) {
    return { ok: true, length: 16 + len, src: [...buf.subarray(16, 20)].join('.'), dst: [...buf.subarray(20, 24)].join('.'), srcPort: b.readUInt16BE(24), dstPort: b.readUInt16BE(26) };
  }
  if (buf[13] === FAM_TCP6 && len >= 36) {
    const a6 = (o: number): string => Array.from({ length: 8 }, (_, i) => b.readUInt16BE(o + 2 * i).toString(16)).join(':');
    return { ok: true, length: 16 + len, src: a6(16), dst: a6(32), srcPort: b.readUInt16BE(48), dstPort: b.readUInt16BE(50) };
  }
  return { ok: false, reason: 'family' };
}

export interface ProxyRelayOptions {
  /** Where to listen: a host address, or undefined for every address. */
  address?: string | undefined;
  port: number;
  /** The VIP to relay to (per family of the client; the other one is used when one is missing). */
  to4?: string | undefined;
  to6?: string | undefined;
  toPort: number;
  /** Give up connecting to the VIP after this, ms. Default 5000. */
  connectTimeoutMs?: number;
}

/** Counters of one relay, read by the agent's stats. */
export interface ProxyRelayCounters { accepted: number; relayed: number; connectErrors: number; open: number }

/** A PROXY v2 relay for one published port. */
export class ProxyRelay {
  readonly counters: ProxyRelayCounters = { accepted: 0, relayed: 0, connectErrors: 0, open: 0 };
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  constructor(readonly options: ProxyRelayOptions) {
    if (options.to4 === undefined && options.to6 === undefined) throw new SetupError('proxy relay: no VIP to relay to: give the service a vip or vip6');
  }

  async start(): Promise<void> {
    const srv = createServer({ noDelay: true, allowHalfOpen: true }, (client) => this.#accept(client));
    this.#server = srv;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', (e) => reject(new SetupError(`proxy relay: listen on ${this.options.address ?? '*'}:${this.options.port}: ${(e as Error).message}: is the port free?`, { cause: e })));
      srv.listen({ port: this.options.port, host: this.options.address ?? '::', ipv6Only: false }, resolve);
    });
    srv.on('error', () => {}); // after listen: per-connection errors are handled on the sockets
  }

  #accept(client: Socket): void {
    const o = this.options;
    this.counters.accepted++;
    this.counters.open++;
    this.#sockets.add(client);
    client.pause();
    const src = client.remoteAddress ?? '', dst = client.localAddress ?? '';
    const clientV6 = isIPv6(plain(src));
    const vip = (clientV6 ? o.to6 ?? o.to4 : o.to4 ?? o.to6)!;
    const up = createConnection({ host: vip, port: o.toPort, noDelay: true, allowHalfOpen: true, timeout: o.connectTimeoutMs ?? 5000 });
    this.#sockets.add(up);
    let done = false;
    let connected = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      this.counters.open--;
      client.destroy();
      up.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(up);
    };
    up.once('connect', () => {
      connected = true;
      up.setTimeout(0);
      this.counters.relayed++;
      up.write(proxyV2Header(src, client.remotePort ?? 0, dst, client.localPort ?? 0));
      client.pipe(up);
      up.pipe(client);
      client.resume();
    });
    up.once('timeout', () => {
      this.counters.connectErrors++;
      finish();
    });
    up.once('error', () => {
      if (!connected) this.counters.connectErrors++;
      finish();
    });
    client.once('error', finish);
    client.once('close', finish);
    up.once('close', finish);
  }

  close(): void {
    this.#server?.close();
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }
}
