// IPAM for the cluster store: address bitmaps per subnet, VNI allocation, default subnet
// carving. Pure and deterministic: every allocation takes the LOWEST free value, so every
// manager applying the same log makes the same choice (swarm's allocator does the same with
// its bitmaps: libnetwork ipam/allocator.go, bitseq).
//
// Addresses are IPv4 as unsigned 32-bit numbers; ip-num parses and formats text at the edges
// (schema.ts), the math here is plain integers.

/** Protocol (libnetwork overlay driver): VXLAN IDs 0-4096 are kept for other use, swarm allocates from 4097. */
export const VNI_FIRST = 4097;
/** Protocol (RFC 7348 section 5): the VNI is 24 bits. */
export const VNI_LAST = 0xffffff;

/**
 * Implementation: swarm's default address pool (`--default-addr-pool 10.0.0.0/8`, size 24).
 * A network created without subnets gets the lowest /24 of it that overlaps no other network.
 * Fixed in code, not configurable per manager: every manager must carve the same subnet.
 */
export const DEFAULT_POOL_BASE = 0x0a000000; // 10.0.0.0
export const DEFAULT_POOL_PREFIX = 8;
export const DEFAULT_SUBNET_PREFIX = 24;

/**
 * Implementation: the largest subnet a network may use is a /16 (65 536 addresses, an 8 KiB
 * bitmap). Pools are copied on write inside a transaction so a failed one rolls back cleanly;
 * a /8 would make that copy 2 MiB. The smallest is a /30 (two usable addresses).
 */
export const MIN_SUBNET_PREFIX = 16;
export const MAX_SUBNET_PREFIX = 30;

export function formatIPv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Number of addresses in a prefix (prefix 0..32). */
export function prefixSize(prefix: number): number {
  return 2 ** (32 - prefix);
}

/** Whether two aligned IPv4 ranges share an address. */
export function subnetsOverlap(aBase: number, aPrefix: number, bBase: number, bPrefix: number): boolean {
  const aEnd = aBase + prefixSize(aPrefix) - 1;
  const bEnd = bBase + prefixSize(bPrefix) - 1;
  return aBase <= bEnd && bBase <= aEnd;
}

/**
 * The lowest aligned /`prefix` inside [spaceBase, spaceBase + 2^(32-spacePrefix)) that overlaps
 * none of `taken` (aligned ranges, any order); -1 when the space is full. O(n log n) in taken.
 */
export function lowestFreeSubnet(
  taken: readonly { base: number; prefix: number }[],
  spaceBase: number,
  spacePrefix: number,
  prefix: number,
): number {
  const size = prefixSize(prefix);
  const spaceEnd = spaceBase + prefixSize(spacePrefix); // exclusive
  const ranges = taken
    .map((t) => [t.base, t.base + prefixSize(t.prefix)] as const)
    .filter(([s, e]) => e > spaceBase && s < spaceEnd)
    .sort((x, y) => x[0] - y[0]);
  let candidate = spaceBase;
  for (const [s, e] of ranges) {
    if (candidate + size <= s) break;
    if (e > candidate) candidate = Math.ceil(e / size) * size; // next aligned start past this range
  }
  return candidate + size <= spaceEnd ? candidate : -1;
}

/** The lowest VNI >= VNI_FIRST not in `used`; -1 when the 24-bit range is full. */
export function lowestFreeVni(used: ReadonlySet<number> | ReadonlyMap<number, unknown>): number {
  for (let v = VNI_FIRST; v <= VNI_LAST; v++) if (!used.has(v)) return v;
  return -1;
}

/**
 * One subnet's allocation bitmap: bit i set means base + i is taken. The network address and
 * the broadcast address are set at creation and never released (RFC 919 / RFC 922 broadcast
 * conventions; swarm's IPAM reserves them the same way).
 */
export class PoolBits {
  readonly base: number;
  readonly prefix: number;
  readonly size: number;
  readonly words: Uint32Array;
  /** Set bits, including the reserved network and broadcast addresses. */
  used: number;

  constructor(base: number, prefix: number, words?: Uint32Array, used?: number) {
    this.base = base;
    this.prefix = prefix;
    this.size = prefixSize(prefix);
    if (words !== undefined) {
      this.words = words;
      this.used = used!;
    } else {
      this.words = new Uint32Array(Math.ceil(this.size / 32));
      this.used = 0;
      this.set(0);
      this.set(this.size - 1);
    }
  }

  clone(): PoolBits {
    return new PoolBits(this.base, this.prefix, this.words.slice(), this.used);
  }

  contains(addr: number): boolean {
    return addr >= this.base && addr < this.base + this.size;
  }

  isSet(offset: number): boolean {
    return (this.words[offset >>> 5]! & (1 << (offset & 31))) !== 0;
  }

  set(offset: number): void {
    const w = offset >>> 5;
    const m = 1 << (offset & 31);
    if ((this.words[w]! & m) === 0) {
      this.words[w] = this.words[w]! | m;
      this.used++;
    }
  }

  clear(offset: number): void {
    const w = offset >>> 5;
    const m = 1 << (offset & 31);
    if ((this.words[w]! & m) !== 0) {
      this.words[w] = this.words[w]! & ~m;
      this.used--;
    }
  }

  /** Offset of the lowest clear bit, -1 when full. Skips full words 32 at a time. */
  lowestFree(): number {
    const words = this.words;
    for (let w = 0; w < words.length; w++) {
      const inv = ~words[w]! >>> 0;
      if (inv === 0) continue;
      const offset = (w << 5) + (31 - Math.clz32(inv & -inv));
      return offset < this.size ? offset : -1;
    }
    return -1;
  }

  /** Allocated offsets as [start, length] runs, ascending: the snapshot form. */
  runs(): number[][] {
    const out: number[][] = [];
    let start = -1;
    for (let i = 0; i < this.size; i++) {
      const on = this.isSet(i);
      if (on && start < 0) start = i;
      else if (!on && start >= 0) {
        out.push([start, i - start]);
        start = -1;
      }
    }
    if (start >= 0) out.push([start, this.size - start]);
    return out;
  }

  equals(o: PoolBits): boolean {
    if (o.base !== this.base || o.prefix !== this.prefix || o.used !== this.used) return false;
    for (let i = 0; i < this.words.length; i++) if (this.words[i] !== o.words[i]) return false;
    return true;
  }
}

/**
 * Fast parse of an IPv4 address already known to be canonical dotted-quad (it passed the
 * schema's ip-num check): no validation beyond that, for stored objects inside apply.
 */
export function canonicalIPv4ToNumber(s: string): number {
  let n = 0;
  let octet = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + octet;
      octet = 0;
    } else octet = octet * 10 + (c - 48);
  }
  return n * 256 + octet;
}
