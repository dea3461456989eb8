// Partial (offload) checksums on TUN writes, against the real kernel, in network namespaces
// this test creates and deletes by name.
//
// tunWrite accepts TCP/UDP packets whose L4 checksum field holds only the pseudo-header sum
// (what a sending kernel leaves with CHECKSUM_PARTIAL, e.g. a kernel vxlan peer behind a
// veth): it writes them with a NEEDS_CSUM virtio header (csum_start = IP header length,
// csum_offset 16 for TCP / 6 for UDP) and counts NS_CSUM_PARTIAL_IN. It also accepts
// GSO_PARTIAL chunks: TCP whose field holds the pseudo sum for ONE segment (thl + seg) and whose
// payload is a whole multiple (> 1) of seg; the field is rewritten to the full-length sum.
// The coalescer (tcp_csum_ok) accepts such segments too.
//
// Every scenario runs in a child process inside a fresh namespace (this same file, started
// as `ip netns exec NS node partial-csum.test.js --partial-csum-child <scenario> <json>`), with
// two TUN devices and forwarding on:
//
//   A  10.1.0.1/24 fd01::1/64   we write into A, as the peer 10.1.0.2 / fd01::2
//   B  10.2.0.1/24 fd02::1/64   the kernel forwards 10.2.0.2 / fd02::2 out of B, we read B
//
// Two observations per packet:
//   forward  A -> kernel forwarding -> B: what B hands back (virtio fields, checksum state,
//            payload). IP forwarding never verifies L4 checksums, so a packet with a bad
//            checksum arrives at B too: what tells "accepted" from "written as it is" is the
//            NEEDS_CSUM flag and csum_start/csum_offset read back from B.
//   local    A -> the namespace's own address (10.1.0.1 / fd01::1): the kernel's TCP/UDP
//            receive path is where checksums are verified. TCP goes to an established
//            connection (the handshake is done from the test through A), UDP to a bound socket;
//            we check the bytes the application reads and the kernel's InCsumErrors counters.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

import { native, PV, readTun, runScenario, setEntry, stats, statsDelta, type TunRead } from './harness.js';
import {
  Netns, hasNetnsSupport, l4ChecksumOk, patternBytes, refFold, refPseudo, tcpPacket, udpPacket, TCP_ACK, TCP_PSH,
  TCP_SYN,
} from './helpers.js';
import { TUN_F_ALL } from '../../../src/dataplane/io/native-api.js';

const CHILD_FLAG = '--partial-csum-child';
const self = fileURLToPath(import.meta.url);

// ---- shared by parent and child --------------------------------------------------------------

type Kind = 'tcp4' | 'tcp6' | 'udp4' | 'udp6';
/** valid: a correct checksum; partial: pseudo-header sum over the full L4 length; seg: the
 * pseudo-header sum for thl + seg bytes (GSO_PARTIAL chunk); wrong: neither valid nor partial. */
type Csum = 'valid' | 'partial' | 'wrong' | { seg: number };
type CsumState = 'valid' | 'partial' | 'bad';

interface PacketRead {
  gsoType: number;
  gsoSize: number;
  vflags: number;
  csumStart: number;
  csumOff: number;
  len: number;
  iphl: number;
  ttl: number;
  state: CsumState;
  field: number;
}

interface Probe {
  written: number;
  stats: Record<string, number>;
  /** forward: packets read from B for this case */
  reads?: PacketRead[];
  /** forward: the L4 payload read from B (reassembled by sequence number for TCP) equals what was written */
  payloadOk?: boolean;
  payloadBytes?: number;
  /** forward: fields of the packet written (for "written as it is" checks) */
  fieldWritten?: number[];
  /** local: bytes the application read, and whether they are the bytes sent (a prefix when short) */
  received?: number;
  receivedOk?: boolean;
  /** local: deltas of the kernel's checksum error counters in the namespace */
  csumErrors?: Record<string, number>;
  error?: string;
}

// ---- child side ------------------------------------------------------------------------------

