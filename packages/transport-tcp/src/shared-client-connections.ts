import { createHash, randomBytes } from 'node:crypto'
import { LockstepError, realScheduler } from '@lockstep/interface'
import type { ClientComponents, ClientId, ClientTransport, ClientTransportEvents, Logger, ReplicaId, Scheduler } from '@lockstep/interface'
import { Backoff, mathRandom } from './backoff'
import type { Connection } from './connection'
import { Dialer } from './dialer'
import type { PeerAddress, ResolvedLimits, ResolvedReconnect, TcpClientTransportOptions } from './options'
import { ReliableLink } from './reliable-link'

/** What the clients sharing connections must agree on, besides their options' fingerprint. */
interface SharedSettings {
  readonly limits: ResolvedLimits
  readonly reconnect: ResolvedReconnect
  readonly secret: Buffer
  readonly replicas: ReadonlyMap<ReplicaId, PeerAddress>
}

/**
 * Connections shared by the clients of one process (`tcpClient({ shareConnections: true })`), the way gRPC's
 * channels share one HTTP/2 connection per server among a process's clients: one reliable link to each replica,
 * whose messages are `[client id, message]` both ways. A client announces itself to every replica (`[client id]`)
 * when it starts and whenever a link opens, so each replica can send it notices at once, as it could a client with
 * a connection of its own. A replica hands each message up as its client's and sends replies back over the
 * connection the client last spoke on. The connections open when the first client using them starts and close
 * when the last one stops.
 *
 * Clients share connections when their options agree on the cluster id, the replicas' addresses, the secret, the
 * limits and the reconnect settings. The shared connections run on real time (sockets do), whatever scheduler a
 * client was given, and log to the logger of the client that opened them. Authentication is by the client secret alone (it lets a connection speak for any client):
 * with TLS each client proves its own id by its certificate, over its own connection.
 */
export function sharedClientEndpoint(options: TcpClientTransportOptions, components: ClientComponents, self: ClientId, where: string, settings: SharedSettings): ClientTransport {
  return new SharedClientEndpoint(poolKey(options, settings), options, settings, components, self, where)
}

/** The open pools of this process, by what their clients' options must agree on. */
const pools = new Map<string, SharedConnections>()

function poolKey(options: TcpClientTransportOptions, settings: SharedSettings): string {
  const secret = createHash('sha256').update(settings.secret).digest('hex')
  const replicas = [...settings.replicas.values()].map((r) => [r.id, r.host, r.port]).sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1))
  return JSON.stringify([options.clusterId, replicas, secret, settings.limits, settings.reconnect])
}

/** The open pool of `key`, made when there is none. */
function poolFor(key: string, options: TcpClientTransportOptions, settings: SharedSettings, log: Logger): SharedConnections {
  let pool = pools.get(key)
  if (pool === undefined) {
    const made: SharedConnections = new SharedConnections(options, settings, realScheduler(), log, () => {
      if (pools.get(key) === made) pools.delete(key)
    })
    pool = made
    pools.set(key, pool)
  }
  return pool
}

interface SharedReplica {
  readonly address: PeerAddress
  readonly link: ReliableLink
  readonly dialer: Dialer
}

interface Member {
  readonly onMessage: (from: ReplicaId, message: unknown) => void
  readonly events: ClientTransportEvents | undefined
}

class SharedConnections {
  /** The id this process announces to the replicas for its shared connections. */
  private readonly id = `shared-${randomBytes(8).toString('hex')}`
  private readonly members = new Map<ClientId, Member>()
  private readonly replicas = new Map<ReplicaId, SharedReplica>()
  private readonly connections = new Set<Connection>()
  /** Replicas whose link is open now (a client that joins hears `connected` for them at once). */
  private readonly open = new Set<ReplicaId>()
  private closed = false

