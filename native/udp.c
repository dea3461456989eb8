/*
 * UDP sockets (IPv4): open with GRO and a GSO probe, batched receive with recvmmsg.
 * Sending (plain batches, TSO/USO split, GSO) lives in offload.c.
 */
#include "vxmesh.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <unistd.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

static void set_bool(napi_env env, napi_value o, const char *k, int b) {
  napi_value v;
  napi_get_boolean(env, b != 0, &v);
  napi_set_named_property(env, o, k, v);
}

static void set_num(napi_env env, napi_value o, const char *k, int64_t n) {
  napi_value v;
  napi_create_int64(env, n, &v);
  napi_set_named_property(env, o, k, v);
}

/* Sets a buffer size with the FORCE option (CAP_NET_ADMIN, goes past net.core.*mem_max),
 * falling back to the plain one. Returns the size the kernel reports afterwards. */
static int set_bufsize(int fd, int force_opt, int opt, int size) {
  if (size > 0) {
    if (setsockopt(fd, SOL_SOCKET, force_opt, &size, sizeof size) < 0)
      (void)setsockopt(fd, SOL_SOCKET, opt, &size, sizeof size);
  }
  int got = 0;
  socklen_t gl = sizeof got;
  if (getsockopt(fd, SOL_SOCKET, opt, &got, &gl) < 0) got = 0;
  return got;
}

/* udpOpen(address, port, rcvbuf, sndbuf) -> { fd, port, gro, gso, rcvbuf, sndbuf } */
napi_value vxm_js_udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "udpOpen(address, port, rcvbuf, sndbuf)");
    return NULL;
  }
  char addr[64];
  size_t alen;
  int32_t port, rcvbuf, sndbuf;
  if (vxm_arg_string(env, argv[0], "address", addr, sizeof addr, &alen) || vxm_arg_int32(env, argv[1], "port", &port) ||
      vxm_arg_int32(env, argv[2], "rcvbuf", &rcvbuf) || vxm_arg_int32(env, argv[3], "sndbuf", &sndbuf))
    return NULL;
  if (port < 0 || port > 65535) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "udpOpen: port must be 0..65535");
    return NULL;
  }
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)port);
  if (alen >= sizeof addr || inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
    vxm_throw_errno(env, "udpOpen", EINVAL, "inet_pton", "address", addr, "port", port, 1);
    return NULL;
  }

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    vxm_throw_errno(env, "udpOpen", errno, "socket", "address", addr, "port", port, 1);
    return NULL;
  }
  /* No SO_REUSEADDR: for UDP it would let a second agent bind the same address and port and
   * silently take the first one's traffic; UDP has no TIME_WAIT to wait out. */
  /* Like the kernel's vxlan: never set DF on the underlay, let it fragment. */
  int pmtu = IP_PMTUDISC_DONT;
  (void)setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
  if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
    int e = errno;
    close(fd);
    vxm_throw_errno(env, "udpOpen", e, "bind", "address", addr, "port", port, 1);
    return NULL;
  }
  int rb = set_bufsize(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf);
  int sb = set_bufsize(fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf);
  int one = 1;
  int gro = setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
  int seg = 0;
  socklen_t sl = sizeof seg;
  int gso = getsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, &sl) == 0;
  vxm_inst *in = vxm_get_inst(env);
  vxm_gso_forget(in, fd); /* a recycled fd number starts fresh */
  if (!gso) vxm_gso_set_off(in, fd);

  struct sockaddr_in bound;
  socklen_t bl = sizeof bound;
  if (getsockname(fd, (struct sockaddr *)&bound, &bl) < 0) {
    int e = errno;
    close(fd);
    vxm_throw_errno(env, "udpOpen", e, "getsockname", "address", addr, "port", port, 1);
    return NULL;
  }

  napi_value res;
  napi_create_object(env, &res);
  set_num(env, res, "fd", fd);
  set_num(env, res, "port", ntohs(bound.sin_port));
  set_bool(env, res, "gro", gro);
  set_bool(env, res, "gso", gso);
  set_num(env, res, "rcvbuf", rb);
  set_num(env, res, "sndbuf", sb);
  return res;
}