const ADDR = {
  a4: [10, 1, 0, 1], peer4: [10, 1, 0, 2], far4: [10, 2, 0, 2],
  a6: [0xfd, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
  peer6: [0xfd, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
  far6: [0xfd, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
};
const TCP_PORT = 5001;
const UDP_PORT = 5002;

function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { stdio: 'pipe', encoding: 'utf8' });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const isV6 = (k: Kind): boolean => k === 'tcp6' || k === 'udp6';
const isTcp = (k: Kind): boolean => k === 'tcp4' || k === 'tcp6';

/** The IP header length, protocol, addresses and L4 view of an IPv4/IPv6 packet. */
function l4View(p: Buffer): { v6: boolean; iphl: number; proto: number; src: Buffer; dst: Buffer } | null {
  const v = p[0]! >> 4;
  if (v === 4 && p.length >= 20) return { v6: false, iphl: (p[0]! & 15) * 4, proto: p[9]!, src: p.subarray(12, 16), dst: p.subarray(16, 20) };
  if (v === 6 && p.length >= 40) return { v6: true, iphl: 40, proto: p[6]!, src: p.subarray(8, 24), dst: p.subarray(24, 40) };
  return null;
}

function csumFieldOffset(proto: number): number {
  return proto === 6 ? 16 : 6;
}

/** Whether the L4 checksum verifies, holds the pseudo-header sum over the full length, or neither. */
function csumState(p: Buffer): CsumState {
  const v = l4View(p)!;
  if (l4ChecksumOk(p, 0)) return 'valid';
  const field = p.readUInt16BE(v.iphl + csumFieldOffset(v.proto));
  return field === refFold(refPseudo(v.src, v.dst, v.proto, p.length - v.iphl)) ? 'partial' : 'bad';
}

interface PacketSpec {
  kind: Kind;
  /** 'fwd': to the far side (out of B); 'local': to the namespace's own address on A */
  to: 'fwd' | 'local';
  sport: number;
  dport: number;
  payload: Buffer;
  csum: Csum;
  seq?: number;
  ack?: number;
  flags?: number;
  id?: number;
  window?: number;
}

function endpoints(kind: Kind, to: 'fwd' | 'local'): { src: number[]; dst: number[] } {
  if (isV6(kind)) return { src: ADDR.peer6, dst: to === 'fwd' ? ADDR.far6 : ADDR.a6 };
  return { src: ADDR.peer4, dst: to === 'fwd' ? ADDR.far4 : ADDR.a4 };
}

/** Builds the packet with a correct checksum, then puts the asked-for value in the field. */
function buildPacket(s: PacketSpec): Buffer {
  const { src, dst } = endpoints(s.kind, s.to);
  const v6 = isV6(s.kind);
  const p = isTcp(s.kind)
    ? tcpPacket({ v6, src, dst, sport: s.sport, dport: s.dport, seq: s.seq ?? 1000, ack: s.ack ?? 1, flags: s.flags ?? TCP_ACK, payload: s.payload, id: s.id ?? 0x1234, window: s.window ?? 65535 })
    : udpPacket(v6, src, dst, s.sport, s.dport, s.payload, s.id ?? 0x4321);
  setCsum(p, s.csum);
  return p;
}

function setCsum(p: Buffer, csum: Csum): void {
  const v = l4View(p)!;
  const at = v.iphl + csumFieldOffset(v.proto);
  const l4len = p.length - v.iphl;
  if (csum === 'valid') return;
  if (csum === 'partial') {
    p.writeUInt16BE(refFold(refPseudo(v.src, v.dst, v.proto, l4len)), at);
  } else if (csum === 'wrong') {
    const good = p.readUInt16BE(at);
    const partial = refFold(refPseudo(v.src, v.dst, v.proto, l4len));
    let w = good ^ 0x5a5a;
    if (w === partial || w === 0) w = good ^ 0x0f0f;
    p.writeUInt16BE(w, at);
  } else {
    const thl = (p[v.iphl + 12]! >> 4) * 4;
    p.writeUInt16BE(refFold(refPseudo(v.src, v.dst, v.proto, thl + csum.seg)), at);
  }
}

function setupTun(name: string, v4: string, v6: string): { fd: number; offloads: number } {
  const t = native.tunOpen(name, false, TUN_F_ALL);
  sh('ip', 'addr', 'add', v4, 'dev', name);
  sh('ip', '-6', 'addr', 'add', v6, 'dev', name, 'nodad');
  // room for a 3000-byte GSO_PARTIAL chunk as one packet (DF set: it must not be fragmented)
  sh('ip', 'link', 'set', name, 'mtu', '9000', 'up');
  return { fd: t.fd, offloads: t.offloads };
}

type Rd = TunRead;

/** Drains whatever is queued on a TUN (the kernel's ACKs, router solicitations ...). */
async function drain(fd: number): Promise<void> {
  await readTun(fd, () => false, () => false, 20);
}

function tunWriteAll(fd: number, pkts: Buffer[], coalesce: boolean): { written: number; stats: Record<string, number> } {
  const slot = 16384;
  const batch = PV.newPacketBatch(Math.max(1, pkts.length), slot);
  const idx = new Int32Array(pkts.length);
  pkts.forEach((p, i) => {
    const off = i * slot + PV.HEADROOM;
    p.copy(batch.buf, off);
    setEntry(batch.vec, i, { off, len: p.length });
    idx[i] = i;
  });
  const before = Float64Array.from(stats);
  const written = native.tunWrite(fd, batch.buf, batch.vec, idx, pkts.length, coalesce);
  return { written, stats: statsDelta(before) };
}

/** Ports of a TCP/UDP packet, or null. */
function ports(p: Buffer): { proto: number; sport: number; dport: number; iphl: number } | null {
  const v = l4View(p);
  if (!v || (v.proto !== 6 && v.proto !== 17) || p.length < v.iphl + 8) return null;
  return { proto: v.proto, sport: p.readUInt16BE(v.iphl), dport: p.readUInt16BE(v.iphl + 2), iphl: v.iphl };
}

function payloadOf(p: Buffer): { seq: number; data: Buffer } {
  const v = l4View(p)!;
  if (v.proto === 6) {
    const thl = (p[v.iphl + 12]! >> 4) * 4;
    return { seq: p.readUInt32BE(v.iphl + 4), data: p.subarray(v.iphl + thl) };
  }
  return { seq: 0, data: p.subarray(v.iphl + 8) };
}

function describe(r: Rd): PacketRead {
  const v = l4View(r.data)!;
  return {
    gsoType: r.e.gsoType, gsoSize: r.e.gsoSize, vflags: r.e.vflags, csumStart: r.e.csumStart, csumOff: r.e.csumOff,
    len: r.e.len, iphl: v.iphl, ttl: v.v6 ? r.data[7]! : r.data[8]!, state: csumState(r.data),
    field: r.data.readUInt16BE(v.iphl + csumFieldOffset(v.proto)),
  };
}

/**
 * Writes `pkts` (all of one flow to the far side) into A, reads what B hands back for the
 * flow's destination port until `expectBytes` of payload arrived or `waitMs` passed.
 */
async function forward(A: number, B: number, pkts: Buffer[], coalesce: boolean, expectBytes: number, waitMs = 2000): Promise<Probe> {
  const first = ports(pkts[0]!)!;
  const fieldWritten = pkts.map((p) => {
    const v = l4View(p)!;
    return p.readUInt16BE(v.iphl + csumFieldOffset(v.proto));
  });
  const sent = pkts.map(payloadOf);
  const w = tunWriteAll(A, pkts, coalesce);
  const keep = (p: Buffer): boolean => {
    const q = ports(p);
    return q !== null && q.proto === first.proto && q.dport === first.dport && q.sport === first.sport;
  };
  const got = (all: Rd[]): number => all.reduce((s, r) => s + payloadOf(r.data).data.length, 0);
  const reads = await readTun(B, keep, (all) => got(all) >= expectBytes, waitMs);
  // reassemble: TCP by sequence number relative to the first segment written, UDP in order
  const want = Buffer.concat(sent.map((s) => s.data));
  let bytes: Buffer;
  if (first.proto === 6) {
    const seq0 = sent[0]!.seq;
    const out = Buffer.alloc(want.length);
    let have = 0;
    for (const r of reads) {
      const pl = payloadOf(r.data);
      const off = (pl.seq - seq0) >>> 0;
      if (off + pl.data.length <= out.length) {
        pl.data.copy(out, off);
        have += pl.data.length;
      }
    }
    bytes = have === want.length ? out : out.subarray(0, 0);
  } else {
    bytes = Buffer.concat(reads.map((r) => payloadOf(r.data).data));
  }
  return {
    written: w.written, stats: w.stats, reads: reads.map(describe), payloadOk: bytes.equals(want), payloadBytes: got(reads), fieldWritten,
  };
}

/** The namespace's checksum error counters (this process runs inside it: /proc/net is its own). */
function kernelCsumErrors(): Record<string, number> {
  const out: Record<string, number> = {};
  const table = (file: string): void => {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const names = lines[i]!.split(/\s+/);
      const vals = lines[i + 1]!.split(/\s+/);
      const prefix = names[0]!.replace(':', '');
      names.forEach((n, k) => {
        if (n === 'InCsumErrors') out[`${prefix}InCsumErrors`] = Number(vals[k]);
      });
    }
  };
  table('/proc/net/snmp');
  table('/proc/net/netstat');
  for (const line of readFileSync('/proc/net/snmp6', 'utf8').split('\n')) {
    const [n, v] = line.trim().split(/\s+/);
    if (n && n.endsWith('InCsumErrors')) out[n] = Number(v);
  }
  return out;
}

function csumErrorsDelta(before: Record<string, number>): Record<string, number> {
  const after = kernelCsumErrors();
  const d: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) !== 0) d[k] = v - (before[k] ?? 0);
  return d;
}

