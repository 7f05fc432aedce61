import { LockstepError } from '@lockstep/interface'
import type { ClientComponents, ClientId, ClientTransport, ClientTransportEvents, ClientTransportFactory, Logger, ReplicaId, Scheduler } from '@lockstep/interface'
import type { RevocationList } from './crl'
import { Backoff, mathRandom } from './backoff'
import type { Connection } from './connection'
import { Dialer } from './dialer'
import { checkId, checkPeers, invalid, resolveLimits, resolveReconnect, secretBytes } from './options'
import type { Pem, PeerAddress, ResolvedLimits, ResolvedReconnect, TcpClientTransportOptions, TlsCredentials } from './options'
import { ReliableLink } from './reliable-link'
import { sharedClientEndpoint } from './shared-client-connections'
import { checkTlsRevocationLists, closeRevoked, withRevocationLists } from './tls-options'

/**
 * A client's TCP (or TLS) transport: `tcpClient(options)` is the factory a
 * `LockstepClient` takes, and the client builds the endpoint with its own id,
 * scheduler and logger. One reliable FIFO link to each configured replica,
 * dialled at `start` and re-dialled with backoff after any disconnect. `send`
 * to a replica that is not connected yet buffers (bounded by
 * limits.maxBufferedBytesPerPeer). It tells the client of refusals (a wrong
 * secret or certificate, another cluster id, connection refused) and of
 * authenticated connections through the events `start` takes.
 */
export function tcpClient(options: TcpClientTransportOptions): TcpClientTransportFactory {
  /** The endpoints it built that have not stopped. */
  const endpoints = new Set<TcpClientEndpoint>()
  /** The credentials with the lists `setRevocationLists` put in place, once it has. */
  let replaced: TlsCredentials | undefined
  const factory = (components: ClientComponents): ClientTransport => {
    const resolved = resolveClientOptions(options, components)
    if (options.shareConnections !== true) {
      const endpoint = new TcpClientEndpoint(options, components, { ...resolved, tls: replaced ?? resolved.tls }, () => endpoints.delete(endpoint))
      endpoints.add(endpoint)
      return endpoint
    }
    return sharedClientEndpoint(options, components, resolved.self, resolved.where, { ...resolved, secret: resolved.secret! })
  }
  return Object.assign(factory, {
    setRevocationLists(crl: Pem | readonly Pem[] | undefined): number {
      const { tls, lists } = withRevocationLists(replaced ?? options?.auth?.tls, crl, 'tcpClient(…).setRevocationLists')
      replaced = tls
      let closed = 0
      for (const endpoint of endpoints) closed += endpoint.setRevocationLists(tls, lists)
      return closed
    },
  })
}

/**
 * What {@link tcpClient} returns: the factory a `LockstepClient` takes, which can also replace the certificate
 * revocation lists of its clients while they run (a long-running program that reads renewed lists, on SIGHUP say).
 */
export interface TcpClientTransportFactory extends ClientTransportFactory {
  /**
   * Replaces the revocation lists of `auth.tls` (`crl`; undefined: none) for every endpoint this factory built and
   * builds: new connections check the replicas' certificates against them, and each open connection to a replica
   * whose certificate they name is closed (its reconnection then fails the handshake, `CERT_REVOKED`). Returns how
   * many connections it closed. Throws `INVALID_CONFIG`, changing nothing, without `auth.tls` or when the lists do
   * not fit (each well-formed and signed by a CA of `ca`, every CA with one).
   */
  setRevocationLists(crl: Pem | readonly Pem[] | undefined): number
}

/** A client endpoint's options, checked (INVALID_CONFIG naming what is wrong) and filled in. */
interface ResolvedClientOptions {
  readonly where: string
  readonly self: ClientId
  readonly limits: ResolvedLimits
  readonly reconnect: ResolvedReconnect
  readonly secret: Buffer | undefined
  readonly tls: TlsCredentials | undefined
  readonly replicas: ReadonlyMap<ReplicaId, PeerAddress>
}

function resolveClientOptions(options: TcpClientTransportOptions, components: ClientComponents): ResolvedClientOptions {
  const where = `tcpClient(${JSON.stringify(components?.self)})`
  const self = checkId(components?.self, 'self', where)
  if (typeof options !== 'object' || options === null) invalid(where, 'options must be an object such as { clusterId, replicas, auth }')
  checkId(options.clusterId, 'clusterId', where)
  const limits = resolveLimits(options.limits, where)
  const reconnect = resolveReconnect(options.reconnect, where)
  const auth = options.auth
  if (options.shareConnections === true) {
    if (auth?.tls !== undefined) {
      invalid(where, 'shareConnections needs the client secret alone: with TLS each client proves its own id by its certificate, over its own connection')
    }
    if (auth?.secret === undefined) invalid(where, 'shareConnections needs the client secret (`auth.secret`)')
  } else if (auth === undefined || (auth.secret === undefined && auth.tls === undefined)) {
    invalid(where, 'auth needs the client secret (`secret`), a client certificate (`tls`), or both')
  }
  const secret = auth.secret === undefined ? undefined : secretBytes(auth.secret, 'auth.secret', where)
  if (auth.tls !== undefined && (!auth.tls.ca || !auth.tls.cert || !auth.tls.key)) invalid(where, 'auth.tls needs ca, cert and key')
  if (auth.tls !== undefined) checkTlsRevocationLists(auth.tls, where)
  const replicas = checkPeers(options.replicas, 'replicas', where)
  if (replicas.size === 0) invalid(where, 'replicas must list at least one replica')
  for (const address of replicas.values()) {
    if (address.port === 0) invalid(where, `replicas entry "${address.id}" needs a port`)
  }
  return { where, self, limits, reconnect, secret, tls: auth.tls, replicas }
}

