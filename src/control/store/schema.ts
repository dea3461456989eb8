// The cluster objects and their schema, modelled on swarmkit's api/objects.proto and
// api/specs.proto: Node, Network, Service, Task, plus the address pools swarm keeps inside its
// IPAM driver. Every object carries swarmkit's Meta (version, created/updated), but times are
// LOG INDEXES, not wall clock: the store is a deterministic state machine and must not read a
// clock (the driver can map an index to the time it committed if a caller wants dates).
//
// Contract of the readers below (readNode, readNetwork, ...):
//  - input mode (proposals): unknown fields are refused; optional fields get their default;
//    fields the store owns (version, createdAt, updatedAt, a service's virtualIps) are accepted
//    and ignored, so read-modify-write of a stored object works.
//  - stored mode (snapshots): every field is required, including meta and status.
//  - the result is a NEW object built with a fixed key order and sorted label keys, then frozen:
//    JSON.stringify of it is canonical, which makes transactions and snapshots byte-identical
//    on every manager for the same content.
//  - a refusal is a StoreInvalidError whose path names the field and whose message says what
//    to do. Readers throw; callers (encodeTransaction, apply, restore) catch at their edge.

import { IPv4, IPv4CidrRange } from 'ip-num';
import { StoreInvalidError } from './errors.js';
import { MAX_SUBNET_PREFIX, MIN_SUBNET_PREFIX } from './ipam.js';

// ---- kinds and enums (wire values: append-only, never renumber or rename) ----

export type Kind = 'node' | 'network' | 'service' | 'task' | 'pool';
/** Snapshot order: referenced kinds before the kinds that refer to them. */
export const KINDS: readonly Kind[] = ['node', 'network', 'pool', 'service', 'task'];
/** Kinds a transaction may change; pools change only as a side effect of networks, services, tasks. */
export const CHANGEABLE_KINDS: readonly Kind[] = ['node', 'network', 'service', 'task'];

export const NODE_ROLES = ['manager', 'worker'] as const;
export type NodeRole = (typeof NODE_ROLES)[number];
/** Swarm's node availability: drain moves tasks away, pause stops new ones. */
export const NODE_AVAILABILITIES = ['active', 'pause', 'drain'] as const;
export type NodeAvailability = (typeof NODE_AVAILABILITIES)[number];
export const NETWORK_DRIVERS = ['overlay'] as const;
export type NetworkDriver = (typeof NETWORK_DRIVERS)[number];
export const ENDPOINT_MODES = ['vip', 'dnsrr'] as const;
export type EndpointMode = (typeof ENDPOINT_MODES)[number];
export const PROTOCOLS = ['tcp', 'udp'] as const;
export type Protocol = (typeof PROTOCOLS)[number];
/** ingress: every node publishes the port (routing mesh); host: only nodes running a task. */
export const PUBLISH_MODES = ['ingress', 'host'] as const;
export type PublishMode = (typeof PUBLISH_MODES)[number];
/** The dataplane's SchedulerKind (src/dataplane/lb/schedulers/types.ts). */
export const SCHEDULERS = ['rr', 'wrr', 'lc', 'sh', 'maglev'] as const;
export type SchedulerName = (typeof SCHEDULERS)[number];
/** swarmkit's TaskState, in lifecycle order. */
export const TASK_STATES = [
  'new', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting', 'running',
  'complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned',
] as const;
export type TaskState = (typeof TASK_STATES)[number];
/** The states an orchestrator may ask for (swarmkit sets DesiredState to one of these). */
export const DESIRED_TASK_STATES = ['ready', 'running', 'shutdown', 'remove'] as const;
export type DesiredTaskState = (typeof DESIRED_TASK_STATES)[number];

// ---- limits (implementation choices; each says why) ----

