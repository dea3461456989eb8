/*
 * RFC 1071 Internet checksum.
 *
 * The sum is taken over 32-bit little-endian loads into 64-bit accumulators: a 64-bit register
 * holds 2^32 such additions without overflow, so no carry handling is needed inside the loop
 * (packets are at most 64 KiB). Ones' complement addition is byte-order independent (RFC 1071
 * section 2(B)): summing in the CPU's order and folding gives the byte-swapped value of the
 * network-order sum, which memcpy'd back into a packet lands in network order. Four
 * independent accumulators and 64 bytes per iteration keep both load ports busy.
 */
#include "vxmesh.h"

static inline uint32_t load32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

uint64_t vxm_csum_add(const uint8_t *p, size_t len, uint64_t sum) {
  uint64_t a = sum, b = 0, c = 0, d = 0;
  while (len >= 64) {
    a += load32(p) + (uint64_t)load32(p + 4);
    b += load32(p + 8) + (uint64_t)load32(p + 12);
    c += load32(p + 16) + (uint64_t)load32(p + 20);
    d += load32(p + 24) + (uint64_t)load32(p + 28);
    a += load32(p + 32) + (uint64_t)load32(p + 36);
    b += load32(p + 40) + (uint64_t)load32(p + 44);
    c += load32(p + 48) + (uint64_t)load32(p + 52);
    d += load32(p + 56) + (uint64_t)load32(p + 60);
    p += 64;
    len -= 64;
  }
  while (len >= 8) {
    a += load32(p) + (uint64_t)load32(p + 4);
    p += 8;
    len -= 8;
  }
  if (len >= 4) {
    b += load32(p);
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t v;
    memcpy(&v, p, 2);
    c += v;
    p += 2;
    len -= 2;
  }
  if (len) {
    /* A trailing odd byte is the high byte of a network-order word padded with zero, which in
     * the native (little-endian) view is the low byte. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    d += p[0];
#else
    d += (uint32_t)p[0] << 8;
#endif
  }
  /* Each accumulator is < 2^50 for 64 KiB; the sum of four cannot overflow. */
  return a + b + c + d;
}

uint64_t vxm_pseudo_sum(const uint8_t *src, int alen, int proto, uint32_t l4len) {
  uint64_t s = vxm_csum_add(src, (size_t)alen * 2, 0);
  /* protocol and length are 16/32-bit network-order fields of the pseudo header */
  uint8_t tail[8];
  vxm_put32(tail, l4len);
  tail[4] = 0;
  tail[5] = 0;
  tail[6] = 0;
  tail[7] = (uint8_t)proto;
  return vxm_csum_add(tail, 8, s);
}

void vxm_ipv4_hdr_csum(uint8_t *p, int ihl) {
  p[10] = 0;
  p[11] = 0;
  vxm_store_csum(p + 10, (uint16_t)~vxm_csum_fold(vxm_csum_add(p, (size_t)ihl, 0)));
}
