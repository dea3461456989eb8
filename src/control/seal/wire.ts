// Sealed message framing, version 1.
//
//   mode 'none':
//    0        1        2
//   +--------+--------+---------------------------------------------+
//   |version | flags  | body (plaintext, or deflate-raw of it)        |
//   +--------+--------+---------------------------------------------+
//
//   modes 'auth' and 'encrypt':
//    0        1        2                 6                          18
//   +--------+--------+-----------------+--------------------------+--------------------+------------+
//   |version | flags  | key id (u32 BE) | nonce (96 bits, random)  | body               | tag (128b) |
//   +--------+--------+-----------------+--------------------------+--------------------+------------+
//   'auth':    body is readable; tag = AES-GCM over no plaintext with
//              AAD = bytes[0..18) || u32be(len(aad)) || aad || body   (GMAC, NIST SP 800-38D §3)
//   'encrypt': body is AES-GCM ciphertext; AAD = bytes[0..18) || aad
//   Both bind the header (version, flags incl. the compressed bit, key id, nonce) into the tag, so
//   no header bit can be flipped undetected. The caller's `aad` (e.g. a cluster label) is
//   authenticated but not sent.
//
//   flags: bits 0-1 mode (0 none, 1 auth, 2 encrypt, 3 reserved), bit 2 body is deflate-raw
//   (RFC 1951), bits 3-7 reserved, must be 0 (a receiver drops a frame using them as 'version').
//
// WARNING: the version byte, the flag bits and the mode numbers are protocol. Append only: never
// change or reuse a value, or nodes of different versions will misread each other's messages
// (memberlist net.go gives its message types the same warning).

export const SEAL_VERSION = 1;

export const OFF_VERSION = 0;
export const OFF_FLAGS = 1;
export const OFF_KEY_ID = 2;
export const OFF_NONCE = 6;
export const OFF_BODY_SEALED = 18;
export const OFF_BODY_NONE = 2;

export const NONCE_LEN = 12; // the 96-bit IV GCM is defined for most efficiently (SP 800-38D §5.2.1.1)
export const TAG_LEN = 16; // full-length tag (SP 800-38D §5.2.1.2, Appendix C: shorter tags weaken forgery bounds)
export const HEADER_LEN_SEALED = OFF_BODY_SEALED;
export const HEADER_LEN_NONE = OFF_BODY_NONE;

/** Bytes a sealed ('auth' or 'encrypt') frame adds to its body: subtract from a UDP budget. */
export const SEAL_OVERHEAD = HEADER_LEN_SEALED + TAG_LEN; // 34
/** Bytes a 'none' frame adds. */
export const NONE_OVERHEAD = HEADER_LEN_NONE; // 2

export const MODE_NONE = 0;
export const MODE_AUTH = 1;
export const MODE_ENCRYPT = 2;
export const FLAG_MODE_MASK = 0x03;
export const FLAG_COMPRESSED = 0x04;
export const FLAG_RESERVED_MASK = 0xf8;
