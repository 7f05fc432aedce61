import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { TLSSocket } from 'node:tls'
import type { Connection } from './connection'
import {
  FrameType,
  NONCE_BYTES,
  PROTOCOL_VERSION,
  encodeAuthFrame,
  encodeHelloFrame,
  encodeWelcomeFrame,
  packValue,
} from './envelope'
import type { Envelope, HelloEnvelope, NodeRole, RefusalCode } from './envelope'

/** Which side of a connection computes a proof. */
export type ProofSide = 'listener' | 'dialer'

/** Everything both sides' proofs are bound to. */
export interface HandshakeTranscript {
  readonly clusterId: string
  readonly dialerId: string
  readonly dialerRole: NodeRole
  readonly listenerId: string
  readonly dialerNonce: Uint8Array
  readonly listenerNonce: Uint8Array
}

/**
 * HMAC-SHA256 over the whole transcript and the proving side's name. Binding
 * both nonces makes each proof fresh; binding the side means a proof cannot
 * be reflected back as the other side's; binding the role means a client
 * secret can never produce a replica's proof.
 */
export function handshakeProof(secret: Uint8Array, side: ProofSide, transcript: HandshakeTranscript): Buffer {
  const bytes = packValue([
    'lockstep-tcp-handshake',
    PROTOCOL_VERSION,
    side,
    transcript.clusterId,
    transcript.dialerId,
    transcript.dialerRole,
    transcript.listenerId,
    transcript.dialerNonce,
    transcript.listenerNonce,
  ])
  return createHmac('sha256', secret).update(bytes).digest()
}

/** Compares proofs in constant time. */
export function proofMatches(expected: Uint8Array, actual: Uint8Array | null): boolean {
  return actual !== null && actual.length === expected.length && timingSafeEqual(expected, actual)
}

/** A fresh random nonce. */
export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES)
}

/** The identity a verified peer certificate states: CN is the node id, OU the role. */
export interface CertificateIdentity {
  readonly commonName: string | undefined
  readonly organizationalUnits: readonly string[]
}

/** Reads the identity from a TLS socket's verified peer certificate, or undefined if it has none. */
export function peerCertificateIdentity(socket: TLSSocket): CertificateIdentity | undefined {
  if (!socket.authorized) return undefined
  const certificate = socket.getPeerCertificate()
  if (!certificate || !certificate.subject) return undefined
  const subject = certificate.subject as unknown as Record<string, string | string[] | undefined>
  const cn = subject.CN
  const ou = subject.OU
  return {
    commonName: Array.isArray(cn) ? cn[0] : cn,
    organizationalUnits: ou === undefined ? [] : Array.isArray(ou) ? ou : [ou],
  }
}

/** Why a certificate does not fit the claimed identity, or undefined when it does. */
export function certificateMismatch(identity: CertificateIdentity | undefined, nodeId: string, role: NodeRole): string | undefined {
  if (identity === undefined) return 'no verified client certificate'
  if (identity.commonName !== nodeId) {
    return `certificate CN ${JSON.stringify(identity.commonName ?? null)} does not match node id ${JSON.stringify(nodeId)}`
  }
  if (!identity.organizationalUnits.includes(role)) {
    return `certificate OU ${JSON.stringify(identity.organizationalUnits)} does not include role "${role}"`
  }
  return undefined
}

/**
 * What the listener decides about a HELLO: refuse (with the error code the dialer reports, when the refusal is one a
 * client must hear of: a certificate that does not fit), or go on with an optional secret to check.
 */
export type HelloDecision =
  | { readonly accept: false; readonly reason: string; readonly code?: RefusalCode }
  | { readonly accept: true; readonly secret: Uint8Array | undefined }

/** The listener side of the handshake. */
export interface ListenerHandshakeParams {
  readonly selfId: string
  readonly clusterId: string
  /** Decides from the validated HELLO (and the TLS certificate, if any) whether to continue. */
  decide(hello: HelloEnvelope, connection: Connection): HelloDecision
  /** The dialer proved itself; the caller takes over the connection. */
  authenticated(hello: HelloEnvelope, connection: Connection): void
}

/**
 * Runs the listener side: HELLO in, WELCOME (with the listener's proof) out,
 * AUTH (the dialer's proof) in. Any deviation refuses the connection with a reason.
 */
