// RFC 1035 message codec for the embedded resolver: header, one question, the EDNS0 OPT record
// (RFC 6891) and the few answer types we emit (A, AAAA, SRV, PTR).
//
// Why hand-written and not an npm DNS library: the resolver answers on the data path, one
// datagram in, one datagram out. A codec over (buf, off), like the packet/ codecs, reads the
// query once, allocates nothing per record and writes the reply straight into a caller-given
// Buffer. The general libraries build object trees for every message and throw on bad input;
// we need a result code for malformed input and a hard bound on work per datagram.
//
// Header (RFC 1035 section 4.1.1), offsets from the start of the message:
//
//                                   1  1  1  1  1  1
//     0  1  2  3  4  5  6  7  8  9  0  1  2  3  4  5
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//   |                      ID                       |  0
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//   |QR|   Opcode  |AA|TC|RD|RA| Z|AD|CD|   RCODE   |  2
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//   |                    QDCOUNT                    |  4
//   |                    ANCOUNT                    |  6
//   |                    NSCOUNT                    |  8
//   |                    ARCOUNT                    |  10
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//
// Contract: parseQuery never throws and reads no byte at or beyond len. ResponseWriter never
// writes at or beyond its limit; a record that does not fit is left out and, in the answer
// section, sets TC (RFC 2181 section 9).

// Protocol constants (RFC 1035 section 4.1.1).
export const DNS_ID = 0;
export const DNS_FLAGS = 2;
export const DNS_QDCOUNT = 4;
export const DNS_ANCOUNT = 6;
export const DNS_NSCOUNT = 8;
export const DNS_ARCOUNT = 10;
export const DNS_HLEN = 12;

export const FLAG_QR = 0x8000;
export const FLAG_AA = 0x0400;
export const FLAG_TC = 0x0200;
export const FLAG_RD = 0x0100;
export const FLAG_RA = 0x0080;
export const FLAG_CD = 0x0010;
export const OPCODE_SHIFT = 11;
export const OPCODE_QUERY = 0;

// RCODEs (RFC 1035 section 4.1.1; BADVERS is an extended RCODE, RFC 6891 section 9).
export const RCODE_NOERROR = 0;
export const RCODE_FORMERR = 1;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;
export const RCODE_NOTIMP = 4;
export const RCODE_REFUSED = 5;
export const RCODE_BADVERS = 16;

// TYPEs and CLASSes (RFC 1035 section 3.2.2; AAAA RFC 3596; SRV RFC 2782; OPT RFC 6891).
export const TYPE_A = 1;
export const TYPE_NS = 2;
export const TYPE_CNAME = 5;
export const TYPE_SOA = 6;
export const TYPE_PTR = 12;
export const TYPE_AAAA = 28;
export const TYPE_SRV = 33;
export const TYPE_OPT = 41;
export const TYPE_IXFR = 251;
export const TYPE_AXFR = 252;
export const TYPE_ANY = 255;
export const CLASS_IN = 1;
export const CLASS_ANY = 255;

/** Maximum wire length of a name (RFC 1035 section 2.3.4), root label included. */
export const MAX_NAME_WIRE = 255;
/** Maximum label length (RFC 1035 section 2.3.4); 0b01/0b10 prefixes are not labels. */
export const MAX_LABEL = 63;
/** UDP payload limit without EDNS (RFC 1035 section 4.2.1). */
export const UDP_CLASSIC_MAX = 512;

// Implementation constants.
/**
 * Largest UDP payload we send (and advertise) over EDNS: 1232 avoids IP fragmentation on any
 * path with an IPv6 minimum MTU of 1280 (DNS flag day 2020). Bigger answers get TC and the
 * client retries over TCP (RFC 7766).
 */
export const EDNS_UDP_MAX = 1232;
/**
 * Bound on compression pointers followed in one name. Each pointer must also point strictly
 * backwards, so loops are impossible anyway; the bound caps work on hostile input at 128
 * jumps' worth of label reads (a 255-byte name has at most 127 labels).
 */
export const MAX_POINTER_HOPS = 128;
/** Bound on additional-section records we walk looking for the OPT record. */
export const MAX_ADDITIONAL_WALK = 8;
/** Size of the OPT record we append (RFC 6891 section 6.1.2, no options). */
export const OPT_RR_LEN = 11;

