import { LockstepError } from '@lockstep/interface'
import type { RandomSource, ReplicaId } from '@lockstep/interface'
import { DEFAULT_MAX_FRAME_BYTES } from './frame-codec'

/** A shared secret: a string (UTF-8) or raw bytes, at least 16 bytes long. */
export type Secret = string | Uint8Array

/** PEM text or bytes, as node:tls accepts them. */
export type Pem = string | Uint8Array

/** Mutual TLS material: the cluster CA and this node's certificate and key. */
export interface TlsCredentials {
  /** The cluster CA certificate(s) every peer certificate must chain to. */
  readonly ca: Pem | readonly Pem[]
  /** This node's certificate: subject CN = node id, OU = `replica` or `client`. */
  readonly cert: Pem
  /** This node's private key. */
  readonly key: Pem
  /**
   * Certificate revocation lists (PEM, `-----BEGIN X509 CRL-----`), one signed by each CA of `ca`: a peer whose
   * certificate a list names is refused in the handshake. Optional; once given, every CA needs its list, and a list
   * past its next update makes node:tls refuse every certificate of its CA (renew it in time).
   */
  readonly crl?: Pem | readonly Pem[]
}

/** How replicas authenticate each other: a shared cluster secret (HMAC) or mutual TLS. */
export type ReplicaAuth = { readonly secret: Secret } | { readonly tls: TlsCredentials }

/** Where a replica listens. */
export interface PeerAddress {
  readonly id: ReplicaId
  readonly host: string
  /** 1 to 65535; 0 means "not known yet": nothing is dialled until {@link TcpTransport.setPeerAddress} sets it. */
  readonly port: number
}

/** Limits that keep a slow, broken or hostile peer from exhausting the process. All optional. */
export interface TransportLimits {
  /** Largest frame payload accepted or sent. Default 16 MiB. */
  readonly maxFrameBytes?: number
  /**
   * Largest message between replicas, in encoded bytes. One larger than a frame (a view change carrying several
   * large requests, say) is sent in parts of at most 1 MiB and put together by the receiver. Messages to and
   * from clients always fit in one frame. Default 256 MiB.
   */
  readonly maxPeerMessageBytes?: number
  /** Largest frame accepted before the peer has authenticated. Default 64 KiB. */
  readonly maxHandshakeFrameBytes?: number
  /** Connect, TLS, hello and authentication must finish within this. Default 10 s. */
  readonly handshakeTimeoutMs?: number
  /** A connection that receives nothing for this long is closed; pings are sent after a third of it. Default 60 s. */
  readonly idleTimeoutMs?: number
  /**
   * Simultaneous inbound connections accepted from one remote IP address, authenticated or not. When full, a new
   * connection takes the place of the oldest unfinished handshake from that address; it is refused only when
   * every connection from the address has authenticated (or all handshakes are younger than 1 s). Default 64.
   */
  readonly maxConnectionsPerAddress?: number
  /**
   * Simultaneous unfinished handshakes (connected, not yet authenticated) from one remote IP address, so that idle
   * unauthenticated connections cannot use up `maxConnectionsPerAddress` and lock out the clients behind that
   * address. When full, a new connection takes the place of the oldest of them (once it is 1 s old).
   * Default: a quarter of `maxConnectionsPerAddress`, at least 16.
   */
  readonly maxPendingHandshakesPerAddress?: number
  /** Simultaneous unfinished handshakes from all addresses together; when full, as above. Default 1,024. */
  readonly maxPendingHandshakes?: number
  /**
   * Simultaneous inbound connections from all addresses together, authenticated or not; when full, as above.
   * Keep it above `maxClientSessions` plus the replicas, or connected clients can keep a replica out. Default 12,000.
   */
  readonly maxConnections?: number
  /** Encoded bytes of unacknowledged messages held per replica link; beyond it `send` throws BACKPRESSURE. Default 64 MiB. */
  readonly maxBufferedBytesPerPeer?: number
  /**
   * Characters of large strings (64 Ki characters or more) kept from each replica's messages, so that a replica
   * sends a large value (a 10 MB request, say) to another once, however many messages carry it: a view change
   * repeats the requests it holds in each promise, accept and commit. The peer refers to a kept string in a few
   * bytes. 0 keeps none (every message carries its strings whole). Default 64 Mi characters.
   */
  readonly sharedStringCharsPerPeer?: number
  /** Encoded bytes of unacknowledged messages held per client; beyond it the client's session is dropped. Default 8 MiB. */
  readonly maxBufferedBytesPerClient?: number
  /**
   * Client sessions held by one replica (connected or retained). When full, a new client takes the place of the
   * one disconnected the longest; it is refused only when every session is connected. Default 10,000.
   */
  readonly maxClientSessions?: number
  /** How long a disconnected client's session is kept so it can resume. Default 30 s. */
  readonly clientSessionRetentionMs?: number
  /** Bytes handed to the kernel socket before waiting for it to drain. Default 1 MiB. */
  readonly socketHighWaterBytes?: number
}

