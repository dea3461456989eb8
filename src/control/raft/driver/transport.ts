// TCP transport between managers (port 2377, as swarm's): one outbound connection per peer,
// reconnected with backoff; inbound connections from every peer. Frames are a 4-byte
// big-endian length and a payload; the first frame of a connection is a hello naming the
// protocol version, the cluster and the sender, so a stray or foreign connection is closed
// before any Raft message from it is stepped.
//
// Raft tolerates loss, so the transport never blocks the core: messages to a peer that is not
// connected wait in a bounded queue (oldest dropped, counted) and the core is told the peer is
// unreachable (reportUnreachable) so it stops pipelining to it.

import { createConnection, createServer, isIPv6, type Server, type Socket } from 'node:net';
import { SetupError } from '../../../errors.js';

/** Protocol (ours): hello magic "VXR" and the transport version; bump the version on any frame change. */
const HELLO_MAGIC = 0x565852;
export const TRANSPORT_VERSION = 1;
/** Implementation: the largest frame accepted (a MsgSnap chunk or a batch of entries is far below). */
const MAX_FRAME_BYTES = 64 << 20;
/** Implementation: messages queued per disconnected peer before the oldest is dropped. */
const MAX_QUEUED = 4096;
const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 2000;

export interface PeerAddress {
  id: number;
  host: string;
  port: number;
}

export interface TransportCounters {
  framesOut: number;
  framesIn: number;
  bytesOut: number;
  bytesIn: number;
  dropped: number;
  connects: number;
  connectErrors: number;
  badHello: number;
  badFrames: number;
}

export interface TransportOptions {
  self: number;
  /** Cluster identity: a connection from another cluster is refused (hello mismatch). */
  clusterId: number;
  bindHost: string;
  port: number;
  peers: PeerAddress[];
  onMessage: (from: number, bytes: Uint8Array) => void;
  /**
   * Called after the frames of one socket read were all passed to onMessage: the driver steps
   * each frame and runs one Ready for the lot (one WAL write and one fsync for every MsgApp
   * that arrived together).
   */
  onBatchEnd?: () => void;
  onUnreachable: (peer: number) => void;
}

interface Outbound {
  peer: PeerAddress;
  socket: Socket | undefined;
  connected: boolean;
  queue: Uint8Array[];
  backoff: number;
  timer: NodeJS.Timeout | undefined;
}

export class RaftTransport {
  readonly counters: TransportCounters = { framesOut: 0, framesIn: 0, bytesOut: 0, bytesIn: 0, dropped: 0, connects: 0, connectErrors: 0, badHello: 0, badFrames: 0 };
  readonly #o: TransportOptions;
  readonly #out = new Map<number, Outbound>();
  readonly #inbound = new Set<Socket>();
  /** Inbound sockets whose hello named a peer, by that peer. */
  readonly #inboundFrom = new Map<Socket, number>();
  #server: Server | undefined;
  #closed = false;
  /** Sockets corked by #write since the last flush. */
  readonly #corked: Socket[] = [];
  #flushQueued = false;

  constructor(o: TransportOptions) {
    this.#o = o;
    for (const p of o.peers) {
      if (p.id === o.self) continue;
      this.#out.set(p.id, { peer: p, socket: undefined, connected: false, queue: [], backoff: BACKOFF_MIN_MS, timer: undefined });
    }
  }