// Parse result codes (ours, append-only).
export const DP_OK = 0;
/** Shorter than the 12-byte header: there is no ID to answer to. */
export const DP_SHORT = 1;
/** QR is set: a response, never answered (answering responses makes reflection loops). */
export const DP_NOT_QUERY = 2;
/** The message ends inside the question or a record. */
export const DP_TRUNCATED = 3;
/** QDCOUNT is not 1 (RFC 9619: a query carries exactly one question). */
export const DP_BAD_QDCOUNT = 4;
/** A label with a reserved 0b01/0b10 prefix. */
export const DP_BAD_LABEL = 5;
/** A name longer than 255 bytes on the wire. */
export const DP_NAME_TOO_LONG = 6;
/** A compression pointer that points forward, at itself, or past the hop bound. */
export const DP_BAD_POINTER = 7;
/** An OPT record with a non-root owner or a second OPT (RFC 6891 section 6.1.1). */
export const DP_BAD_OPT = 8;

export const DP_NAMES: readonly string[] = [
  'ok', 'short', 'not_query', 'truncated', 'bad_qdcount', 'bad_label', 'name_too_long', 'bad_pointer', 'bad_opt',
];

/** A parsed query. Reused across calls: make one with newDnsQuery() and pass it to parseQuery. */
export interface DnsQuery {
  id: number;
  /** The 16-bit flags word as received. */
  flags: number;
  opcode: number;
  rd: boolean;
  cd: boolean;
  /** Lower-cased, dot-separated, no trailing dot; '' for the root. */
  qname: string;
  /** The question name uncompressed as received, case kept (echoed in the reply: 0x20 clients). */
  qnameWire: Buffer;
  qnameWireLen: number;
  /** Some label holds a '.', a byte below 0x21 or above 0x7e: never one of our names. */
  qnameOdd: boolean;
  qtype: number;
  qclass: number;
  /** Offset just past the question in the query. */
  questionEnd: number;
  edns: boolean;
  /** The client's advertised UDP size (RFC 6891 section 6.2.3), 512 without EDNS. */
  ednsUdpSize: number;
  ednsVersion: number;
  /** DNSSEC OK, copied to the reply (RFC 3225 section 3). */
  ednsDo: boolean;
}

export function newDnsQuery(): DnsQuery {
  return {
    id: 0, flags: 0, opcode: 0, rd: false, cd: false, qname: '', qnameWire: Buffer.alloc(MAX_NAME_WIRE),
    qnameWireLen: 0, qnameOdd: false, qtype: 0, qclass: 0, questionEnd: 0, edns: false,
    ednsUdpSize: UDP_CLASSIC_MAX, ednsVersion: 0, ednsDo: false,
  };
}

function u16(buf: Uint8Array, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}

function put16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

function put32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 24) & 0xff;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

// Scratch results of readName (single-threaded, so module scratch is safe and allocation-free).
let nameEnd = 0; // offset just past the name where it started (after the first pointer, if any)

/**
 * Reads the (possibly compressed) name at off, validating labels, pointers and total length.
 * When wire is given, copies the uncompressed name there and returns DP_OK with the length in
 * wireLenOut[0]. Sets nameEnd. Reads nothing at or beyond len.
 */
function readName(buf: Uint8Array, off: number, len: number, wire: Uint8Array | null, wireLenOut: Int32Array): number {
  let p = off;
  let total = 0;
  let hops = 0;
  let end = -1;
  // Lowest offset a pointer may target: strictly below the start of the label sequence it
  // interrupts, so every jump moves backwards and the walk must terminate.
  let floor = off;
  for (;;) {
    if (p >= len) return DP_TRUNCATED;
    const b = buf[p];
    if (b === 0) {
      if (total + 1 > MAX_NAME_WIRE) return DP_NAME_TOO_LONG;
      if (wire !== null) wire[total] = 0;
      total += 1;
      if (end < 0) end = p + 1;
      break;
    }
    const kind = b & 0xc0;
    if (kind === 0xc0) {
      if (p + 1 >= len) return DP_TRUNCATED;
      const target = ((b & 0x3f) << 8) | buf[p + 1];
      if (target >= floor || ++hops > MAX_POINTER_HOPS) return DP_BAD_POINTER;
      if (end < 0) end = p + 2;
      floor = target;
      p = target;
      continue;
    }
    if (kind !== 0) return DP_BAD_LABEL;
    if (total + 1 + b + 1 > MAX_NAME_WIRE) return DP_NAME_TOO_LONG;
    if (p + 1 + b > len) return DP_TRUNCATED;
    if (wire !== null) for (let i = 0; i <= b; i++) wire[total + i] = buf[p + i];
    total += 1 + b;
    p += 1 + b;
  }
  nameEnd = end;
  wireLenOut[0] = total;
  return DP_OK;
}