/** Ids come from the proposer (swarm's identity.NewID is 25 base-36 chars); 64 leaves room for UUIDs. */
export const MAX_ID_LENGTH = 64;
/** Names are DNS labels: services and networks are resolved by name (RFC 1035 section 2.3.4). */
export const MAX_NAME_LENGTH = 63;
export const MAX_LABELS = 64;
export const MAX_LABEL_KEY_LENGTH = 128;
export const MAX_LABEL_VALUE_LENGTH = 256;
export const MAX_NODE_ADDRESSES = 16;
/** A few subnets per network (swarm allows several IPAM configs; more is unheard of in practice). */
export const MAX_SUBNETS = 4;
export const MAX_IMAGE_LENGTH = 512;
export const MAX_ENV = 256;
export const MAX_ENV_LENGTH = 4096;
export const MAX_PORTS = 64;
export const MAX_SERVICE_NETWORKS = 32;
export const MAX_REPLICAS = 100_000;
export const MAX_SLOT = 1_000_000;
export const MAX_MESSAGE_LENGTH = 512;
/** Inner MTU bounds: RFC 791 minimum datagram 576; jumbo frames 9216. */
export const MIN_MTU = 576;
export const MAX_MTU = 9216;
/** Default inner MTU: 1500 minus the 50 bytes of IPv4 VXLAN encapsulation (RFC 7348 section 5). */
export const DEFAULT_MTU = 1450;
/** Default idle timeout of a flow through a VIP, seconds: IPVS's TCP established timeout (900 s). */
export const DEFAULT_IDLE_SECONDS = 900;
export const MAX_TIMEOUT_SECONDS = 86_400;

// ---- object types ----

export interface Meta {
  id: string;
  /** Log index of the object's last change (swarmkit Meta.Version); an update names it. */
  version: number;
  /** Log index that created the object. */
  createdAt: number;
  /** Log index of the last change (equals version; kept for swarmkit's shape). */
  updatedAt: number;
}

export type Labels = Readonly<Record<string, string>>;

export interface NodeSpec {
  id: string;
  /** Hostname; unique in the cluster (case-insensitive). */
  name: string;
  role: NodeRole;
  availability: NodeAvailability;
  /** IPv4 addresses the node is reached on (advertise / data-path addresses). */
  addresses: readonly string[];
  labels: Labels;
}
export interface Node extends Meta, NodeSpec {}

export interface NetworkSpec {
  id: string;
  name: string;
  driver: NetworkDriver;
  /** VXLAN network identifier; 0 in a proposal: the store allocates the lowest free from 4097. */
  vni: number;
  /** IPv4 CIDRs, /16 to /30; [] in a proposal: the store carves the lowest free /24 of 10.0.0.0/8. */
  subnets: readonly string[];
  /** Inside subnets[0]; '' in a proposal: the first host address of subnets[0]. */
  gateway: string;
  /** The routing-mesh network (swarm's `ingress`); at most one exists. */
  ingress: boolean;
  mtu: number;
  /** Standalone containers may attach (swarm's --attachable). */
  attachable: boolean;
  labels: Labels;
}
export interface Network extends Meta, NetworkSpec {}

export type ServiceMode = { kind: 'replicated'; replicas: number } | { kind: 'global' };

export interface ContainerPort {
  protocol: Protocol;
  port: number;
}

export interface TaskTemplate {
  /** Image reference, e.g. `nginx:1.25` or `registry:5000/app@sha256:...`. */
  image: string;
  /** `KEY=VALUE` entries, keys unique. */
  env: readonly string[];
  /** Ports the task listens on. */
  ports: readonly ContainerPort[];
}

export interface PublishedPort {
  protocol: Protocol;
  published: number;
  target: number;
  mode: PublishMode;
  /** Host mode only: bind on this node address; '' binds every address. */
  address: string;
}

export interface EndpointSpec {
  mode: EndpointMode;
  ports: readonly PublishedPort[];
}

export interface VirtualIp {
  networkId: string;
  address: string;
}

export interface ServiceSpec {
  id: string;
  name: string;
  mode: ServiceMode;
  task: TaskTemplate;
  endpoint: EndpointSpec;
  scheduler: SchedulerName;
  /** ClientIP affinity window, seconds (0: off). */
  affinitySeconds: number;
  /** Idle timeout of a flow through the VIP, seconds. */
  idleSeconds: number;
  /** Network ids (not names); the ingress network is attached by publishing in ingress mode. */
  networks: readonly string[];
  labels: Labels;
}
export interface Service extends Meta, ServiceSpec {
  /** Owned by the store: one VIP per attached network when endpoint.mode is vip (ingress first). */
  virtualIps: readonly VirtualIp[];
}

