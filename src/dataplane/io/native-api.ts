// The shape of native/ (build/Release/vxmesh.node) as TypeScript sees it. The addon makes no
// protocol decisions: syscalls and per-byte work only. Every entry that moves packets takes a
// slab (Buffer) and a packet vector (see packet-vec.ts) and returns a count; nothing allocates
// per packet, nothing keeps a pointer after the call returns.
//
// Errors: only setup calls (tunOpen, udpOpen, poll) throw. They throw an Error with
// `code` (errno name such as 'EPERM'), `errno` (number), `syscall`, and `device` or
// `address`/`port`. Per-packet failures on the data path (EAGAIN on a full queue, EIO, EINVAL
// for a packet the kernel refuses) are not thrown: the packet is skipped and a native counter
// (NS_*) counts it, so the caller's batch accounting stays exact.

export interface TunOpenResult {
  fd: number;
  /** The name the kernel gave the device (the requested one). */
  name: string;
  /** TUN_F_* bits the kernel accepted (TUN_F_CSUM 1, TSO4 2, TSO6 4, USO4 0x20, USO6 0x40). */
  offloads: number;
}

export interface UdpOpenResult {
  fd: number;
  /** The bound port (useful when 0 was asked). */
  port: number;
  /** UDP_GRO is on: udpRecv may return several datagrams per slot (PV_SEG > 0). */
  gro: boolean;
  /** UDP_SEGMENT works: udpSend sends a super-packet's segments in one syscall. */
  gso: boolean;
  /** Receive and send buffer sizes the kernel actually granted (bytes). */
  rcvbuf: number;
  sndbuf: number;
}

export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;
export const TUN_F_ALL = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6;

/** tunWrite's coalesce mask (native/vxmesh.h VXM_COALESCE_*). */
export const COALESCE_TCP = 1;
export const COALESCE_UDP = 2;

export interface PollHandle {
  readonly fd: number;
}

export interface NativeAddon {
  /** PV_STRIDE compiled into the addon; the loader refuses a mismatch. */
  readonly pvStride: number;
  /** Number of NS_* counters; the Float64Array given to init must have at least this length. */
  readonly statCount: number;

  /**
   * Gives this thread's addon instance its counters (per JS environment: each worker thread
   * passes its own). Must be called once before any data-path call.
   */
  init(stats: Float64Array): void;

  /**
   * Opens /dev/net/tun and attaches `name` with IFF_TUN | IFF_NO_PI | IFF_VNET_HDR
   * (| IFF_MULTI_QUEUE when asked), sets the vnet header size to 10, enables the TUN_F_*
   * offloads in `offloadMask` that the kernel takes (asks for all of them, then drops USO4|USO6
   * if refused, then TSO, falling back cleanly; 0 turns offloads off for a naive baseline),
   * and sets O_NONBLOCK. Creates the device if it does not exist (in the caller's network
   * namespace). The virtio-net header is always on, so reads and writes look the same.
   */
  tunOpen(name: string, multiQueue: boolean, offloadMask: number): TunOpenResult;

  /**
   * Reads up to `max` packets into slots first .. first+max-1: slot i's packet starts at
   * i*slotSize + headroom, its virtio-net header sits in the 10 bytes before it. Fills
   * PV_OFF, PV_LEN, PV_GSO_TYPE, PV_GSO_SIZE, PV_CSUM_START, PV_CSUM_OFF, PV_HDR_LEN,
   * PV_VFLAGS, and sets PV_INNER = PV_SEG = PV_ADDR = PV_PORT = 0. Returns how many were read;
   * stops at EAGAIN (0 when nothing is pending).
   */
  tunRead(fd: number, buf: Buffer, slotSize: number, headroom: number, vec: Int32Array, first: number, max: number): number;

  /**
   * Writes the packets vec[idx[0..n-1]] (PV_INNER is normally 0; a non-zero PV_INNER prefix
   * is skipped, not written). A packet with virtio fields set (GSO or NEEDS_CSUM) is written
   * with them. (Implementation: the addon hands the kernel each virtio-net header from its
   * own scratch with writev, so the slab's headroom is neither needed nor modified; a plain
   * packet gets a zero header.) With `coalesce`, plain
   * (GSO_NONE, no NEEDS_CSUM) TCP segments of one flow that follow each other in sequence
   * are merged into one super-packet (one writev, GSO TCPV4/TCPV6, NEEDS_CSUM), after their
   * checksums are verified; everything else is written as it is. Returns the number of
   * listed packets handed to the kernel (merged ones count each); the rest were dropped and
   * counted in NS_TUN_WRITE_DROPS.
   *
   * `coalesce` is a boolean (true: TCP as above) or a mask of COALESCE_TCP | COALESCE_UDP.
   * COALESCE_UDP (only for a TUN that was granted TUN_F_USO4/USO6) also merges plain UDP
   * datagrams of one flow (same addresses and ports, no IPv4 options or fragments, equal
   * payload sizes with a shorter last one, consecutive IPv4 IDs, equal TOS/TTL/DF or IPv6
   * class/flow label/hop limit, checksums verified, none zero) into one GSO_UDP_L4 write: the
   * task's kernel cuts it back into the same datagrams. One write per run instead of one per
   * datagram for small-packet floods.
   */
  tunWrite(fd: number, buf: Buffer, vec: Int32Array, idx: Int32Array, n: number, coalesce: boolean | number): number;

