import { createHash, randomBytes } from 'node:crypto'
import { LockstepError } from '@lockstep/interface'
import type { ClientComponents, ClientId, ClientTransport, ClientTransportEvents, Logger, ReplicaId, Scheduler } from '@lockstep/interface'
import { Backoff, mathRandom } from './backoff'
import type { Connection } from './connection'
import { Dialer } from './dialer'
import { resolveReconnect } from './options'
import type { PeerAddress, ResolvedLimits, TcpClientTransportOptions } from './options'
import { ReliableLink } from './reliable-link'

/**
 * Connections shared by the clients of one process (`tcpClient({ shareConnections: true })`), the way gRPC's
 * channels share one HTTP/2 connection per server among a process's clients: one reliable link to each replica,
 * whose messages are `[client id, message]` both ways. A replica hands each message up as its client's and sends
 * replies back over the connection the client last spoke on. The connections open when the first client using
 * them starts and close when the last one stops.
 *
 * Clients share connections when their options agree on the cluster id, the replicas' addresses, the secret, the
 * limits and the reconnect settings; the first client's scheduler and logger serve the shared connections.
 * Authentication is by the client secret alone (it lets a connection speak for any client): with TLS each client
 * proves its own id by its certificate, over its own connection.
 */
export function sharedClientEndpoint(
  options: TcpClientTransportOptions,
  components: ClientComponents,
  self: ClientId,
  where: string,
  settings: { readonly limits: ResolvedLimits; readonly secret: Buffer; readonly replicas: ReadonlyMap<ReplicaId, PeerAddress> },
): ClientTransport {
  const key = poolKey(options, settings)
  let pool = pools.get(key)
  if (pool === undefined) {
    pool = new SharedConnections(key, options, settings.limits, settings.secret, settings.replicas, components.scheduler, components.log)
    pools.set(key, pool)
  }
  return new SharedClientEndpoint(pool, self, where)
}

/** The pools of this process, by what their clients must agree on. */
const pools = new Map<string, SharedConnections>()

function poolKey(options: TcpClientTransportOptions, settings: { readonly limits: ResolvedLimits; readonly secret: Buffer; readonly replicas: ReadonlyMap<ReplicaId, PeerAddress> }): string {
  const secret = createHash('sha256').update(settings.secret).digest('hex')
  const replicas = [...settings.replicas.values()].map((r) => [r.id, r.host, r.port])
  return JSON.stringify([options.clusterId, replicas, secret, settings.limits, resolveReconnect(options.reconnect, 'shared')])
}

interface SharedReplica {
  readonly address: PeerAddress
  readonly link: ReliableLink
  dialer: Dialer | undefined
}

interface Member {
  readonly onMessage: (from: ReplicaId, message: unknown) => void
  readonly events: ClientTransportEvents | undefined
}

class SharedConnections {
  /** The id this process announces to the replicas for its shared connections (a new one each time they open). */
  private id = ''
  private readonly members = new Map<ClientId, Member>()
  private readonly replicas = new Map<ReplicaId, SharedReplica>()
  private readonly connections = new Set<Connection>()
  /** Links opened at least once since the connections opened (a client that joins later hears `connected` at once). */
  private readonly opened = new Set<ReplicaId>()
  private closing: Promise<void> = Promise.resolve()

  constructor(
    private readonly key: string,
    private readonly options: TcpClientTransportOptions,
    private readonly limits: ResolvedLimits,
    private readonly secret: Buffer,
    private readonly addresses: ReadonlyMap<ReplicaId, PeerAddress>,
    private readonly scheduler: Scheduler,
    private readonly logger: Logger,
  ) {}

  has(client: ClientId): boolean {
    return this.members.has(client)
  }

  replicaIds(): string {
    return [...this.addresses.keys()].join(', ')
  }

  knows(replica: ReplicaId): boolean {
    return this.addresses.has(replica)
  }

  /** Adds a started client; the first one opens the connections (after the last close finished). */
  async join(client: ClientId, member: Member): Promise<void> {
    this.members.set(client, member)
    if (!pools.has(this.key)) pools.set(this.key, this)
    await this.closing
    if (this.members.get(client) === member && this.replicas.size === 0) this.open()
    for (const replica of this.opened) if (this.replicas.get(replica)?.link.isOpen) member.events?.connected?.(replica)
  }

  send(client: ClientId, to: ReplicaId, message: unknown): void {
    const replica = this.replicas.get(to)
    if (replica === undefined) throw new LockstepError('STOPPED', `shared client connections: not open (client ${JSON.stringify(client)} is not started)`)
    replica.link.send([client, message])
  }