/** A TCP listener on A's own addresses: the bytes each connection received, by client port. */
class Sink {
  readonly servers: net.Server[] = [];
  readonly tcp = new Map<number, Buffer[]>();
  readonly udp = new Map<number, Buffer[]>();
  readonly sockets: dgram.Socket[] = [];

  async start(): Promise<void> {
    for (const host of ['10.1.0.1', 'fd01::1']) {
      const srv = net.createServer((s) => {
        const chunks: Buffer[] = [];
        this.tcp.set(s.remotePort!, chunks);
        s.on('data', (d: Buffer) => chunks.push(d));
        s.on('error', () => {});
      });
      await new Promise<void>((r) => srv.listen(TCP_PORT, host, r));
      this.servers.push(srv);
      const u = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
      u.on('message', (m, rinfo) => {
        const l = this.udp.get(rinfo.port) ?? [];
        l.push(m);
        this.udp.set(rinfo.port, l);
      });
      await new Promise<void>((r) => u.bind(UDP_PORT, host, r));
      this.sockets.push(u);
    }
  }

  received(kind: Kind, sport: number): Buffer {
    return Buffer.concat((isTcp(kind) ? this.tcp : this.udp).get(sport) ?? []);
  }

  async wait(kind: Kind, sport: number, bytes: number, timeoutMs: number): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.received(kind, sport).length < bytes && Date.now() < deadline) await sleep(5);
    return this.received(kind, sport);
  }

  close(): void {
    for (const s of this.servers) s.close();
    for (const u of this.sockets) u.close();
  }
}

/**
 * Opens a TCP connection from the peer (through A) to the sink: SYN written into A, the kernel's
 * SYN-ACK read from A, the ACK written. Returns the next sequence numbers of both sides.
 */
