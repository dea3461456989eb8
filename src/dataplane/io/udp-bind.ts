import { native } from './native.js';
import { PolledFd } from './polled-fd.js';
import type { UdpOpenResult } from './native-api.js';
import { HEADROOM, SLOT_SIZE, type PacketBatch } from './packet-vec.js';
import type { UdpBind } from './types.js';

/** Implementation: 16 MiB socket buffers; smaller ones dropped datagrams with 4 TCP streams. */
export const DEFAULT_SOCKET_BUFFER = 16 << 20;

/** The data-path UDP socket (port 4789 by default, like swarm's --data-path-port). */
export class NativeUdpBind implements UdpBind {
  readonly fd: number;
  readonly port: number;
  readonly info: UdpOpenResult;
  readonly #device: PolledFd;

  constructor(opened: UdpOpenResult) {
    this.info = opened;
    this.fd = opened.fd;
    this.#device = new PolledFd(opened.fd);
    this.port = opened.port;
  }

  static open(address: string, port: number, bufferBytes = DEFAULT_SOCKET_BUFFER): NativeUdpBind {
    return new NativeUdpBind(native.udpOpen(address, port, bufferBytes, bufferBytes));
  }

  recv(batch: PacketBatch, first: number, max: number): number {
    return native.udpRecv(this.fd, batch.buf, SLOT_SIZE, HEADROOM, batch.vec, first, max);
  }

  send(buf: Buffer, vec: Int32Array, idx: Int32Array, n: number): number {
    return native.udpSend(this.fd, buf, vec, idx, n);
  }

  start(onReadable: () => void, onError?: (code: string) => void): void {
    this.#device.start(onReadable, onError);
  }

  close(): void {
    this.#device.close();
  }
}
