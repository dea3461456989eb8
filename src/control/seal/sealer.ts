// Authenticate, optionally encrypt and compress gossip/control messages (issue 5: "authenticated
// and optionally encrypted with a cluster key (AES-GCM with a keyring that supports rotation),
// compression optional. Malformed or unauthenticated packets are counted and dropped").
// Framing: wire.ts. Pure: node:crypto and node:zlib only, no sockets, no clocks.
//
// Nonces and the per-key message limit. Every seal draws a fresh random 96-bit nonce. NIST SP
// 800-38D §8.3 limits a key used with random 96-bit IVs to 2^32 invocations in total, so that the
// chance of a repeated IV (which in GCM leaks the XOR of two plaintexts and the authentication
// subkey H, enabling forgeries) stays below 2^-32. The limit counts every message sealed under
// the key by EVERY node sharing it. A 1000-node SWIM cluster sends some 20-30 k packets/s in
// total (probes, acks, gossip), which reaches 2^32 in roughly 40-60 hours; at 100 nodes it is
// weeks. Hence rotation is not only for compromised keys: rotate the cluster key (Keyring
// add/use/remove) well within that budget. `sealedUnderPrimary` counts this node's share.
//
// Key id on the wire (4 bytes). memberlist sends no key hint and tries every key of the ring on
// receipt. We send keyId(key) (a domain-separated SHA-256 prefix) because: (1) opening costs one
// GCM verification whatever the ring size, so junk packets cannot make a node do k trial
// decryptions each; (2) a message under a key we do not hold is counted as `unknownKey`, not as a
// forgery, which is what an operator needs to see during a botched rotation; (3) it costs 4 bytes
// and reveals only that two messages used the same key. Keys whose ids collide (p ~ 2^-32 per
// pair) are all tried, so a collision costs time, never correctness.
//
// Incoming policy. `mode` is what this node sends; `minIncoming` (default: `mode`) is the weakest
// mode it accepts, in the order none < auth < encrypt. A receiver accepts stronger modes than it
// sends, so a cluster moves none -> auth -> encrypt without a flag day (memberlist's
// GossipVerifyIncoming/GossipVerifyOutgoing): give every node the keyring with minIncoming 'none',
// then switch senders, then raise minIncoming. Weaker messages are dropped as 'mode'.