async function handshake(A: number, kind: Kind, sport: number): Promise<{ seq: number; ack: number }> {
  const { src, dst } = endpoints(kind, 'local');
  const v6 = isV6(kind);
  const iss = (0x40000000 + sport * 7919) >>> 0;
  const syn = tcpPacket({ v6, src, dst, sport, dport: TCP_PORT, seq: iss, ack: 0, flags: TCP_SYN, options: [2, 4, 0x05, 0x78], payload: Buffer.alloc(0) });
  tunWriteAll(A, [syn], false);
  const isSynAck = (p: Buffer): boolean => {
    const q = ports(p);
    if (!q || q.proto !== 6 || q.sport !== TCP_PORT || q.dport !== sport) return false;
    return (p[q.iphl + 13]! & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK);
  };
  const r = await readTun(A, isSynAck, (all) => all.length > 0, 3000);
  if (r.length === 0) throw new Error(`no SYN-ACK for ${kind} port ${sport}`);
  const sa = r[0]!.data;
  const iphl = l4View(sa)!.iphl;
  const ack = (sa.readUInt32BE(iphl + 4) + 1) >>> 0;
  const seq = (iss + 1) >>> 0;
  const pureAck = tcpPacket({ v6, src, dst, sport, dport: TCP_PORT, seq, ack, flags: TCP_ACK, payload: Buffer.alloc(0) });
  tunWriteAll(A, [pureAck], false);
  return { seq, ack };
}

/** Segments (specs) of `payload` cut in `sizes`, in sequence from `seq`. */
function segments(kind: Kind, to: 'fwd' | 'local', sport: number, seq: number, ack: number, payload: Buffer, sizes: number[], csum: (i: number) => Csum, lastPsh: boolean, windows?: number[]): Buffer[] {
  const out: Buffer[] = [];
  let o = 0;
  sizes.forEach((n, i) => {
    const last = i === sizes.length - 1;
    out.push(buildPacket({
      kind, to, sport, dport: to === 'local' ? (isTcp(kind) ? TCP_PORT : UDP_PORT) : 6000 + (sport % 1000), seq: (seq + o) >>> 0, ack,
      flags: last && lastPsh ? TCP_ACK | TCP_PSH : TCP_ACK, payload: payload.subarray(o, o + n), csum: csum(i), id: 100 + i, window: windows?.[i] ?? 65535,
    }));
    o += n;
  });
  return out;
}

/** One TCP/UDP case: the same payload and checksum treatment sent forwarded and locally. */
interface CaseArgs {
  kind: Kind;
  coalesce: boolean;
  sport: number;
  sizes: number[];
  csum: Csum | Csum[];
  /** last (or only) segment has PSH */
  psh?: boolean;
  /** TCP window per segment (a change keeps segments from merging) */
  windows?: number[];
  /** bytes the local application should read (default: all); the forward wait expects all */
  expectLocal?: number;
  /** how long to wait for what should not come */
  shortWaitMs?: number;
  /** how long to wait for the whole payload to reach the application (default 2000 ms) */
  waitMs?: number;
}

interface CaseResult {
  fwd: Probe;
  local: Probe;
}

async function runCase(env: Env, c: CaseArgs): Promise<CaseResult> {
  const total = c.sizes.reduce((a, b) => a + b, 0);
  const payload = patternBytes(total, c.sport);
  const csumAt = (i: number): Csum => (Array.isArray(c.csum) ? c.csum[i]! : c.csum);
  const psh = c.psh ?? false;
  // forward: to the far side through B (the kernel never checks L4 checksums when forwarding)
  const fwdPkts = segments(c.kind, 'fwd', c.sport, 0x7ffff000, 77, payload, c.sizes, csumAt, psh, c.windows);
  const fwd = await forward(env.A, env.B, fwdPkts, c.coalesce, total, c.shortWaitMs ?? 2000);
  // local: to A's own address, where the kernel's TCP/UDP receive path verifies checksums
  let local: Probe;
  try {
    let seq = 0x7ffff000;
    let ack = 77;
    if (isTcp(c.kind)) ({ seq, ack } = await handshake(env.A, c.kind, c.sport));
    await drain(env.A);
    const before = kernelCsumErrors();
    const localPkts = segments(c.kind, 'local', c.sport, seq, ack, payload, c.sizes, csumAt, psh, c.windows);
    const w = tunWriteAll(env.A, localPkts, c.coalesce);
    // wait for everything; when less is expected, only for a short bounded time
    const got = await env.sink.wait(c.kind, c.sport, total, (c.expectLocal ?? total) === total ? c.waitMs ?? 2000 : c.shortWaitMs ?? 500);
    local = { written: w.written, stats: w.stats, received: got.length, receivedOk: got.equals(payload.subarray(0, got.length)), csumErrors: csumErrorsDelta(before) };
  } catch (e) {
    local = { written: 0, stats: {}, error: String((e as Error).stack ?? e) };
  }
  return { fwd, local };
}

interface Env {
  A: number;
  B: number;
  offloads: number[];
  sink: Sink;
}

async function childMain(scenario: string, args: { cases: Record<string, CaseArgs> }): Promise<unknown> {
  if (scenario !== 'cases') throw new Error(`unknown scenario ${scenario}`);
  const a = setupTun('vxpa', '10.1.0.1/24', 'fd01::1/64');
  const b = setupTun('vxpb', '10.2.0.1/24', 'fd02::1/64');
  sh('sysctl', '-qw', 'net.ipv4.ip_forward=1');
  sh('sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1');
  const sink = new Sink();
  await sink.start();
  const env: Env = { A: a.fd, B: b.fd, offloads: [a.offloads, b.offloads], sink };
  await drain(env.A);
  await drain(env.B);
  const out: Record<string, CaseResult> = {};
  for (const [name, c] of Object.entries(args.cases)) out[name] = await runCase(env, c);
  sink.close();
  native.close(a.fd);
  native.close(b.fd);
  return { offloads: env.offloads, cases: out };
}

// ---- parent side -----------------------------------------------------------------------------

