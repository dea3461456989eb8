// The packet vector: the one layout that JavaScript and native/ share for every batch.
//
// A batch is a slab (one Buffer that JavaScript allocates and owns) cut into fixed-size slots,
// plus a packet vector: an Int32Array with PV_STRIDE int32 fields per packet. The native
// addon never allocates packet memory and never keeps a pointer past the call; it reads and
// writes the slab at the offsets the vector names and fills in lengths and metadata.
//
// Contract (native/vxmesh.c reads the same numbers; they must not change without changing
// both sides, and the addon checks PV_STRIDE at load time):
//
//   PV_OFF        absolute byte offset in the slab of the first byte to send or write
//   PV_LEN        number of bytes from PV_OFF
//   PV_ADDR       UDP only: peer IPv4 address as an unsigned 32-bit value in host order
//                 (stored as int32; read with >>> 0)
//   PV_PORT       UDP only: peer port
//   PV_GSO_TYPE   virtio-net gso_type of the inner packet (GSO_NONE, GSO_TCPV4, GSO_TCPV6,
//                 GSO_UDP_L4); GSO_ECN is folded into PV_VFLAGS as VF_ECN
//   PV_GSO_SIZE   virtio-net gso_size: payload bytes per segment (the MSS for TCP)
//   PV_CSUM_START virtio-net csum_start, relative to the inner packet (PV_OFF + PV_INNER)
//   PV_CSUM_OFF   virtio-net csum_offset, relative to PV_CSUM_START
//   PV_HDR_LEN    virtio-net hdr_len (may be 0: the addon derives it from the headers)
//   PV_VFLAGS     virtio-net flags (VF_NEEDS_CSUM, VF_DATA_VALID) and VF_ECN
//   PV_INNER      bytes between PV_OFF and the inner IP packet: 0 for TUN I/O; for a VXLAN
//                 send, the VXLAN + inner Ethernet prefix (22), which the addon repeats in
//                 front of every segment when it splits a super-packet
//   PV_SEG        UDP receive: the GRO segment size when the kernel coalesced datagrams
//                 (every datagram in the slot is PV_SEG bytes, the last one may be shorter);
//                 0 when the slot holds one datagram
//
// TUN reads place the virtio-net header (VNET_HDR_LEN bytes) immediately before PV_OFF, so
// the headroom of a slot must be at least VNET_HDR_LEN; encapsulation writes its 22-byte
// prefix over that same headroom, so the headroom is HEADROOM (64) to leave room for both.

export const PV_OFF = 0;
export const PV_LEN = 1;
export const PV_ADDR = 2;
export const PV_PORT = 3;
export const PV_GSO_TYPE = 4;
export const PV_GSO_SIZE = 5;
export const PV_CSUM_START = 6;
export const PV_CSUM_OFF = 7;
export const PV_HDR_LEN = 8;
export const PV_VFLAGS = 9;
export const PV_INNER = 10;
export const PV_SEG = 11;
/** int32 fields per packet. Protocol between TS and C: the addon refuses to load on mismatch. */
export const PV_STRIDE = 12;

// virtio-net header values (include/uapi/linux/virtio_net.h).
export const GSO_NONE = 0;
export const GSO_TCPV4 = 1;
export const GSO_UDP = 3; // UFO, never produced by TUN_F_* offloads we enable; dropped if seen
export const GSO_TCPV6 = 4;
export const GSO_UDP_L4 = 5;
export const VF_NEEDS_CSUM = 1;
export const VF_DATA_VALID = 2;
/** Our bit, not virtio's: gso_type carried VIRTIO_NET_HDR_GSO_ECN (0x80). */
export const VF_ECN = 0x100;

/** sizeof(struct virtio_net_hdr): we set TUNSETVNETHDRSZ to this (no num_buffers field). */
export const VNET_HDR_LEN = 10;
/** Implementation: bytes kept free in front of every packet in a slot (see contract above). */
export const HEADROOM = 64;
/**
 * Implementation: slot size. A TUN read with TSO or a UDP read with GRO returns up to 64 KiB;
 * the slot holds that plus headroom, rounded to a cache line.
 */
export const SLOT_SIZE = 65536 + HEADROOM + 64;
/** Implementation: packets per batch, as wireguard-go's conn.IdealBatchSize (128). */
export const BATCH = 128;

/** A slab plus its packet vector; `count` is how many entries are valid. */
export interface PacketBatch {
  readonly buf: Buffer;
  readonly vec: Int32Array;
  readonly slots: number;
  count: number;
}

export function newPacketBatch(slots: number = BATCH, slotSize: number = SLOT_SIZE): PacketBatch {
  return { buf: Buffer.allocUnsafeSlow(slots * slotSize), vec: new Int32Array(slots * PV_STRIDE), slots, count: 0 };
}

/** A packet vector with no slab of its own: entries point into some other batch's slab. */
export function newPacketVec(entries: number): Int32Array {
  return new Int32Array(entries * PV_STRIDE);
}
