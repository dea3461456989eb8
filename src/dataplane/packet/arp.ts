// ARP for IPv4 over Ethernet (RFC 826), the only combination the overlay carries. Offsets are
// relative to the start of the ARP packet (right after the Ethernet header); RFC 826 names in [].
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |    Hardware type [ar$hrd]     |    Protocol type [ar$pro]     |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   | HW len [ar$hln]|Proto len [pln]|        Opcode [ar$op]        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |            Sender hardware address [ar$sha] (6 bytes)          |
//   +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                               | Sender protocol addr [ar$spa] |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  (spa cont.)                  | Target hardware addr [ar$tha] |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//   |                        (tha cont., 6 bytes)                   |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |               Target protocol address [ar$tpa]                |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import { PR_ARP_UNSUPPORTED, PR_OK, PR_TRUNCATED } from './parse-reason.js';
import { ETHERTYPE_IPV4, copyMac } from './ethernet.js';

// Protocol constants (RFC 826; hardware type and opcodes from the IANA ARP registry).
export const ARP_HTYPE = 0;
export const ARP_PTYPE = 2;
export const ARP_HW_ADDR_LEN = 4;
export const ARP_PROTO_ADDR_LEN = 5;
export const ARP_OP = 6;
export const ARP_SENDER_MAC = 8;
export const ARP_SENDER_IP = 14;
export const ARP_TARGET_MAC = 18;
export const ARP_TARGET_IP = 24;
/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_LEN = 28;
/** Hardware type Ethernet (10Mb), the value every Ethernet stack sends. */
export const ARP_HTYPE_ETHERNET = 1;
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;

/**
 * PR_OK when len bytes at off hold an Ethernet/IPv4 ARP request or reply (htype 1, ptype
 * 0x0800, hlen 6, plen 4, op 1 or 2); PR_TRUNCATED below 28 bytes; otherwise PR_ARP_UNSUPPORTED.
 * Trailing bytes (Ethernet padding on a physical link) are allowed.
 */
export function checkArp(buf: Uint8Array, off: number, len: number): number {
  if (len < ARP_LEN) return PR_TRUNCATED;
  if (
    buf[off] !== 0 ||
    buf[off + 1] !== ARP_HTYPE_ETHERNET ||
    buf[off + 2] !== ETHERTYPE_IPV4 >>> 8 ||
    buf[off + 3] !== (ETHERTYPE_IPV4 & 0xff) ||
    buf[off + 4] !== 6 ||
    buf[off + 5] !== 4 ||
    buf[off + 6] !== 0 ||
    (buf[off + 7] !== ARP_OP_REQUEST && buf[off + 7] !== ARP_OP_REPLY)
  ) {
    return PR_ARP_UNSUPPORTED;
  }
  return PR_OK;
}

/** Opcode: ARP_OP_REQUEST or ARP_OP_REPLY (after checkArp). */
export function arpOp(buf: Uint8Array, off: number): number {
  return (buf[off + ARP_OP] << 8) | buf[off + ARP_OP + 1];
}

/** Sender IPv4 address as an unsigned 32-bit value. The sender MAC is at off + ARP_SENDER_MAC. */
export function arpSenderIp(buf: Uint8Array, off: number): number {
  return readU32(buf, off + ARP_SENDER_IP);
}

/** Target IPv4 address as an unsigned 32-bit value. The target MAC is at off + ARP_TARGET_MAC. */
export function arpTargetIp(buf: Uint8Array, off: number): number {
  return readU32(buf, off + ARP_TARGET_IP);
}

/**
 * Writes a 28-byte ARP reply (no Ethernet header) saying "senderIp is at senderMac" to the host
 * targetMac/targetIp, i.e. the reply to a request whose sender was targetMac/targetIp and whose
 * target was senderIp. Returns ARP_LEN.
 */
export function writeArpReply(
  out: Uint8Array,
  off: number,
  senderMac: Uint8Array,
  senderMacOff: number,
  senderIp: number,
  targetMac: Uint8Array,
  targetMacOff: number,
  targetIp: number,
): number {
  // Copy the MACs first: a caller may answer in place, with targetMac inside the request at out.
  copyMac(out, off + ARP_TARGET_MAC, targetMac, targetMacOff);
  copyMac(out, off + ARP_SENDER_MAC, senderMac, senderMacOff);
  writeFixedPart(out, off, ARP_OP_REPLY);
  writeU32(out, off + ARP_SENDER_IP, senderIp);
  writeU32(out, off + ARP_TARGET_IP, targetIp);
  return ARP_LEN;
}

/**
 * Writes a 28-byte ARP request "who has targetIp, tell senderIp" with a zero target MAC, as
 * Linux sends it (RFC 826 leaves ar$tha unspecified in requests). Returns ARP_LEN.
 */
export function writeArpRequest(
  out: Uint8Array,
  off: number,
  senderMac: Uint8Array,
  senderMacOff: number,
  senderIp: number,
  targetIp: number,
): number {
  copyMac(out, off + ARP_SENDER_MAC, senderMac, senderMacOff);
  writeFixedPart(out, off, ARP_OP_REQUEST);
  writeU32(out, off + ARP_SENDER_IP, senderIp);
  out.fill(0, off + ARP_TARGET_MAC, off + ARP_TARGET_MAC + 6);
  writeU32(out, off + ARP_TARGET_IP, targetIp);
  return ARP_LEN;
}

function writeFixedPart(out: Uint8Array, off: number, op: number): void {
  out[off] = 0;
  out[off + 1] = ARP_HTYPE_ETHERNET;
  out[off + 2] = ETHERTYPE_IPV4 >>> 8;
  out[off + 3] = ETHERTYPE_IPV4 & 0xff;
  out[off + 4] = 6;
  out[off + 5] = 4;
  out[off + 6] = 0;
  out[off + 7] = op;
}

function readU32(buf: Uint8Array, o: number): number {
  return ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
}

function writeU32(out: Uint8Array, o: number, v: number): void {
  out[o] = v >>> 24;
  out[o + 1] = v >>> 16;
  out[o + 2] = v >>> 8;
  out[o + 3] = v;
}