/** Runs this file's child `scenario` inside the namespace; resolves with its JSON result. */
function runSelf<T>(ns: Netns, scenario: string, args: unknown, timeoutMs = 20_000): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', ns.name, process.execPath, self, CHILD_FLAG, scenario, JSON.stringify(args)],
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const lines = stdout.trim().split('\n');
        const last = lines[lines.length - 1] ?? '';
        if (err) return reject(new Error(`child ${scenario} failed: ${err.message}\nstdout: ${stdout.slice(-4000)}\nstderr: ${stderr.slice(-4000)}`));
        try {
          resolve(JSON.parse(last) as T);
        } catch {
          reject(new Error(`child ${scenario} printed no JSON result\nstdout: ${stdout.slice(-4000)}\nstderr: ${stderr.slice(-4000)}`));
        }
      },
    );
  });
}

interface CasesResult {
  offloads: number[];
  cases: Record<string, CaseResult>;
}

async function runCases(tag: string, cases: Record<string, CaseArgs>): Promise<CasesResult> {
  const ns = new Netns(tag);
  try {
    const r = await runSelf<CasesResult>(ns, 'cases', { cases });
    assert.deepEqual(r.offloads, [TUN_F_ALL, TUN_F_ALL]);
    return r;
  } finally {
    ns.destroy();
  }
}

const show = (x: unknown): string => JSON.stringify(x);

/** The packet was taken as partial: written NEEDS_CSUM, forwarded intact, delivered intact. */
function assertAccepted(name: string, r: CaseResult, kind: Kind, segs: number): void {
  const l4 = isV6(kind) ? 40 : 20;
  const off = isTcp(kind) ? 16 : 6;
  // forward: B hands back the packet still partial, flagged NEEDS_CSUM at the right place
  assert.equal(r.fwd.written, segs, `${name}: written ${show(r.fwd)}`);
  assert.equal(r.fwd.stats['csum_partial_in'], segs, `${name}: NS_CSUM_PARTIAL_IN ${show(r.fwd.stats)}`);
  assert.equal(r.fwd.stats['tun_write_drops'] ?? 0, 0);
  assert.ok(r.fwd.payloadOk, `${name}: payload read from B equals what was written into A ${show(r.fwd)}`);
  for (const p of r.fwd.reads!) {
    assert.equal(p.vflags & PV.VF_NEEDS_CSUM, PV.VF_NEEDS_CSUM, `${name}: NEEDS_CSUM read back from B ${show(p)}`);
    assert.equal(p.csumStart, l4, `${name}: csum_start`);
    assert.equal(p.csumOff, off, `${name}: csum_offset`);
    assert.equal(p.state, 'partial', `${name}: the field still holds the full-length pseudo-header sum ${show(p)}`);
    assert.equal(p.ttl, 63, `${name}: forwarded once`);
  }
  // local: the kernel's receive path took it: the application reads the bytes, no csum errors
  assert.equal(r.local.error, undefined, r.local.error);
  assert.equal(r.local.written, segs);
  assert.equal(r.local.stats['csum_partial_in'], segs, `${name}: local NS_CSUM_PARTIAL_IN ${show(r.local.stats)}`);
  assert.ok(r.local.receivedOk, `${name}: bytes read by the application are the bytes sent`);
  assert.equal(r.local.received, r.fwd.payloadBytes, `${name}: the whole payload reached the application ${show(r.local)}`);
  assert.deepEqual(r.local.csumErrors, {}, `${name}: no checksum errors counted by the kernel`);
}

/** The packet was written as it is: not flagged, NS_CSUM_PARTIAL_IN still, the kernel drops it locally. */
function assertWrittenAsIs(name: string, r: CaseResult, counter: string): void {
  assert.equal(r.fwd.written, 1, `${name}: handed to the kernel ${show(r.fwd)}`);
  assert.equal(r.fwd.stats['csum_partial_in'] ?? 0, 0, `${name}: NS_CSUM_PARTIAL_IN did not move ${show(r.fwd.stats)}`);
  // IP forwarding does not look at L4 checksums: the packet still comes out of B, unflagged,
  // with the field exactly as written (so the far end would drop it).
  assert.equal(r.fwd.reads!.length, 1, `${name}: ${show(r.fwd.reads)}`);
  const p = r.fwd.reads![0]!;
  assert.equal(p.vflags & PV.VF_NEEDS_CSUM, 0, `${name}: not flagged NEEDS_CSUM ${show(p)}`);
  assert.equal(p.gsoType, PV.GSO_NONE);
  assert.equal(p.state, 'bad', `${name}: the checksum is neither valid nor partial ${show(p)}`);
  assert.equal(p.field, r.fwd.fieldWritten![0], `${name}: the field is untouched`);
  // local delivery: dropped by the kernel as a checksum error, nothing reaches the application
  assert.equal(r.local.error, undefined, r.local.error);
  assert.equal(r.local.written, 1);
  assert.equal(r.local.stats['csum_partial_in'] ?? 0, 0);
  assert.equal(r.local.received, 0, `${name}: nothing delivered ${show(r.local)}`);
  assert.deepEqual(r.local.csumErrors, { [counter]: 1 }, `${name}: one checksum error counted ${show(r.local.csumErrors)}`);
}

const skip = !hasNetnsSupport() && 'needs root and ip netns';

function sub(t: TestContext, name: string, fn: () => void, todo?: string): Promise<void> {
  return t.test(name, todo ? { todo } : {}, fn);
}

