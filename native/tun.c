/*
 * TUN devices: open/attach with the virtio-net header and offloads, batched reads.
 * Writes (and TCP coalescing) live in offload.c.
 */
#include "vxmesh.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <unistd.h>

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

/* tunOpen(name, multiQueue, offloadMask) -> { fd, name, offloads } */
napi_value vxm_js_tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tunOpen(name, multiQueue, offloadMask)");
    return NULL;
  }
  char name[64];
  size_t nlen;
  int mq;
  int32_t mask;
  if (vxm_arg_string(env, argv[0], "name", name, sizeof name, &nlen) || vxm_arg_bool(env, argv[1], "multiQueue", &mq) ||
      vxm_arg_int32(env, argv[2], "offloadMask", &mask))
    return NULL;
  if (nlen >= IFNAMSIZ || nlen == 0) {
    /* The kernel would silently use a truncated name: refuse it the way the kernel refuses
     * other invalid names. */
    vxm_throw_errno(env, "tunOpen", EINVAL, "ioctl(TUNSETIFF)", "device", name, NULL, 0, 0);
    return NULL;
  }

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    vxm_throw_errno(env, "tunOpen", errno, "open(/dev/net/tun)", "device", name, NULL, 0, 0);
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, nlen);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR | (mq ? IFF_MULTI_QUEUE : 0);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    vxm_throw_errno(env, "tunOpen", e, "ioctl(TUNSETIFF)", "device", name, NULL, 0, 0);
    return NULL;
  }
  int hdrsz = VNET_HDR_LEN;
  if (ioctl(fd, TUNSETVNETHDRSZ, &hdrsz) < 0) {
    int e = errno;
    close(fd);
    vxm_throw_errno(env, "tunOpen", e, "ioctl(TUNSETVNETHDRSZ)", "device", name, NULL, 0, 0);
    return NULL;
  }
  /* Offloads: ask for everything requested, then drop USO, then TSO (keeping CSUM), then none.
   * TSO and USO require CSUM; the kernel refuses unknown bits with EINVAL. */
  unsigned int want = (unsigned int)mask & (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6);
  unsigned int tries[4] = {want, want & ~(unsigned)(TUN_F_USO4 | TUN_F_USO6), want & TUN_F_CSUM, 0};
  unsigned int got = 0;
  int ok = 0, last_err = 0;
  for (int i = 0; i < 4; i++) {
    if (i > 0 && tries[i] == tries[i - 1]) continue;
    if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)tries[i]) == 0) {
      got = tries[i];
      ok = 1;
      break;
    }
    last_err = errno;
    if (last_err != EINVAL) break;
  }
  if (!ok) {
    close(fd);
    vxm_throw_errno(env, "tunOpen", last_err, "ioctl(TUNSETOFFLOAD)", "device", name, NULL, 0, 0);
    return NULL;
  }

  napi_value res, v;
  napi_create_object(env, &res);
  napi_create_int32(env, fd, &v);
  napi_set_named_property(env, res, "fd", v);
  /* the kernel may have filled in a name pattern such as "vxt%d" */
  ifr.ifr_name[IFNAMSIZ - 1] = 0;
  napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, res, "name", v);
  napi_create_uint32(env, got, &v);
  napi_set_named_property(env, res, "offloads", v);
  return res;
}

/* Checks slot arguments shared by tunRead and udpRecv; throws RangeError on misuse. */
int vxm_check_slots(napi_env env, const char *fn, size_t buflen, int32_t slot_size, int32_t headroom,
                    size_t veclen, int32_t first, int32_t max, int32_t min_headroom) {
  char text[200];
  if (slot_size <= 0 || headroom < min_headroom || headroom >= slot_size || first < 0 || max < 0) {
    snprintf(text, sizeof text, "%s: bad slot arguments (slotSize %d, headroom %d (min %d), first %d, max %d)", fn,
             slot_size, headroom, min_headroom, first, max);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", text);
    return -1;
  }
  if ((size_t)first + (size_t)max > buflen / (size_t)slot_size || ((size_t)first + (size_t)max) * PV_STRIDE > veclen) {
    snprintf(text, sizeof text, "%s: slots %d..%d do not fit the buffer (%zu slots) or the vector (%zu entries)", fn,
             first, first + max - 1, buflen / (size_t)slot_size, veclen / PV_STRIDE);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", text);
    return -1;
  }
  return 0;
}

/* Parses the arguments every slot-reading call takes: (fd, buf, slotSize, headroom, vec, first,
 * max), and checks that the slots fit. Returns 0, or -1 with a JS exception pending. */
