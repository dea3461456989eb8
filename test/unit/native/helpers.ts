// Shared helpers for the native addon tests: a slow reference checksum, packet builders,
// network namespaces created and deleted by name, and a runner for child scripts that load the
// addon inside a namespace (`ip netns exec NS node child.js scenario args`).

import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

// ---- reference checksum (RFC 1071, the obvious way) ------------------------------------------

/** Unfolded sum of big-endian 16-bit words of buf[off, off+len), odd byte padded with zero. */
export function refSum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  let s = initial;
  let i = 0;
  for (; i + 1 < len; i += 2) s += (buf[off + i]! << 8) | buf[off + i + 1]!;
  if (i < len) s += buf[off + i]! << 8;
  return s;
}

export function refFold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** Complemented checksum, as native.checksum returns it. */
export function refChecksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return ~refFold(refSum(buf, off, len, initial)) & 0xffff;
}

/** Pseudo-header sum (unfolded) for IPv4 (4-byte addresses) or IPv6 (16-byte). */
export function refPseudo(src: Uint8Array, dst: Uint8Array, proto: number, l4len: number): number {
  let s = refSum(src, 0, src.length) + refSum(dst, 0, dst.length);
  s += proto + (l4len >>> 16) + (l4len & 0xffff);
  return s;
}

/** True when the L4 checksum of a packet (IP header at `ip`) verifies. */
export function l4ChecksumOk(pkt: Buffer, ip: number): boolean {
  const v6 = pkt[ip]! >> 4 === 6;
  const iphl = v6 ? 40 : (pkt[ip]! & 15) * 4;
  const proto = v6 ? pkt[ip + 6]! : pkt[ip + 9]!;
  const l4len = pkt.length - ip - iphl;
  const src = v6 ? pkt.subarray(ip + 8, ip + 24) : pkt.subarray(ip + 12, ip + 16);
  const dst = v6 ? pkt.subarray(ip + 24, ip + 40) : pkt.subarray(ip + 16, ip + 20);
  return refChecksum(pkt, ip + iphl, l4len, refPseudo(src, dst, proto, l4len)) === 0;
}

// ---- packet builders ----------------------------------------------------------------------

