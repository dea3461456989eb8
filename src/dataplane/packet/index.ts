// The packet codecs: pure functions over (buf, off). See README.md for the map.
export * from './parse-reason.js';
export * from './ip-proto.js';
export * from './checksum.js';
export * from './ethernet.js';
export * from './arp.js';
export * from './ipv4.js';
export * from './ipv6.js';
export * from './udp.js';
export * from './tcp.js';
export * from './icmp.js';
export * from './icmpv6.js';
export * from './ip-checksum.js';
export * from './vxlan.js';
