// The manager's HTTP API for the replicated key-value map (JSON), as etcd's v3 JSON gateway
// serves its KV: what the end-to-end tests and bench:raft use.
//
//   PUT    /v1/kv/<key>            body = value    → 200 {"index":n}
//   GET    /v1/kv/<key>[?stale=1]                  → 200 {"value":..,"index":n,"stale":false} | 404
//   DELETE /v1/kv/<key>                            → 200 {"index":n}
//   POST   /v1/tx                  body = a store transaction (JSON) → 200 {"index":n} | 4xx {code,...}
//   GET    /v1/objects/<kind>[?stale=1]            → {"index":n,"items":[...]}  (node, network, service, task, pool)
//   GET    /v1/objects/<kind>/<id>[?stale=1]       → the object | 404
//   GET    /v1/watch?from=<index>[&kinds=a,b]      → changes from that index on, one JSON line each
//                                                    (410 VXM_ERR_STORE_COMPACTED: list, then watch from its index + 1)
//   GET    /v1/members                             → the managers: id, voter|learner, address, replication
//   POST   /v1/members             body = {"id":4,"host":"10.0.0.4"[,"port":2377]} → 200 {"index":n}
//                                                    adds a manager started with --join: learner, catch-up, voter
//   DELETE /v1/members/<id>                        → 200 {"index":n}  (the id is never reused)
//   GET    /v1/status                              → the Raft status of this manager
//   POST   /v1/leader?to=<id>                      → transfer leadership
//
// Writes on a follower are redirected (307) to the leader's API; without a known leader, or
// when nothing commits in time, the answer is 503 with a stable `code` (VXM_ERR_NO_QUORUM,
// VXM_ERR_NOT_LEADER) and a message that says what to do.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { VxmeshError, SetupError } from '../../../errors.js';
import { ConfChangeError, NotLeaderError, ProposalDroppedError } from '../core/errors.js';
import { KINDS, StoreError, encodeTransaction, type ApplyResult, type Kind } from '../../store/index.js';
import { encodeKvCommand, type KvResult } from './kv.js';
import { CMD_KV, CMD_STORE, tagCommand, type ManagerState } from './manager-state.js';
import { MemberError, type RaftNode } from './raft-node.js';
import { isIP } from 'node:net';

/** Implementation: largest value accepted (the store's objects are small). */
const MAX_BODY = 1 << 20;

export interface ApiOptions {
  host: string;
  port: number;
  /** The API address of a manager id (for redirects to the leader). */
  apiUrlOf: (id: number) => string | undefined;
  /** The Raft port a new member listens on when POST /v1/members names none (this manager's). */
  raftPort: number;
  /** How long POST /v1/members waits for the new manager to catch up. Default 30 s. */
  memberTimeoutMs?: number;
  timeoutMs?: number;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(`${JSON.stringify(body)}\n`);
}