export interface NetworkAttachment {
  networkId: string;
  /** '' in a proposal: the store allocates the lowest free address of the network. */
  address: string;
}

export interface TaskSpec {
  id: string;
  serviceId: string;
  /** Replica slot (1-based for replicated services, 0 for global ones). */
  slot: number;
  /** '' while unassigned. */
  nodeId: string;
  desiredState: DesiredTaskState;
  observedState: TaskState;
  /** Human-readable status from the agent. */
  message: string;
  networks: readonly NetworkAttachment[];
}
export interface Task extends Meta, TaskSpec {}

/** Read-only view of one subnet's allocation state; the bitmap lives in the store. */
export interface AddressPool extends Meta {
  networkId: string;
  subnet: string;
  /** Addresses in the subnet. */
  size: number;
  /** Taken addresses, including the reserved network, broadcast and gateway addresses. */
  used: number;
}

export type SpecOf = { node: NodeSpec; network: NetworkSpec; service: ServiceSpec; task: TaskSpec };
export type ObjectOf = { node: Node; network: Network; service: Service; task: Task; pool: AddressPool };
export type StoreObject = Node | Network | Service | Task | AddressPool;
export type ChangeableKind = keyof SpecOf;

// ---- primitive readers ----

type Mode = 'input' | 'stored';
const META_FIELDS = ['version', 'createdAt', 'updatedAt'] as const;

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$/;
const LABEL_KEY_RE = /^[A-Za-z0-9][A-Za-z0-9_./-]*$/;
const ENV_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const IMAGE_RE = /^[A-Za-z0-9][A-Za-z0-9_./:@+-]*$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

function fail(path: string, message: string): never {
  throw new StoreInvalidError(path, message);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v.length > 40 ? `"${v.slice(0, 40)}..."` : JSON.stringify(v);
  if (typeof v === 'object') return 'an object';
  return String(v);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A plain object whose keys are all in `allowed`. */
export function readRecord(v: unknown, path: string, allowed: readonly string[]): Record<string, unknown> {
  if (!isPlainObject(v)) fail(path, `expected an object, got ${describe(v)}`);
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) fail(path === '' ? k : `${path}.${k}`, `unknown field, remove it (known fields: ${allowed.join(', ')})`);
  }
  return v;
}

function has(o: Record<string, unknown>, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k) && o[k] !== undefined;
}

function required(o: Record<string, unknown>, k: string, path: string): unknown {
  if (!has(o, k)) fail(`${path}.${k}`, 'required field is missing, set it');
  return o[k];
}

/** The field, or `def` when absent in input mode (absent in stored mode is an error). */
function field(o: Record<string, unknown>, k: string, path: string, mode: Mode, def: unknown): unknown {
  if (has(o, k)) return o[k];
  if (mode === 'stored' || def === undefined) return required(o, k, path);
  return def;
}

export function readInt(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(path, `expected an integer, got ${describe(v)}`);
  if (v < min || v > max) fail(path, `${v} is out of range, use ${min} to ${max}`);
  return v;
}

function readBool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') fail(path, `expected true or false, got ${describe(v)}`);
  return v;
}

function readEnum<T extends string>(v: unknown, path: string, values: readonly T[]): T {
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    fail(path, `expected one of ${values.join(', ')}, got ${describe(v)}`);
  }
  return v as T;
}

function readString(v: unknown, path: string, max: number): string {
  if (typeof v !== 'string') fail(path, `expected a string, got ${describe(v)}`);
  if (v.length > max) fail(path, `${v.length} characters is too long, use at most ${max}`);
  if (CONTROL_RE.test(v)) fail(path, 'contains control characters, remove them');
  return v;
}

export function readId(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_ID_LENGTH || !ID_RE.test(v)) {
    fail(path, `${describe(v)} is not a valid id, use 1-${MAX_ID_LENGTH} letters, digits, '_', '.' or '-' starting with a letter or digit`);
  }
  return v;
}

function readOptionalId(v: unknown, path: string): string {
  return v === '' ? '' : readId(v, path);
}

export function readName(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_NAME_LENGTH || !NAME_RE.test(v)) {
    fail(path, `${describe(v)} is not a valid name, use 1-${MAX_NAME_LENGTH} letters, digits, '_', '.' or '-' starting and ending with a letter or digit`);
  }
  return v;
}