interface ReplicaState {
  readonly address: PeerAddress
  readonly link: ReliableLink
  dialer: Dialer | undefined
}

class TcpClientEndpoint implements ClientTransport {
  readonly self: ClientId
  private readonly where: string
  private readonly replicas = new Map<ReplicaId, ReplicaState>()
  private readonly connections = new Set<Connection>()
  private readonly limits: ResolvedLimits
  private readonly reconnect: ResolvedReconnect
  private readonly logger: Logger
  private readonly scheduler: Scheduler
  private readonly secret: Buffer | undefined
  private tls: TlsCredentials | undefined
  private onMessage: ((from: ReplicaId, message: unknown) => void) | undefined
  private phase: 'created' | 'started' | 'stopped' = 'created'
  private stopping: Promise<void> | undefined

  constructor(
    private readonly options: TcpClientTransportOptions,
    components: ClientComponents,
    resolved: ResolvedClientOptions,
    private readonly onStop: () => void,
  ) {
    this.where = resolved.where
    this.self = resolved.self
    this.limits = resolved.limits
    this.reconnect = resolved.reconnect
    this.logger = components.log
    this.scheduler = components.scheduler
    this.secret = resolved.secret
    this.tls = resolved.tls
    for (const address of resolved.replicas.values()) {
      const link = new ReliableLink({
        label: `client ${this.self} -> ${address.id}`,
        maxBufferedBytes: this.limits.maxBufferedBytesPerPeer,
        maxFrameBytes: this.limits.maxFrameBytes,
        logger: this.logger,
        scheduler: this.scheduler,
        deliver: (message) => this.onMessage!(address.id, message),
      })
      this.replicas.set(address.id, { address, link, dialer: undefined })
    }
  }

  async start(onMessage: (from: ReplicaId, message: unknown) => void, events?: ClientTransportEvents): Promise<void> {
    if (this.phase === 'stopped') throw new LockstepError('STOPPED', `${this.where}: start() after stop(); create a new transport.`)
    if (this.phase === 'started') throw new LockstepError('INVALID_CONFIG', `${this.where}: start() was called twice.`)
    this.onMessage = onMessage
    this.phase = 'started'
    for (const replica of this.replicas.values()) {
      replica.dialer = new Dialer({
        selfId: this.self,
        role: 'client',
        clusterId: this.options.clusterId,
        target: () => replica.address,
        tls: () => this.tls,
        secret: this.secret,
        link: replica.link,
        limits: this.limits,
        logger: this.logger,
        scheduler: this.scheduler,
        backoff: new Backoff(this.reconnect, this.options.random ?? mathRandom),
        track: (connection) => {
          this.connections.add(connection)
          connection.whenClosed(() => this.connections.delete(connection))
        },
        refused: (error) => {
          if (this.phase === 'started') events?.refused?.(replica.address.id, error)
        },
        connected: () => {
          if (this.phase === 'started') events?.connected?.(replica.address.id)
        },
      })
      replica.dialer.start()
    }
  }

  send(to: ReplicaId, message: unknown): void {
    if (this.phase === 'stopped') throw new LockstepError('STOPPED', `${this.where}: send() after stop().`)
    const replica = this.replicas.get(to)
    if (replica === undefined) {
      throw new LockstepError(
        'UNKNOWN_PEER',
        `${this.where}: replica ${JSON.stringify(to)} is not among its replicas (${[...this.replicas.keys()].join(', ')}); add it to \`replicas\` or check the id.`,
        { peer: to },
      )
    }
    replica.link.send(message)
  }

  /** New credentials (their revocation lists `lists`, already checked) for the next handshakes; closes the connections they revoke. */
  setRevocationLists(tls: TlsCredentials, lists: readonly RevocationList[]): number {
    this.tls = tls
    return closeRevoked(this.connections, tls, lists)
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.phase = 'stopped'
      this.onStop()
      for (const replica of this.replicas.values()) {
        replica.dialer?.stop()
        replica.link.close('client transport stopping')
      }
      for (const connection of this.connections) connection.close('client transport stopping', 'debug')
      await Promise.all([...this.connections].map((c) => c.closed))
    })()
    return this.stopping
  }
}
