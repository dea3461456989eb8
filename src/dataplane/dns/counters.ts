// Resolver counters: one Float64Array, indexed by these constants, written on the hot path
// with a plain increment and exported on scrape (never a metrics-library call per query).
// Indices are append-only: dashboards and the scrape code read them by number.

export const DNS_C_QUERIES = 0; // messages received (UDP and TCP), before any parsing
export const DNS_C_NOERROR = 1; // replies we wrote, by RCODE ...
export const DNS_C_FORMERR = 2;
export const DNS_C_SERVFAIL = 3; // ... forwarder timeouts and pending-table-full included
export const DNS_C_NXDOMAIN = 4;
export const DNS_C_NOTIMP = 5;
export const DNS_C_REFUSED = 6;
export const DNS_C_RCODE_OTHER = 7; // BADVERS and anything else
export const DNS_C_FORWARDED = 8; // queries handed to an upstream (first attempt only)
export const DNS_C_FORWARD_REPLIES = 9; // upstream replies relayed to a client
export const DNS_C_TIMEOUTS = 10; // upstream attempts that timed out (retries included)
export const DNS_C_PENDING_FULL = 11; // forwards refused because the pending table was full
export const DNS_C_MALFORMED = 12; // queries answered FORMERR
export const DNS_C_DROPPED = 13; // messages dropped unanswered (too short, responses)
export const DNS_C_TRUNCATED = 14; // replies sent with TC
export const DNS_C_TCP_QUERIES = 15; // queries that came over TCP
export const DNS_C_STRAY_REPLIES = 16; // upstream messages matching no pending query
export const DNS_C_SEND_ERRORS = 17; // socket send failures
export const DNS_C_RETRIES = 18; // timed-out forwards re-sent to the next upstream
export const DNS_COUNTERS = 19;

export const DNS_COUNTER_NAMES: readonly string[] = [
  'queries', 'rcode_noerror', 'rcode_formerr', 'rcode_servfail', 'rcode_nxdomain', 'rcode_notimp',
  'rcode_refused', 'rcode_other', 'forwarded', 'forward_replies', 'timeouts', 'pending_full',
  'malformed', 'dropped', 'truncated', 'tcp_queries', 'stray_replies', 'send_errors', 'retries',
];

export function newDnsCounters(): Float64Array {
  return new Float64Array(DNS_COUNTERS);
}

/** Counts one reply by its (4-bit header) RCODE. */
export function countRcode(c: Float64Array, rcode: number): void {
  c[rcode >= 0 && rcode <= 5 ? DNS_C_NOERROR + rcode : DNS_C_RCODE_OTHER]++;
}

/** The counters as a name → value object (for tests, logs and the scrape). */
export function dnsCountersSnapshot(c: Float64Array): Record<string, number> {
  const o: Record<string, number> = {};
  for (let i = 0; i < DNS_COUNTERS; i++) o[DNS_COUNTER_NAMES[i]] = c[i];
  return o;
}
