import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Conntrack } from '../../../../src/dataplane/lb/conntrack/conntrack.js';
import { DEFAULT_TIMEOUTS } from '../../../../src/dataplane/lb/conntrack/config.js';
import {
  nextTcpState, PROTO_TCP, PROTO_UDP, STATE_NAMES, ST_OTHER, ST_TCP_CLOSE, ST_TCP_ESTABLISHED, ST_TCP_NEW,
  ST_TCP_SYN_SENT, ST_UDP_REPLIED, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN,
} from '../../../../src/dataplane/lb/conntrack/state.js';

const FLAGS: Record<string, number> = {
  SYN: TCP_SYN, 'SYN-ACK': TCP_SYN | TCP_ACK, ACK: TCP_ACK, FIN: TCP_FIN | TCP_ACK, RST: TCP_RST, 'RST-ACK': TCP_RST | TCP_ACK, none: 0,
};
const st = (name: string): number => {
  const i = STATE_NAMES.indexOf(name);
  assert.ok(i > 0, `unknown state ${name}`);
  return i;
};

// (state, segment, direction) → next state. `c` = client → VIP, `b` = backend → client.
// Every row is asserted; the test below also checks that every (state, flags, direction) not
// listed leaves the state unchanged, so this table is the whole machine.
const TABLE = `
TCP_NEW      SYN     c  SYN_SENT
TCP_NEW      ACK     c  ESTABLISHED   mid-stream pickup (nf_conntrack_tcp_loose)
TCP_NEW      ACK     b  ESTABLISHED
TCP_NEW      FIN     c  FIN_WAIT
TCP_NEW      FIN     b  CLOSE_WAIT
SYN_SENT     SYN     c  SYN_SENT      retransmitted SYN
SYN_SENT     SYN-ACK b  SYN_RECV
SYN_RECV     ACK     c  ESTABLISHED
ESTABLISHED  ACK     c  ESTABLISHED
ESTABLISHED  FIN     c  FIN_WAIT
ESTABLISHED  FIN     b  CLOSE_WAIT
SYN_RECV     FIN     c  FIN_WAIT
SYN_RECV     FIN     b  CLOSE_WAIT
FIN_WAIT     FIN     c  FIN_WAIT      retransmitted FIN
FIN_WAIT     FIN     b  LAST_ACK
CLOSE_WAIT   FIN     c  LAST_ACK
CLOSE_WAIT   FIN     b  CLOSE_WAIT
LAST_ACK     ACK     c  TIME_WAIT
LAST_ACK     ACK     b  TIME_WAIT
TIME_WAIT    SYN     c  SYN_SENT      port reuse keeps the backend
CLOSE        SYN     c  SYN_SENT
`;

interface Row { from: number; flags: number; fromClient: boolean; to: number }
const rows: Row[] = TABLE.trim().split('\n').map((line) => {
  const [from, seg, dir, to] = line.trim().split(/\s+/);
  assert.ok(seg! in FLAGS, seg);
  return { from: st(from!), flags: FLAGS[seg!]!, fromClient: dir === 'c', to: st(to!) };
});

test('TCP transitions follow the table; RST closes from any TCP state; everything else stays', () => {
  for (const r of rows) {
    assert.equal(STATE_NAMES[nextTcpState(r.from, r.flags, r.fromClient)], STATE_NAMES[r.to],
      `${STATE_NAMES[r.from]} ${r.flags} ${r.fromClient ? 'c' : 'b'}`);
  }
  for (let s = ST_TCP_NEW; s <= ST_TCP_CLOSE; s++) {
    for (const [name, flags] of Object.entries(FLAGS)) {
      for (const fromClient of [true, false]) {
        const row = rows.find((r) => r.from === s && r.flags === flags && r.fromClient === fromClient);
        const want = flags & TCP_RST ? ST_TCP_CLOSE : row ? row.to : s;
        assert.equal(STATE_NAMES[nextTcpState(s, flags, fromClient)], STATE_NAMES[want], `${STATE_NAMES[s]} ${name} ${fromClient ? 'c' : 'b'}`);
      }
    }
  }
  // Non-TCP states are never touched by TCP flags.
  assert.equal(nextTcpState(ST_UDP_REPLIED, TCP_RST, true), ST_UDP_REPLIED);
  assert.equal(nextTcpState(ST_OTHER, TCP_SYN, true), ST_OTHER);
});

// Drives one flow through segments on a Conntrack and returns it; the clock stays at 0.
function flowIn(ct: Conntrack, port: number, segments: Array<[string, 'c' | 'b']>): number {
  const i = ct.insert4(PROTO_TCP, 0x01020304, port, 0x0aff0002, 80, 1, 0x0a000101, 80, 0);
  for (const [seg, dir] of segments) ct.observeTcp(i, FLAGS[seg]!, dir === 'c', 0);
  return i;
}