const lenScratch = new Int32Array(1);

/** Lower-cased dotted form of an uncompressed wire name, and whether any label is odd. */
let oddScratch = false;
function wireToString(wire: Uint8Array): string {
  let s = '';
  let p = 0;
  oddScratch = false;
  while (wire[p] !== 0) {
    const n = wire[p];
    if (s.length > 0) s += '.';
    for (let i = 1; i <= n; i++) {
      let c = wire[p + i];
      if (c === 0x2e || c < 0x21 || c > 0x7e) oddScratch = true;
      if (c >= 0x41 && c <= 0x5a) c += 0x20;
      s += String.fromCharCode(c);
    }
    p += 1 + n;
  }
  return s;
}

/** Reads the header only: the ID and flags are then valid for any error reply. */
export function parseHeader(buf: Uint8Array, len: number, q: DnsQuery): number {
  if (len < DNS_HLEN || buf.length < len) return DP_SHORT;
  q.id = u16(buf, DNS_ID);
  q.flags = u16(buf, DNS_FLAGS);
  q.opcode = (q.flags >>> OPCODE_SHIFT) & 0xf;
  q.rd = (q.flags & FLAG_RD) !== 0;
  q.cd = (q.flags & FLAG_CD) !== 0;
  if ((q.flags & FLAG_QR) !== 0) return DP_NOT_QUERY;
  return DP_OK;
}

/**
 * Parses a query: header, exactly one question, and the OPT record if the additional section
 * has one (answer and authority records are skipped, they mean nothing in a query). Returns a
 * DP_* code; on anything but DP_SHORT the header fields of q are valid.
 */
export function parseQuery(buf: Uint8Array, len: number, q: DnsQuery): number {
  const h = parseHeader(buf, len, q);
  if (h !== DP_OK) return h;
  q.edns = false;
  q.ednsUdpSize = UDP_CLASSIC_MAX;
  q.ednsVersion = 0;
  q.ednsDo = false;
  q.qname = '';
  q.qnameWireLen = 0;
  q.qnameOdd = false;
  q.qtype = 0;
  q.qclass = 0;
  if (u16(buf, DNS_QDCOUNT) !== 1) return DP_BAD_QDCOUNT;
  let r = readName(buf, DNS_HLEN, len, q.qnameWire, lenScratch);
  if (r !== DP_OK) return r;
  q.qnameWireLen = lenScratch[0];
  let p = nameEnd;
  if (p + 4 > len) return DP_TRUNCATED;
  q.qtype = u16(buf, p);
  q.qclass = u16(buf, p + 2);
  p += 4;
  q.questionEnd = p;
  q.qname = wireToString(q.qnameWire);
  q.qnameOdd = oddScratch;
  const skip = u16(buf, DNS_ANCOUNT) + u16(buf, DNS_NSCOUNT);
  // Walk at most MAX_ADDITIONAL_WALK records: a query has no business carrying more, and an
  // OPT record hidden behind them is ignored rather than paid for.
  const walk = Math.min(skip + u16(buf, DNS_ARCOUNT), MAX_ADDITIONAL_WALK);
  for (let i = 0; i < walk; i++) {
    const ownerAt = p;
    r = readName(buf, p, len, null, lenScratch);
    if (r !== DP_OK) return r;
    p = nameEnd;
    if (p + 10 > len) return DP_TRUNCATED;
    const type = u16(buf, p);
    const rdlen = u16(buf, p + 8);
    if (p + 10 + rdlen > len) return DP_TRUNCATED;
    if (i >= skip && type === TYPE_OPT) {
      if (q.edns || buf[ownerAt] !== 0) return DP_BAD_OPT;
      q.edns = true;
      // Values below 512 are treated as 512 (RFC 6891 section 6.2.3).
      q.ednsUdpSize = Math.max(UDP_CLASSIC_MAX, u16(buf, p + 2));
      q.ednsVersion = buf[p + 5];
      q.ednsDo = (buf[p + 6] & 0x80) !== 0;
    }
    p += 10 + rdlen;
  }
  return DP_OK;
}

/** Section a record goes to; only the answer section sets TC when a record does not fit. */
export const SECTION_ANSWER = 0;
export const SECTION_ADDITIONAL = 2;

/**
 * Builds one reply into a caller-given buffer. Usage: begin(), add* answers, then add*
 * additionals, then finish(). The owner of every answer is the question name, written once in
 * the question and referenced with a compression pointer to offset 12 (RFC 1035 section 4.1.4).
 */