int vxm_read_args(napi_env env, napi_callback_info info, const char *fn, int min_headroom, vxm_read_call *c) {
  size_t argc = 7;
  napi_value argv[7];
  char usage[96];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 7) {
    snprintf(usage, sizeof usage, "%s(fd, buf, slotSize, headroom, vec, first, max)", fn);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", usage);
    return -1;
  }
  if (vxm_arg_int32(env, argv[0], "fd", &c->fd) || vxm_arg_bytes(env, argv[1], "buf", &c->buf, &c->buflen) ||
      vxm_arg_int32(env, argv[2], "slotSize", &c->slot_size) || vxm_arg_int32(env, argv[3], "headroom", &c->headroom) ||
      vxm_arg_i32array(env, argv[4], "vec", &c->vec, &c->veclen) || vxm_arg_int32(env, argv[5], "first", &c->first) ||
      vxm_arg_int32(env, argv[6], "max", &c->max))
    return -1;
  return vxm_check_slots(env, fn, c->buflen, c->slot_size, c->headroom, c->veclen, c->first, c->max, min_headroom);
}

/* tunRead(fd, buf, slotSize, headroom, vec, first, max) -> count */
napi_value vxm_js_tun_read(napi_env env, napi_callback_info info) {
  vxm_read_call c;
  if (vxm_read_args(env, info, "tunRead", VNET_HDR_LEN, &c)) return NULL;
  int32_t fd = c.fd, slot_size = c.slot_size, headroom = c.headroom, first = c.first, max = c.max;
  uint8_t *buf = c.buf;
  int32_t *vec = c.vec;
  vxm_inst *in = vxm_get_inst(env);
  vxm_advise_slab(in, buf, c.buflen);

  int got = 0;
  for (int i = 0; i < max; i++) {
    size_t slot = (size_t)(first + got); /* filled slots stay contiguous from `first` */
    uint8_t *p = buf + slot * (size_t)slot_size + (size_t)headroom - VNET_HDR_LEN;
    size_t room = (size_t)slot_size - (size_t)headroom + VNET_HDR_LEN;
    ssize_t r = read(fd, p, room);
    if (r < 0) {
      if (errno == EINTR) {
        i--;
        continue;
      }
      break; /* EAGAIN: nothing more pending; anything else: the next poll will tell again */
    }
    if (r < VNET_HDR_LEN) continue; /* cannot happen with IFF_VNET_HDR; skip defensively */
    vnet_hdr_t h;
    memcpy(&h, p, sizeof h);
    int32_t *e = vec + slot * PV_STRIDE;
    e[PV_OFF] = (int32_t)(slot * (size_t)slot_size + (size_t)headroom);
    e[PV_LEN] = (int32_t)(r - VNET_HDR_LEN);
    e[PV_ADDR] = 0;
    e[PV_PORT] = 0;
    e[PV_GSO_TYPE] = h.gso_type & ~GSO_ECN_BIT;
    e[PV_GSO_SIZE] = h.gso_size;
    e[PV_CSUM_START] = h.csum_start;
    e[PV_CSUM_OFF] = h.csum_offset;
    e[PV_HDR_LEN] = h.hdr_len;
    e[PV_VFLAGS] = h.flags | ((h.gso_type & GSO_ECN_BIT) ? VF_ECN : 0);
    e[PV_INNER] = 0;
    e[PV_SEG] = 0;
    got++;
  }
  vxm_count(in, NS_TUN_READS, got);
  return vxm_int(env, got);
}

/* Reads vec/idx arguments shared by tunWrite and udpSend. */
int vxm_write_args(napi_env env, napi_value *argv, uint8_t **buf, size_t *buflen, int32_t **vec, size_t *veclen,
                   int32_t **idx, int32_t *n) {
  size_t idxlen;
  if (vxm_arg_bytes(env, argv[1], "buf", buf, buflen) || vxm_arg_i32array(env, argv[2], "vec", vec, veclen) ||
      vxm_arg_i32array(env, argv[3], "idx", idx, &idxlen) || vxm_arg_int32(env, argv[4], "n", n))
    return -1;
  if (*n < 0 || (size_t)*n > idxlen) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "n must be between 0 and idx.length");
    return -1;
  }
  return 0;
}

/* tunWrite(fd, buf, vec, idx, n, coalesce: boolean | mask) -> count handed to the kernel */
napi_value vxm_js_tun_write(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tunWrite(fd, buf, vec, idx, n, coalesce)");
    return NULL;
  }
  int32_t fd, n, *vec, *idx;
  uint8_t *buf;
  size_t buflen, veclen;
  int coalesce;
  if (vxm_arg_int32(env, argv[0], "fd", &fd) || vxm_write_args(env, argv, &buf, &buflen, &vec, &veclen, &idx, &n))
    return NULL;
  /* coalesce: a boolean (true: TCP only) or a mask of VXM_COALESCE_* bits */
  napi_valuetype ct = napi_undefined;
  napi_typeof(env, argv[5], &ct);
  if (ct == napi_number) {
    int32_t mask;
    if (vxm_arg_int32(env, argv[5], "coalesce", &mask)) return NULL;
    coalesce = mask & (VXM_COALESCE_TCP | VXM_COALESCE_UDP);
  } else {
    if (vxm_arg_bool(env, argv[5], "coalesce", &coalesce)) return NULL;
    coalesce = coalesce ? VXM_COALESCE_TCP : 0;
  }
  int sent = vxm_tun_write(vxm_get_inst(env), fd, buf, buflen, vec, veclen, idx, n, coalesce);
  return vxm_int(env, sent);
}
