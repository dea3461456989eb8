// The resolver's name table: services, their VIPs, ports and tasks, written through deltas
// (addService, removeService, setTasks, addTask, removeTask) the way the dataplane's
// TableWriter is, and read by resolver.ts on every query.
//
// Names answered, relative to the table's domain D (every name also answers bare, without .D):
//   <service>                 vip mode: the VIP (A/AAAA); dnsrr mode: every task IP, shuffled
//   tasks.<service>           every task IP (both modes), shuffled
//   _<port>._<proto>.<service>  SRV (RFC 2782): the VIP target, or one record per task
//   <task name>               the task's own IPs
//   reverse names of VIPs and task IPs (in-addr.arpa, ip6.arpa): PTR
//
// Contract: the table never holds two owners for one name or one address; a delta that would
// create one throws TableError('VXM_ERR_DUPLICATE') and changes nothing. Invalid input (bad
// address, bad name) throws ConfigError and changes nothing.

import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError, TableError } from '../../errors.js';

export type ServiceMode = 'vip' | 'dnsrr';

export interface PortSpec {
  /** The SRV service label without the underscore: 'http' answers _http._tcp.<service>. */
  name: string;
  port: number;
  protocol: 'tcp' | 'udp';
}

export interface ServiceSpec {
  /** One DNS label: letters, digits, '-', '_' (swarm service names), at most 63 bytes. */
  name: string;
  mode: ServiceMode;
  /** vip mode: the service's IPv4 VIP (dotted quad). Ignored in dnsrr mode. */
  vip4?: string;
  /** vip mode: the service's IPv6 VIP. Ignored in dnsrr mode. */
  vip6?: string;
  ports?: PortSpec[];
}

export interface TaskSpec {
  /** The task's name, e.g. 'web.1.kq3x9' (swarm's <service>.<slot>.<task id>); dots allowed. */
  name: string;
  ipv4: string;
  ipv6?: string;
}

export interface NameTableOptions {
  /**
   * The domain the table owns, without dots at either end. Names under it that the table
   * does not hold get NXDOMAIN; names outside it are forwarded. Default 'mesh'.
   */
  domain?: string;
  /**
   * TTL of every answer, seconds. Default 5. Swarm uses a fixed 600 s, so a client that
   * cached a dnsrr answer keeps sending to a dead task for up to ten minutes after it is
   * gone (a long-standing swarm complaint). Answers come from local memory, so re-asking is
   * cheap: a low TTL bounds staleness at the cost of one local query per TTL per client.
   */
  ttl?: number;
}

export interface TaskRecord {
  readonly name: string;
  /** '<task name>.<domain>': the name PTR answers with. */
  readonly fqdn: string;
  readonly ipv4: number;
  readonly ipv6: Uint8Array | null;
  readonly service: ServiceRecord;
}

export interface ServiceRecord {
  readonly name: string;
  readonly fqdn: string;
  readonly mode: ServiceMode;
  /** -1 when none. */
  readonly vip4: number;
  readonly vip6: Uint8Array | null;
  readonly ports: readonly PortSpec[];
  /** Tasks in insertion order; the resolver shuffles a copy of the order, never this array. */
  readonly tasks: TaskRecord[];
}

export type NameEntry =
  | { readonly kind: 'service'; readonly svc: ServiceRecord }
  | { readonly kind: 'tasks'; readonly svc: ServiceRecord }
  | { readonly kind: 'srv'; readonly svc: ServiceRecord; readonly port: PortSpec }
  | { readonly kind: 'task'; readonly task: TaskRecord };

/** What lookup() found for a query name. */
export type Lookup =
  | NameEntry
  | { readonly kind: 'apex' }
  | { readonly kind: 'nxdomain' }
  | { readonly kind: 'foreign' };

const APEX: Lookup = { kind: 'apex' };
const NXDOMAIN: Lookup = { kind: 'nxdomain' };
const FOREIGN: Lookup = { kind: 'foreign' };