  async listen(): Promise<void> {
    const srv = createServer((s) => this.#accept(s));
    this.#server = srv;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', (e) => reject(new SetupError(`raft: listen on ${fmt(this.#o.bindHost, this.#o.port)}: ${e.message}: is another manager using the port?`, { cause: e })));
      srv.listen(this.#o.port, this.#o.bindHost, () => resolve());
    });
    srv.on('error', () => {});
    for (const o of this.#out.values()) this.#connect(o);
  }

  /**
   * A manager joined (its conf change was applied): connect to it and accept its connections.
   * A known peer whose address changed is reconnected at the new one.
   */
  addPeer(p: PeerAddress): void {
    if (p.id === this.#o.self || this.#closed) return;
    const old = this.#out.get(p.id);
    if (old && old.peer.host === p.host && old.peer.port === p.port) return;
    if (old) this.removePeer(p.id);
    const o: Outbound = { peer: p, socket: undefined, connected: false, queue: [], backoff: BACKOFF_MIN_MS, timer: undefined };
    this.#out.set(p.id, o);
    if (this.#server) this.#connect(o);
  }

  /** A manager left: close the connection to it and refuse its connections from now on. */
  removePeer(id: number): void {
    const o = this.#out.get(id);
    if (!o) return;
    this.#out.delete(id);
    if (o.timer) clearTimeout(o.timer);
    const s = o.socket;
    o.socket = undefined; // so the close handler does not reconnect
    s?.destroy();
    for (const [sock, from] of this.#inboundFrom) if (from === id) sock.destroy();
  }

  peers(): PeerAddress[] {
    return [...this.#out.values()].map((o) => o.peer);
  }

  /** Queues one encoded Raft message for `to`; never blocks, never throws. */
  send(to: number, bytes: Uint8Array): void {
    const o = this.#out.get(to);
    if (!o || this.#closed) return void this.counters.dropped++;
    if (o.connected && o.socket) {
      this.#write(o.socket, bytes);
      return;
    }
    if (o.queue.length >= MAX_QUEUED) {
      o.queue.shift();
      this.counters.dropped++;
    }
    o.queue.push(bytes);
  }

  /**
   * Sends what send() corked now, in one writev per peer, instead of at the end of the tick:
   * the driver calls it once a Ready's messages are queued, before its WAL write, so a
   * follower's fsync starts as early as possible.
   */
  flush(): void {
    const list = this.#corked;
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      while (s.writableCorked > 0) s.uncork();
    }
    list.length = 0;
  }

  readonly #flushSoon = (): void => {
    this.#flushQueued = false;
    this.flush();
  };

  close(): void {
    this.#closed = true;
    this.#server?.close();
    for (const o of this.#out.values()) {
      if (o.timer) clearTimeout(o.timer);
      o.socket?.destroy();
    }
    for (const s of this.#inbound) s.destroy();
  }

  #write(s: Socket, bytes: Uint8Array): void {
    // Corked until flush(), or until the event loop's check phase at the latest: every frame of
    // a Ready to one peer leaves in one writev. (Not process.nextTick: that would run before
    // the promise callbacks that answer clients, and put the writevs in front of the answer.)
    if (s.writableCorked === 0) {
      s.cork();
      this.#corked.push(s);
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        setImmediate(this.#flushSoon);
      }
    }
    const h = Buffer.allocUnsafe(4);
    h.writeUInt32BE(bytes.length, 0);
    s.write(h);
    s.write(bytes);
    this.counters.framesOut++;
    this.counters.bytesOut += bytes.length + 4;
  }

  #connect(o: Outbound): void {
    if (this.#closed) return;
    o.timer = undefined;
    const s = createConnection({ host: o.peer.host, port: o.peer.port, noDelay: true });
    o.socket = s;
    s.on('connect', () => {
      this.counters.connects++;
      o.connected = true;
      o.backoff = BACKOFF_MIN_MS;
      this.#write(s, hello(this.#o.clusterId, this.#o.self));
      for (const m of o.queue) this.#write(s, m);
      o.queue = [];
    });
    // The peer never writes on our outbound connection; reading keeps the socket healthy.
    s.on('data', () => {});
    const lost = (): void => {
      if (o.socket !== s) return;
      if (!o.connected) this.counters.connectErrors++;
      o.connected = false;
      o.socket = undefined;
      s.destroy();
      if (this.#closed) return;
      this.#o.onUnreachable(o.peer.id);
      o.timer = setTimeout(() => this.#connect(o), o.backoff);
      o.backoff = Math.min(BACKOFF_MAX_MS, o.backoff * 2);
    };
    s.on('error', lost);
    s.on('close', lost);
  }

  #accept(s: Socket): void {
    s.setNoDelay(true);
    this.#inbound.add(s);
    s.on('error', () => {});
    s.on('close', () => {
      this.#inbound.delete(s);
      this.#inboundFrom.delete(s);
    });
    let from = 0;
    let buf: Buffer = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      let off = 0;
      while (buf.length - off >= 4) {
        const len = buf.readUInt32BE(off);
        if (len > MAX_FRAME_BYTES) {
          this.counters.badFrames++;
          s.destroy();
          this.#o.onBatchEnd?.(); // the frames before it were good
          return;
        }
        if (buf.length - off < 4 + len) break;
        const frame = buf.subarray(off + 4, off + 4 + len);
        off += 4 + len;
        if (from === 0) {
          from = checkHello(frame, this.#o.clusterId);
          if (from <= 0 || from === this.#o.self || !this.#out.has(from)) {
            this.counters.badHello++;
            s.destroy();
            return;
          }
          this.#inboundFrom.set(s, from);
          continue;
        }
        this.counters.framesIn++;
        this.counters.bytesIn += len + 4;
        // A copy: the frame is a view into a buffer the next chunk may be concatenated onto.
        this.#o.onMessage(from, Uint8Array.prototype.slice.call(frame));
      }
      buf = off === buf.length ? Buffer.alloc(0) : buf.subarray(off);
      this.#o.onBatchEnd?.();
    });
  }
}

function hello(cluster: number, self: number): Uint8Array {
  const b = Buffer.alloc(12);
  b.writeUIntBE(HELLO_MAGIC, 0, 3);
  b[3] = TRANSPORT_VERSION;
  b.writeUInt32BE(cluster >>> 0, 4);
  b.writeUInt32BE(self >>> 0, 8);
  return b;
}

/** The sender's id from a hello frame, or -1 when it is not one of ours. */
function checkHello(f: Uint8Array, cluster: number): number {
  if (f.length !== 12) return -1;
  const b = Buffer.from(f.buffer, f.byteOffset, f.length);
  if (b.readUIntBE(0, 3) !== HELLO_MAGIC || b[3] !== TRANSPORT_VERSION || b.readUInt32BE(4) !== cluster >>> 0) return -1;
  return b.readUInt32BE(8);
}

function fmt(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}