function readArray(v: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(v)) fail(path, `expected an array, got ${describe(v)}`);
  if (v.length > max) fail(path, `${v.length} entries is too many, use at most ${max}`);
  return v;
}

/** Labels with keys sorted (canonical order). */
function readLabels(v: unknown, path: string): Labels {
  if (!isPlainObject(v)) fail(path, `expected an object of string values, got ${describe(v)}`);
  const keys = Object.keys(v).sort();
  if (keys.length > MAX_LABELS) fail(path, `${keys.length} labels is too many, use at most ${MAX_LABELS}`);
  const out: Record<string, string> = {};
  for (const k of keys) {
    if (k.length > MAX_LABEL_KEY_LENGTH || !LABEL_KEY_RE.test(k)) {
      fail(`${path}.${k}`, `label key is not valid, use 1-${MAX_LABEL_KEY_LENGTH} letters, digits, '_', '.', '/' or '-' starting with a letter or digit`);
    }
    out[k] = readString(v[k], `${path}.${k}`, MAX_LABEL_VALUE_LENGTH);
  }
  return Object.freeze(out);
}

/** Dotted-quad IPv4 in canonical form (no leading zeros); returns the text. */
export function readIPv4(v: unknown, path: string): string {
  parseIPv4(v, path);
  return v as string;
}

/** Dotted-quad IPv4 in canonical form to its unsigned 32-bit value. */
export function parseIPv4(v: unknown, path: string): number {
  if (typeof v !== 'string' || v.length > 15) fail(path, `${describe(v)} is not an IPv4 address, write it as a.b.c.d`);
  let n: number;
  try {
    const ip = IPv4.fromString(v);
    if (ip.toString() !== v) throw new Error('not canonical');
    n = Number(ip.getValue());
  } catch {
    fail(path, `${describe(v)} is not an IPv4 address, write it as a.b.c.d without leading zeros`);
  }
  return n;
}

/** An aligned IPv4 CIDR with a prefix the pools accept. */
export function parseSubnet(v: unknown, path: string): { base: number; prefix: number } {
  if (typeof v !== 'string' || v.length > 18) fail(path, `${describe(v)} is not an IPv4 CIDR, write it as a.b.c.d/len`);
  let base: number;
  let prefix: number;
  let first: string;
  try {
    const r = IPv4CidrRange.fromCidr(v);
    first = r.getFirst().toString();
    base = Number(r.getFirst().getValue());
    prefix = Number(r.getPrefix().getValue());
  } catch {
    fail(path, `${describe(v)} is not an IPv4 CIDR, write it as a.b.c.d/len`);
  }
  if (`${first}/${prefix}` !== v) fail(path, `${v} is not aligned, use ${first}/${prefix}`);
  if (prefix < MIN_SUBNET_PREFIX || prefix > MAX_SUBNET_PREFIX) {
    fail(path, `a /${prefix} is not supported, use a prefix length from /${MIN_SUBNET_PREFIX} to /${MAX_SUBNET_PREFIX}`);
  }
  return { base, prefix };
}