import { createCipheriv, createDecipheriv, randomFillSync, type CipherGCMTypes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { SealError } from './errors.js';
import type { Keyring } from './keyring.js';
import {
  FLAG_COMPRESSED, FLAG_MODE_MASK, FLAG_RESERVED_MASK, HEADER_LEN_NONE, HEADER_LEN_SEALED, MODE_AUTH, MODE_ENCRYPT, MODE_NONE,
  NONCE_LEN, OFF_BODY_NONE, OFF_BODY_SEALED, OFF_FLAGS, OFF_KEY_ID, OFF_NONCE, OFF_VERSION, SEAL_VERSION, TAG_LEN,
} from './wire.js';

/** auth = AES-GCM tag over the message as AAD (GMAC): the plaintext stays readable on the wire. */
export type SealMode = 'none' | 'auth' | 'encrypt';

const MODE_NUM: Record<SealMode, number> = { none: MODE_NONE, auth: MODE_AUTH, encrypt: MODE_ENCRYPT };

/** NIST SP 800-38D §8.3: invocations per key with random 96-bit IVs, cluster-wide. */
export const GCM_RANDOM_NONCE_LIMIT = 2 ** 32;

/**
 * Below this many bytes compression is not attempted: deflate's block header and Huffman tables
 * rarely pay for themselves under ~64 bytes, and the attempt costs a zlib call. Implementation choice.
 */
export const MIN_COMPRESS_BYTES = 64;

export interface SealerOptions {
  /** What this node sends. 'auth' or 'encrypt' need a keyring. */
  mode: SealMode;
  /** Weakest mode accepted on receipt (default: mode). See "Incoming policy" above. */
  minIncoming?: SealMode;
  /** Cluster keys. Required for sending auth/encrypt; without it, sealed messages are dropped as 'mode'. */
  keyring?: Keyring;
  /**
   * Try deflate-raw on each message and keep it only when smaller (the frame flag says so).
   * Costs ~10-30 µs per 1400-byte message; pays when gossip is text-like (names, metadata).
   * Default false. A receiver decompresses whatever the flag says, whatever its own setting.
   */
  compress?: boolean;
  /**
   * Largest plaintext (after decompression) sealed or accepted. Bounds inflation (zip bombs:
   * deflate expands up to ~1032x) and memory per message. For SWIM over UDP, the UDP budget; for
   * push-pull over TCP, the state size limit. Required: there is no safe default for every use.
   */
  maxPlainBytes: number;
  /** Source of nonces (default node:crypto's CSPRNG). Inject a seeded one only in simulations. */
  randomBytes?: (n: number) => Uint8Array;
}

/** Drops by reason: each open() that returns null increments exactly one. */
export interface SealDrops {
  /** Shorter than the header (+ tag) of its mode. */
  short: number;
  /** Unknown version byte, reserved flag bits set, or reserved mode 3: a format we do not speak. */
  version: number;
  /** Weaker than minIncoming, or sealed while we have no keyring to verify it. */
  mode: number;
  /** Tag did not verify: forged, corrupted, wrong aad, or a key-id collision with a foreign key. */
  auth: number;
  /** Key id matches no key in our ring: the sender uses a key we do not have (rotation out of step?). */
  unknownKey: number;
  /** Compressed flag set but the body is not valid deflate-raw. */
  decompress: number;
  /** Plaintext (stated or inflated) above maxPlainBytes. */
  tooLarge: number;
}

const ALG: Record<number, CipherGCMTypes> = { 16: 'aes-128-gcm', 24: 'aes-192-gcm', 32: 'aes-256-gcm' };
const EMPTY = new Uint8Array(0);

export class Sealer {
  readonly drops: SealDrops = { short: 0, version: 0, mode: 0, auth: 0, unknownKey: 0, decompress: 0, tooLarge: 0 };
  /** Successful seal() and open() calls; compressed = sealed frames that carry deflate. */
  readonly counters = { sealed: 0, opened: 0, compressed: 0 };

  private readonly mode: number;
  private readonly minIn: number;
  private readonly ring: Keyring | undefined;
  private readonly compress: boolean;
  private readonly maxPlain: number;
  private readonly rnd: ((n: number) => Uint8Array) | undefined;
  private readonly len4 = Buffer.alloc(4);
  private primaryGen = -1;
  private primaryKey: Buffer | null = null;
  private sealedPrimary = 0;

  constructor(opts: SealerOptions) {
    if (!(opts.mode in MODE_NUM)) throw new SealError('VXM_ERR_SEAL_CONFIG', `Sealer: mode must be 'none', 'auth' or 'encrypt', got ${String(opts.mode)}`);
    const minIncoming = opts.minIncoming ?? opts.mode;
    if (!(minIncoming in MODE_NUM)) throw new SealError('VXM_ERR_SEAL_CONFIG', `Sealer: minIncoming must be 'none', 'auth' or 'encrypt', got ${String(minIncoming)}`);
    if (opts.mode !== 'none' && opts.keyring === undefined) throw new SealError('VXM_ERR_SEAL_CONFIG', `Sealer: mode '${opts.mode}' needs a keyring; pass one or use mode 'none'`);
    if (minIncoming !== 'none' && opts.keyring === undefined) throw new SealError('VXM_ERR_SEAL_CONFIG', `Sealer: minIncoming '${minIncoming}' needs a keyring to verify messages`);
    if (!(Number.isInteger(opts.maxPlainBytes) && opts.maxPlainBytes > 0)) throw new SealError('VXM_ERR_SEAL_CONFIG', `Sealer: maxPlainBytes must be a positive integer, got ${opts.maxPlainBytes}`);
    this.mode = MODE_NUM[opts.mode];
    this.minIn = MODE_NUM[minIncoming];
    this.ring = opts.keyring;
    this.compress = opts.compress ?? false;
    this.maxPlain = opts.maxPlainBytes;
    this.rnd = opts.randomBytes;
  }

  /**
   * Messages this node sealed under the current primary key (reset when the primary changes).
   * Compare with GCM_RANDOM_NONCE_LIMIT / number of nodes to decide when to rotate.
   */
  get sealedUnderPrimary(): number {
    this.syncPrimary();
    return this.sealedPrimary;
  }

  /**
   * Frame `plain` for the wire. `aad` (optional, not sent) must be given identically to open().
   * Throws SealError VXM_ERR_SEAL_TOO_LARGE above maxPlainBytes: that is a caller bug, not input.
   */
  seal(plain: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
    if (plain.length > this.maxPlain) {
      throw new SealError('VXM_ERR_SEAL_TOO_LARGE', `seal: message of ${plain.length} bytes exceeds maxPlainBytes ${this.maxPlain}; split it or raise maxPlainBytes on every node`);
    }
    let body: Uint8Array = plain;
    let flags = this.mode;
    if (this.compress && plain.length >= MIN_COMPRESS_BYTES) {
      const z = deflateRawSync(plain);
      if (z.length < plain.length) {
        body = z;
        flags |= FLAG_COMPRESSED;
        this.counters.compressed++;
      }
    }
    this.counters.sealed++;
    if (this.mode === MODE_NONE) {
      const out = Buffer.allocUnsafe(HEADER_LEN_NONE + body.length);
      out[OFF_VERSION] = SEAL_VERSION;
      out[OFF_FLAGS] = flags;
      out.set(body, OFF_BODY_NONE);
      return out;
    }
    this.syncPrimary();
    const key = this.primaryKey!;
    const out = Buffer.allocUnsafe(HEADER_LEN_SEALED + body.length + TAG_LEN);
    out[OFF_VERSION] = SEAL_VERSION;
    out[OFF_FLAGS] = flags;
    out.writeUInt32BE(this.ring!.idAt(0), OFF_KEY_ID);
    if (this.rnd === undefined) randomFillSync(out, OFF_NONCE, NONCE_LEN);
    else {
      const n = this.rnd(NONCE_LEN);
      if (n.length !== NONCE_LEN) throw new SealError('VXM_ERR_SEAL_CONFIG', `Sealer: randomBytes(${NONCE_LEN}) returned ${n.length} bytes`);
      out.set(n, OFF_NONCE);
    }
    const header = out.subarray(0, HEADER_LEN_SEALED);
    const nonce = out.subarray(OFF_NONCE, OFF_NONCE + NONCE_LEN);
    const cipher = createCipheriv(ALG[key.length]!, key, nonce, { authTagLength: TAG_LEN });
    cipher.setAAD(header);
    if (this.mode === MODE_AUTH) {
      out.set(body, OFF_BODY_SEALED);
      this.len4.writeUInt32BE(aad.length, 0);
      cipher.setAAD(this.len4);
      if (aad.length > 0) cipher.setAAD(aad);
      cipher.setAAD(body);
      cipher.final();
    } else {
      if (aad.length > 0) cipher.setAAD(aad);
      const ct = cipher.update(body);
      out.set(ct, OFF_BODY_SEALED);
      const rest = cipher.final(); // empty for GCM; kept for the contract
      if (rest.length > 0) out.set(rest, OFF_BODY_SEALED + ct.length);
    }
    out.set(cipher.getAuthTag(), OFF_BODY_SEALED + body.length);
    this.sealedPrimary++;
    return out;
  }

  /**
   * The plaintext of a frame, or null (and one `drops` counter incremented). Never throws, for any
   * bytes. The result may be a view into `bytes` (modes none/auth without compression).
   */
  open(bytes: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array | null {
    const d = this.drops;
    if (bytes.length < HEADER_LEN_NONE) { d.short++; return null; }
    const flags = bytes[OFF_FLAGS]!;
    const mode = flags & FLAG_MODE_MASK;
    if (bytes[OFF_VERSION] !== SEAL_VERSION || (flags & FLAG_RESERVED_MASK) !== 0 || mode > MODE_ENCRYPT) { d.version++; return null; }
    if (mode < this.minIn) { d.mode++; return null; }
    let body: Uint8Array;
    if (mode === MODE_NONE) {
      body = bytes.subarray(OFF_BODY_NONE);
    } else {
      const ring = this.ring;
      if (ring === undefined) { d.mode++; return null; }
      if (bytes.length < HEADER_LEN_SEALED + TAG_LEN) { d.short++; return null; }
      const id = ((bytes[OFF_KEY_ID]! << 24) | (bytes[OFF_KEY_ID + 1]! << 16) | (bytes[OFF_KEY_ID + 2]! << 8) | bytes[OFF_KEY_ID + 3]!) >>> 0;
      let opened: Uint8Array | null = null;
      let candidates = 0;
      for (let i = 0; i < ring.size && opened === null; i++) {
        if (ring.idAt(i) !== id) continue;
        candidates++;
        opened = this.verify(ring.keyAt(i), mode, bytes, aad);
      }
      if (opened === null) {
        if (candidates === 0) d.unknownKey++;
        else d.auth++;
        return null;
      }
      body = opened;
    }
    let plain: Uint8Array;
    if ((flags & FLAG_COMPRESSED) !== 0) {
      try {
        plain = inflateRawSync(body, { maxOutputLength: this.maxPlain });
      } catch (e) {
        if ((e as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') d.tooLarge++;
        else d.decompress++;
        return null;
      }
    } else {
      plain = body;
    }
    if (plain.length > this.maxPlain) { d.tooLarge++; return null; }
    this.counters.opened++;
    return plain;
  }

  /** The body if the tag verifies under key, else null. */
  private verify(key: Buffer, mode: number, bytes: Uint8Array, aad: Uint8Array): Uint8Array | null {
    const bodyEnd = bytes.length - TAG_LEN;
    const body = bytes.subarray(OFF_BODY_SEALED, bodyEnd);
    try {
      const decipher = createDecipheriv(ALG[key.length]!, key, bytes.subarray(OFF_NONCE, OFF_NONCE + NONCE_LEN), { authTagLength: TAG_LEN });
      decipher.setAuthTag(bytes.subarray(bodyEnd));
      decipher.setAAD(bytes.subarray(0, HEADER_LEN_SEALED));
      if (mode === MODE_AUTH) {
        this.len4.writeUInt32BE(aad.length, 0);
        decipher.setAAD(this.len4);
        if (aad.length > 0) decipher.setAAD(aad);
        decipher.setAAD(body);
        decipher.final(); // throws if the tag does not verify
        return body;
      }
      if (aad.length > 0) decipher.setAAD(aad);
      const pt = decipher.update(body);
      const rest = decipher.final(); // throws if the tag does not verify; pt is discarded then
      return rest.length === 0 ? pt : Buffer.concat([pt, rest]);
    } catch {
      return null;
    }
  }

  private syncPrimary(): void {
    const ring = this.ring;
    if (ring === undefined || ring.generation === this.primaryGen) return;
    this.primaryGen = ring.generation;
    const k = ring.keyAt(0);
    if (k !== this.primaryKey) {
      this.primaryKey = k;
      this.sealedPrimary = 0;
    }
  }
}
