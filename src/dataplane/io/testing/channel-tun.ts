// In-memory doubles of TunDevice and UdpBind, as wireguard-go's tun/tuntest and conn/bindtest:
// tests push packets in and read what the pipeline handed out. They record what was handed
// to the device (bytes plus virtio metadata), at the same level as the native calls' inputs;
// they do not imitate the kernel's segmentation or coalescing, which the native tests and the
// netns end-to-end tests cover against the real kernel.

import {
  HEADROOM, PV_ADDR, PV_CSUM_OFF, PV_CSUM_START, PV_GSO_SIZE, PV_GSO_TYPE, PV_HDR_LEN, PV_INNER, PV_LEN, PV_OFF,
  PV_PORT, PV_SEG, PV_STRIDE, PV_VFLAGS, SLOT_SIZE, type PacketBatch,
} from '../packet-vec.js';
import type { TunDevice, UdpBind } from '../types.js';

export interface Meta {
  gsoType?: number;
  gsoSize?: number;
  csumStart?: number;
  csumOff?: number;
  hdrLen?: number;
  vflags?: number;
}

export interface Handed {
  bytes: Buffer;
  /** Prefix length (VXLAN + Ethernet) for UDP sends; 0 for TUN writes. */
  inner: number;
  addr: number;
  port: number;
  meta: Required<Meta>;
  coalesce?: boolean;
}

function readEntry(buf: Buffer, vec: Int32Array, i: number): Handed {
  const b = i * PV_STRIDE;
  const off = vec[b + PV_OFF]!;
  return {
    bytes: Buffer.from(buf.subarray(off, off + vec[b + PV_LEN]!)),
    inner: vec[b + PV_INNER]!,
    addr: vec[b + PV_ADDR]! >>> 0,
    port: vec[b + PV_PORT]!,
    meta: {
      gsoType: vec[b + PV_GSO_TYPE]!, gsoSize: vec[b + PV_GSO_SIZE]!, csumStart: vec[b + PV_CSUM_START]!,
      csumOff: vec[b + PV_CSUM_OFF]!, hdrLen: vec[b + PV_HDR_LEN]!, vflags: vec[b + PV_VFLAGS]!,
    },
  };
}

function fillSlot(batch: PacketBatch, slot: number, bytes: Uint8Array, meta: Meta, addr = 0, port = 0, seg = 0): void {
  if (bytes.length > SLOT_SIZE - HEADROOM) throw new RangeError('packet larger than a slot');
  const off = slot * SLOT_SIZE + HEADROOM;
  batch.buf.set(bytes, off);
  const b = slot * PV_STRIDE;
  const v = batch.vec;
  v.fill(0, b, b + PV_STRIDE);
  v[b + PV_OFF] = off;
  v[b + PV_LEN] = bytes.length;
  v[b + PV_GSO_TYPE] = meta.gsoType ?? 0;
  v[b + PV_GSO_SIZE] = meta.gsoSize ?? 0;
  v[b + PV_CSUM_START] = meta.csumStart ?? 0;
  v[b + PV_CSUM_OFF] = meta.csumOff ?? 0;
  v[b + PV_HDR_LEN] = meta.hdrLen ?? 0;
  v[b + PV_VFLAGS] = meta.vflags ?? 0;
  v[b + PV_ADDR] = addr | 0;
  v[b + PV_PORT] = port;
  v[b + PV_SEG] = seg;
}

export class ChannelTun implements TunDevice {
  readonly name: string;
  readonly inbox: { bytes: Uint8Array; meta: Meta }[] = [];
  readonly written: Handed[] = [];
  /** Accept at most this many packets per write call (simulates a full queue). */
  acceptLimit = Infinity;
  #onReadable: (() => void) | undefined;
  closed = false;

  constructor(name: string) {
    this.name = name;
  }

  /** Queues a packet as if the task's kernel had sent it. */
  push(bytes: Uint8Array, meta: Meta = {}): void {
    this.inbox.push({ bytes, meta });
    this.#onReadable?.();
  }

  read(batch: PacketBatch, first: number, max: number): number {
    let n = 0;
    while (n < max && this.inbox.length > 0) {
      const p = this.inbox.shift()!;
      fillSlot(batch, first + n, p.bytes, p.meta);
      n++;
    }
    return n;
  }

  write(buf: Buffer, vec: Int32Array, idx: Int32Array, n: number, coalesce: boolean): number {
    const take = Math.min(n, this.acceptLimit);
    for (let k = 0; k < take; k++) this.written.push({ ...readEntry(buf, vec, idx[k]!), coalesce });
    return take;
  }

  #onError: ((code: string) => void) | undefined;

  start(onReadable: () => void, onError?: (code: string) => void): void {
    this.#onReadable = onReadable;
    this.#onError = onError;
  }

  /** Simulates the device going away (its namespace deleted, say). */
  fail(code = 'EBADF'): void {
    const onError = this.#onError;
    this.#onReadable = undefined;
    this.#onError = undefined;
    onError?.(code);
  }

  close(): void {
    this.closed = true;
    this.#onReadable = undefined;
  }
}

export class ChannelBind implements UdpBind {
  readonly port: number;
  readonly inbox: { bytes: Uint8Array; addr: number; port: number; seg: number }[] = [];
  readonly sent: Handed[] = [];
  acceptLimit = Infinity;
  #onReadable: (() => void) | undefined;

  constructor(port = 4789) {
    this.port = port;
  }

  /** Queues a datagram (or a GRO run of `seg`-byte datagrams) from `addr:port`. */
  push(bytes: Uint8Array, addr: number, port = 4789, seg = 0): void {
    this.inbox.push({ bytes, addr, port, seg });
    this.#onReadable?.();
  }

  recv(batch: PacketBatch, first: number, max: number): number {
    let n = 0;
    while (n < max && this.inbox.length > 0) {
      const d = this.inbox.shift()!;
      fillSlot(batch, first + n, d.bytes, {}, d.addr, d.port, d.seg);
      n++;
    }
    return n;
  }

  send(buf: Buffer, vec: Int32Array, idx: Int32Array, n: number): number {
    const take = Math.min(n, this.acceptLimit);
    for (let k = 0; k < take; k++) this.sent.push(readEntry(buf, vec, idx[k]!));
    return take;
  }

  start(onReadable: () => void): void {
    this.#onReadable = onReadable;
  }

  close(): void {
    this.#onReadable = undefined;
  }
}