function readMeta(o: Record<string, unknown>, path: string): Omit<Meta, 'id'> {
  const version = readInt(required(o, 'version', path), `${path}.version`, 1, Number.MAX_SAFE_INTEGER);
  const createdAt = readInt(required(o, 'createdAt', path), `${path}.createdAt`, 1, version);
  const updatedAt = readInt(required(o, 'updatedAt', path), `${path}.updatedAt`, createdAt, version);
  return { version, createdAt, updatedAt };
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

// ---- object readers ----

const NODE_FIELDS = ['id', 'name', 'role', 'availability', 'addresses', 'labels', ...META_FIELDS];

export function readNode(v: unknown, path: string, mode: 'input'): NodeSpec;
export function readNode(v: unknown, path: string, mode: 'stored'): Node;
export function readNode(v: unknown, path: string, mode: Mode): NodeSpec | Node {
  const o = readRecord(v, path, NODE_FIELDS);
  const id = readId(required(o, 'id', path), `${path}.id`);
  const meta = mode === 'stored' ? readMeta(o, path) : undefined;
  const name = readName(required(o, 'name', path), `${path}.name`);
  const role = readEnum(field(o, 'role', path, mode, 'worker'), `${path}.role`, NODE_ROLES);
  const availability = readEnum(field(o, 'availability', path, mode, 'active'), `${path}.availability`, NODE_AVAILABILITIES);
  const addrs = readArray(field(o, 'addresses', path, mode, []), `${path}.addresses`, MAX_NODE_ADDRESSES);
  const addresses = addrs.map((a, i) => readIPv4(a, `${path}.addresses[${i}]`));
  dupCheck(addresses, `${path}.addresses`, 'address');
  const labels = readLabels(field(o, 'labels', path, mode, {}), `${path}.labels`);
  return deepFreeze({ id, ...meta, name, role, availability, addresses, labels });
}

const NETWORK_FIELDS = ['id', 'name', 'driver', 'vni', 'subnets', 'gateway', 'ingress', 'mtu', 'attachable', 'labels', ...META_FIELDS];

export function readNetwork(v: unknown, path: string, mode: 'input'): NetworkSpec;
export function readNetwork(v: unknown, path: string, mode: 'stored'): Network;
export function readNetwork(v: unknown, path: string, mode: Mode): NetworkSpec | Network {
  const o = readRecord(v, path, NETWORK_FIELDS);
  const id = readId(required(o, 'id', path), `${path}.id`);
  const meta = mode === 'stored' ? readMeta(o, path) : undefined;
  const name = readName(required(o, 'name', path), `${path}.name`);
  const driver = readEnum(field(o, 'driver', path, mode, 'overlay'), `${path}.driver`, NETWORK_DRIVERS);
  const vni = readInt(field(o, 'vni', path, mode, 0), `${path}.vni`, mode === 'stored' ? 1 : 0, 0xffffff);
  const rawSubnets = readArray(field(o, 'subnets', path, mode, []), `${path}.subnets`, MAX_SUBNETS);
  if (mode === 'stored' && rawSubnets.length === 0) fail(`${path}.subnets`, 'a stored network needs at least one subnet');
  const parsed = rawSubnets.map((s, i) => parseSubnet(s, `${path}.subnets[${i}]`));
  for (let i = 0; i < parsed.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = parsed[i]!;
      const b = parsed[j]!;
      const aEnd = a.base + 2 ** (32 - a.prefix) - 1;
      const bEnd = b.base + 2 ** (32 - b.prefix) - 1;
      if (a.base <= bEnd && b.base <= aEnd) fail(`${path}.subnets[${i}]`, `overlaps subnets[${j}], use disjoint subnets`);
    }
  }
  const subnets = rawSubnets as string[];
  const gateway = field(o, 'gateway', path, mode, '') === '' && mode === 'input' ? '' : readIPv4(o['gateway'], `${path}.gateway`);
  if (gateway !== '') {
    if (parsed.length === 0) fail(`${path}.gateway`, 'a gateway needs a subnet, set subnets or leave the gateway empty');
    const g = parseIPv4(gateway, `${path}.gateway`);
    const s = parsed[0]!;
    const size = 2 ** (32 - s.prefix);
    if (g <= s.base || g >= s.base + size - 1) {
      fail(`${path}.gateway`, `${gateway} is not a host address of ${subnets[0]}, pick one between its network and broadcast addresses`);
    }
  }
  const ingress = readBool(field(o, 'ingress', path, mode, false), `${path}.ingress`);
  const mtu = readInt(field(o, 'mtu', path, mode, DEFAULT_MTU), `${path}.mtu`, MIN_MTU, MAX_MTU);
  const attachable = readBool(field(o, 'attachable', path, mode, false), `${path}.attachable`);
  if (ingress && attachable) fail(`${path}.attachable`, 'the ingress network cannot be attachable, set it to false');
  const labels = readLabels(field(o, 'labels', path, mode, {}), `${path}.labels`);
  return deepFreeze({ id, ...meta, name, driver, vni, subnets: [...subnets], gateway, ingress, mtu, attachable, labels });
}

const SERVICE_FIELDS = ['id', 'name', 'mode', 'task', 'endpoint', 'scheduler', 'affinitySeconds', 'idleSeconds', 'networks', 'labels', 'virtualIps', ...META_FIELDS];