export interface TcpSpec {
  v6?: boolean;
  src: number[]; // 4 or 16 bytes
  dst: number[];
  sport: number;
  dport: number;
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  options?: number[]; // multiple of 4
  payload: Uint8Array;
  id?: number;
  ttl?: number;
  tos?: number;
  df?: boolean;
  /** IPv4 only: more-fragments flag, header options (multiple of 4 bytes). */
  mf?: boolean;
  ipOptions?: number[];
  /** Write a correct TCP checksum (default), or this value. */
  csum?: number;
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_URG = 0x20;
export const TCP_ACK = 0x10;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

export function ipHeader(v6: boolean, src: number[], dst: number[], proto: number, l4len: number, o: Partial<TcpSpec> = {}): Buffer {
  if (v6) {
    const h = Buffer.alloc(40);
    h.writeUInt32BE(6 * 2 ** 28 + (o.tos ?? 0) * 2 ** 20 + 0x12345, 0);
    h.writeUInt16BE(l4len, 4);
    h[6] = proto;
    h[7] = o.ttl ?? 64;
    Buffer.from(src).copy(h, 8);
    Buffer.from(dst).copy(h, 24);
    return h;
  }
  const opts = Buffer.from(o.ipOptions ?? []);
  const ihl = 20 + opts.length;
  const h = Buffer.alloc(ihl);
  h[0] = 0x40 | (ihl / 4);
  h[1] = o.tos ?? 0;
  h.writeUInt16BE(ihl + l4len, 2);
  h.writeUInt16BE(o.id ?? 0x1234, 4);
  h.writeUInt16BE((o.df === false ? 0 : 0x4000) | (o.mf ? 0x2000 : 0), 6);
  h[8] = o.ttl ?? 64;
  h[9] = proto;
  Buffer.from(src).copy(h, 12);
  Buffer.from(dst).copy(h, 16);
  opts.copy(h, 20);
  h.writeUInt16BE(refChecksum(h, 0, ihl), 10);
  return h;
}

export function tcpPacket(s: TcpSpec): Buffer {
  const v6 = s.v6 ?? false;
  const opts = Buffer.from(s.options ?? []);
  const thl = 20 + opts.length;
  const tcp = Buffer.alloc(thl + s.payload.length);
  tcp.writeUInt16BE(s.sport, 0);
  tcp.writeUInt16BE(s.dport, 2);
  tcp.writeUInt32BE(s.seq >>> 0, 4);
  tcp.writeUInt32BE((s.ack ?? 0) >>> 0, 8);
  tcp[12] = (thl / 4) << 4;
  tcp[13] = s.flags;
  tcp.writeUInt16BE(s.window ?? 65535, 14);
  opts.copy(tcp, 20);
  Buffer.from(s.payload).copy(tcp, thl);
  const ip = ipHeader(v6, s.src, s.dst, 6, tcp.length, s);
  const sum = refPseudo(Uint8Array.from(s.src), Uint8Array.from(s.dst), 6, tcp.length);
  tcp.writeUInt16BE(s.csum ?? refChecksum(tcp, 0, tcp.length, sum), 16);
  return Buffer.concat([ip, tcp]);
}

export function udpPacket(v6: boolean, src: number[], dst: number[], sport: number, dport: number, payload: Uint8Array, id = 0x4321): Buffer {
  const udp = Buffer.alloc(8 + payload.length);
  udp.writeUInt16BE(sport, 0);
  udp.writeUInt16BE(dport, 2);
  udp.writeUInt16BE(udp.length, 4);
  Buffer.from(payload).copy(udp, 8);
  const ip = ipHeader(v6, src, dst, 17, udp.length, { id });
  let c = refChecksum(udp, 0, udp.length, refPseudo(Uint8Array.from(src), Uint8Array.from(dst), 17, udp.length));
  if (c === 0) c = 0xffff;
  udp.writeUInt16BE(c, 6);
  return Buffer.concat([ip, udp]);
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function patternBytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

// ---- network namespaces ---------------------------------------------------------------------

export function uniqueNsName(tag: string): string {
  return `vxn${process.pid}${randomBytes(3).toString('hex')}${tag}`;
}

export class Netns {
  readonly name: string;
  constructor(tag: string) {
    this.name = uniqueNsName(tag);
    execFileSync('ip', ['netns', 'add', this.name], { stdio: 'pipe' });
    execFileSync('ip', ['-n', this.name, 'link', 'set', 'lo', 'up'], { stdio: 'pipe' });
  }
  ip(...args: string[]): string {
    return execFileSync('ip', ['-n', this.name, ...args], { stdio: 'pipe', encoding: 'utf8' });
  }
  exec(...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.name, ...args], { stdio: 'pipe', encoding: 'utf8' });
  }
  destroy(): void {
    try {
      execFileSync('ip', ['netns', 'del', this.name], { stdio: 'pipe' });
    } catch {
      // already gone
    }
  }
}

export function hasNetnsSupport(): boolean {
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'pipe' });
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}

const here = dirname(fileURLToPath(import.meta.url));
export const childScript = join(here, 'fixtures', 'child.js');

/** Runs fixtures/child.js `scenario` inside the namespace; resolves with its JSON result. */
export function runChild<T>(ns: Netns, scenario: string, args: unknown = {}, timeoutMs = 20_000): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', ns.name, process.execPath, childScript, scenario, JSON.stringify(args)],
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const lines = stdout.trim().split('\n');
        const last = lines[lines.length - 1] ?? '';
        if (err) {
          reject(new Error(`child ${scenario} failed: ${err.message}\nstdout: ${stdout.slice(-4000)}\nstderr: ${stderr.slice(-4000)}`));
          return;
        }
        try {
          resolve(JSON.parse(last) as T);
        } catch {
          reject(new Error(`child ${scenario} printed no JSON result\nstdout: ${stdout.slice(-4000)}\nstderr: ${stderr.slice(-4000)}`));
        }
      },
    );
  });
}