const LABEL_RE = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

function checkName(path: string, name: string, dotted: boolean): string {
  const n = name.toLowerCase();
  const labels = dotted ? n.split('.') : [n];
  if (n.length === 0 || n.length > 253 || !labels.every((l) => LABEL_RE.test(l))) {
    throw new ConfigError(path, `"${name}" is not a valid DNS ${dotted ? 'name' : 'label'}: use letters, digits, '-' and '_', at most 63 per label`);
  }
  return n;
}

/** Parses a dotted quad into an unsigned 32-bit number; throws ConfigError. */
export function parseIPv4(path: string, s: string): number {
  if (!isIPv4(s)) throw new ConfigError(path, `"${s}" is not an IPv4 address: use a dotted quad such as 10.0.1.10`);
  const p = s.split('.').map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

/** Parses an IPv6 address (any RFC 4291 text form, embedded IPv4 included) into 16 bytes. */
export function parseIPv6(path: string, s: string): Uint8Array {
  if (!isIPv6(s)) throw new ConfigError(path, `"${s}" is not an IPv6 address: use a form such as fd00:1::a`);
  let text = s.toLowerCase();
  const pct = text.indexOf('%');
  if (pct >= 0) text = text.slice(0, pct);
  // An embedded IPv4 tail becomes two groups.
  const m = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (m !== null) {
    const g1 = ((+m[1] << 8) | +m[2]).toString(16);
    const g2 = ((+m[3] << 8) | +m[4]).toString(16);
    text = text.slice(0, m.index) + g1 + ':' + g2;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const v = parseInt(groups[i], 16);
    out[2 * i] = v >>> 8;
    out[2 * i + 1] = v & 0xff;
  }
  return out;
}

export function ipv6Key(a: Uint8Array): string {
  return Buffer.from(a.buffer, a.byteOffset, 16).toString('hex');
}

export class NameTable {
  readonly domain: string;
  readonly ttl: number;
  private readonly services = new Map<string, ServiceRecord>();
  /** Relative name (no domain) → entry. */
  private readonly names = new Map<string, NameEntry>();
  /** IPv4 number → PTR target (fqdn). */
  private readonly ptr4 = new Map<number, string>();
  /** IPv6 hex key → PTR target (fqdn). */
  private readonly ptr6 = new Map<string, string>();
  private readonly suffix: string;

  constructor(opts: NameTableOptions = {}) {
    this.domain = checkName('dns.domain', opts.domain ?? 'mesh', true);
    const ttl = opts.ttl ?? 5;
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 0x7fffffff) {
      throw new ConfigError('dns.ttl', `${ttl} is not a TTL: use whole seconds from 0 to 2147483647 (RFC 2181 section 8)`);
    }
    this.ttl = ttl;
    this.suffix = '.' + this.domain;
  }

  /** Adds a service with no tasks. Throws TableError VXM_ERR_DUPLICATE if the name or a VIP is taken. */
  addService(spec: ServiceSpec): void {
    const path = `dns.services.${spec.name}`;
    const name = checkName(path + '.name', spec.name, false);
    if (name === 'tasks') throw new ConfigError(path + '.name', '"tasks" is reserved for tasks.<service> names: pick another service name');
    const vip4 = spec.mode === 'vip' && spec.vip4 !== undefined ? parseIPv4(path + '.vip4', spec.vip4) : -1;
    const vip6 = spec.mode === 'vip' && spec.vip6 !== undefined ? parseIPv6(path + '.vip6', spec.vip6) : null;
    const ports = (spec.ports ?? []).map((p, i) => {
      const pp = `${path}.ports[${i}]`;
      if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) throw new ConfigError(pp + '.port', `${p.port} is not a port: use 1 to 65535`);
      if (p.protocol !== 'tcp' && p.protocol !== 'udp') throw new ConfigError(pp + '.protocol', `"${String(p.protocol)}" is not a protocol: use tcp or udp`);
      return { name: checkName(pp + '.name', p.name, false), port: p.port, protocol: p.protocol };
    });
    const fqdn = name + this.suffix;
    const svc: ServiceRecord = { name, fqdn, mode: spec.mode, vip4, vip6, ports, tasks: [] };
    const keys: [string, NameEntry][] = [[name, { kind: 'service', svc }], ['tasks.' + name, { kind: 'tasks', svc }]];
    for (const port of ports) keys.push([`_${port.name}._${port.protocol}.${name}`, { kind: 'srv', svc, port }]);
    for (const [k] of keys) if (this.names.has(k)) throw new TableError('VXM_ERR_DUPLICATE', `add service ${name}: name ${k} is already taken`);
    if (new Set(keys.map(([k]) => k)).size !== keys.length) throw new TableError('VXM_ERR_DUPLICATE', `add service ${name}: two ports share a name and protocol`);
    if (vip4 >= 0 && this.ptr4.has(vip4)) throw new TableError('VXM_ERR_DUPLICATE', `add service ${name}: VIP ${spec.vip4} is already in use`);
    if (vip6 !== null && this.ptr6.has(ipv6Key(vip6))) throw new TableError('VXM_ERR_DUPLICATE', `add service ${name}: VIP ${spec.vip6} is already in use`);
    this.services.set(name, svc);
    for (const [k, e] of keys) this.names.set(k, e);
    if (vip4 >= 0) this.ptr4.set(vip4, fqdn);
    if (vip6 !== null) this.ptr6.set(ipv6Key(vip6), fqdn);
  }

  /** Removes a service, its names, its VIP reverse names and all its tasks. */
  removeService(name: string): void {
    const svc = this.mustService('remove service', name);
    this.setTasks(name, []);
    this.names.delete(svc.name);
    this.names.delete('tasks.' + svc.name);
    for (const port of svc.ports) this.names.delete(`_${port.name}._${port.protocol}.${svc.name}`);
    if (svc.vip4 >= 0) this.ptr4.delete(svc.vip4);
    if (svc.vip6 !== null) this.ptr6.delete(ipv6Key(svc.vip6));
    this.services.delete(svc.name);
  }

  /**
   * Replaces the service's tasks with tasks (a whole-set delta, for resyncs). All-or-nothing:
   * if any task's name or address clashes, throws and the old tasks stay.
   */
  setTasks(service: string, tasks: readonly TaskSpec[]): void {
    const svc = this.mustService('set tasks', service);
    const recs = tasks.map((t) => this.makeTask(svc, t));
    const old = new Set(svc.tasks.map((t) => t.name));
    const seenNames = new Set<string>();
    const seen4 = new Set<number>();
    const seen6 = new Set<string>();
    for (const t of recs) {
      const k6 = t.ipv6 === null ? null : ipv6Key(t.ipv6);
      const ownName = this.names.get(t.name);
      if (seenNames.has(t.name) || (ownName !== undefined && !(ownName.kind === 'task' && old.has(t.name) && ownName.task.service === svc))) {
        throw new TableError('VXM_ERR_DUPLICATE', `set tasks of ${svc.name}: name ${t.name} is already taken`);
      }
      const o4 = this.ptr4.get(t.ipv4);
      if (seen4.has(t.ipv4) || (o4 !== undefined && !svc.tasks.some((x) => x.ipv4 === t.ipv4))) {
        throw new TableError('VXM_ERR_DUPLICATE', `set tasks of ${svc.name}: address of ${t.name} is already in use`);
      }
      if (k6 !== null && (seen6.has(k6) || (this.ptr6.has(k6) && !svc.tasks.some((x) => x.ipv6 !== null && ipv6Key(x.ipv6) === k6)))) {
        throw new TableError('VXM_ERR_DUPLICATE', `set tasks of ${svc.name}: IPv6 address of ${t.name} is already in use`);
      }
      seenNames.add(t.name);
      seen4.add(t.ipv4);
      if (k6 !== null) seen6.add(k6);
    }
    for (const t of svc.tasks) this.unindexTask(t);
    svc.tasks.length = 0;
    for (const t of recs) this.indexTask(t);
  }

  /** Adds one task. Throws VXM_ERR_DUPLICATE when its name or an address is taken. */
  addTask(service: string, task: TaskSpec): void {
    const svc = this.mustService('add task', service);
    const t = this.makeTask(svc, task);
    if (this.names.has(t.name)) throw new TableError('VXM_ERR_DUPLICATE', `add task ${t.name}: the name is already taken`);
    if (this.ptr4.has(t.ipv4)) throw new TableError('VXM_ERR_DUPLICATE', `add task ${t.name}: ${task.ipv4} is already in use`);
    if (t.ipv6 !== null && this.ptr6.has(ipv6Key(t.ipv6))) throw new TableError('VXM_ERR_DUPLICATE', `add task ${t.name}: ${task.ipv6} is already in use`);
    this.indexTask(t);
  }

  /** Removes one task by name. Throws VXM_ERR_NOT_FOUND when the service has no such task. */
  removeTask(service: string, taskName: string): void {
    const svc = this.mustService('remove task', service);
    const i = svc.tasks.findIndex((t) => t.name === taskName.toLowerCase());
    if (i < 0) throw new TableError('VXM_ERR_NOT_FOUND', `remove task ${taskName}: service ${svc.name} has no such task`);
    this.unindexTask(svc.tasks[i]);
    svc.tasks.splice(i, 1);
  }

  /** The service record, or undefined. */
  service(name: string): ServiceRecord | undefined {
    return this.services.get(name.toLowerCase());
  }

  /**
   * Classifies a lower-cased query name (no trailing dot): an entry, the apex (the domain
   * itself), nxdomain (under the domain but absent) or foreign (not ours: forward it).
   */
  lookup(qname: string): Lookup {
    let rel = qname;
    let under = false;
    if (qname === this.domain) return APEX;
    if (qname.endsWith(this.suffix)) {
      rel = qname.slice(0, qname.length - this.suffix.length);
      under = true;
    }
    const e = this.names.get(rel);
    if (e !== undefined) return e;
    return under ? NXDOMAIN : FOREIGN;
  }

  /** PTR target for an IPv4 address (unsigned 32-bit), or undefined. */
  ptrV4(ip: number): string | undefined {
    return this.ptr4.get(ip);
  }

  /** PTR target for an IPv6 address given as 32 lower-case hex digits, or undefined. */
  ptrV6(hexKey: string): string | undefined {
    return this.ptr6.get(hexKey);
  }

  private mustService(action: string, name: string): ServiceRecord {
    const svc = this.services.get(name.toLowerCase());
    if (svc === undefined) throw new TableError('VXM_ERR_NOT_FOUND', `${action}: no service named ${name}`);
    return svc;
  }

  private makeTask(svc: ServiceRecord, t: TaskSpec): TaskRecord {
    const path = `dns.services.${svc.name}.tasks.${t.name}`;
    const name = checkName(path + '.name', t.name, true);
    return {
      name,
      fqdn: name + this.suffix,
      ipv4: parseIPv4(path + '.ipv4', t.ipv4),
      ipv6: t.ipv6 === undefined ? null : parseIPv6(path + '.ipv6', t.ipv6),
      service: svc,
    };
  }

  private indexTask(t: TaskRecord): void {
    t.service.tasks.push(t);
    this.names.set(t.name, { kind: 'task', task: t });
    this.ptr4.set(t.ipv4, t.fqdn);
    if (t.ipv6 !== null) this.ptr6.set(ipv6Key(t.ipv6), t.fqdn);
  }

  private unindexTask(t: TaskRecord): void {
    this.names.delete(t.name);
    this.ptr4.delete(t.ipv4);
    if (t.ipv6 !== null) this.ptr6.delete(ipv6Key(t.ipv6));
  }
}