export class ResponseWriter {
  buf: Uint8Array = new Uint8Array(0);
  off = 0;
  /** Bytes we may write in total, OPT record reserved. */
  private limit = 0;
  private counts = [0, 0, 0];
  tc = false;
  private edns = false;
  private ednsSize = 0;
  private ednsDo = false;
  private rcode = 0;
  private flags = 0;

  /**
   * Starts a reply to q in out, at most maxLen bytes (the transport's limit: the client's UDP
   * size, or 65535 over TCP). Writes the header and echoes the question. Returns false when
   * not even that fits (then nothing useful was written).
   */
  begin(out: Uint8Array, q: DnsQuery, rcode: number, aa: boolean, ra: boolean, maxLen: number): boolean {
    this.buf = out;
    this.counts[0] = this.counts[1] = this.counts[2] = 0;
    this.tc = false;
    this.rcode = rcode;
    this.edns = q.edns;
    this.ednsSize = Math.min(q.ednsUdpSize, EDNS_UDP_MAX);
    this.ednsDo = q.ednsDo;
    this.limit = Math.min(out.length, maxLen) - (q.edns ? OPT_RR_LEN : 0);
    this.flags = FLAG_QR | (q.opcode << OPCODE_SHIFT) | (aa ? FLAG_AA : 0) | (q.rd ? FLAG_RD : 0) |
      (ra ? FLAG_RA : 0) | (q.cd ? FLAG_CD : 0);
    const qlen = q.qnameWireLen > 0 ? q.qnameWireLen + 4 : 0;
    if (DNS_HLEN + qlen > this.limit) return false;
    put16(out, DNS_ID, q.id);
    for (let i = 2; i < DNS_HLEN; i++) out[i] = 0;
    this.off = DNS_HLEN;
    if (qlen > 0) {
      out.set(q.qnameWire.subarray(0, q.qnameWireLen), DNS_HLEN);
      this.off += q.qnameWireLen;
      put16(out, this.off, q.qtype);
      put16(out, this.off + 2, q.qclass);
      this.off += 4;
      put16(out, DNS_QDCOUNT, 1);
    }
    return true;
  }

  private room(section: number, need: number): boolean {
    if (this.tc) return false;
    if (this.off + need <= this.limit) return true;
    if (section === SECTION_ANSWER) this.tc = true;
    return false;
  }

  /** Writes owner (pointer to the question name, or a full name), type, class IN, ttl, rdlength; leaves off at the rdata. */
  private rrHead(owner: string | null, type: number, ttl: number, rdlen: number): void {
    const b = this.buf;
    let p = this.off;
    if (owner === null) {
      b[p] = 0xc0;
      b[p + 1] = DNS_HLEN;
      p += 2;
    } else {
      p = writeName(b, p, owner);
    }
    put16(b, p, type);
    put16(b, p + 2, CLASS_IN);
    put32(b, p + 4, ttl);
    put16(b, p + 8, rdlen);
    this.off = p + 10;
  }

  private ownerLen(owner: string | null): number {
    return owner === null ? 2 : nameWireLen(owner);
  }

  /** An A record; owner null means the question name. ipv4 is a 32-bit unsigned number. */
  addA(section: number, owner: string | null, ttl: number, ipv4: number): boolean {
    if (!this.room(section, this.ownerLen(owner) + 10 + 4)) return false;
    this.rrHead(owner, TYPE_A, ttl, 4);
    put32(this.buf, this.off, ipv4);
    this.off += 4;
    this.counts[section]++;
    return true;
  }

  /** An AAAA record (RFC 3596); ipv6 is 16 bytes. */
  addAAAA(section: number, owner: string | null, ttl: number, ipv6: Uint8Array): boolean {
    if (!this.room(section, this.ownerLen(owner) + 10 + 16)) return false;
    this.rrHead(owner, TYPE_AAAA, ttl, 16);
    this.buf.set(ipv6.subarray(0, 16), this.off);
    this.off += 16;
    this.counts[section]++;
    return true;
  }

  /**
   * An SRV record (RFC 2782). The target is written uncompressed: RFC 2782 forbids
   * compressing it ("name compression is not to be used for this field").
   */
  addSrv(section: number, ttl: number, priority: number, weight: number, port: number, target: string): boolean {
    const tlen = nameWireLen(target);
    if (!this.room(section, 2 + 10 + 6 + tlen)) return false;
    this.rrHead(null, TYPE_SRV, ttl, 6 + tlen);
    put16(this.buf, this.off, priority);
    put16(this.buf, this.off + 2, weight);
    put16(this.buf, this.off + 4, port);
    this.off = writeName(this.buf, this.off + 6, target);
    this.counts[section]++;
    return true;
  }

