// The I/O shell around the resolver: a UDP socket (and a TCP listener for clients retrying
// truncated answers, RFC 7766) bound to address:port, the forwarder's upstream socket and its
// one coarse timer. All decisions live in resolver.ts and forwarder.ts; this file only moves
// bytes and counts.
//
// Contract: no bytes from the network can throw out of here or stop the server. A message the
// resolver cannot use is answered FORMERR or dropped, and counted.

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket as TcpSocket } from 'node:net';
import { SetupError } from '../../errors.js';
import {
  DNS_C_DROPPED, DNS_C_MALFORMED, DNS_C_QUERIES, DNS_C_SEND_ERRORS, DNS_C_TCP_QUERIES, DNS_C_TRUNCATED,
  countRcode, newDnsCounters,
} from './counters.js';
import { Forwarder, type Upstream } from './forwarder.js';
import type { NameTable } from './records.js';
import { Resolver, TCP_MAX_MESSAGE } from './resolver.js';

export type DnsClient =
  | { readonly kind: 'udp'; readonly address: string; readonly port: number }
  | { readonly kind: 'tcp'; readonly socket: TcpSocket };

export interface DnsServerOptions {
  table: NameTable;
  /** Where to listen: Docker's is 127.0.0.11:53 inside each container namespace. */
  address: string;
  /** 0 picks an ephemeral port (UDP's; TCP then binds the same number). */
  port: number;
  /** Resolvers for names we do not own; none → SERVFAIL for them. */
  upstreams?: Upstream[];
  /** Also listen on TCP (RFC 7766: required for TC retries). Default true. */
  tcp?: boolean;
  /** Orders dnsrr answers and picks upstream IDs. Default Math.random. */
  rng?: () => number;
  /** Milliseconds, monotonic. Default performance.now. */
  now?: () => number;
  /** Period of the one forwarder ticker, ms. Default 100: timeouts fire up to 100 ms late. */
  tickMs?: number;
  forwardTimeoutMs?: number;
  forwardAttempts?: number;
  maxPending?: number;
  /** Idle TCP connections are closed after this, ms. Default 10000 (RFC 7766 section 6.2.3 suggests seconds). */
  tcpIdleMs?: number;
  /** TCP connections at most; more are refused. Default 128. */
  maxTcpConnections?: number;
}

/** Bytes of the UDP output scratch: our EDNS maximum with room to spare. */
const UDP_OUT = 4096;

export class DnsServer {
  readonly counters: Float64Array = newDnsCounters();
  readonly resolver: Resolver;
  readonly forwarder: Forwarder<DnsClient>;
  private udp: Socket | null = null;
  private tcp: Server | null = null;
  private up4: Socket | null = null;
  private up6: Socket | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private readonly udpOut = Buffer.alloc(UDP_OUT);
  private readonly tcpOut = Buffer.alloc(TCP_MAX_MESSAGE + 2);
  private readonly rng: () => number;
  private readonly now: () => number;
  private readonly conns = new Set<TcpSocket>();
  private boundPort = 0;

  constructor(private readonly opts: DnsServerOptions) {
    this.rng = opts.rng ?? Math.random;
    this.now = opts.now ?? (() => performance.now());
    this.resolver = new Resolver(opts.table);
    this.forwarder = new Forwarder<DnsClient>({
      upstreams: opts.upstreams ?? [],
      transport: { send: (msg, u) => this.sendUpstream(msg, u) },
      deliver: (client, reply) => this.reply(client, reply, reply.length),
      rng: this.rng,
      counters: this.counters,
      timeoutMs: opts.forwardTimeoutMs,
      attempts: opts.forwardAttempts,
      maxPending: opts.maxPending,
    });
  }

  get port(): number {
    return this.boundPort;
  }