test('each TCP state expires after its own default timeout, not before', () => {
  const T = DEFAULT_TIMEOUTS;
  const cases: Array<[string, Array<[string, 'c' | 'b']>, number]> = [
    ['TCP_NEW', [], T.tcpNew],
    ['SYN_SENT', [['SYN', 'c']], T.tcpSynSent],
    ['SYN_RECV', [['SYN', 'c'], ['SYN-ACK', 'b']], T.tcpSynRecv],
    ['ESTABLISHED', [['SYN', 'c'], ['SYN-ACK', 'b'], ['ACK', 'c']], T.tcpEstablished],
    ['FIN_WAIT', [['ACK', 'c'], ['FIN', 'c']], T.tcpFinWait],
    ['CLOSE_WAIT', [['ACK', 'c'], ['FIN', 'b']], T.tcpCloseWait],
    ['LAST_ACK', [['ACK', 'c'], ['FIN', 'c'], ['FIN', 'b']], T.tcpLastAck],
    ['TIME_WAIT', [['ACK', 'c'], ['FIN', 'c'], ['FIN', 'b'], ['ACK', 'c']], T.tcpTimeWait],
    ['CLOSE', [['ACK', 'c'], ['RST', 'b']], T.tcpClose],
  ];
  for (const [name, segs, timeout] of cases) {
    const ct = new Conntrack({ capacity4: 4, capacity6: 0 });
    const i = flowIn(ct, 1000, segs);
    assert.equal(STATE_NAMES[ct.stateOf(i)], name);
    assert.equal(ct.timeoutOf(i), timeout, name);
    assert.equal(ct.expire(timeout, 4), 0, `${name} alive at its timeout`);
    assert.equal(ct.expire(timeout + 1, 4), 1, `${name} gone just after`);
  }
  // The defaults that matter: no silent 900 s kill of idle established connections, quick RST reclaim.
  assert.ok(T.tcpEstablished > 7200 * 1000, 'must outlive the 2 h default TCP keepalive');
  assert.ok(T.tcpClose <= 10 * 1000);
  assert.equal(T.udpUnreplied, 30 * 1000);
  assert.equal(T.udpReplied, 120 * 1000);
});

test('RST expires a long-lived flow quickly; a SYN after TIME_WAIT reopens it on the same backend', () => {
  const ct = new Conntrack({ capacity4: 4, capacity6: 0 });
  const i = flowIn(ct, 2000, [['SYN', 'c'], ['SYN-ACK', 'b'], ['ACK', 'c']]);
  assert.equal(ct.stateOf(i), ST_TCP_ESTABLISHED);
  ct.observeTcp(i, TCP_RST | TCP_ACK, false, 5000);
  assert.equal(ct.stateOf(i), ST_TCP_CLOSE);
  assert.equal(ct.expire(5000 + DEFAULT_TIMEOUTS.tcpClose + 1, 4), 1);

  const j = flowIn(ct, 2001, [['ACK', 'c'], ['FIN', 'c'], ['FIN', 'b'], ['ACK', 'c']]);
  assert.equal(STATE_NAMES[ct.stateOf(j)], 'TIME_WAIT');
  const hit = ct.lookup4(PROTO_TCP, 0x01020304, 2001, 0x0aff0002, 80, 60_000);
  assert.equal(hit, j);
  assert.equal(ct.observeTcp(hit, TCP_SYN, true, 60_000), ST_TCP_SYN_SENT);
  assert.equal(ct.backendOf(hit), 1);
});

test('a per-service override changes only ESTABLISHED flows of that service, including existing ones', () => {
  const ct = new Conntrack({ capacity4: 8, capacity6: 0, maxServices: 4 });
  const est = (port: number, svc: number) => {
    const i = ct.insert4(PROTO_TCP, 0x01020304, port, 0x0aff0002, 80, 1, 0x0a000101, 80, 0, svc);
    ct.observeTcp(i, TCP_ACK, true, 0);
    return i;
  };
  const a = est(1, 3), b = est(2, 0);
  const c = ct.insert4(PROTO_TCP, 0x01020304, 3, 0x0aff0002, 80, 1, 0x0a000101, 80, 0, 3);
  ct.observeTcp(c, TCP_SYN, true, 0);
  ct.setServiceTimeout(3, 3_600_000);
  assert.equal(ct.timeoutOf(a), 3_600_000);
  assert.equal(ct.timeoutOf(b), DEFAULT_TIMEOUTS.tcpEstablished);
  assert.equal(ct.timeoutOf(c), DEFAULT_TIMEOUTS.tcpSynSent);
  assert.equal(ct.expire(3_600_001, 8), 2); // a (overridden) and c (SYN_SENT)
  assert.equal(ct.stateOf(b), ST_TCP_ESTABLISHED);
  ct.setServiceTimeout(3, 0); // back to the default
  const d = est(4, 3);
  assert.equal(ct.timeoutOf(d), DEFAULT_TIMEOUTS.tcpEstablished);
});

test('UDP and other protocols ignore TCP flags', () => {
  const ct = new Conntrack({ capacity4: 4, capacity6: 0 });
  const u = ct.insert4(PROTO_UDP, 1, 1, 2, 53, 0, 3, 53, 0);
  const o = ct.insert4(1, 1, 0, 2, 0, 0, 3, 0, 0);
  assert.equal(STATE_NAMES[ct.observeTcp(u, TCP_RST, true, 0)], 'UDP_UNREPLIED');
  assert.equal(ct.observeTcp(o, TCP_RST, true, 0), ST_OTHER);
});