// Regression: with coalesce=true a lone ACK-only TCP data segment (a coalescing run of one)
// used to be flushed with a zero virtio header, its partial checksum written as it was.

function defineTests(): void {
test('(a) IPv4 TCP with a partial checksum: written NEEDS_CSUM, forwarded and delivered intact (coalesce off and on)', { skip }, async (t) => {
  const r = await runCases('pca', {
    off: { kind: 'tcp4', coalesce: false, sport: 31001, sizes: [1200], csum: 'partial' },
    offPsh: { kind: 'tcp4', coalesce: false, sport: 31002, sizes: [1200], csum: 'partial', psh: true },
    onPsh: { kind: 'tcp4', coalesce: true, sport: 31003, sizes: [1200], csum: 'partial', psh: true },
    on: { kind: 'tcp4', coalesce: true, sport: 31004, sizes: [1200], csum: 'partial', waitMs: 600 },
    // control: a valid checksum is left alone
    valid: { kind: 'tcp4', coalesce: false, sport: 31005, sizes: [1200], csum: 'valid' },
  });
  await sub(t, 'coalesce=false', () => assertAccepted('off', r.cases['off']!, 'tcp4', 1));
  await sub(t, 'coalesce=false, ACK|PSH', () => assertAccepted('offPsh', r.cases['offPsh']!, 'tcp4', 1));
  await sub(t, 'coalesce=true, ACK|PSH (written alone)', () => assertAccepted('onPsh', r.cases['onPsh']!, 'tcp4', 1));
  await sub(t, 'coalesce=true, lone ACK segment', () => assertAccepted('on', r.cases['on']!, 'tcp4', 1));
  await sub(t, 'control: a valid checksum is not touched or counted', () => {
    const v = r.cases['valid']!;
    assert.equal(v.fwd.stats['csum_partial_in'] ?? 0, 0);
    assert.ok(v.fwd.payloadOk);
    assert.equal(v.fwd.reads!.length, 1);
    // written without virtio fields: B reads it unflagged with its full checksum
    assert.equal(v.fwd.reads![0]!.vflags & PV.VF_NEEDS_CSUM, 0);
    assert.equal(v.fwd.reads![0]!.state, 'valid');
    assert.ok(v.local.receivedOk);
    assert.equal(v.local.received, 1200);
    assert.deepEqual(v.local.csumErrors, {});
  });
});

test('(b) IPv6 TCP and IPv4/IPv6 UDP with a partial checksum: csum_offset 16 / 6, forwarded and delivered', { skip }, async (t) => {
  const r = await runCases('pcb', {
    tcp6off: { kind: 'tcp6', coalesce: false, sport: 32001, sizes: [1200], csum: 'partial' },
    tcp6onPsh: { kind: 'tcp6', coalesce: true, sport: 32002, sizes: [1200], csum: 'partial', psh: true },
    tcp6on: { kind: 'tcp6', coalesce: true, sport: 32003, sizes: [1200], csum: 'partial', waitMs: 600 },
    udp4off: { kind: 'udp4', coalesce: false, sport: 32004, sizes: [1200], csum: 'partial' },
    udp4on: { kind: 'udp4', coalesce: true, sport: 32005, sizes: [1200], csum: 'partial' },
    udp6off: { kind: 'udp6', coalesce: false, sport: 32006, sizes: [1200], csum: 'partial' },
    udp4odd: { kind: 'udp4', coalesce: true, sport: 32007, sizes: [777], csum: 'partial' },
  });
  await sub(t, 'IPv6 TCP, coalesce=false', () => assertAccepted('tcp6off', r.cases['tcp6off']!, 'tcp6', 1));
  await sub(t, 'IPv6 TCP, coalesce=true, ACK|PSH', () => assertAccepted('tcp6onPsh', r.cases['tcp6onPsh']!, 'tcp6', 1));
  await sub(t, 'IPv6 TCP, coalesce=true, lone ACK segment', () => assertAccepted('tcp6on', r.cases['tcp6on']!, 'tcp6', 1));
  await sub(t, 'IPv4 UDP, coalesce=false', () => assertAccepted('udp4off', r.cases['udp4off']!, 'udp4', 1));
  await sub(t, 'IPv4 UDP, coalesce=true', () => assertAccepted('udp4on', r.cases['udp4on']!, 'udp4', 1));
  await sub(t, 'IPv6 UDP, coalesce=false', () => assertAccepted('udp6off', r.cases['udp6off']!, 'udp6', 1));
  await sub(t, 'IPv4 UDP, odd length', () => assertAccepted('udp4odd', r.cases['udp4odd']!, 'udp4', 1));
});

test('(c) GSO_PARTIAL chunk: 3 x 1000 with the one-segment pseudo sum is accepted; 2500 (not a multiple) is not', { skip }, async (t) => {
  const r = await runCases('pcc', {
    chunk: { kind: 'tcp4', coalesce: false, sport: 33001, sizes: [3000], csum: { seg: 1000 } },
    chunkPsh: { kind: 'tcp4', coalesce: true, sport: 33002, sizes: [3000], csum: { seg: 1000 }, psh: true },
    chunk6: { kind: 'tcp6', coalesce: false, sport: 33003, sizes: [4000], csum: { seg: 1000 } },
    notMultiple: { kind: 'tcp4', coalesce: false, sport: 33004, sizes: [2500], csum: { seg: 1000 }, expectLocal: 0, shortWaitMs: 400 },
    // the smallest multiple: payload 1000, field for a 500-byte segment
    half: { kind: 'tcp4', coalesce: false, sport: 33005, sizes: [1000], csum: { seg: 500 } },
    // a segment larger than the payload (payload == seg would be a plain partial checksum)
    bigger: { kind: 'tcp4', coalesce: false, sport: 33006, sizes: [1000], csum: { seg: 1400 }, expectLocal: 0, shortWaitMs: 400 },
  });
  await sub(t, '3 x 1000, coalesce=false: accepted, field rewritten to the full-length sum', () => {
    const c = r.cases['chunk']!;
    assertAccepted('chunk', c, 'tcp4', 1);
    // what came out of B holds the full-length pseudo sum (state 'partial'), not the one written
    assert.notEqual(c.fwd.reads![0]!.field, c.fwd.fieldWritten![0]);
  });
  await sub(t, '3 x 1000, coalesce=true, ACK|PSH', () => assertAccepted('chunkPsh', r.cases['chunkPsh']!, 'tcp4', 1));
  await sub(t, 'IPv6, 4 x 1000', () => assertAccepted('chunk6', r.cases['chunk6']!, 'tcp6', 1));
  await sub(t, '2 x 500', () => assertAccepted('half', r.cases['half']!, 'tcp4', 1));
  await sub(t, '2500 with the sum for 1000: written as it is, dropped by the kernel', () => assertWrittenAsIs('notMultiple', r.cases['notMultiple']!, 'TcpInCsumErrors'));
  await sub(t, '1000 with the sum for 1400: written as it is, dropped by the kernel', () => assertWrittenAsIs('bigger', r.cases['bigger']!, 'TcpInCsumErrors'));
});

test('(d) a genuinely wrong checksum is not accepted: written as it is, dropped by the kernel', { skip }, async (t) => {
  const w = { expectLocal: 0, shortWaitMs: 400, csum: 'wrong' as const, sizes: [1200] };
  const r = await runCases('pcd', {
    tcp4: { kind: 'tcp4', coalesce: false, sport: 34001, ...w },
    tcp4on: { kind: 'tcp4', coalesce: true, sport: 34002, psh: true, ...w },
    tcp6: { kind: 'tcp6', coalesce: false, sport: 34003, ...w },
    udp4: { kind: 'udp4', coalesce: false, sport: 34004, ...w },
    udp6: { kind: 'udp6', coalesce: true, sport: 34005, ...w },
  });
  await sub(t, 'IPv4 TCP', () => assertWrittenAsIs('tcp4', r.cases['tcp4']!, 'TcpInCsumErrors'));
  await sub(t, 'IPv4 TCP, coalesce=true', () => assertWrittenAsIs('tcp4on', r.cases['tcp4on']!, 'TcpInCsumErrors'));
  await sub(t, 'IPv6 TCP', () => assertWrittenAsIs('tcp6', r.cases['tcp6']!, 'TcpInCsumErrors'));
  await sub(t, 'IPv4 UDP', () => assertWrittenAsIs('udp4', r.cases['udp4']!, 'UdpInCsumErrors'));
  await sub(t, 'IPv6 UDP', () => assertWrittenAsIs('udp6', r.cases['udp6']!, 'Udp6InCsumErrors'));
});

test('(e) in-sequence partial-checksum segments are coalesced (coalesce=true) and arrive intact', { skip }, async (t) => {
  const six = [1000, 1000, 1000, 1000, 1000, 1000];
  const r = await runCases('pce', {
    v4: { kind: 'tcp4', coalesce: true, sport: 35001, sizes: six, csum: 'partial', psh: true },
    v4noPsh: { kind: 'tcp4', coalesce: true, sport: 35002, sizes: [1000, 1000, 1000, 1000, 600], csum: 'partial' },
    v6: { kind: 'tcp6', coalesce: true, sport: 35003, sizes: six, csum: 'partial', psh: true },
    mixed: { kind: 'tcp4', coalesce: true, sport: 35004, sizes: six, csum: ['valid', 'partial', 'valid', 'partial', 'partial', 'valid'], psh: true },
    // a wrong checksum in the middle: 0-1 merged, 2 alone as it is, 3-4 merged; locally only
    // the first 2000 bytes reach the application (2 is dropped, 3-4 wait out of order)
    badMiddle: { kind: 'tcp4', coalesce: true, sport: 35005, sizes: [1000, 1000, 1000, 1000, 1000], csum: ['partial', 'partial', 'wrong', 'partial', 'partial'], expectLocal: 2000, shortWaitMs: 500 },
    // two in-sequence segments that cannot merge (the window changes): two runs of one each
    unmerged: { kind: 'tcp4', coalesce: true, sport: 35007, sizes: [1000, 1000], csum: 'partial', windows: [65535, 60000], waitMs: 600 },
    // coalescing off: the same segments go one by one, each flagged
    off: { kind: 'tcp4', coalesce: false, sport: 35006, sizes: six, csum: 'partial', psh: true },
  });
  const merged = (name: string, kind: Kind, segs: number, partial: number): void => {
    const c = r.cases[name]!;
    for (const [where, p] of [['fwd', c.fwd], ['local', c.local]] as const) {
      assert.equal(p.error, undefined, p.error);
      assert.equal(p.written, segs, `${name} ${where}: all handed to the kernel`);
      assert.equal(p.stats['coalesce_out'], 1, `${name} ${where}: one super-packet ${show(p.stats)}`);
      assert.equal(p.stats['coalesce_in'], segs, `${name} ${where}: ${show(p.stats)}`);
      assert.equal(p.stats['coalesce_bad_csum'] ?? 0, 0, `${name} ${where}: ${show(p.stats)}`);
      assert.equal(p.stats['csum_partial_in'] ?? 0, partial, `${name} ${where}: NS_CSUM_PARTIAL_IN ${show(p.stats)}`);
      assert.equal(p.stats['tun_writes'], 1, `${name} ${where}: one writev`);
    }
    assert.ok(c.fwd.payloadOk, `${name}: payload read from B ${show(c.fwd)}`);
    // B has TSO: the merged super-packet comes out whole, GSO with NEEDS_CSUM and a partial field
    assert.equal(c.fwd.reads!.length, 1, `${name}: ${show(c.fwd.reads)}`);
    const p = c.fwd.reads![0]!;
    assert.equal(p.gsoType, kind === 'tcp6' ? PV.GSO_TCPV6 : PV.GSO_TCPV4);
    assert.equal(p.gsoSize, 1000);
    assert.equal(p.vflags & PV.VF_NEEDS_CSUM, PV.VF_NEEDS_CSUM);
    assert.equal(p.csumStart, kind === 'tcp6' ? 40 : 20);
    assert.equal(p.csumOff, 16);
    assert.equal(p.state, 'partial');
    assert.ok(c.local.receivedOk, `${name}: the application read the stream intact`);
    assert.equal(c.local.received, c.fwd.payloadBytes, `${name}: ${show(c.local)}`);
    assert.deepEqual(c.local.csumErrors, {});
  };
  await sub(t, 'IPv4, 6 x 1000 partial, PSH on the last', () => merged('v4', 'tcp4', 6, 6));
  await sub(t, 'IPv4, shorter last segment ends the run', () => merged('v4noPsh', 'tcp4', 5, 5));
  await sub(t, 'IPv6, 6 x 1000 partial', () => merged('v6', 'tcp6', 6, 6));
  await sub(t, 'valid and partial checksums mixed in one run', () => merged('mixed', 'tcp4', 6, 3));
  await sub(t, 'a wrong checksum in the middle ends the run and is written as it is', () => {
    const c = r.cases['badMiddle']!;
    for (const p of [c.fwd, c.local]) {
      assert.equal(p.written, 5);
      assert.deepEqual([p.stats['coalesce_in'], p.stats['coalesce_out'], p.stats['coalesce_bad_csum']], [4, 2, 1], show(p.stats));
      assert.equal(p.stats['csum_partial_in'], 4, show(p.stats));
    }
    // forwarded: two super-packets flagged NEEDS_CSUM and the bad segment unflagged, as written
    assert.ok(c.fwd.payloadOk);
    const reads = c.fwd.reads!;
    assert.deepEqual(reads.map((p) => [p.gsoType, p.vflags & PV.VF_NEEDS_CSUM, p.state]), [
      [PV.GSO_TCPV4, PV.VF_NEEDS_CSUM, 'partial'], [PV.GSO_NONE, 0, 'bad'], [PV.GSO_TCPV4, PV.VF_NEEDS_CSUM, 'partial'],
    ], show(reads));
    assert.equal(reads[1]!.field, c.fwd.fieldWritten![2]);
    // delivered: the bytes before the bad segment; the kernel counted exactly one csum error
    assert.equal(c.local.received, 2000, show(c.local));
    assert.ok(c.local.receivedOk);
    assert.deepEqual(c.local.csumErrors, { TcpInCsumErrors: 1 });
  });
  await sub(t, 'partial segments that end up alone in their run are still flagged', () => {
    const c = r.cases['unmerged']!;
    for (const p of [c.fwd, c.local]) {
      assert.equal(p.written, 2);
      assert.equal(p.stats['coalesce_out'] ?? 0, 0, show(p.stats));
      assert.equal(p.stats['csum_partial_in'], 2, `NS_CSUM_PARTIAL_IN ${show(p.stats)}`);
    }
    assert.ok(c.fwd.payloadOk);
    for (const p of c.fwd.reads!) assert.equal(p.vflags & PV.VF_NEEDS_CSUM, PV.VF_NEEDS_CSUM, show(p));
    assert.equal(c.local.received, 2000, show(c.local));
    assert.deepEqual(c.local.csumErrors, {});
  });
  await sub(t, 'coalesce=false: no merge, each segment flagged on its own', () => {
    const c = r.cases['off']!;
    assert.equal(c.fwd.written, 6);
    assert.deepEqual(c.fwd.stats, { tun_writes: 6, csum_partial_in: 6 });
    assert.ok(c.fwd.payloadOk);
    assert.equal(c.fwd.reads!.length, 6);
    for (const p of c.fwd.reads!) {
      assert.equal(p.gsoType, PV.GSO_NONE);
      assert.equal(p.vflags & PV.VF_NEEDS_CSUM, PV.VF_NEEDS_CSUM);
      assert.equal(p.state, 'partial');
    }
    assert.equal(c.local.received, 6000);
    assert.ok(c.local.receivedOk);
    assert.deepEqual(c.local.csumErrors, {});
  });
});

}

// ---- entry: the tests, or (started inside a namespace by runSelf) one child scenario ---------

if (process.argv[2] !== CHILD_FLAG) {
  defineTests();
} else {
  runScenario(() => childMain(process.argv[3] ?? '', JSON.parse(process.argv[4] ?? '{}')));
}