export function readService(v: unknown, path: string, mode: 'input'): ServiceSpec;
export function readService(v: unknown, path: string, mode: 'stored'): Service;
export function readService(v: unknown, path: string, mode: Mode): ServiceSpec | Service {
  const o = readRecord(v, path, SERVICE_FIELDS);
  const id = readId(required(o, 'id', path), `${path}.id`);
  const meta = mode === 'stored' ? readMeta(o, path) : undefined;
  const name = readName(required(o, 'name', path), `${path}.name`);
  const smode = readServiceMode(field(o, 'mode', path, mode, { kind: 'replicated', replicas: 1 }), `${path}.mode`);
  const task = readTaskTemplate(required(o, 'task', path), `${path}.task`, mode);
  const endpoint = readEndpoint(field(o, 'endpoint', path, mode, { mode: 'vip', ports: [] }), `${path}.endpoint`, mode);
  const scheduler = readEnum(field(o, 'scheduler', path, mode, 'rr'), `${path}.scheduler`, SCHEDULERS);
  const affinitySeconds = readInt(field(o, 'affinitySeconds', path, mode, 0), `${path}.affinitySeconds`, 0, MAX_TIMEOUT_SECONDS);
  const idleSeconds = readInt(field(o, 'idleSeconds', path, mode, DEFAULT_IDLE_SECONDS), `${path}.idleSeconds`, 1, MAX_TIMEOUT_SECONDS);
  const nets = readArray(field(o, 'networks', path, mode, []), `${path}.networks`, MAX_SERVICE_NETWORKS);
  const networks = nets.map((n, i) => readId(n, `${path}.networks[${i}]`));
  dupCheck(networks, `${path}.networks`, 'network');
  const labels = readLabels(field(o, 'labels', path, mode, {}), `${path}.labels`);
  const spec = { id, ...meta, name, mode: smode, task, endpoint, scheduler, affinitySeconds, idleSeconds, networks, labels };
  if (mode === 'input') return deepFreeze(spec);
  const vips = readArray(required(o, 'virtualIps', path), `${path}.virtualIps`, MAX_SERVICE_NETWORKS + 1);
  const virtualIps = vips.map((x, i) => {
    const p = `${path}.virtualIps[${i}]`;
    const r = readRecord(x, p, ['networkId', 'address']);
    return { networkId: readId(required(r, 'networkId', p), `${p}.networkId`), address: readIPv4(required(r, 'address', p), `${p}.address`) };
  });
  dupCheck(virtualIps.map((x) => x.networkId), `${path}.virtualIps`, 'network');
  return deepFreeze({ ...spec, virtualIps });
}

function readServiceMode(v: unknown, path: string): ServiceMode {
  const o = readRecord(v, path, ['kind', 'replicas']);
  const kind = readEnum(required(o, 'kind', path), `${path}.kind`, ['replicated', 'global'] as const);
  if (kind === 'global') {
    if (has(o, 'replicas')) fail(`${path}.replicas`, 'a global service runs one task per node, remove replicas or use kind replicated');
    return { kind };
  }
  return { kind, replicas: readInt(required(o, 'replicas', path), `${path}.replicas`, 0, MAX_REPLICAS) };
}

function readTaskTemplate(v: unknown, path: string, mode: Mode): TaskTemplate {
  const o = readRecord(v, path, ['image', 'env', 'ports']);
  const image = required(o, 'image', path);
  if (typeof image !== 'string' || image.length === 0 || image.length > MAX_IMAGE_LENGTH || !IMAGE_RE.test(image)) {
    fail(`${path}.image`, `${describe(image)} is not an image reference, use a name like nginx:1.25 or registry:5000/app@sha256:<digest>`);
  }
  const rawEnv = readArray(field(o, 'env', path, mode, []), `${path}.env`, MAX_ENV);
  const keys: string[] = [];
  const env = rawEnv.map((e, i) => {
    const p = `${path}.env[${i}]`;
    const s = readString(e, p, MAX_ENV_LENGTH);
    const eq = s.indexOf('=');
    const key = eq < 0 ? '' : s.slice(0, eq);
    if (!ENV_KEY_RE.test(key)) fail(p, `${describe(s)} is not KEY=VALUE with KEY made of letters, digits and '_', fix the entry`);
    keys.push(key);
    return s;
  });
  dupCheck(keys, `${path}.env`, 'variable');
  const rawPorts = readArray(field(o, 'ports', path, mode, []), `${path}.ports`, MAX_PORTS);
  const ports = rawPorts.map((x, i) => {
    const p = `${path}.ports[${i}]`;
    const r = readRecord(x, p, ['protocol', 'port']);
    return {
      protocol: readEnum(field(r, 'protocol', p, mode, 'tcp'), `${p}.protocol`, PROTOCOLS),
      port: readInt(required(r, 'port', p), `${p}.port`, 1, 65535),
    };
  });
  dupCheck(ports.map((x) => `${x.protocol}/${x.port}`), `${path}.ports`, 'port');
  return { image, env, ports };
}