  /** Removes a client; the last one closes the connections. */
  leave(client: ClientId): Promise<void> {
    this.members.delete(client)
    if (this.members.size > 0) return Promise.resolve()
    if (pools.get(this.key) === this) pools.delete(this.key)
    this.closing = this.close()
    return this.closing
  }

  private open(): void {
    this.id = `shared-${randomBytes(8).toString('hex')}`
    this.opened.clear()
    const settings = resolveReconnect(this.options.reconnect, 'shared client connections')
    for (const address of this.addresses.values()) {
      const link = new ReliableLink({
        label: `shared clients ${this.id} -> ${address.id}`,
        maxBufferedBytes: this.limits.maxBufferedBytesPerPeer,
        maxFrameBytes: this.limits.maxFrameBytes,
        logger: this.logger,
        scheduler: this.scheduler,
        deliver: (message) => this.deliver(address.id, message),
      })
      const replica: SharedReplica = { address, link, dialer: undefined }
      this.replicas.set(address.id, replica)
      replica.dialer = new Dialer({
        selfId: this.id,
        role: 'shared-clients',
        clusterId: this.options.clusterId,
        target: () => address,
        tls: undefined,
        secret: this.secret,
        link,
        limits: this.limits,
        logger: this.logger,
        scheduler: this.scheduler,
        backoff: new Backoff(settings, this.options.random ?? mathRandom),
        track: (connection) => {
          this.connections.add(connection)
          connection.whenClosed(() => this.connections.delete(connection))
        },
        refused: (error) => {
          for (const member of this.members.values()) member.events?.refused?.(address.id, error)
        },
        connected: () => {
          this.opened.add(address.id)
          for (const member of this.members.values()) member.events?.connected?.(address.id)
        },
      })
      replica.dialer.start()
    }
  }

  private deliver(from: ReplicaId, message: unknown): void {
    const client = Array.isArray(message) && message.length === 2 ? (message[0] as unknown) : undefined
    if (typeof client !== 'string') {
      this.logger.warn(`lockstep tcp: shared client connection ${this.id}: replica "${from}" sent a message that is not [client id, message]; it is dropped`)
      return
    }
    // A client that stopped meanwhile: its reply is dropped, as on a connection of its own that closed.
    this.members.get(client)?.onMessage(from, (message as unknown[])[1])
  }

  private async close(): Promise<void> {
    for (const replica of this.replicas.values()) {
      replica.dialer?.stop()
      replica.link.close('shared client connections closing: their last client stopped')
    }
    this.replicas.clear()
    for (const connection of this.connections) connection.close('shared client connections closing', 'debug')
    await Promise.all([...this.connections].map((c) => c.closed))
  }
}

/** One client's endpoint on its process's shared connections. */
class SharedClientEndpoint implements ClientTransport {
  private phase: 'created' | 'started' | 'stopped' = 'created'
  private stopping: Promise<void> | undefined

  constructor(
    private readonly pool: SharedConnections,
    readonly self: ClientId,
    private readonly where: string,
  ) {}

  async start(onMessage: (from: ReplicaId, message: unknown) => void, events?: ClientTransportEvents): Promise<void> {
    if (this.phase === 'stopped') throw new LockstepError('STOPPED', `${this.where}: start() after stop(); create a new transport.`)
    if (this.phase === 'started') throw new LockstepError('INVALID_CONFIG', `${this.where}: start() was called twice.`)
    if (this.pool.has(this.self)) {
      throw new LockstepError(
        'INVALID_CONFIG',
        `${this.where}: another started client of this process uses the id ${JSON.stringify(this.self)} on the same shared connections; each client needs its own id`,
      )
    }
    this.phase = 'started'
    await this.pool.join(this.self, { onMessage, events })
  }

  send(to: ReplicaId, message: unknown): void {
    if (this.phase !== 'started') throw new LockstepError('STOPPED', `${this.where}: send() ${this.phase === 'stopped' ? 'after stop()' : 'before start()'}.`)
    if (!this.pool.knows(to)) {
      throw new LockstepError(
        'UNKNOWN_PEER',
        `${this.where}: replica ${JSON.stringify(to)} is not among its replicas (${this.pool.replicaIds()}); add it to \`replicas\` or check the id.`,
        { peer: to },
      )
    }
    this.pool.send(this.self, to, message)
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const wasStarted = this.phase === 'started'
      this.phase = 'stopped'
      if (wasStarted) await this.pool.leave(this.self)
    })()
    return this.stopping
  }
}
