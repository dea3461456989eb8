// A fluent packet builder for tests (in the spirit of katran's KatranBaseTestFixtures): it lays
// out IPv4/IPv6 + TCP/UDP/ICMP/ICMPv6 packets byte by byte, independently of the codecs under
// test, and computes checksums with a slow reference sum, so tests compare the codecs against a
// second implementation rather than against themselves.
//
//   const pkt = build().ipv4({ src: '10.0.1.2', dst: '10.0.1.3' }).tcp({ sport: 1, dport: 80 })
//     .payload('hello').bytes();

/** Slow reference one's-complement sum (RFC 1071), folded after every word; not complemented. */
export function refSum(bytes: ArrayLike<number>, start = 0, end = bytes.length, initial = 0): number {
  let s = initial;
  for (let i = start; i < end; i += 2) {
    s += (bytes[i]! << 8) + (i + 1 < end ? bytes[i + 1]! : 0);
    s = (s & 0xffff) + (s >>> 16);
  }
  return s;
}

/** Reference checksum: ~sum as 16 bits. */
export function refChecksum(bytes: ArrayLike<number>, start = 0, end = bytes.length, initial = 0): number {
  return ~refSum(bytes, start, end, initial) & 0xffff;
}

export function ip4(text: string): number {
  const p = text.split('.').map(Number);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

/** 16 bytes of an IPv6 address; accepts only full or "::"-compressed hex forms (test input). */
export function ip6(text: string): Buffer {
  const [l, r] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = l ? l.split(':') : [];
  const right = r ? r.split(':') : [];
  const groups = r === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  return out;
}

type Addr4 = string | number;
interface V4 { v: 4; src: number; dst: number; ttl: number; id: number; flagsFrag: number; tos: number; options: Uint8Array; proto?: number }
interface V6 { v: 6; src: Buffer; dst: Buffer; hopLimit: number; flowLabel: number; ext: { type: number; bytes: Uint8Array }[]; nextHeader?: number }
interface L4 { proto: number; header: Buffer; csumOff: number | null }

export type ChecksumMode = 'full' | 'partial' | 'zero' | 'keep';

export class PacketBuilder {
  private l3?: V4 | V6;
  private l4?: L4;
  private data: Buffer = Buffer.alloc(0);
  private csum: ChecksumMode = 'full';
  private totalLenOverride?: number;

  ipv4(o: { src: Addr4; dst: Addr4; ttl?: number; id?: number; flagsFrag?: number; tos?: number; options?: Uint8Array; proto?: number }): this {
    const a = (x: Addr4) => (typeof x === 'string' ? ip4(x) : x >>> 0);
    this.l3 = {
      v: 4, src: a(o.src), dst: a(o.dst), ttl: o.ttl ?? 64, id: o.id ?? 0x1234, flagsFrag: o.flagsFrag ?? 0x4000,
      tos: o.tos ?? 0, options: o.options ?? new Uint8Array(0), ...(o.proto !== undefined ? { proto: o.proto } : {}),
    };
    return this;
  }

  ipv6(o: { src: string | Buffer; dst: string | Buffer; hopLimit?: number; flowLabel?: number; nextHeader?: number }): this {
    const a = (x: string | Buffer) => (typeof x === 'string' ? ip6(x) : Buffer.from(x));
    this.l3 = {
      v: 6, src: a(o.src), dst: a(o.dst), hopLimit: o.hopLimit ?? 64, flowLabel: o.flowLabel ?? 0, ext: [],
      ...(o.nextHeader !== undefined ? { nextHeader: o.nextHeader } : {}),
    };
    return this;
  }

  /** An IPv6 extension header (type 0, 43, 60 or 44) with its body after the 2 fixed bytes. */
  ext(type: number, body: Uint8Array): this {
    if (this.l3?.v !== 6) throw new Error('ext() needs ipv6()');
    this.l3.ext.push({ type, bytes: Buffer.from(body) });
    return this;
  }

  tcp(o: { sport: number; dport: number; seq?: number; ack?: number; flags?: number; window?: number; options?: Uint8Array }): this {
    const opts = Buffer.from(o.options ?? new Uint8Array(0));
    if (opts.length % 4 !== 0) throw new Error('TCP options must be padded to 4 bytes');
    const h = Buffer.alloc(20 + opts.length);
    h.writeUInt16BE(o.sport, 0);
    h.writeUInt16BE(o.dport, 2);
    h.writeUInt32BE((o.seq ?? 1000) >>> 0, 4);
    h.writeUInt32BE((o.ack ?? 0) >>> 0, 8);
    h[12] = (h.length / 4) << 4;
    h[13] = o.flags ?? 0x18;
    h.writeUInt16BE(o.window ?? 512, 14);
    opts.copy(h, 20);
    this.l4 = { proto: 6, header: h, csumOff: 16 };
    return this;
  }

  udp(o: { sport: number; dport: number }): this {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(o.sport, 0);
    h.writeUInt16BE(o.dport, 2);
    this.l4 = { proto: 17, header: h, csumOff: 6 };
    return this;
  }

  /** ICMP (v4) header: type, code, and the second 32-bit word. */
  icmp(o: { type: number; code?: number; rest?: number }): this {
    const h = Buffer.alloc(8);
    h[0] = o.type;
    h[1] = o.code ?? 0;
    h.writeUInt32BE((o.rest ?? 0) >>> 0, 4);
    this.l4 = { proto: 1, header: h, csumOff: 2 };
    return this;
  }

  /** ICMPv6 header: type, code, and the second 32-bit word (the body of NS/NA goes in payload). */
  icmpv6(o: { type: number; code?: number; rest?: number }): this {
    const h = Buffer.alloc(8);
    h[0] = o.type;
    h[1] = o.code ?? 0;
    h.writeUInt32BE((o.rest ?? 0) >>> 0, 4);
    this.l4 = { proto: 58, header: h, csumOff: 2 };
    return this;
  }

  payload(p: string | Uint8Array | number): this {
    this.data = typeof p === 'number' ? Buffer.from(Array.from({ length: p }, (_, i) => (i * 7 + 3) & 0xff)) : Buffer.from(p);
    return this;
  }

  /** How to fill the L4 checksum: computed ('full'), pseudo-header only ('partial'), 0, or as written. */
  checksum(mode: ChecksumMode): this {
    this.csum = mode;
    return this;
  }

  /** Forces the IPv4 Total Length / IPv6 Payload Length field (for malformed-packet tests). */
  totalLen(n: number): this {
    this.totalLenOverride = n;
    return this;
  }

  bytes(): Buffer {
    const l3 = this.l3;
    if (l3 === undefined) throw new Error('bytes() needs ipv4() or ipv6()');
    const l4 = this.l4 === undefined ? this.data : Buffer.concat([this.l4.header, this.data]);
    const proto = this.l4?.proto ?? (l3.v === 4 ? l3.proto ?? 59 : l3.nextHeader ?? 59);
    if (this.l4?.proto === 17) l4.writeUInt16BE(l4.length, 4);
    if (l3.v === 4) {
      const hl = 20 + l3.options.length;
      const ip = Buffer.alloc(hl);
      ip[0] = 0x40 | (hl / 4);
      ip[1] = l3.tos;
      ip.writeUInt16BE(this.totalLenOverride ?? hl + l4.length, 2);
      ip.writeUInt16BE(l3.id, 4);
      ip.writeUInt16BE(l3.flagsFrag, 6);
      ip[8] = l3.ttl;
      ip[9] = proto;
      ip.writeUInt32BE(l3.src, 12);
      ip.writeUInt32BE(l3.dst, 16);
      Buffer.from(l3.options).copy(ip, 20);
      ip.writeUInt16BE(refChecksum(ip), 10);
      if (this.l4 !== undefined) this.fillL4(l4, this.l4, pseudo4(l3.src, l3.dst, this.l4.proto, l4.length), this.l4.proto === 1);
      return Buffer.concat([ip, l4]);
    }
    // IPv6: chain the extension headers.
    const exts: Buffer[] = [];
    for (let i = 0; i < l3.ext.length; i++) {
      const e = l3.ext[i]!;
      const next = i + 1 < l3.ext.length ? l3.ext[i + 1]!.type : proto;
      const hb = Buffer.concat([Buffer.from([next, 0]), e.bytes]);
      if (e.type !== 44) {
        if (hb.length % 8 !== 0) throw new Error('extension header length must be a multiple of 8');
        hb[1] = hb.length / 8 - 1;
      }
      exts.push(hb);
    }
    const ext = Buffer.concat(exts);
    const ip = Buffer.alloc(40);
    ip.writeUInt32BE(((6 << 28) | (l3.flowLabel & 0xfffff)) >>> 0, 0);
    ip.writeUInt16BE(this.totalLenOverride ?? ext.length + l4.length, 4);
    ip[6] = l3.ext.length > 0 ? l3.ext[0]!.type : proto;
    ip[7] = l3.hopLimit;
    l3.src.copy(ip, 8);
    l3.dst.copy(ip, 24);
    if (this.l4 !== undefined) this.fillL4(l4, this.l4, pseudo6(l3.src, l3.dst, this.l4.proto, l4.length), false);
    return Buffer.concat([ip, ext, l4]);
  }

  private fillL4(l4: Buffer, meta: L4, pseudo: number, noPseudo: boolean): void {
    if (meta.csumOff === null || this.csum === 'keep') return;
    l4.writeUInt16BE(0, meta.csumOff);
    if (this.csum === 'zero') return;
    if (this.csum === 'partial') {
      l4.writeUInt16BE(refSum([], 0, 0, pseudo), meta.csumOff);
      return;
    }
    let c = refChecksum(l4, 0, l4.length, noPseudo ? 0 : pseudo);
    if (c === 0 && meta.proto === 17) c = 0xffff;
    l4.writeUInt16BE(c, meta.csumOff);
  }
}

function pseudo4(src: number, dst: number, proto: number, len: number): number {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(src, 0);
  b.writeUInt32BE(dst, 4);
  b[9] = proto;
  b.writeUInt16BE(len, 10);
  return refSum(b);
}

function pseudo6(src: Buffer, dst: Buffer, proto: number, len: number): number {
  const b = Buffer.alloc(40);
  src.copy(b, 0);
  dst.copy(b, 16);
  b.writeUInt32BE(len, 32);
  b[39] = proto;
  return refSum(b);
}

export function build(): PacketBuilder {
  return new PacketBuilder();
}

/** Ethernet frame around an IP packet or ARP body. */
export function ether(dst: Uint8Array, src: Uint8Array, type: number, body: Uint8Array): Buffer {
  const h = Buffer.alloc(14);
  Buffer.from(dst).copy(h, 0);
  Buffer.from(src).copy(h, 6);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, body]);
}