function readEndpoint(v: unknown, path: string, mode: Mode): EndpointSpec {
  const o = readRecord(v, path, ['mode', 'ports']);
  const emode = readEnum(field(o, 'mode', path, mode, 'vip'), `${path}.mode`, ENDPOINT_MODES);
  const raw = readArray(field(o, 'ports', path, mode, []), `${path}.ports`, MAX_PORTS);
  const ports = raw.map((x, i): PublishedPort => {
    const p = `${path}.ports[${i}]`;
    const r = readRecord(x, p, ['protocol', 'published', 'target', 'mode', 'address']);
    const protocol = readEnum(field(r, 'protocol', p, mode, 'tcp'), `${p}.protocol`, PROTOCOLS);
    const published = readInt(required(r, 'published', p), `${p}.published`, 1, 65535);
    const target = readInt(required(r, 'target', p), `${p}.target`, 1, 65535);
    const pmode = readEnum(field(r, 'mode', p, mode, 'ingress'), `${p}.mode`, PUBLISH_MODES);
    const rawAddr = field(r, 'address', p, mode, '');
    const address = rawAddr === '' ? '' : readIPv4(rawAddr, `${p}.address`);
    if (address !== '' && pmode !== 'host') fail(`${p}.address`, 'an address applies to host-mode ports only, remove it or set mode to host');
    if (pmode === 'ingress' && emode === 'dnsrr') {
      fail(`${p}.mode`, 'ingress publishing needs a VIP, set the endpoint mode to vip or publish in host mode');
    }
    return { protocol, published, target, mode: pmode, address };
  });
  dupCheck(ports.map((x) => `${x.protocol}/${x.published}${x.mode === 'host' ? `@${x.address}` : ''}`), `${path}.ports`, 'published port');
  return { mode: emode, ports };
}

const TASK_FIELDS = ['id', 'serviceId', 'slot', 'nodeId', 'desiredState', 'observedState', 'message', 'networks', ...META_FIELDS];

export function readTask(v: unknown, path: string, mode: 'input'): TaskSpec;
export function readTask(v: unknown, path: string, mode: 'stored'): Task;
export function readTask(v: unknown, path: string, mode: Mode): TaskSpec | Task {
  const o = readRecord(v, path, TASK_FIELDS);
  const id = readId(required(o, 'id', path), `${path}.id`);
  const meta = mode === 'stored' ? readMeta(o, path) : undefined;
  const serviceId = readId(required(o, 'serviceId', path), `${path}.serviceId`);
  const slot = readInt(field(o, 'slot', path, mode, 0), `${path}.slot`, 0, MAX_SLOT);
  const nodeId = readOptionalId(field(o, 'nodeId', path, mode, ''), `${path}.nodeId`);
  const desiredState = readEnum(field(o, 'desiredState', path, mode, 'running'), `${path}.desiredState`, DESIRED_TASK_STATES);
  const observedState = readEnum(field(o, 'observedState', path, mode, 'new'), `${path}.observedState`, TASK_STATES);
  const message = readString(field(o, 'message', path, mode, ''), `${path}.message`, MAX_MESSAGE_LENGTH);
  const raw = readArray(field(o, 'networks', path, mode, []), `${path}.networks`, MAX_SERVICE_NETWORKS + 1);
  const networks = raw.map((x, i) => {
    const p = `${path}.networks[${i}]`;
    const r = readRecord(x, p, ['networkId', 'address']);
    const networkId = readId(required(r, 'networkId', p), `${p}.networkId`);
    const a = field(r, 'address', p, mode, '');
    return { networkId, address: a === '' && mode === 'input' ? '' : readIPv4(a, `${p}.address`) };
  });
  dupCheck(networks.map((x) => x.networkId), `${path}.networks`, 'network');
  return deepFreeze({ id, ...meta, serviceId, slot, nodeId, desiredState, observedState, message, networks });
}