function errorBody(err: unknown): { code: string; message: string } {
  if (err instanceof VxmeshError) return { code: err.code, message: err.message };
  return { code: 'VXM_ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY) {
        reject(new VxmeshError('VXM_ERR_TOO_LARGE', `request body over ${MAX_BODY} bytes: store smaller values`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** HTTP status for a store error code: the caller's mistake (4xx), never a server fault. */
function storeStatus(code: string): number {
  switch (code) {
    case 'VXM_ERR_STORE_NOT_FOUND': return 404;
    case 'VXM_ERR_STORE_CONFLICT': case 'VXM_ERR_STORE_EXISTS': case 'VXM_ERR_STORE_IN_USE': case 'VXM_ERR_STORE_EXHAUSTED': return 409;
    case 'VXM_ERR_STORE_TOO_LARGE': return 413;
    default: return 400;
  }
}

export async function serveKvApi(raft: RaftNode, state: ManagerState, o: ApiOptions): Promise<Server> {
  const kv = state.kv;
  const store = state.store;
  const timeout = o.timeoutMs ?? 5000;
  const redirect = (res: ServerResponse, path: string, err: NotLeaderError): void => {
    const url = err.leader ? o.apiUrlOf(err.leader) : undefined;
    if (url) return send(res, 307, errorBody(err), { location: `${url}${path}` });
    send(res, 503, { code: 'VXM_ERR_NO_QUORUM', message: 'no leader is known: an election is under way or a quorum of managers is unreachable; retry, and check the other managers' });
  };
  /** Proposes `cmd`; on a follower or a full leader answers the request itself (307 / 503) and returns undefined. */
  const propose = async (res: ServerResponse, path: string, cmd: Uint8Array): Promise<{ index: number; result: unknown } | undefined> => {
    try {
      return await raft.propose(cmd, timeout);
    } catch (err) {
      if (err instanceof NotLeaderError) redirect(res, path, err);
      else if (err instanceof ProposalDroppedError) send(res, 503, errorBody(err));
      else throw err;
      return undefined;
    }
  };
  /** A membership change: redirected off the leader; its refusals are the caller's to fix (409/404). */
  const member = async (res: ServerResponse, path: string, change: () => Promise<{ index: number }>): Promise<void> => {
    try {
      send(res, 200, await change());
    } catch (err) {
      if (err instanceof NotLeaderError) return redirect(res, path, err);
      if (err instanceof ConfChangeError) return send(res, 409, errorBody(err));
      if (err instanceof MemberError) return send(res, err.code === 'VXM_ERR_MEMBER_NOT_FOUND' ? 404 : err.code === 'VXM_ERR_MEMBER_EXISTS' ? 409 : 503, errorBody(err));
      throw err;
    }
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    try {
      if (url.pathname === '/v1/members' && req.method === 'GET') return send(res, 200, { members: raft.members(), leader: raft.leader });
      if (url.pathname === '/v1/members' && req.method === 'POST') {
        let body: { id?: unknown; host?: unknown; port?: unknown };
        try {
          body = JSON.parse(await readBody(req)) as typeof body;
        } catch (err) {
          if (err instanceof VxmeshError) throw err;
          body = {};
        }
        const id = body.id;
        const host = body.host;
        const port = body.port ?? o.raftPort;
        if (!Number.isSafeInteger(id) || (id as number) <= 0 || typeof host !== 'string' || isIP(host) === 0 || !Number.isInteger(port) || (port as number) <= 0 || (port as number) > 65535) {
          return send(res, 400, { code: 'VXM_ERR_BAD_REQUEST', message: 'send {"id":<new manager id>,"host":"<its IP address>"[,"port":<its raft port, default this one\'s>]}' });
        }
        return member(res, url.pathname, () => raft.addMember(id as number, { host, port: port as number }, o.memberTimeoutMs));
      }
      const mm = /^\/v1\/members\/(\d+)$/.exec(url.pathname);
      if (mm && req.method === 'DELETE') return member(res, url.pathname, () => raft.removeMember(Number(mm[1])));
      if (url.pathname === '/v1/status' && req.method === 'GET') return send(res, 200, raft.status());
      if (url.pathname === '/v1/leader' && req.method === 'POST') {
        const to = Number(url.searchParams.get('to'));
        if (!Number.isInteger(to) || to <= 0) return send(res, 400, { code: 'VXM_ERR_BAD_REQUEST', message: 'POST /v1/leader?to=<manager id>' });
        raft.transferLeader(to);
        return send(res, 202, { to });
      }
      if (url.pathname === '/v1/tx' && req.method === 'POST') {
        let tx: unknown;
        try {
          tx = JSON.parse(await readBody(req));
        } catch (err) {
          if (err instanceof VxmeshError) throw err;
          return send(res, 400, { code: 'VXM_ERR_STORE_INVALID', message: 'the body is not JSON: send {"requestId":...,"changes":[...]}' });
        }
        let cmd: Uint8Array;
        try {
          cmd = tagCommand(CMD_STORE, encodeTransaction(tx)); // schema-checked before it reaches the log
        } catch (err) {
          if (err instanceof StoreError) return send(res, storeStatus(err.code), { code: err.code, message: err.message, path: err.path });
          throw err;
        }
        const r = await propose(res, url.pathname, cmd);
        if (!r) return;
        const a = r.result as ApplyResult;
        if (!a.ok) return send(res, storeStatus(a.error.code), { code: a.error.code, message: a.error.message, path: a.error.path, changeIndex: a.changeIndex, index: r.index });
        return send(res, 200, { index: r.index, requestId: a.requestId, changes: a.events.length });
      }
      if (url.pathname === '/v1/watch' && req.method === 'GET') {
        const from = Number(url.searchParams.get('from') ?? store.appliedIndex + 1);
        const kindsParam = url.searchParams.get('kinds');
        const kinds = kindsParam ? kindsParam.split(',') : undefined;
        if (kinds && kinds.some((k) => !KINDS.includes(k as Kind))) return send(res, 400, { code: 'VXM_ERR_BAD_REQUEST', message: `kinds: use some of ${KINDS.join(', ')}` });
        let watcher: ReturnType<typeof store.watch>;
        // The backlog may be written during watch(): the headers go with its first line.
        res.statusCode = 200;
        res.setHeader('content-type', 'application/x-ndjson');
        try {
          // Events stream from this manager's applied state (a follower lags the leader by a round trip at most).
          watcher = store.watch(from, {
            ...(kinds ? { filter: { kinds: kinds as Kind[] } } : {}),
            onEvent: (e) => res.write(`${JSON.stringify(e)}\n`),
            onError: (err) => res.end(`${JSON.stringify({ code: err.code, message: err.message })}\n`),
          });
        } catch (err) {
          if (err instanceof StoreError) return send(res, err.code === 'VXM_ERR_STORE_COMPACTED' ? 410 : storeStatus(err.code), { code: err.code, message: err.message });
          throw err;
        }
        if (!res.headersSent) res.flushHeaders();
        req.on('close', () => watcher.close());
        return;
      }
      const ob = /^\/v1\/objects\/([a-z]+)(?:\/(.+))?$/.exec(url.pathname);
      if (ob && req.method === 'GET') {
        const kind = ob[1] as Kind;
        if (!KINDS.includes(kind)) return send(res, 404, { code: 'VXM_ERR_NOT_FOUND', message: `no kind ${ob[1]}: use one of ${KINDS.join(', ')}` });
        const stale = url.searchParams.get('stale') === '1' || url.searchParams.get('stale') === 'true';
        if (!stale) await raft.readBarrier(timeout);
        if (ob[2] === undefined) return send(res, 200, { ...store.list(kind), stale });
        const obj = store.get(kind, decodeURIComponent(ob[2]));
        if (!obj) return send(res, 404, { code: 'VXM_ERR_STORE_NOT_FOUND', message: `no ${kind} ${ob[2]}` });
        return send(res, 200, obj);
      }
      const m = /^\/v1\/kv\/(.+)$/.exec(url.pathname);
      if (!m) return send(res, 404, { code: 'VXM_ERR_NOT_FOUND', message: `no route ${req.method} ${url.pathname}: see /v1/kv/<key>, /v1/status` });
      const key = decodeURIComponent(m[1]!);
      if (req.method === 'GET') {
        const stale = url.searchParams.get('stale') === '1' || url.searchParams.get('stale') === 'true';
        let index = raft.applied;
        if (!stale) index = await raft.readBarrier(timeout);
        const v = kv.get(key);
        if (!v) return send(res, 404, { code: 'VXM_ERR_NOT_FOUND', message: `no key ${key}`, index, stale });
        return send(res, 200, { value: v.value, index: v.index, readIndex: index, stale, ...(stale ? { leader: raft.leader } : {}) });
      }
      if (req.method === 'PUT' || req.method === 'DELETE') {
        const value = req.method === 'PUT' ? await readBody(req) : '';
        const cmd = tagCommand(CMD_KV, req.method === 'PUT' ? encodeKvCommand({ op: 'put', key, value }) : encodeKvCommand({ op: 'delete', key }));
        const r = await propose(res, url.pathname, cmd);
        if (!r) return;
        const result = r.result as KvResult;
        if (!result.ok) return send(res, 409, { code: result.code, message: 'the command was refused by the state machine' });
        return send(res, 200, { index: r.index });
      }
      send(res, 405, { code: 'VXM_ERR_BAD_REQUEST', message: `${req.method} not supported on /v1/kv/<key>: use GET, PUT or DELETE` });
    } catch (err) {
      const b = errorBody(err);
      send(res, b.code === 'VXM_ERR_NO_QUORUM' ? 503 : b.code === 'VXM_ERR_TOO_LARGE' ? 413 : 500, b);
    }
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new SetupError(`manager api: listen on ${o.host}:${o.port}: ${e.message}: is the port free?`, { cause: e })));
    server.listen(o.port, o.host, () => resolve());
  });
  return server;
}