/** Reconnection with exponential backoff and jitter. All optional. */
export interface ReconnectOptions {
  /** First delay after a failure. Default 100 ms. */
  readonly initialDelayMs?: number
  /** Largest delay. Default 10 s. */
  readonly maxDelayMs?: number
  /** Growth factor per consecutive failure. Default 2. */
  readonly multiplier?: number
  /** Fraction of each delay that is randomized: the delay is d × (1 − jitter × r), r in [0, 1). Default 0.5. */
  readonly jitter?: number
}

/** Options shared by the replica and the client endpoint. */
export interface CommonOptions {
  /** Must equal the cluster id of every peer; a node of another cluster is refused. */
  readonly clusterId: string
  readonly limits?: TransportLimits
  readonly reconnect?: ReconnectOptions
  /** Randomness for reconnect jitter; default Math.random. */
  readonly random?: RandomSource
}

/**
 * Options of {@link tcp}: a replica's endpoint. Its id, timers and logger are not options: they are the
 * components the host passes (`self`, `scheduler`, `log`).
 */
export interface TcpTransportOptions extends CommonOptions {
  /** Where to listen; port 0 picks a free port (read it from `bind()`). */
  readonly listen: { readonly host: string; readonly port: number }
  /** Every replica of the cluster (this one may be included; it is ignored). */
  readonly peers: readonly PeerAddress[]
  readonly auth: ReplicaAuth
  /**
   * Accept clients. Without TLS, `secret` is required and must differ from the
   * replica secret. With TLS, clients present a certificate (CN = client id,
   * OU = `client`) and, if `secret` is set, must prove it too. Absent: clients are refused.
   */
  readonly clients?: { readonly secret?: Secret }
  /**
   * How long an acknowledgement owed to another replica may wait for a message going back to that replica to ride
   * on (in the same socket write) before it is written alone. Set it a little above the longest time an idle
   * replica goes without sending its peers anything (its orderer's heartbeat interval plus the engine's tick), so
   * that idle links acknowledge on heartbeats instead of waking both ends for an acknowledgement of its own;
   * `lockstep replica` derives it from its timeouts. Under load it changes nothing: acknowledgements ride on data,
   * and go at once after 8 socket reads. 0 acknowledges at the end of every socket read. Default 75 ms.
   */
  readonly peerAckDelayMs?: number
}

/** Options of {@link tcpClient}: a client's endpoint. Its id, timers and logger come from the client's components. */
export interface TcpClientTransportOptions extends CommonOptions {
  /** The replicas to reach. */
  readonly replicas: readonly PeerAddress[]
  /** The client secret, a client certificate (mutual TLS), or both when the replicas require both. */
  readonly auth: { readonly secret?: Secret; readonly tls?: TlsCredentials }
  /**
   * Share one connection to each replica with the other clients of this process whose options agree (cluster id,
   * replicas, secret, limits, reconnect), as gRPC's clients share their channels: many clients in one process
   * then cost the replicas one connection, one socket write per batch of their messages, and one read. Needs
   * `auth.secret` alone (with TLS each client proves its id by its certificate, over its own connection).
   * Default false: a connection of the client's own.
   */
  readonly shareConnections?: boolean
}

/** Every limit, with defaults filled in. */
export type ResolvedLimits = { readonly [K in keyof TransportLimits]-?: number }

/** Every reconnect setting, with defaults filled in. */
export type ResolvedReconnect = { readonly [K in keyof ReconnectOptions]-?: number }

const MiB = 1024 * 1024

/** The defaults of {@link TransportLimits}. */
export const DEFAULT_LIMITS: ResolvedLimits = {
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxPeerMessageBytes: 256 * MiB,
  maxHandshakeFrameBytes: 64 * 1024,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  maxConnectionsPerAddress: 64,
  maxPendingHandshakesPerAddress: 16,
  maxPendingHandshakes: 1024,
  maxConnections: 12_000,
  maxBufferedBytesPerPeer: 64 * MiB,
  maxBufferedBytesPerClient: 8 * MiB,
  sharedStringCharsPerPeer: 64 * MiB,
  maxClientSessions: 10_000,
  clientSessionRetentionMs: 30_000,
  socketHighWaterBytes: 1 * MiB,
}