  /** Binds the sockets. Throws SetupError (cause: the system error) when a bind fails. */
  async start(): Promise<{ address: string; port: number }> {
    const { address } = this.opts;
    const udp = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4' });
    udp.on('message', (msg, rinfo) => this.onUdp(msg, rinfo));
    udp.on('error', () => { this.counters[DNS_C_SEND_ERRORS]++; });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.opts.port, address, () => { udp.off('error', reject); resolve(); });
    }).catch((e: unknown) => {
      udp.close();
      throw new SetupError(`bind dns udp: ${address}:${this.opts.port}`, { cause: e });
    });
    this.udp = udp;
    this.boundPort = udp.address().port;
    if (this.opts.tcp ?? true) {
      const srv = createServer((s) => this.onTcpConnection(s));
      srv.maxConnections = this.opts.maxTcpConnections ?? 128;
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(this.boundPort, address, () => { srv.off('error', reject); resolve(); });
      }).catch((e: unknown) => {
        srv.close();
        udp.close();
        this.udp = null;
        throw new SetupError(`bind dns tcp: ${address}:${this.boundPort}`, { cause: e });
      });
      srv.on('error', () => { this.counters[DNS_C_SEND_ERRORS]++; });
      this.tcp = srv;
    }
    const tickMs = this.opts.tickMs ?? 100;
    this.ticker = setInterval(() => this.forwarder.tick(this.now()), tickMs);
    this.ticker.unref();
    return { address, port: this.boundPort };
  }

  /** Closes every socket; pending forwards get SERVFAIL first. */
  async close(): Promise<void> {
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
    this.forwarder.close();
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    const closing: Promise<void>[] = [];
    for (const s of [this.udp, this.up4, this.up6]) {
      if (s !== null) closing.push(new Promise((r) => s.close(() => r())));
    }
    if (this.tcp !== null) {
      const t = this.tcp;
      closing.push(new Promise((r) => t.close(() => r())));
    }
    this.udp = this.up4 = this.up6 = null;
    this.tcp = null;
    await Promise.all(closing);
  }

  /** One query from any transport; out/maxLen depend on the transport. */
  private handle(msg: Buffer, client: DnsClient, out: Buffer, maxLen: number | undefined): void {
    this.counters[DNS_C_QUERIES]++;
    const r = this.resolver.answer(msg, msg.length, out, this.rng, maxLen);
    switch (r.kind) {
      case 'answer':
        if (r.malformed) this.counters[DNS_C_MALFORMED]++;
        if (r.truncated) this.counters[DNS_C_TRUNCATED]++;
        countRcode(this.counters, r.rcode);
        this.reply(client, out, r.length);
        break;
      case 'forward':
        this.forwarder.forward(msg, msg.length, client, this.now());
        break;
      case 'drop':
        this.counters[DNS_C_DROPPED]++;
        break;
    }
  }

  private onUdp(msg: Buffer, rinfo: RemoteInfo): void {
    this.handle(msg, { kind: 'udp', address: rinfo.address, port: rinfo.port }, this.udpOut, undefined);
  }

  /** Sends len bytes of buf (copied: the socket keeps the buffer until the send completes). */
  private reply(client: DnsClient, buf: Uint8Array, len: number): void {
    if (client.kind === 'udp') {
      const u = this.udp;
      if (u === null) return;
      try {
        u.send(Buffer.from(buf.subarray(0, len)), client.port, client.address, (err) => {
          if (err) this.counters[DNS_C_SEND_ERRORS]++;
        });
      } catch {
        this.counters[DNS_C_SEND_ERRORS]++;
      }
      return;
    }
    const s = client.socket;
    if (s.destroyed) return;
    const framed = Buffer.allocUnsafe(len + 2);
    framed.writeUInt16BE(len, 0);
    framed.set(buf.subarray(0, len), 2);
    s.write(framed);
  }

  private sendUpstream(msg: Uint8Array, u: Upstream): void {
    const v6 = isIPv6(u.address);
    let s = v6 ? this.up6 : this.up4;
    if (s === null) {
      s = createSocket({ type: v6 ? 'udp6' : 'udp4' });
      s.on('message', (m, rinfo) => this.forwarder.onReply(m, m.length, { address: rinfo.address, port: rinfo.port }));
      s.on('error', () => { this.counters[DNS_C_SEND_ERRORS]++; });
      if (v6) this.up6 = s;
      else this.up4 = s;
    }
    s.send(msg, u.port, u.address, (err) => {
      if (err) this.counters[DNS_C_SEND_ERRORS]++;
    });
  }

  /**
   * RFC 7766 framing: each message is preceded by a two-byte length. Queries may be pipelined
   * and are answered as they complete (section 6.2.1.1). A connection idle for tcpIdleMs is
   * closed; one that sends a zero length frame is closed (nothing sensible follows it).
   */
  private onTcpConnection(s: TcpSocket): void {
    this.conns.add(s);
    let acc: Buffer = Buffer.alloc(0);
    s.setTimeout(this.opts.tcpIdleMs ?? 10000, () => s.destroy());
    s.on('error', () => s.destroy());
    s.on('close', () => this.conns.delete(s));
    s.on('data', (chunk: Buffer) => {
      acc = acc.length === 0 ? chunk : Buffer.concat([acc, chunk]);
      while (acc.length >= 2) {
        const n = acc.readUInt16BE(0);
        if (n === 0) {
          s.destroy();
          return;
        }
        if (acc.length < 2 + n) break;
        const msg = Buffer.from(acc.subarray(2, 2 + n));
        acc = acc.subarray(2 + n);
        this.counters[DNS_C_TCP_QUERIES]++;
        this.handle(msg, { kind: 'tcp', socket: s }, this.tcpOut, TCP_MAX_MESSAGE);
      }
    });
  }
}