  constructor(
    private readonly options: TcpClientTransportOptions,
    private readonly settings: SharedSettings,
    private readonly scheduler: Scheduler,
    private readonly logger: Logger,
    private readonly forget: () => void,
  ) {
    for (const address of settings.replicas.values()) {
      const link: ReliableLink = new ReliableLink({
        label: `shared clients ${this.id} -> ${address.id}`,
        maxBufferedBytes: settings.limits.maxBufferedBytesPerPeer,
        maxFrameBytes: settings.limits.maxFrameBytes,
        logger,
        scheduler,
        deliver: (message) => this.deliver(address.id, message),
        // A replica that restarted knows none of the clients: each says again that it speaks here.
        onOpen: () => {
          for (const client of this.members.keys()) link.send([client])
        },
      })
      const dialer = new Dialer({
        selfId: this.id,
        role: 'shared-clients',
        clusterId: options.clusterId,
        target: () => address,
        tls: () => undefined,
        secret: settings.secret,
        link,
        limits: settings.limits,
        logger,
        scheduler,
        backoff: new Backoff(settings.reconnect, options.random ?? mathRandom),
        track: (connection) => {
          this.connections.add(connection)
          connection.whenClosed(() => {
            this.connections.delete(connection)
            if (link.connection === undefined) this.open.delete(address.id)
          })
        },
        refused: (error) => {
          for (const member of this.members.values()) member.events?.refused?.(address.id, error)
        },
        connected: () => {
          this.open.add(address.id)
          for (const member of this.members.values()) member.events?.connected?.(address.id)
        },
      })
      this.replicas.set(address.id, { address, link, dialer })
    }
  }

  has(client: ClientId): boolean {
    return this.members.has(client)
  }

  /** Adds a started client (the first one dials the replicas) and announces it to every replica. */
  join(client: ClientId, member: Member): void {
    const first = this.members.size === 0
    this.members.set(client, member)
    if (first) for (const replica of this.replicas.values()) replica.dialer.start()
    for (const replica of this.replicas.values()) replica.link.send([client])
    for (const replica of this.open) member.events?.connected?.(replica)
  }

  send(client: ClientId, to: ReplicaId, message: unknown): void {
    this.replicas.get(to)!.link.send([client, message])
  }

  /** Removes a client; the last one closes the connections, and the pool is done (a later client makes a new one). */
  async leave(client: ClientId): Promise<void> {
    this.members.delete(client)
    if (this.members.size > 0 || this.closed) return
    this.closed = true
    this.forget()
    for (const replica of this.replicas.values()) {
      replica.dialer.stop()
      replica.link.close('shared client connections closing: their last client stopped')
    }
    for (const connection of this.connections) connection.close('shared client connections closing', 'debug')
    await Promise.all([...this.connections].map((c) => c.closed))
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
}

/** One client's endpoint on its process's shared connections. */
class SharedClientEndpoint implements ClientTransport {
  private phase: 'created' | 'started' | 'stopped' = 'created'
  private pool: SharedConnections | undefined
  private stopping: Promise<void> | undefined

  constructor(
    private readonly key: string,
    private readonly options: TcpClientTransportOptions,
    private readonly settings: SharedSettings,
    private readonly components: ClientComponents,
    readonly self: ClientId,
    private readonly where: string,
  ) {}

  async start(onMessage: (from: ReplicaId, message: unknown) => void, events?: ClientTransportEvents): Promise<void> {
    if (this.phase === 'stopped') throw new LockstepError('STOPPED', `${this.where}: start() after stop(); create a new transport.`)
    if (this.phase === 'started') throw new LockstepError('INVALID_CONFIG', `${this.where}: start() was called twice.`)
    const pool = poolFor(this.key, this.options, this.settings, this.components.log)
    if (pool.has(this.self)) {
      throw new LockstepError(
        'INVALID_CONFIG',
        `${this.where}: another started client of this process uses the id ${JSON.stringify(this.self)} on the same shared connections; each client needs its own id`,
      )
    }
    this.phase = 'started'
    this.pool = pool
    pool.join(this.self, { onMessage, events })
  }

  send(to: ReplicaId, message: unknown): void {
    if (this.phase !== 'started') throw new LockstepError('STOPPED', `${this.where}: send() ${this.phase === 'stopped' ? 'after stop()' : 'before start()'}.`)
    if (!this.settings.replicas.has(to)) {
      throw new LockstepError(
        'UNKNOWN_PEER',
        `${this.where}: replica ${JSON.stringify(to)} is not among its replicas (${[...this.settings.replicas.keys()].join(', ')}); add it to \`replicas\` or check the id.`,
        { peer: to },
      )
    }
    this.pool!.send(this.self, to, message)
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.phase = 'stopped'
      await this.pool?.leave(this.self)
    })()
    return this.stopping
  }
}
