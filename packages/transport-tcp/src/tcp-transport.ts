import { createServer as netCreateServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'
import { createServer as tlsCreateServer } from 'node:tls'
import type { Server as TlsServer, TLSSocket } from 'node:tls'
import { LockstepError, isLockstepError } from '@lockstep/interface'
import type { ClientId, Logger, ReplicaComponents, ReplicaId, Scheduler, TimerHandle, Transport, TransportFactory, TransportHandler } from '@lockstep/interface'
import { Backoff, mathRandom } from './backoff'
import { Connection } from './connection'
import { ConnectionAdmission, EVICTABLE_HANDSHAKE_AGE_MS } from './connection-admission'
import type { AdmissionLimit, AdmissionTicket, Eviction } from './connection-admission'
import { Dialer } from './dialer'
import type { HelloEnvelope, RefusalCode } from './envelope'
import { encodeRefuseFrame, packValue, unpackValue } from './envelope'
import { certificateMismatch, peerCertificateIdentity, runListenerHandshake } from './handshake'
import type { HelloDecision } from './handshake'
import {
  checkAddress,
  checkId,
  checkPeers,
  invalid,
  resolveLimits,
  resolvePeerAckDelay,
  resolveReconnect,
  secretBytes,
} from './options'
import type { Pem, PeerAddress, ResolvedLimits, TcpTransportOptions, TlsCredentials } from './options'
import { RefusalLog } from './refusal-log'
import { ACK_DELAY_MS, ReliableLink } from './reliable-link'
import { checkTlsRevocationLists, closeRevoked, tlsSecureContextOptions, withRevocationLists } from './tls-options'

/** A replica's TCP endpoint: a {@link Transport} plus what TCP needs (binding, addresses). */
export interface TcpTransport extends Transport {
  /**
   * Starts listening without dialling or delivering (connections that
   * authenticate meanwhile wait for `start`). Returns the bound address,
   * which is how to learn the port when listening on port 0. `start` binds
   * if this was not called.
   */
  bind(): Promise<{ host: string; port: number }>
  /** The bound address, or undefined before binding. */
  address(): { host: string; port: number } | undefined
  /** Changes where replica `id` is dialled; takes effect on the next connection attempt. */
  setPeerAddress(id: ReplicaId, host: string, port: number): void
  /** What the endpoint holds now, and how many connections it refused since it was created (metrics, status). */
  stats(): TcpTransportStats
  /**
   * Replaces the revocation lists of `auth.tls` (`crl`; undefined: none) while the endpoint runs: new connections,
   * accepted and dialled, are checked against them, and every open connection whose peer's certificate they name is
   * closed now. Checked first as `tcp()` checks them (`INVALID_CONFIG`, nothing changed); `INVALID_CONFIG` without
   * TLS. Returns how many connections it closed.
   */
  setRevocationLists(crl: Pem | readonly Pem[] | undefined): number
}

/** A snapshot of a replica's TCP endpoint (see {@link TcpTransport.stats}). */
export interface TcpTransportStats {
  /** Peers with an open, authenticated link, in id order. */
  readonly peersConnected: readonly ReplicaId[]
  /** Clients with an open, authenticated connection: their own, or a shared one they spoke on. */
  readonly clientConnections: number
  /** Open connections shared by the clients of one process (`shareConnections` of `tcpClient`). */
  readonly sharedConnections: number
  /** Connections refused since creation: at the limits, in the handshake (bad secret, wrong cluster, unknown id), or a failed TLS handshake. */
  readonly refusedConnections: number
}

/**
 * A replica's TCP (or TLS) transport: `tcp(options)` is the factory a
 * `ReplicaHost` takes, and the host builds the endpoint with its own `self`,
 * `scheduler` and `log`. Links to replicas are reliable and FIFO across
 * reconnects; the replica whose id sorts first dials, the other accepts.
 * Clients connect to the same listener.
 */
export function tcp(options: TcpTransportOptions): TransportFactory<TcpTransport> {
  return (components) => new TcpReplicaTransport(options, components)
}

interface PeerState {
  address: PeerAddress
  readonly link: ReliableLink
  dialer: Dialer | undefined
}

/** An accepted socket, from accept to close: what it counts against the limits, and its connection once it has one. */
interface Inbound {
  readonly ticket: AdmissionTicket
  connection: Connection | undefined
}

/** How each limit is named in the summed-up refusal lines. */
const LIMIT_CAUSES: Record<AdmissionLimit, string> = {
  maxPendingHandshakesPerAddress: 'per-address limit of unfinished handshakes',
  maxPendingHandshakes: 'global limit of unfinished handshakes',
  maxConnectionsPerAddress: 'per-address limit',
  maxConnections: 'global connection limit',
}

interface ClientSession {
  readonly link: ReliableLink
  retentionTimer: TimerHandle | undefined
}

/**
 * A connection shared by the clients of one process: one link, each message `[client id, message]`, or
 * `[client id]` alone: the client speaks over this connection (sent when it starts and whenever the link opens).
 */
interface SharedSession extends ClientSession {
  readonly id: string
  /** The clients whose messages last came over this connection (replies to them go back over it). */
  readonly clients: Set<ClientId>
  /** Malformed messages received, for the warnings (the first few are logged). */
  malformed: number
}

/** Malformed messages of one shared connection logged at warn; the rest are counted, every 1,000th logged. */
const MALFORMED_LOGGED = 10

/** What a message on a shared connection may carry as its client id. */
const MAX_CLIENT_ID_CHARS = 256

type Phase = 'created' | 'started' | 'stopped'

class TcpReplicaTransport implements TcpTransport {
  readonly self: ReplicaId
  private readonly where: string
  private readonly clusterId: string
  private readonly limits: ResolvedLimits
  private readonly logger: Logger
  private readonly scheduler: Scheduler
  private readonly backoffSettings: ReturnType<typeof resolveReconnect>
  private readonly random
  private readonly listen: { host: string; port: number }
  private readonly replicaSecret: Buffer | undefined
  private readonly clientSecret: Buffer | undefined
  private tls: TlsCredentials | undefined
  private readonly acceptClients: boolean
  private readonly peers = new Map<ReplicaId, PeerState>()
  private readonly clients = new Map<ClientId, ClientSession>()
  /** Sessions of clients that disconnected and are kept for a while, the longest disconnected first. */
  private readonly retained = new Map<ClientId, ClientSession>()
  /** Connections shared by the clients of a process, by the id the process announced. */
  private readonly shared = new Map<string, SharedSession>()
  /** Shared connections that closed and are kept for a while, the longest closed first. */
  private readonly retainedShared = new Map<string, SharedSession>()
  /** The shared connection each client last spoke on (a client with a connection of its own is not here). */
  private readonly sharedRoutes = new Map<ClientId, SharedSession>()
  private readonly connections = new Set<Connection>()
  private readonly rawSockets = new Map<Socket, Promise<void>>()
  /** Accepted sockets by `address|port`, so that a TLS socket finds what its raw socket counted. */
  private readonly inbound = new Map<string, Inbound>()
  private readonly admission: ConnectionAdmission
  private readonly refusals: RefusalLog
  private parked: { hello: HelloEnvelope; connection: Connection }[] = []
  private loopback: unknown[] = []
  private loopbackBytes = 0
  private loopbackScheduled = false
  private server: Server | undefined
  private serverClosed: Promise<void> | undefined
  private bound: Promise<{ host: string; port: number }> | undefined
  private boundAddress: { host: string; port: number } | undefined
  private handler: TransportHandler | undefined
  private phase: Phase = 'created'
  private stopping: Promise<void> | undefined
  /** Connections refused in the handshake or by TLS (the limits' refusals are counted by `refusals`). */
  private refusedInHandshake = 0

  constructor(options: TcpTransportOptions, components: ReplicaComponents) {
    const where = `tcp(${JSON.stringify(components?.self)})`
    this.where = where
    this.self = checkId(components?.self, 'self', where)
    if (typeof options !== 'object' || options === null) invalid(where, 'options must be an object such as { clusterId, listen, peers, auth }')
    this.clusterId = checkId(options.clusterId, 'clusterId', where)
    if (typeof options.listen !== 'object' || options.listen === null) invalid(where, 'listen must be { host, port }')
    checkAddress(options.listen.host, options.listen.port, 'listen', where)
    this.listen = { host: options.listen.host, port: options.listen.port }
    this.limits = resolveLimits(options.limits, where)
    this.backoffSettings = resolveReconnect(options.reconnect, where)
    this.logger = components.log
    this.scheduler = components.scheduler
    this.random = options.random ?? mathRandom
    this.admission = new ConnectionAdmission(this.limits, () => this.scheduler.now())
    this.refusals = new RefusalLog(this.self, this.logger, this.scheduler)

    const auth = options.auth as { secret?: unknown; tls?: TlsCredentials } | undefined
    if (auth === undefined || typeof auth !== 'object') invalid(where, 'auth must be { secret } or { tls: { ca, cert, key } }')
    if ((auth.secret === undefined) === (auth.tls === undefined)) {
      invalid(where, 'auth must have exactly one of `secret` (HMAC challenge-response) or `tls` (mutual TLS)')
    }
    if (auth.tls !== undefined) {
      const { ca, cert, key } = auth.tls
      if (!ca || !cert || !key) invalid(where, 'auth.tls needs ca, cert and key')
      checkTlsRevocationLists(auth.tls, where)
      this.tls = auth.tls
    } else {
      this.replicaSecret = secretBytes(auth.secret as string, 'auth.secret', where)
    }
    this.acceptClients = options.clients !== undefined
    if (options.clients?.secret !== undefined) {
      this.clientSecret = secretBytes(options.clients.secret, 'clients.secret', where)
      if (this.replicaSecret !== undefined && this.clientSecret.equals(this.replicaSecret)) {
        invalid(where, 'clients.secret must differ from auth.secret, or a client could authenticate as a replica')
      }
    } else if (this.acceptClients && this.tls === undefined) {
      invalid(where, 'clients.secret is required to accept clients without TLS')
    }

    const peerAckDelayMs = resolvePeerAckDelay(options.peerAckDelayMs, ACK_DELAY_MS, where)
    for (const peer of checkPeers(options.peers, 'peers', where).values()) {
      if (peer.id === this.self) continue
      const label = `${this.self} -> ${peer.id}`
      const link = new ReliableLink({
        label,
        maxBufferedBytes: this.limits.maxBufferedBytesPerPeer,
        maxFrameBytes: this.limits.maxFrameBytes,
        maxMessageBytes: Math.max(this.limits.maxPeerMessageBytes, this.limits.maxFrameBytes),
        sharedStringChars: this.limits.sharedStringCharsPerPeer,
        ackDelayMs: peerAckDelayMs,
        logger: this.logger,
        scheduler: this.scheduler,
        deliver: (message) => this.handler!.onPeerMessage(peer.id, message),
        onOpen: () => this.logger.info(`lockstep tcp: link ${label} established`),
      })
      this.peers.set(peer.id, { address: peer, link, dialer: undefined })
    }
  }

  setRevocationLists(crl: Pem | readonly Pem[] | undefined): number {
    const { tls: next, lists } = withRevocationLists(this.tls, crl, this.where)
    this.tls = next
    // The listener's next handshakes; the dialers read `tls` at each attempt.
    if (this.server !== undefined && 'setSecureContext' in this.server) (this.server as TlsServer).setSecureContext({ ...tlsSecureContextOptions(next), minVersion: 'TLSv1.2' })
    return closeRevoked(this.connections, next, lists)
  }

  bind(): Promise<{ host: string; port: number }> {
    if (this.phase === 'stopped') return Promise.reject(this.stoppedError('bind'))
    this.bound ??= new Promise((resolve, reject) => {
      const server = this.tls
        ? tlsCreateServer({
            ...tlsSecureContextOptions(this.tls),
            requestCert: true,
            // Checked in 'secureConnection' instead, to say why: node:tls closes the connection of a peer whose
            // certificate fails without telling the server the reason (the peer sees a reset).
            rejectUnauthorized: false,
            handshakeTimeout: this.limits.handshakeTimeoutMs,
            minVersion: 'TLSv1.2',
          })
        : netCreateServer()
      this.server = server
      this.serverClosed = new Promise((resolveClosed) => server.once('close', () => resolveClosed()))
      server.on('connection', (socket: Socket) => this.onRawConnection(socket))
      if (this.tls) {
        server.on('secureConnection', (socket: TLSSocket) => {
          if (!socket.authorized) {
            // Closed before anything is read from it. No REFUSE frame: a write to a TLS socket refused in its
            // 'secureConnection' crashed Node 20 (a segmentation fault, with the peer closing at the same time). The
            // dialer takes a close right after its handshake for a refused certificate.
            this.refusedInHandshake++
            const code = Object.keys(socket.getPeerCertificate()).length === 0 ? 'it presented none' : socket.authorizationError === undefined ? 'no reason given' : String(socket.authorizationError)
            const reason = `its certificate was not accepted (${code}${/revoked/i.test(code) ? ': a revocation list names it' : ''})`
            this.logger.warn(`lockstep tcp: refused ${this.self} <- ${socket.remoteAddress ?? 'unknown'}: TLS handshake failed: ${reason}`, { code })
            socket.on('error', () => {}) // the peer may reset first; the refusal is logged already
            socket.destroy()
            return
          }
          this.onSocket(socket)
        })
        server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
          this.refusedInHandshake++
          const level = error.code === 'ECONNRESET' ? 'debug' : 'warn'
          this.logger[level](`lockstep tcp: refused ${this.self} <- ${socket.remoteAddress ?? 'unknown'}: TLS handshake failed: ${error.message}`, {
            code: error.code,
          })
        })
      }
      const onListenError = (error: Error) => {
        this.bound = undefined
        reject(new LockstepError('INVALID_CONFIG', `${this.where}: cannot listen on ${this.listen.host}:${this.listen.port}: ${error.message}.`, undefined, { cause: error }))
      }
      server.once('error', onListenError)
      server.listen(this.listen.port, this.listen.host, () => {
        server.off('error', onListenError)
        server.on('error', (error) => this.logger.error(`lockstep tcp: ${this.self}: listener error: ${error.message}`))
        const info = server.address() as AddressInfo
        this.boundAddress = { host: this.listen.host, port: info.port }
        this.logger.info(`lockstep tcp: ${this.self} listening on ${this.listen.host}:${info.port}`, { tls: this.tls !== undefined })
        resolve(this.boundAddress)
      })
    })
    return this.bound
  }

  address(): { host: string; port: number } | undefined {
    return this.boundAddress
  }

  setPeerAddress(id: ReplicaId, host: string, port: number): void {
    const peer = this.peers.get(id)
    if (peer === undefined) throw this.unknownPeer(id)
    checkAddress(host, port, `setPeerAddress("${id}")`, this.where)
    peer.address = { id, host, port }
    peer.dialer?.addressChanged()
  }

  stats(): TcpTransportStats {
    const peersConnected = [...this.peers].filter(([, peer]) => peer.link.isOpen).map(([id]) => id).sort()
    const openShared = [...this.shared.values()].filter((session) => session.link.isOpen)
    const clientConnections =
      [...this.clients.values()].filter((session) => session.link.isOpen).length + openShared.reduce((sum, session) => sum + session.clients.size, 0)
    return { peersConnected, clientConnections, sharedConnections: openShared.length, refusedConnections: this.refusals.total + this.refusedInHandshake }
  }

  async start(handler: TransportHandler): Promise<void> {
    if (this.phase === 'stopped') throw this.stoppedError('start')
    if (this.phase === 'started') throw new LockstepError('INVALID_CONFIG', `${this.where}: start() was called twice; create a new transport to restart.`)
    await this.bind()
    if (this.phase !== 'created') return
    this.handler = handler
    this.phase = 'started'
    const parked = this.parked
    this.parked = []
    for (const { hello, connection } of parked) {
      if (connection.isClosed) continue
      this.attachAuthenticated(hello, connection)
      // The dialer's RESUME (kept while waiting) goes to the link now that this side's RESUME is on its way.
      connection.release()
    }
    for (const peer of this.peers.values()) {
      // The replica whose id sorts first dials; the other one accepts.
      if (this.self < peer.address.id) {
        peer.dialer = new Dialer({
          selfId: this.self,
          role: 'replica',
          clusterId: this.clusterId,
          target: () => peer.address,
          tls: () => this.tls,
          secret: this.replicaSecret,
          link: peer.link,
          limits: this.limits,
          logger: this.logger,
          scheduler: this.scheduler,
          backoff: new Backoff(this.backoffSettings, this.random),
          track: (connection) => this.track(connection),
        })
        peer.dialer.start()
      }
    }
    if (this.loopback.length > 0) this.scheduleLoopback()
  }

  send(to: ReplicaId, message: unknown): void {
    if (this.phase === 'stopped') throw this.stoppedError('send')
    if (to === this.self) return this.sendToSelf(message)
    const peer = this.peers.get(to)
    if (peer === undefined) throw this.unknownPeer(to)
    peer.link.send(message)
  }

  sendToClient(to: ClientId, message: unknown): void {
    if (this.phase === 'stopped') throw this.stoppedError('sendToClient')
    const session = this.clients.get(to)
    if (session !== undefined) {
      return this.sendOrDrop(session, message, () => {
        this.logger.warn(
          `lockstep tcp: ${this.self}: client "${to}" is not reading (${session.link.bufferedBytes} bytes unacknowledged); ` +
            'its session is dropped and further messages to it are discarded until it reconnects',
        )
        this.dropClientSession(to, session, 'client too slow')
      })
    }
    // On a shared connection, if the client spoke on one; otherwise dropped (the client retries).
    const shared = this.sharedRoutes.get(to)
    if (shared === undefined) return
    this.sendOrDrop(shared, [to, message], () => {
      this.logger.warn(
        `lockstep tcp: ${this.self}: shared client connection "${shared.id}" (clients ${describeClients(shared.clients)}) is not reading ` +
          `(${shared.link.bufferedBytes} bytes unacknowledged); it is dropped and further messages to its clients are discarded until they reconnect`,
      )
      this.dropSharedSession(shared, 'shared client connection too slow')
    })
  }

  /** Sends on a client session's link; a full link (BACKPRESSURE: the client does not read) calls `tooSlow` instead. */
  private sendOrDrop(session: ClientSession, message: unknown, tooSlow: () => void): void {
    try {
      session.link.send(message)
    } catch (error) {
      if (!isLockstepError(error) || error.code !== 'BACKPRESSURE') throw error
      tooSlow()
    }
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutDown()
    return this.stopping
  }

  private async shutDown(): Promise<void> {
    this.phase = 'stopped'
    for (const peer of this.peers.values()) {
      peer.dialer?.stop()
      peer.link.close('transport stopping')
    }
    for (const [id, session] of this.clients) this.dropClientSession(id, session, 'transport stopping')
    for (const session of this.shared.values()) this.dropSharedSession(session, 'transport stopping')
    for (const { connection } of this.parked) connection.close('transport stopping', 'debug')
    this.parked = []
    this.loopback = []
    this.server?.close()
    for (const connection of this.connections) connection.close('transport stopping', 'debug')
    for (const socket of this.rawSockets.keys()) socket.destroy()
    this.refusals.stop()
    await Promise.all([...[...this.connections].map((c) => c.closed), ...this.rawSockets.values(), this.serverClosed])
    this.logger.info(`lockstep tcp: ${this.self} stopped`)
  }

  private onRawConnection(socket: Socket): void {
    const address = socket.remoteAddress ?? 'unknown'
    if (this.phase === 'stopped') {
      socket.destroy()
      return
    }
    const key = socketKey(socket)
    const admission = this.admission.admit(address, () => {
      const connection = this.inbound.get(key)?.connection
      const reason = `handshake unfinished after ${EVICTABLE_HANDSHAKE_AGE_MS} ms, closed to make room for a newer connection`
      if (connection !== undefined) connection.close(reason, 'debug')
      else socket.destroy()
    })
    this.logEvictions(admission.evicted)
    if (!admission.admitted) {
      this.refusals.refused(address, `${LIMIT_CAUSES[admission.limit]} (limits.${admission.limit} = ${this.limits[admission.limit]})`, admission.reason)
      this.refuseRawSocket(socket, admission.reason)
      return
    }
    const entry: Inbound = { ticket: admission.ticket, connection: undefined }
    this.inbound.set(key, entry)
    this.rawSockets.set(
      socket,
      new Promise((resolve) =>
        socket.once('close', () => {
          this.rawSockets.delete(socket)
          if (this.inbound.get(key) === entry) this.inbound.delete(key)
          entry.ticket.release()
          resolve()
        }),
      ),
    )
    if (!this.tls) this.onSocket(socket)
  }

  /** Closes a socket refused at accept; without TLS it first gets a REFUSE frame saying why. */
  private refuseRawSocket(socket: Socket, reason: string): void {
    socket.on('error', () => {}) // the peer may reset first; the refusal is logged already
    if (this.tls) {
      socket.destroy()
      return
    }
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    this.rawSockets.set(socket, closed)
    // end() flushes the REFUSE frame, then sends FIN; destroy anyway if the peer never closes.
    const linger = this.scheduler.setTimer(1000, () => socket.destroy())
    closed
      .then(() => {
        this.rawSockets.delete(socket)
        this.scheduler.clearTimer(linger)
      })
      .catch((error: unknown) => this.logger.error(`lockstep tcp: ${this.self}: closing a refused socket failed: ${String(error)}`))
    socket.end(encodeRefuseFrame(reason))
  }

  private logEvictions(evicted: readonly Eviction[]): void {
    for (const { address, limit } of evicted) {
      const cause = `handshake unfinished after ${EVICTABLE_HANDSHAKE_AGE_MS} ms, closed to make room for a newer connection (limits.${limit} = ${this.limits[limit]})`
      this.refusals.refused(address, cause)
    }
  }

  private onSocket(socket: Socket | TLSSocket): void {
    if (this.phase === 'stopped') {
      socket.destroy()
      return
    }
    const label = `${this.self} <- ${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? 0}`
    const inbound = this.inbound.get(socketKey(socket))
    const connection = new Connection(socket, label, this.limits, this.logger, this.scheduler, {
      onHandshakeTimeout: (conn) => this.refusals.refused(conn.remoteAddress, `handshake did not finish within ${this.limits.handshakeTimeoutMs} ms (limits.handshakeTimeoutMs)`),
      onRefuse: () => this.refusedInHandshake++,
    })
    if (inbound !== undefined) inbound.connection = connection
    this.track(connection)
    runListenerHandshake(connection, {
      selfId: this.self,
      clusterId: this.clusterId,
      decide: (hello, conn) => this.decide(hello, conn),
      authenticated: (hello, conn) => {
        conn.label = `${this.self} <- ${hello.role} ${hello.nodeId} at ${conn.remoteAddress}`
        inbound?.ticket.authenticated()
        if (this.phase === 'started') this.attachAuthenticated(hello, conn)
        else if (this.phase === 'created') {
          // Not started yet (a replica recovering its disk): keep the connection and its RESUME until start().
          conn.hold()
          this.logger.debug(`lockstep tcp: ${conn.label}: authenticated before start(); waits for it`)
          const entry = { hello, connection: conn }
          this.parked.push(entry)
          conn.whenClosed(() => {
            this.parked = this.parked.filter((p) => p !== entry)
          })
        }
        else conn.close('transport stopping', 'debug')
      },
    })
  }

  private decide(hello: HelloEnvelope, connection: Connection): HelloDecision {
    const id = hello.nodeId
    const certificate = this.tls ? peerCertificateIdentity(connection.socket as TLSSocket) : undefined
    if (hello.role === 'replica') {
      if (id === this.self) return refuse(`a replica claims this node's own id "${id}"`)
      if (!this.peers.has(id)) return refuse(`unknown replica "${id}": not among the peers of "${this.self}"`)
      if (!(id < this.self)) {
        return refuse(`replica "${id}" dialled "${this.self}", but the replica whose id sorts first dials; check both peer lists`)
      }
      if (this.tls) {
        const mismatch = certificateMismatch(certificate, id, 'replica')
        if (mismatch !== undefined) return refuse(`replica "${id}": ${mismatch}`, 'AUTH_FAILED')
      }
      return { accept: true, secret: this.replicaSecret }
    }
    if (hello.role === 'shared-clients') return this.decideShared(id)
    if (!this.acceptClients) return refuse(`client "${id}": this replica accepts no clients (no \`clients\` option)`)
    if (id === this.self || this.peers.has(id)) return refuse(`client "${id}": a client cannot use a replica's id`)
    if (this.tls) {
      const mismatch = certificateMismatch(certificate, id, 'client')
      if (mismatch !== undefined) return refuse(`client "${id}": ${mismatch}`, 'AUTH_FAILED')
    }
    // An early answer only: nothing is dropped for a client that has not authenticated yet. The session is
    // checked and taken in one step after authentication (attachAuthenticated).
    if (!this.clients.has(id) && this.sessionCount() >= this.limits.maxClientSessions && this.retained.size + this.retainedShared.size === 0) {
      return refuse(this.sessionsFull(id))
    }
    return { accept: true, secret: this.clientSecret }
  }

  /**
   * A connection shared by the clients of a process proves the client secret, which lets it speak for any client;
   * with TLS each client proves its own id by its certificate, so shared connections are refused there.
   */
  private decideShared(id: string): HelloDecision {
    const what = `shared client connection "${id}"`
    if (!this.acceptClients) return refuse(`${what}: this replica accepts no clients (no \`clients\` option)`)
    if (this.tls !== undefined || this.clientSecret === undefined) {
      return refuse(`${what}: this replica authenticates clients by certificate (TLS), one connection per client; shared connections need the client secret alone`, 'AUTH_FAILED')
    }
    if (id === this.self || this.peers.has(id)) return refuse(`${what}: a shared connection cannot use a replica's id`)
    if (!this.shared.has(id) && this.sessionCount() >= this.limits.maxClientSessions && this.retained.size + this.retainedShared.size === 0) {
      return refuse(this.sessionsFull(what))
    }
    return { accept: true, secret: this.clientSecret }
  }

  /** Client sessions held: clients' own and shared connections', each one session against `maxClientSessions`. */
  private sessionCount(): number {
    return this.clients.size + this.shared.size
  }

  private sessionsFull(what: string): string {
    const shared = this.shared.size === 0 ? '' : ` and ${this.shared.size} shared client connections`
    return `${what}: already ${this.clients.size} connected client sessions${shared} (limits.maxClientSessions = ${this.limits.maxClientSessions}${shared === '' ? '' : ', together'})`
  }

  /**
   * At the limit of sessions, drops the one disconnected the longest (a client's own before a shared one: a shared
   * one serves a whole process); false when every session is connected.
   */
  private makeRoomForSession(forWhom: string): boolean {
    const oldest = this.retained.entries().next()
    if (!oldest.done) {
      const [dropped, retained] = oldest.value
      this.logger.debug(`lockstep tcp: ${this.self}: client session dropped for a new client (${forWhom}): "${dropped}" was disconnected the longest (limits.maxClientSessions)`)
      this.dropClientSession(dropped, retained, 'client session dropped for a new client (limits.maxClientSessions)')
      return true
    }
    const oldestShared = this.retainedShared.values().next()
    if (oldestShared.done) return false
    this.logger.debug(`lockstep tcp: ${this.self}: shared client connection "${oldestShared.value.id}" dropped for a new client (${forWhom}): it was disconnected the longest (limits.maxClientSessions)`)
    this.dropSharedSession(oldestShared.value, 'shared client connection dropped for a new client (limits.maxClientSessions)')
    return true
  }

  private attachAuthenticated(hello: HelloEnvelope, connection: Connection): void {
    const id = hello.nodeId
    if (hello.role === 'replica') {
      this.peers.get(id)!.link.attach(connection)
      return
    }
    if (hello.role === 'shared-clients') return this.attachShared(id, connection)
    let session = this.clients.get(id)
    // Short-lived clients come and go by the thousand: a new one takes the place of the client that has been
    // disconnected the longest (its session could only have served a resume); only connected ones refuse it.
    if (session === undefined && this.sessionCount() >= this.limits.maxClientSessions && !this.makeRoomForSession(`client "${id}"`)) {
      connection.refuse(this.sessionsFull(`client "${id}"`))
      return
    }
    this.forgetSharedRoute(id)
    if (session === undefined) {
      const label = `${this.self} -> client ${id}`
      session = {
        link: new ReliableLink({
          label,
          maxBufferedBytes: this.limits.maxBufferedBytesPerClient,
          maxFrameBytes: this.limits.maxFrameBytes,
          logger: this.logger,
          scheduler: this.scheduler,
          deliver: (message) => this.handler!.onClientMessage(id, message),
        }),
        retentionTimer: undefined,
      }
      this.clients.set(id, session)
    }
    this.attachKept(id, session, this.clients, this.retained, connection, (expired) => this.dropClientSession(id, expired, 'client session expired'))
  }

  /**
   * Attaches `connection` to `session` (of `table`, under `id`); when the connection closes, the session is kept
   * in `retained` (the longest disconnected first) for limits.clientSessionRetentionMs, for the client to resume
   * it, then dropped unless it reconnected.
   */
  private attachKept<S extends ClientSession>(id: string, session: S, table: Map<string, S>, retained: Map<string, S>, connection: Connection, drop: (session: S) => void): void {
    if (session.retentionTimer !== undefined) this.scheduler.clearTimer(session.retentionTimer)
    session.retentionTimer = undefined
    retained.delete(id)
    session.link.attach(connection)
    connection.whenClosed(() => {
      if (this.phase !== 'started' || table.get(id) !== session || session.link.connection !== undefined) return
      retained.delete(id)
      retained.set(id, session)
      session.retentionTimer = this.scheduler.setTimer(this.limits.clientSessionRetentionMs, () => {
        session.retentionTimer = undefined
        if (session.link.connection === undefined) drop(session)
      })
    })
  }

  private attachShared(id: string, connection: Connection): void {
    let session = this.shared.get(id)
    const what = `shared client connection "${id}"`
    if (session === undefined && this.sessionCount() >= this.limits.maxClientSessions && !this.makeRoomForSession(what)) {
      connection.refuse(this.sessionsFull(what))
      return
    }
    if (session === undefined) {
      const created: SharedSession = {
        id,
        clients: new Set(),
        malformed: 0,
        retentionTimer: undefined,
        link: new ReliableLink({
          label: `${this.self} -> shared clients ${id}`,
          // One link for the clients of a process: it may hold what a replica's link holds.
          maxBufferedBytes: Math.max(this.limits.maxBufferedBytesPerPeer, this.limits.maxBufferedBytesPerClient),
          maxFrameBytes: this.limits.maxFrameBytes,
          logger: this.logger,
          scheduler: this.scheduler,
          deliver: (message) => this.onSharedMessage(created, message),
        }),
      }
      session = created
      this.shared.set(id, session)
    }
    this.attachKept(id, session, this.shared, this.retainedShared, connection, (expired) => this.dropSharedSession(expired, 'shared client connection expired'))
  }

  /**
   * A message on a shared connection: `[client id, message]`, handed up as the client's, or `[client id]`, which
   * only says that the client speaks over this connection.
   */
  private onSharedMessage(session: SharedSession, message: unknown): void {
    const client = Array.isArray(message) && (message.length === 2 || message.length === 1) ? (message[0] as unknown) : undefined
    if (typeof client !== 'string' || client.length === 0 || client.length > MAX_CLIENT_ID_CHARS || client === this.self || this.peers.has(client)) {
      session.malformed++
      if (session.malformed <= MALFORMED_LOGGED || session.malformed % 1000 === 0) {
        const what = typeof client === 'string' ? `client id ${JSON.stringify(client.slice(0, 80))}` : 'a message that is not [client id, message]'
        const more = session.malformed === MALFORMED_LOGGED ? '; further ones are counted, every 1,000th logged' : ''
        this.logger.warn(
          `lockstep tcp: ${this.self}: shared client connection "${session.id}" sent ${what} (a client id is 1 to ${MAX_CLIENT_ID_CHARS} characters and not a replica's); ` +
            `the message is dropped (${session.malformed} so far${more})`,
        )
      }
      return
    }
    if (this.sharedRoutes.get(client) !== session) this.routeShared(client, session)
    if ((message as unknown[]).length === 2) this.handler!.onClientMessage(client, (message as unknown[])[1])
  }

  /**
   * Replies to `client` go over `session` from now on: the latest connection a client speaks on wins, except that
   * a connection of the client's own that is open keeps it (a shared connection may replay the messages of a
   * client that stopped there and now runs on its own connection).
   */
  private routeShared(client: ClientId, session: SharedSession): void {
    const direct = this.clients.get(client)
    if (direct !== undefined) {
      if (direct.link.connection !== undefined) return
      this.dropClientSession(client, direct, 'the client speaks on a shared connection now')
    }
    this.forgetSharedRoute(client)
    if (session.clients.size >= this.limits.maxClientSessions) {
      // The client that spoke first on it leaves the connection's table; a reply to it is dropped, and its retry
      // (over the same connection) brings it back.
      const oldest = session.clients.values().next().value as ClientId
      this.forgetSharedRoute(oldest)
    }
    session.clients.add(client)
    this.sharedRoutes.set(client, session)
  }

  private forgetSharedRoute(client: ClientId): void {
    const session = this.sharedRoutes.get(client)
    if (session === undefined) return
    session.clients.delete(client)
    this.sharedRoutes.delete(client)
  }

  private dropSharedSession(session: SharedSession, reason: string): void {
    if (session.retentionTimer !== undefined) this.scheduler.clearTimer(session.retentionTimer)
    session.retentionTimer = undefined
    if (this.retainedShared.get(session.id) === session) this.retainedShared.delete(session.id)
    session.link.close(reason)
    for (const client of session.clients) this.sharedRoutes.delete(client)
    session.clients.clear()
    if (this.shared.get(session.id) === session) this.shared.delete(session.id)
  }

  private dropClientSession(id: ClientId, session: ClientSession, reason: string): void {
    if (session.retentionTimer !== undefined) this.scheduler.clearTimer(session.retentionTimer)
    session.retentionTimer = undefined
    session.link.close(reason)
    if (this.clients.get(id) === session) this.clients.delete(id)
    if (this.retained.get(id) === session) this.retained.delete(id)
  }

  private track(connection: Connection): void {
    this.connections.add(connection)
    connection.whenClosed(() => this.connections.delete(connection))
  }

  /** Messages to oneself go through a local FIFO queue, copied through msgpack like any other. */
  private sendToSelf(message: unknown): void {
    const bytes = packValue(message)
    if (this.loopbackBytes + bytes.length > this.limits.maxBufferedBytesPerPeer) {
      throw new LockstepError(
        'BACKPRESSURE',
        `${this.where}: ${this.loopbackBytes} bytes of messages to itself are waiting for delivery; the limit is ${this.limits.maxBufferedBytesPerPeer}.`,
      )
    }
    this.loopbackBytes += bytes.length
    this.loopback.push(unpackValue(bytes))
    if (this.phase === 'started') this.scheduleLoopback()
  }

  private scheduleLoopback(): void {
    if (this.loopbackScheduled) return
    this.loopbackScheduled = true
    this.scheduler.defer(() => {
      this.loopbackScheduled = false
      const batch = this.loopback
      this.loopback = []
      this.loopbackBytes = 0
      for (const message of batch) {
        if (this.phase !== 'started') return
        try {
          this.handler!.onPeerMessage(this.self, message)
        } catch (error) {
          this.logger.error(`lockstep tcp: ${this.self}: the message handler threw on a message to itself`, {
            error: error instanceof Error ? error.message : String(error),
          })
        }
      }
    })
  }

  private unknownPeer(id: string): LockstepError {
    return new LockstepError(
      'UNKNOWN_PEER',
      `${this.where}: replica ${JSON.stringify(id)} is not among its peers (${[...this.peers.keys()].join(', ') || 'none'}); add it to \`peers\` or check the id.`,
      { peer: id },
    )
  }

  private stoppedError(operation: string): LockstepError {
    return new LockstepError('STOPPED', `${this.where}: ${operation}() after stop(); create a new transport to restart.`)
  }
}

/** A few of `clients`, for a log line. */
function describeClients(clients: ReadonlySet<ClientId>): string {
  const some = [...clients].slice(0, 5).map((id) => JSON.stringify(id))
  return clients.size > some.length ? `${some.join(', ')} and ${clients.size - some.length} more` : some.join(', ') || 'none yet'
}

/** Identifies an accepted socket while it is open: its remote address and port. */
function socketKey(socket: Socket): string {
  return `${socket.remoteAddress ?? 'unknown'}|${socket.remotePort ?? 0}`
}

function refuse(reason: string, code?: RefusalCode): HelloDecision {
  return { accept: false, reason, ...(code === undefined ? {} : { code }) }
}
