import { connect as netConnect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { TLSSocket } from 'node:tls'
import { ErrorCodes, LockstepError } from '@lockstep/interface'
import type { ErrorCode, Logger, Scheduler, TimerHandle } from '@lockstep/interface'
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
  /** The TLS material of the next attempt (it may change between attempts: new revocation lists), or none. */
  readonly tls: () => TlsCredentials | undefined
  /** The secret both sides prove, if one applies to this role. */
  readonly secret: Uint8Array | undefined
  readonly link: ReliableLink
  readonly limits: ResolvedLimits
  readonly logger: Logger
  readonly scheduler: Scheduler
  readonly backoff: Backoff
  /** Registers every connection so the owner can close it on stop. */
  readonly track: (connection: Connection) => void
  /**
   * An attempt failed in a way its owner reports (a client tells its caller): the replica refused this node
   * (AUTH_FAILED: a wrong secret or certificate; CLUSTER_MISMATCH: another cluster id) or nothing accepts
   * connections at its address (UNREACHABLE). Attempts that time out or break off are not reported.
   */
  readonly refused?: (error: LockstepError) => void
  /** A connection was authenticated and handed to the link. */
  readonly connected?: () => void
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
    const tls = params.tls()
    const socket = tls
      ? tlsConnect({
          host: address.host,
          port: address.port,
          ...tlsSecureContextOptions(tls),
          // The node id is checked against the certificate CN after the TLS
          // handshake; host names are not part of a node's identity here.
          checkServerIdentity: () => undefined,
          minVersion: 'TLSv1.2',
        })
      : netConnect({ host: address.host, port: address.port })
    const connection = new Connection(socket, label, params.limits, params.logger, params.scheduler)
    this.connection = connection
    params.track(connection)
    // Why this attempt failed, when it is a refusal the owner reports (the first one found).
    let refusal: { code: ErrorCode; reason: string } | undefined
    let secured = false
    let authenticated = false
    const refusedFor = (code: ErrorCode, reason: string) => void (refusal ??= { code, reason })
    socket.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'ECONNREFUSED') refusedFor(ErrorCodes.UNREACHABLE, 'connection refused (ECONNREFUSED): nothing accepts connections there')
      else if (tls && isTlsAuthenticationError(error)) refusedFor(ErrorCodes.AUTH_FAILED, `TLS: ${error.message}`)
    })
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      secured = true
      if (tls) {
        const mismatch = certificateMismatch(peerCertificateIdentity(socket as TLSSocket), address.id, 'replica')
        if (mismatch !== undefined) {
          const reason = `TLS peer is not replica "${address.id}": ${mismatch}`
          refusedFor(ErrorCodes.AUTH_FAILED, reason)
          return connection.close(reason, 'warn')
        }
      }
      runDialerHandshake(connection, {
        selfId: params.selfId,
        role: params.role,
        clusterId: params.clusterId,
        expectedPeerId: address.id,
        secret: params.secret,
        authenticated: (conn) => {
          authenticated = true
          params.link.attach(conn)
          params.connected?.()
        },
        refused: (reason, code) => {
          if (code !== undefined) refusedFor(code, reason)
        },
      })
    })
    connection.whenClosed(() => {
      if (this.connection === connection) this.connection = undefined
      if (this.stopped) return
      if (tls && secured && !authenticated && refusal === undefined && closedByPeer(connection.closeReason)) {
        // With TLS 1.3 the client finishes its handshake before the replica checks the client's certificate; a
        // replica that rejects it closes the connection without a word (no TLS alert, no REFUSE frame).
        refusedFor(
          ErrorCodes.AUTH_FAILED,
          "TLS: the replica closed the connection right after the TLS handshake, before answering: it did not accept this node's certificate (is it issued by the cluster's CA, and not revoked?)",
        )
      }
      if (!connection.everOpened && refusal !== undefined) params.refused?.(new LockstepError(refusal.code, `${label}: ${refusal.reason}`, { peer: address.id }))
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

/**
 * A TLS error that means the certificates do not fit: this side cannot verify the peer's certificate (X.509
 * verification codes such as UNABLE_TO_VERIFY_LEAF_SIGNATURE, SELF_SIGNED_CERT_IN_CHAIN, CERT_HAS_EXPIRED), or the
 * peer rejected this side's certificate with a TLS alert (ERR_SSL_TLSV1_ALERT_UNKNOWN_CA, ..._BAD_CERTIFICATE).
 */
function isTlsAuthenticationError(error: Error & { code?: string }): boolean {
  const code = error.code ?? ''
  return /CERT|UNABLE_TO_|^ERR_SSL_.*ALERT/.test(code)
}

/** Whether a connection closed because the other end closed or reset it. */
function closedByPeer(closeReason: string | undefined): boolean {
  return closeReason !== undefined && (closeReason.startsWith('closed by the other end') || closeReason.startsWith('socket error: ECONNRESET'))
}