/* udpRecv(fd, buf, slotSize, headroom, vec, first, max) -> count */
napi_value vxm_js_udp_recv(napi_env env, napi_callback_info info) {
  vxm_read_call c;
  if (vxm_read_args(env, info, "udpRecv", 0, &c)) return NULL;
  int32_t fd = c.fd, slot_size = c.slot_size, headroom = c.headroom, first = c.first, max = c.max;
  uint8_t *buf = c.buf;
  int32_t *vec = c.vec;
  if (slot_size - headroom < 65535) {
    /* a GRO slot can hold up to 64 KiB of datagrams: a smaller one would truncate silently */
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "udpRecv: slotSize - headroom must be at least 65535");
    return NULL;
  }
  vxm_inst *in = vxm_get_inst(env);
  vxm_advise_slab(in, buf, c.buflen);

  int total = 0;
  while (total < max) {
    int want = max - total;
    if (want > VXM_BATCH) want = VXM_BATCH;
    for (int i = 0; i < want; i++) {
      size_t slot = (size_t)(first + total + i);
      struct mmsghdr *m = &in->msgs[i];
      in->iovs[i].iov_base = buf + slot * (size_t)slot_size + (size_t)headroom;
      in->iovs[i].iov_len = (size_t)slot_size - (size_t)headroom;
      m->msg_hdr.msg_name = &in->names[i];
      m->msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
      m->msg_hdr.msg_iov = &in->iovs[i];
      m->msg_hdr.msg_iovlen = 1;
      m->msg_hdr.msg_control = in->ctrl[i];
      m->msg_hdr.msg_controllen = sizeof in->ctrl[i];
      m->msg_hdr.msg_flags = 0;
      m->msg_len = 0;
    }
    int r = recvmmsg(fd, in->msgs, (unsigned)want, MSG_DONTWAIT, NULL);
    if (r < 0) {
      if (errno == EINTR) continue;
      break; /* EAGAIN, or an error the caller will see again on the next poll */
    }
    if (r == 0) break;
    vxm_count(in, NS_UDP_RECVS, 1);
    for (int i = 0; i < r; i++) {
      size_t slot = (size_t)(first + total + i);
      struct mmsghdr *m = &in->msgs[i];
      int32_t *e = vec + slot * PV_STRIDE;
      struct sockaddr_in *sa = (struct sockaddr_in *)&in->names[i];
      int seg = 0;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&m->msg_hdr); c; c = CMSG_NXTHDR(&m->msg_hdr, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
          memcpy(&seg, CMSG_DATA(c), sizeof seg);
        }
      }
      e[PV_OFF] = (int32_t)(slot * (size_t)slot_size + (size_t)headroom);
      e[PV_LEN] = (int32_t)m->msg_len;
      if (sa->sin_family == AF_INET) {
        e[PV_ADDR] = (int32_t)ntohl(sa->sin_addr.s_addr);
        e[PV_PORT] = ntohs(sa->sin_port);
      } else {
        e[PV_ADDR] = 0;
        e[PV_PORT] = 0;
      }
      e[PV_GSO_TYPE] = GSO_NONE;
      e[PV_GSO_SIZE] = 0;
      e[PV_CSUM_START] = 0;
      e[PV_CSUM_OFF] = 0;
      e[PV_HDR_LEN] = 0;
      e[PV_VFLAGS] = 0;
      e[PV_INNER] = 0;
      if (seg > 0 && (int)m->msg_len > seg) {
        e[PV_SEG] = seg;
        vxm_count(in, NS_UDP_GRO_SEGMENTS, (double)(((int)m->msg_len + seg - 1) / seg));
      } else {
        e[PV_SEG] = 0;
      }
    }
    total += r;
    if (r < want) break;
  }
  return vxm_int(env, total);
}

/* udpSend(fd, buf, vec, idx, n) -> count sent */
napi_value vxm_js_udp_send(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "udpSend(fd, buf, vec, idx, n)");
    return NULL;
  }
  int32_t fd, n, *vec, *idx;
  uint8_t *buf;
  size_t buflen, veclen;
  if (vxm_arg_int32(env, argv[0], "fd", &fd) || vxm_write_args(env, argv, &buf, &buflen, &vec, &veclen, &idx, &n))
    return NULL;
  int sent = vxm_udp_send(vxm_get_inst(env), fd, buf, buflen, vec, veclen, idx, n);
  return vxm_int(env, sent);
}
