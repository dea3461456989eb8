// Batch-shaped I/O seams, as wireguard-go's tun.Device and conn.Bind: one call moves many
// packets, packets live in slabs the caller owns (see packet-vec.ts). The pipeline only sees
// these interfaces; the native implementations and the in-memory doubles (testing/) must
// behave identically for everything the pipeline relies on.

import type { PacketBatch } from './packet-vec.js';

export interface TunDevice {
  readonly name: string;
  /**
   * Reads up to `max` packets into batch slots first.. and fills their vector entries.
   * Returns how many were read; 0 when nothing is pending. Never blocks.
   */
  read(batch: PacketBatch, first: number, max: number): number;
  /**
   * Writes the packets vec[idx[0..n-1]] of slab `buf` (PV_INNER must be 0). With `coalesce`,
   * in-order TCP segments of one flow may be merged into one super-packet. Returns the number
   * of listed packets the device took; the others were dropped (and counted by the device).
   */
  write(buf: Buffer, vec: Int32Array, idx: Int32Array, n: number, coalesce: boolean): number;
  /**
   * Calls `onReadable` whenever packets are waiting, until close(). `onError` is called once
   * with an errno name when the device can no longer be polled (it was deleted, say).
   */
  start(onReadable: () => void, onError?: (code: string) => void): void;
  close(): void;
}

export interface UdpBind {
  readonly port: number;
  /** Reads up to `max` datagrams (or GRO super-datagrams, PV_SEG > 0) into slots first.. */
  recv(batch: PacketBatch, first: number, max: number): number;
  /**
   * Sends vec[idx[0..n-1]] to their PV_ADDR:PV_PORT; a PV_GSO_TYPE packet is split into
   * segments, each with the PV_INNER-byte prefix. Returns how many listed packets were sent.
   */
  send(buf: Buffer, vec: Int32Array, idx: Int32Array, n: number): number;
  start(onReadable: () => void, onError?: (code: string) => void): void;
  close(): void;
}