  /** A PTR record for the question name. */
  addPtr(section: number, ttl: number, target: string): boolean {
    const tlen = nameWireLen(target);
    if (!this.room(section, 2 + 10 + tlen)) return false;
    this.rrHead(null, TYPE_PTR, ttl, tlen);
    this.off = writeName(this.buf, this.off, target);
    this.counts[section]++;
    return true;
  }

  /** Writes the OPT record (if the query had one), the counts and flags; returns the length. */
  finish(): number {
    const b = this.buf;
    if (this.edns) {
      // RFC 6891 section 6.1.2/6.1.3: root owner, CLASS = our UDP size, TTL = extended RCODE
      // (upper 8 bits of 12), version 0, DO copied; no options.
      let p = this.off;
      b[p] = 0;
      put16(b, p + 1, TYPE_OPT);
      put16(b, p + 3, Math.max(UDP_CLASSIC_MAX, this.ednsSize));
      b[p + 5] = (this.rcode >>> 4) & 0xff;
      b[p + 6] = 0;
      b[p + 7] = this.ednsDo ? 0x80 : 0;
      b[p + 8] = 0;
      put16(b, p + 9, 0);
      this.off = p + OPT_RR_LEN;
      this.counts[SECTION_ADDITIONAL]++;
    }
    put16(b, DNS_FLAGS, this.flags | (this.tc ? FLAG_TC : 0) | (this.rcode & 0xf));
    put16(b, DNS_ANCOUNT, this.counts[0]);
    put16(b, DNS_NSCOUNT, this.counts[1]);
    put16(b, DNS_ARCOUNT, this.counts[2]);
    return this.off;
  }
}

/** Wire length of a dotted name ('' is the root), without compression. */
export function nameWireLen(name: string): number {
  return name.length === 0 ? 1 : name.length + 2;
}

/** Writes a dotted name uncompressed at off; returns the offset after it. Names are ASCII. */
export function writeName(buf: Uint8Array, off: number, name: string): number {
  let p = off;
  let start = 0;
  if (name.length > 0) {
    for (let i = 0; i <= name.length; i++) {
      if (i === name.length || name.charCodeAt(i) === 0x2e) {
        buf[p++] = i - start;
        for (let j = start; j < i; j++) buf[p++] = name.charCodeAt(j);
        start = i + 1;
      }
    }
  }
  buf[p++] = 0;
  return p;
}

/**
 * Writes a header-only error reply (no question) for a message whose header parsed but whose
 * body did not: FORMERR for malformed queries. Echoes ID, opcode and RD. Returns the length,
 * or 0 when the query is shorter than a header or out cannot hold one.
 */
export function writeHeaderOnlyReply(query: Uint8Array, len: number, out: Uint8Array, rcode: number): number {
  if (len < DNS_HLEN || out.length < DNS_HLEN) return 0;
  const flags = u16(query, DNS_FLAGS);
  out[0] = query[0];
  out[1] = query[1];
  put16(out, DNS_FLAGS, FLAG_QR | (flags & (0xf << OPCODE_SHIFT)) | (flags & FLAG_RD) | (rcode & 0xf));
  for (let i = 4; i < DNS_HLEN; i++) out[i] = 0;
  return DNS_HLEN;
}

const scratchQuery = newDnsQuery();
const scratchWriter = new ResponseWriter();

/**
 * An error reply (SERVFAIL, REFUSED ...) to a query, echoing its question and EDNS when they
 * parse, else header-only. Used by the forwarder on timeout. Returns the length (0: nothing).
 */
export function writeErrorReply(query: Uint8Array, len: number, out: Uint8Array, rcode: number, ra: boolean): number {
  const r = parseQuery(query, len, scratchQuery);
  if (r === DP_SHORT) return 0;
  if (r !== DP_OK) return writeHeaderOnlyReply(query, len, out, rcode);
  const max = scratchQuery.edns ? Math.min(scratchQuery.ednsUdpSize, EDNS_UDP_MAX) : UDP_CLASSIC_MAX;
  if (!scratchWriter.begin(out, scratchQuery, rcode, false, ra, max)) return writeHeaderOnlyReply(query, len, out, rcode);
  return scratchWriter.finish();
}