export function runListenerHandshake(connection: Connection, params: ListenerHandshakeParams): void {
  let hello: HelloEnvelope | undefined
  let secret: Uint8Array | undefined
  let transcript: HandshakeTranscript | undefined
  connection.setHandler({
    onFrame(conn, envelope: Envelope) {
      if (envelope.type === FrameType.REFUSE) {
        return conn.close(`refused by ${hello === undefined ? 'the dialer' : `${hello.role} "${hello.nodeId}"`}: ${envelope.reason}`, 'warn')
      }
      if (hello === undefined) {
        if (envelope.type !== FrameType.HELLO) return conn.refuse(`expected HELLO, got frame type ${envelope.type}`)
        if (envelope.version !== PROTOCOL_VERSION) {
          return conn.refuse(`protocol version ${envelope.version} is not supported (this node speaks ${PROTOCOL_VERSION})`)
        }
        if (envelope.clusterId !== params.clusterId) {
          return conn.refuse(`node "${envelope.nodeId}" belongs to cluster "${envelope.clusterId}", not "${params.clusterId}"`, 'CLUSTER_MISMATCH')
        }
        const decision = params.decide(envelope, conn)
        if (!decision.accept) return conn.refuse(decision.reason, decision.code)
        hello = envelope
        secret = decision.secret
        transcript = {
          clusterId: params.clusterId,
          dialerId: envelope.nodeId,
          dialerRole: envelope.role,
          listenerId: params.selfId,
          dialerNonce: envelope.nonce,
          listenerNonce: newNonce(),
        }
        conn.write(
          encodeWelcomeFrame({
            version: PROTOCOL_VERSION,
            clusterId: params.clusterId,
            nodeId: params.selfId,
            nonce: transcript.listenerNonce,
            proof: secret === undefined ? null : handshakeProof(secret, 'listener', transcript),
          }),
        )
        return
      }
      if (envelope.type !== FrameType.AUTH) return conn.refuse(`expected AUTH, got frame type ${envelope.type}`)
      if (secret !== undefined && !proofMatches(handshakeProof(secret, 'dialer', transcript!), envelope.proof)) {
        return conn.refuse(`authentication failed: ${hello.role} "${hello.nodeId}" did not prove the ${hello.role} secret`, 'AUTH_FAILED')
      }
      params.authenticated(hello, conn)
    },
  })
}

/** The dialer side of the handshake. */
export interface DialerHandshakeParams {
  readonly selfId: string
  readonly role: NodeRole
  readonly clusterId: string
  /** The replica this connection is meant to reach. */
  readonly expectedPeerId: string
  /** The shared secret both sides prove, if one applies. */
  readonly secret: Uint8Array | undefined
  /** The peer proved itself (or TLS did); AUTH has been sent; the caller takes over. */
  authenticated(connection: Connection): void
  /**
   * The handshake failed for a reason the dialer's owner reports (a client tells its caller): `code` when it is
   * one (a wrong secret, another cluster), undefined for the others. Called just before the connection closes.
   */
  refused?(reason: string, code: RefusalCode | undefined): void
}

/** Runs the dialer side: HELLO out, WELCOME in (checking the listener's proof), AUTH out. */
export function runDialerHandshake(connection: Connection, params: DialerHandshakeParams): void {
  const dialerNonce = newNonce()
  connection.setHandler({
    onFrame(conn, envelope: Envelope) {
      if (envelope.type === FrameType.REFUSE) {
        const reason = `refused by ${params.expectedPeerId}: ${envelope.reason}`
        params.refused?.(reason, envelope.code)
        return conn.close(reason, 'warn')
      }
      if (envelope.type !== FrameType.WELCOME) {
        return conn.close(`expected WELCOME from ${params.expectedPeerId}, got frame type ${envelope.type}`, 'warn')
      }
      if (envelope.version !== PROTOCOL_VERSION || envelope.clusterId !== params.clusterId || envelope.nodeId !== params.expectedPeerId) {
        const reason =
          `expected replica "${params.expectedPeerId}" of cluster "${params.clusterId}" (protocol ${PROTOCOL_VERSION}), ` +
          `reached "${envelope.nodeId}" of cluster "${envelope.clusterId}" (protocol ${envelope.version}); check the peer address`
        params.refused?.(reason, envelope.clusterId !== params.clusterId ? 'CLUSTER_MISMATCH' : undefined)
        return conn.close(reason, 'warn')
      }
      const transcript: HandshakeTranscript = {
        clusterId: params.clusterId,
        dialerId: params.selfId,
        dialerRole: params.role,
        listenerId: params.expectedPeerId,
        dialerNonce,
        listenerNonce: envelope.nonce,
      }
      if (params.secret !== undefined && !proofMatches(handshakeProof(params.secret, 'listener', transcript), envelope.proof)) {
        const reason = `authentication failed: "${params.expectedPeerId}" did not prove the ${params.role} secret`
        params.refused?.(reason, 'AUTH_FAILED')
        return conn.refuse(reason, 'AUTH_FAILED')
      }
      conn.write(encodeAuthFrame(params.secret === undefined ? null : handshakeProof(params.secret, 'dialer', transcript)))
      params.authenticated(conn)
    },
  })
  connection.write(
    encodeHelloFrame({
      version: PROTOCOL_VERSION,
      clusterId: params.clusterId,
      nodeId: params.selfId,
      role: params.role,
      nonce: dialerNonce,
    }),
  )
}
