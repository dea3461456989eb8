{
  # The native addon (build/Release/vxmesh.node): plain C over node_api.h and uv.h.
  # Built by `npm run build:native` (node-gyp rebuild, pointed by npm at the system's Node headers).
  "targets": [
    {
      "target_name": "vxmesh",
      "sources": [
        "native/vxmesh.c",
        "native/csum.c",
        "native/tun.c",
        "native/udp.c",
        "native/offload.c",
        "native/poll.c"
      ],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_c": ["-std=gnu11"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "configurations": {
        "Release": {
          "cflags!": ["-O3"],
          "cflags": ["-O2"]
        }
      }
    }
  ]
}