  /**
   * Binds a UDP socket (IPv4) to address:port, non-blocking, with the given receive and
   * send buffer sizes (SO_RCVBUFFORCE/SO_SNDBUFFORCE, falling back to the plain options),
   * UDP_GRO on when available, and UDP_SEGMENT probed. Port 0 picks a free port.
   */
  udpOpen(address: string, port: number, rcvbuf: number, sndbuf: number): UdpOpenResult;

  /**
   * recvmmsg of up to `max` datagrams into slots first.. (packet at i*slotSize + headroom;
   * slotSize - headroom must be >= 65535 so a GRO slot fits). Fills PV_OFF, PV_LEN, PV_ADDR,
   * PV_PORT, PV_SEG (GRO segment size, 0 for a single datagram); virtio fields zero.
   * Returns how many slots were filled; 0 on EAGAIN.
   */
  udpRecv(fd: number, buf: Buffer, slotSize: number, headroom: number, vec: Int32Array, first: number, max: number): number;

  /**
   * Sends the packets vec[idx[0..n-1]] to PV_ADDR:PV_PORT. Bytes PV_OFF .. PV_OFF+PV_INNER
   * are a prefix (VXLAN + inner Ethernet). A packet whose inner part is a GSO super-packet
   * (PV_GSO_TYPE TCPV4/TCPV6/UDP_L4) is split into PV_GSO_SIZE-payload segments, each with
   * the prefix and fixed-up inner headers and full checksums (computed from scratch, never
   * trusting the partial value in the packet), sent with UDP_SEGMENT (or one datagram per
   * segment when GSO is off or was turned off after EIO). A packet with VF_NEEDS_CSUM and no
   * GSO gets its checksum completed in place. Plain ones go out in sendmmsg batches; a run of
   * consecutive plain packets to the same address and port whose lengths are equal (the last
   * may be shorter) goes as one UDP_SEGMENT message (up to 64 datagrams, 65507 bytes): one
   * skb through the underlay instead of one per datagram, and a UDP_GRO receiver gets the
   * run in one slot. The datagrams on the wire are the same.
   * Returns the number of listed packets sent; failures are counted (NS_UDP_SEND_DROPS).
   */
  udpSend(fd: number, buf: Buffer, vec: Int32Array, idx: Int32Array, n: number): number;

  /**
   * Calls `onReadable(0)` from the event loop (uv_poll, level-triggered) while fd is readable.
   * On a poll error (the device went away) it calls `onReadable(status)` once with a negative
   * errno and stops polling.
   */
  poll(fd: number, onReadable: (status: number) => void): PollHandle;
  pollStop(handle: PollHandle): void;

  close(fd: number): void;

  /** RFC 1071 checksum over buf[off, off+len) starting from the partial sum `initial`, complemented. */
  checksum(buf: Buffer, off: number, len: number, initial: number): number;
}

// Native counter indices (into the Float64Array given to init). Append-only.
export const NS_TUN_READS = 0; //           read(2) calls that returned a packet
export const NS_TUN_WRITES = 1; //          write/writev calls to TUN devices
export const NS_TUN_WRITE_DROPS = 2; //     packets the kernel refused or EAGAIN on write
export const NS_COALESCE_IN = 3; //         segments merged into super-packets
export const NS_COALESCE_OUT = 4; //        super-packets written
export const NS_COALESCE_BAD_CSUM = 5; //   segments not merged because their checksum failed
export const NS_TSO_SPLITS = 6; //          super-packets split for UDP send
export const NS_SEGMENTS_OUT = 7; //        segments produced by splits
export const NS_UDP_SENDS = 8; //           sendmsg/sendmmsg calls
export const NS_UDP_GSO_SENDS = 9; //       sendmsg calls with UDP_SEGMENT
export const NS_UDP_GSO_FALLBACK = 10; //   times GSO was turned off after EIO
export const NS_UDP_SEND_DROPS = 11; //     packets not sent (errors, EAGAIN)
export const NS_UDP_RECVS = 12; //          recvmmsg calls that returned data
export const NS_UDP_GRO_SEGMENTS = 13; //   datagrams that arrived coalesced by GRO
export const NS_CSUM_COMPLETED = 14; //     partial checksums completed for a plain send
export const NS_BAD_OFFLOAD = 15; //        packets with virtio fields the addon cannot honour
export const NS_CSUM_PARTIAL_IN = 16; //    TCP/UDP from the underlay whose checksum was left for offload (kernel peer over veth): written NEEDS_CSUM
export const NS_UDP_GSO_GROUPED = 17; //   plain datagrams sent in UDP_SEGMENT groups (equal-size runs to one VTEP, one skb per group)
export const NS_COUNT = 18;

export const NATIVE_STAT_NAMES: readonly string[] = [
  'tun_reads', 'tun_writes', 'tun_write_drops', 'coalesce_in', 'coalesce_out', 'coalesce_bad_csum',
  'tso_splits', 'segments_out', 'udp_sends', 'udp_gso_sends', 'udp_gso_fallback', 'udp_send_drops',
  'udp_recvs', 'udp_gro_segments', 'csum_completed', 'bad_offload', 'csum_partial_in', 'udp_gso_grouped',
];
