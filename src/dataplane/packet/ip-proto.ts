// IP protocol numbers: the IPv4 Protocol field and the IPv6 Next Header field share one IANA
// registry ("Assigned Internet Protocol Numbers", RFC 791 section 3.1, RFC 8200 section 3), so
// both ipv4.ts and ipv6.ts use these. All protocol constants.

/** IPv6 Hop-by-Hop Options header (RFC 8200 section 4.3). */
export const IPPROTO_HOPOPTS = 0;
/** ICMP for IPv4 (RFC 792). */
export const IPPROTO_ICMP = 1;
/** TCP (RFC 9293). */
export const IPPROTO_TCP = 6;
/** UDP (RFC 768). */
export const IPPROTO_UDP = 17;
/** IPv6 Routing header (RFC 8200 section 4.4). */
export const IPPROTO_ROUTING = 43;
/** IPv6 Fragment header (RFC 8200 section 4.5). */
export const IPPROTO_FRAGMENT = 44;
/** ICMP for IPv6 (RFC 4443). */
export const IPPROTO_ICMPV6 = 58;
/** IPv6 No Next Header (RFC 8200 section 4.7). */
export const IPPROTO_NONE = 59;
/** IPv6 Destination Options header (RFC 8200 section 4.6). */
export const IPPROTO_DSTOPTS = 60;