/** The snapshot form of a pool: the view plus its allocation runs. */
export interface StoredPool extends Meta {
  networkId: string;
  subnet: string;
  /** Taken offsets from the subnet base as [start, length] runs, ascending and disjoint. */
  allocated: readonly (readonly [number, number])[];
}

export function readStoredPool(v: unknown, path: string): StoredPool & { base: number; prefix: number } {
  const o = readRecord(v, path, ['id', 'networkId', 'subnet', 'allocated', ...META_FIELDS]);
  const id = required(o, 'id', path);
  const networkId = readId(required(o, 'networkId', path), `${path}.networkId`);
  if (typeof id !== 'string' || !id.startsWith(`${networkId}/`) || !/^\d$/.test(id.slice(networkId.length + 1))) {
    fail(`${path}.id`, `${describe(id)} is not a pool id, pool ids are <networkId>/<subnet index>`);
  }
  const meta = readMeta(o, path);
  const subnet = required(o, 'subnet', path) as string;
  const { base, prefix } = parseSubnet(subnet, `${path}.subnet`);
  const size = 2 ** (32 - prefix);
  const runs = readArray(required(o, 'allocated', path), `${path}.allocated`, size);
  let end = 0;
  const allocated = runs.map((r, i) => {
    const p = `${path}.allocated[${i}]`;
    if (!Array.isArray(r) || r.length !== 2) fail(p, 'expected a [start, length] pair');
    const start = readInt(r[0], `${p}[0]`, end, size - 1);
    const len = readInt(r[1], `${p}[1]`, 1, size - start);
    end = start + len + 1; // runs are maximal: the next one starts after a gap
    return [start, len] as const;
  });
  return { id, ...meta, networkId, subnet, allocated, base, prefix };
}

function dupCheck(values: readonly string[], path: string, what: string): void {
  if (values.length < 2) return;
  const seen = new Set<string>();
  for (let i = 0; i < values.length; i++) {
    if (seen.has(values[i]!)) fail(`${path}[${i}]`, `duplicate ${what} ${values[i]}, list each once`);
    seen.add(values[i]!);
  }
}

/** Reads a proposal object of a changeable kind (input mode). */
export function readInput<K extends ChangeableKind>(kind: K, v: unknown, path: string): SpecOf[K] {
  switch (kind) {
    case 'node':
      return readNode(v, path, 'input') as SpecOf[K];
    case 'network':
      return readNetwork(v, path, 'input') as SpecOf[K];
    case 'service':
      return readService(v, path, 'input') as SpecOf[K];
    case 'task':
      return readTask(v, path, 'input') as SpecOf[K];
  }
  return fail(path, `kind ${String(kind)} cannot be changed directly`);
}

/** Checks a candidate object without throwing: the validation entry point for API layers. */
export function checkInput(kind: ChangeableKind, v: unknown, path = 'object'): { ok: true; value: SpecOf[ChangeableKind] } | { ok: false; error: StoreInvalidError } {
  try {
    return { ok: true, value: readInput(kind, v, path) };
  } catch (e) {
    if (e instanceof StoreInvalidError) return { ok: false, error: e };
    throw e;
  }
}

/**
 * A fresh object id from 16 random bytes (the caller's RNG: the store never makes randomness):
 * 26 lower-case base-32 characters, like swarm's identity.NewID.
 */
export function newObjectId(random16: Uint8Array): string {
  if (random16.length < 16) throw new StoreInvalidError('random16', 'needs 16 random bytes, pass a longer buffer');
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let out = '';
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < 16; i++) {
    acc = (acc << 8) | random16[i]!;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += alphabet[(acc << (5 - bits)) & 31];
  return out;
}
