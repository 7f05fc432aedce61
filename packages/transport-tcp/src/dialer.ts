import { connect as netConnect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { TLSSocket } from 'node:tls'
import type { Logger, Scheduler, TimerHandle } from '@lockstep/interface'
import type { Backoff } from './backoff'
import { Connection } from './connection'
import type { NodeRole } from './envelope'
import { certificateMismatch, peerCertificateIdentity, runDialerHandshake } from './handshake'
import type { PeerAddress, ResolvedLimits, TlsCredentials } from './options'
import type { ReliableLink } from './reliable-link'
import { tlsSecureContextOptions } from './tls-options'

/** What a {@link Dialer} needs. */
export interface DialerParams {
  readonly selfId: string
  readonly role: NodeRole
  readonly clusterId: string
  /** The replica's current address (it may change between attempts). */
  readonly target: () => PeerAddress
  readonly tls: TlsCredentials | undefined
  /** The secret both sides prove, if one applies to this role. */
  readonly secret: Uint8Array | undefined
  readonly link: ReliableLink
  readonly limits: ResolvedLimits
  readonly logger: Logger
  readonly scheduler: Scheduler
  readonly backoff: Backoff
  /** Registers every connection so the owner can close it on stop. */
  readonly track: (connection: Connection) => void
}

/**
 * Keeps one outbound connection to one replica: connects, authenticates,
 * hands the connection to the link, and after any close reconnects with
 * exponential backoff and jitter until stopped.
 */
export class Dialer {
  private stopped = false
  private started = false
  private timer: TimerHandle | undefined
  private connection: Connection | undefined
  private waitingForAddress = false
  private consecutiveFailures = 0

  constructor(private readonly params: DialerParams) {}

  /** Starts connecting. */
  start(): void {
    if (this.started) return
    this.started = true
    this.attempt()
  }

  /** The target address changed: if we were waiting for one, connect now. */
  addressChanged(): void {
    if (this.started && this.waitingForAddress) {
      this.waitingForAddress = false
      this.attempt()
    }
  }

  /** Stops reconnecting and closes the current connection. */
  stop(): void {
    this.stopped = true
    if (this.timer !== undefined) this.params.scheduler.clearTimer(this.timer)
    this.timer = undefined
    this.connection?.close('transport stopping', 'debug')
  }

  private attempt(): void {
    this.timer = undefined
    if (this.stopped) return
    const { params } = this
    const address = params.target()
    if (address.port === 0) {
      this.waitingForAddress = true
      return
    }
    const label = `${params.selfId} -> ${address.id} at ${address.host}:${address.port}`
    const socket = params.tls
      ? tlsConnect({
          host: address.host,
          port: address.port,
          ...tlsSecureContextOptions(params.tls),
          // The node id is checked against the certificate CN after the TLS
          // handshake; host names are not part of a node's identity here.
          checkServerIdentity: () => undefined,
          minVersion: 'TLSv1.2',
        })
      : netConnect({ host: address.host, port: address.port })
    const connection = new Connection(socket, label, params.limits, params.logger, params.scheduler)
    this.connection = connection
    params.track(connection)
    socket.once(params.tls ? 'secureConnect' : 'connect', () => {
      if (params.tls) {
        const mismatch = certificateMismatch(peerCertificateIdentity(socket as TLSSocket), address.id, 'replica')
        if (mismatch !== undefined) return connection.close(`TLS peer is not replica "${address.id}": ${mismatch}`, 'warn')
      }
      runDialerHandshake(connection, {
        selfId: params.selfId,
        role: params.role,
        clusterId: params.clusterId,
        expectedPeerId: address.id,
        secret: params.secret,
        authenticated: (conn) => params.link.attach(conn),
      })
    })
    connection.whenClosed(() => {
      if (this.connection === connection) this.connection = undefined
      if (this.stopped) return
      if (connection.everOpened) {
        params.backoff.reset()
        this.consecutiveFailures = 0
      } else {
        this.consecutiveFailures += 1
        if (this.consecutiveFailures === 1 || this.consecutiveFailures % 50 === 0) {
          params.logger.info(`lockstep tcp: ${label}: cannot connect (${this.consecutiveFailures} attempts so far): ${connection.closeReason ?? 'closed'}`)
        }
      }
      this.timer = params.scheduler.setTimer(params.backoff.nextDelayMs(), () => this.attempt())
    })
  }
}
