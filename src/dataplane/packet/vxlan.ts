// VXLAN header (RFC 7348 section 5), carried in UDP to port 4789, followed by the inner Ethernet
// frame. Offsets relative to the start of the VXLAN header (the UDP payload).
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |R|R|R|R|I|R|R|R|            Reserved                           |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                VXLAN Network Identifier (VNI) |   Reserved    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// RFC 7348: the I flag MUST be 1; the reserved bits MUST be 0 on transmit and are ignored on
// receipt. So checkVxlan rejects only a missing I flag, and extensions that use reserved bits
// (Group Policy, GPE) pass as plain VXLAN with their bits ignored.
//
// What the overlay sends is [outer IP][outer UDP][VXLAN][inner Ethernet][inner IP packet]; the
// kernel writes the outer IP and UDP (we send through a UDP socket), the pipeline writes the
// VXLAN_PREFIX_LEN bytes in the headroom in front of the inner packet (writeVxlanPrefix).

import { PR_OK, PR_TRUNCATED, PR_VXLAN_FLAGS } from './parse-reason.js';
import { ETH_HLEN, writeEthernetHeader } from './ethernet.js';

// Protocol constants (RFC 7348 section 5; port from the IANA service registry).
export const VXLAN_FLAGS = 0;
export const VXLAN_VNI = 4;
export const VXLAN_HLEN = 8;
/** The I flag: the VNI is valid. */
export const VXLAN_FLAG_I = 0x08;
/** IANA-assigned VXLAN port (RFC 7348 section 5). vxmesh's default, configurable like swarm's --data-path-port. */
export const VXLAN_PORT = 4789;
export const VXLAN_VNI_MAX = 0xffffff;
/** RFC 7348 section 5 recommends source ports from the dynamic range, from a hash of the inner flow. */
export const VXLAN_SRC_PORT_MIN = 49152;
export const VXLAN_SRC_PORT_MAX = 65535;
/** VXLAN header + inner Ethernet header: what the pipeline writes in front of an inner IP packet. */
export const VXLAN_PREFIX_LEN = VXLAN_HLEN + ETH_HLEN;
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14): inner MTU = underlay MTU - 50. */
export const VXLAN_OVERHEAD_IPV4 = 20 + 8 + VXLAN_HLEN + ETH_HLEN;
/** Outer IPv6 (40) + UDP (8) + VXLAN (8) + inner Ethernet (14): inner MTU = underlay MTU - 70. */
export const VXLAN_OVERHEAD_IPV6 = 40 + 8 + VXLAN_HLEN + ETH_HLEN;

/** PR_OK when an 8-byte VXLAN header with the I flag fits in len bytes; PR_TRUNCATED; PR_VXLAN_FLAGS. */
export function checkVxlan(buf: Uint8Array, off: number, len: number): number {
  if (len < VXLAN_HLEN) return PR_TRUNCATED;
  if ((buf[off + VXLAN_FLAGS] & VXLAN_FLAG_I) === 0) return PR_VXLAN_FLAGS;
  return PR_OK;
}

/** The 24-bit VNI. */
export function vxlanVni(buf: Uint8Array, off: number): number {
  return (buf[off + VXLAN_VNI] << 16) | (buf[off + VXLAN_VNI + 1] << 8) | buf[off + VXLAN_VNI + 2];
}

/** Writes an 8-byte VXLAN header (I flag, reserved bits 0) for vni (low 24 bits used); returns VXLAN_HLEN. */
export function writeVxlan(out: Uint8Array, off: number, vni: number): number {
  out[off] = VXLAN_FLAG_I;
  out[off + 1] = 0;
  out[off + 2] = 0;
  out[off + 3] = 0;
  out[off + 4] = vni >>> 16;
  out[off + 5] = vni >>> 8;
  out[off + 6] = vni;
  out[off + 7] = 0;
  return VXLAN_HLEN;
}

/**
 * Writes VXLAN + inner Ethernet (VXLAN_PREFIX_LEN = 22 bytes) at off, so that an inner IP packet
 * at off + 22 becomes a complete UDP payload for the underlay. Returns VXLAN_PREFIX_LEN.
 */
export function writeVxlanPrefix(
  out: Uint8Array,
  off: number,
  vni: number,
  dstMac: Uint8Array,
  dstMacOff: number,
  srcMac: Uint8Array,
  srcMacOff: number,
  etherType: number,
): number {
  // Ethernet first: the MACs may be read from a previous prefix in the same headroom.
  writeEthernetHeader(out, off + VXLAN_HLEN, dstMac, dstMacOff, srcMac, srcMacOff, etherType);
  writeVxlan(out, off, vni);
  return VXLAN_PREFIX_LEN;
}
