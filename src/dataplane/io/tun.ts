import { native } from './native.js';
import { PolledFd } from './polled-fd.js';
import { COALESCE_TCP, COALESCE_UDP, TUN_F_USO4, TUN_F_USO6, type TunOpenResult } from './native-api.js';
import { HEADROOM, SLOT_SIZE, type PacketBatch } from './packet-vec.js';
import type { TunDevice } from './types.js';

/** A TUN device opened by the native addon: IFF_VNET_HDR always on, offloads as granted. */
export class NativeTun implements TunDevice {
  readonly name: string;
  readonly fd: number;
  /** TUN_F_* bits the kernel accepted. */
  readonly offloads: number;
  readonly #device: PolledFd;
  /** What `coalesce` means for this device: TCP always; UDP runs only if the kernel takes USO writes. */
  readonly #coalesceMask: number;

  constructor(opened: TunOpenResult) {
    this.name = opened.name;
    this.fd = opened.fd;
    this.#device = new PolledFd(opened.fd);
    this.offloads = opened.offloads;
    this.#coalesceMask = COALESCE_TCP | ((opened.offloads & (TUN_F_USO4 | TUN_F_USO6)) === (TUN_F_USO4 | TUN_F_USO6) ? COALESCE_UDP : 0);
  }

  static open(name: string, offloadMask: number, multiQueue = false): NativeTun {
    return new NativeTun(native.tunOpen(name, multiQueue, offloadMask));
  }

  read(batch: PacketBatch, first: number, max: number): number {
    return native.tunRead(this.fd, batch.buf, SLOT_SIZE, HEADROOM, batch.vec, first, max);
  }

  write(buf: Buffer, vec: Int32Array, idx: Int32Array, n: number, coalesce: boolean): number {
    return native.tunWrite(this.fd, buf, vec, idx, n, coalesce ? this.#coalesceMask : 0);
  }

  start(onReadable: () => void, onError?: (code: string) => void): void {
    this.#device.start(onReadable, onError);
  }

  close(): void {
    this.#device.close();
  }
}