/** The defaults of {@link ReconnectOptions}. */
export const DEFAULT_RECONNECT: ResolvedReconnect = {
  initialDelayMs: 100,
  maxDelayMs: 10_000,
  multiplier: 2,
  jitter: 0.5,
}

/** Smallest accepted secret, in bytes. */
export const MIN_SECRET_BYTES = 16

/** Fills in and checks limits. */
export function resolveLimits(limits: TransportLimits | undefined, where: string): ResolvedLimits {
  const given = definedOnly(limits ?? {})
  const resolved = { ...DEFAULT_LIMITS, ...given }
  if (given.maxPendingHandshakesPerAddress === undefined && typeof resolved.maxConnectionsPerAddress === 'number') {
    // Many clients behind one address (a local cluster, a NAT) connect at once: let a quarter of them handshake together.
    resolved.maxPendingHandshakesPerAddress = Math.max(DEFAULT_LIMITS.maxPendingHandshakesPerAddress, Math.floor(resolved.maxConnectionsPerAddress / 4))
  }
  for (const [name, value] of Object.entries(resolved)) {
    if (name === 'sharedStringCharsPerPeer' && value === 0) continue
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      invalid(where, `limits.${name} must be a positive number, not ${String(value)}`)
    }
  }
  if (resolved.maxFrameBytes > 0xffffffff) invalid(where, 'limits.maxFrameBytes must be at most 4 GiB - 1 (the frame length is 32 bits)')
  return resolved
}

/** Fills in and checks reconnect settings. */
export function resolveReconnect(reconnect: ReconnectOptions | undefined, where: string): ResolvedReconnect {
  const resolved = { ...DEFAULT_RECONNECT, ...definedOnly(reconnect ?? {}) }
  if (!(resolved.initialDelayMs >= 0)) invalid(where, 'reconnect.initialDelayMs must be >= 0')
  if (!(resolved.maxDelayMs >= resolved.initialDelayMs)) invalid(where, 'reconnect.maxDelayMs must be >= initialDelayMs')
  if (!(resolved.multiplier >= 1)) invalid(where, 'reconnect.multiplier must be >= 1')
  if (!(resolved.jitter >= 0 && resolved.jitter <= 1)) invalid(where, 'reconnect.jitter must be between 0 and 1')
  return resolved
}

/** Checks `peerAckDelayMs` and fills in its default. */
export function resolvePeerAckDelay(peerAckDelayMs: number | undefined, defaultMs: number, where: string): number {
  const resolved = peerAckDelayMs ?? defaultMs
  if (typeof resolved !== 'number' || !Number.isFinite(resolved) || resolved < 0) {
    invalid(where, `peerAckDelayMs must be a number of milliseconds >= 0, not ${String(resolved)}`)
  }
  return resolved
}

/** Turns a secret into bytes and checks its length. */
export function secretBytes(secret: Secret, what: string, where: string): Buffer {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret)
  if (bytes.length < MIN_SECRET_BYTES) {
    invalid(where, `${what} must be at least ${MIN_SECRET_BYTES} bytes; generate one with \`openssl rand -hex 32\``)
  }
  return bytes
}

/** Checks a node or cluster id. */
export function checkId(value: unknown, what: string, where: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) {
    invalid(where, `${what} must be a string of 1 to 256 characters, not ${JSON.stringify(value)}`)
  }
  return value
}

/** Checks a list of replica addresses; returns them by id. */
export function checkPeers(peers: readonly PeerAddress[] | undefined, what: string, where: string): Map<ReplicaId, PeerAddress> {
  if (!Array.isArray(peers)) invalid(where, `${what} must be an array of { id, host, port }`)
  const byId = new Map<ReplicaId, PeerAddress>()
  for (const peer of peers) {
    const id = checkId(peer?.id, `${what}[].id`, where)
    if (byId.has(id)) invalid(where, `${what} lists replica "${id}" twice`)
    checkAddress(peer.host, peer.port, `${what} entry "${id}"`, where)
    byId.set(id, { id, host: peer.host, port: peer.port })
  }
  return byId
}

/** Checks a host and port (port 0 allowed). */
export function checkAddress(host: unknown, port: unknown, what: string, where: string): void {
  if (typeof host !== 'string' || host.length === 0) invalid(where, `${what}: host must be a non-empty string`)
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    invalid(where, `${what}: port must be an integer from 0 to 65535, not ${String(port)}`)
  }
}

/** Throws INVALID_CONFIG. */
export function invalid(where: string, problem: string): never {
  throw new LockstepError('INVALID_CONFIG', `${where}: ${problem}.`)
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
