import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import {
  FrameType,
  NONCE_BYTES,
  PROTOCOL_VERSION,
  decodeEnvelope,
  encodeAuthFrame,
  encodeHelloFrame,
  encodeResumeFrame,
} from '../src/envelope'
import type { Envelope, NodeRole } from '../src/envelope'
import { FrameDecoder } from '../src/frame-codec'
import { handshakeProof } from '../src/handshake'
import { CLUSTER, HOST } from './helpers'

/**
 * A hand-driven protocol peer for tests: it writes whatever bytes a test
 * wants (well-formed or not) and records the frames it gets back.
 */
export class RawPeer {
  readonly envelopes: Envelope[] = []
  readonly closed: Promise<void>
  private readonly decoder = new FrameDecoder()
  private waiters: (() => void)[] = []
  private isClosed = false

  private constructor(readonly socket: Socket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()))
    socket.on('error', () => {})
    socket.on('data', (chunk: Buffer) => {
      for (const payload of this.decoder.pushAll(chunk).payloads) this.envelopes.push(decodeEnvelope(payload))
      this.wake()
    })
    socket.once('close', () => {
      this.isClosed = true
      this.wake()
    })
  }

  /** Connects to a listener on 127.0.0.1, from `localAddress` if given (any 127.x.y.z works on Linux). */
  static connect(port: number, localAddress?: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: HOST, ...(localAddress === undefined ? {} : { localAddress }) })
      socket.once('error', reject)
      socket.once('connect', () => {
        socket.off('error', reject)
        resolve(new RawPeer(socket))
      })
    })
  }

  /** Wraps a socket the test connected itself (a TLS socket, say). */
  static fromSocket(socket: Socket): RawPeer {
    return new RawPeer(socket)
  }

  /** Writes raw bytes. */
  write(bytes: Uint8Array): void {
    if (!this.isClosed) this.socket.write(bytes)
  }

  /** Resolves with the first received frame of `type`, or undefined if the connection closes first. */
  async waitForFrame(type: number): Promise<Envelope | undefined> {
    for (;;) {
      const found = this.envelopes.find((e) => e.type === type)
      if (found) return found
      if (this.isClosed) return undefined
      await new Promise<void>((resolve) => this.waiters.push(resolve))
    }
  }

  /** Sends HELLO and waits for WELCOME (or undefined if refused). */
  async hello(nodeId: string, role: NodeRole, options: { clusterId?: string; version?: number } = {}) {
    const nonce = randomBytes(NONCE_BYTES)
    this.write(
      encodeHelloFrame({ version: options.version ?? PROTOCOL_VERSION, clusterId: options.clusterId ?? CLUSTER, nodeId, role, nonce }),
    )
    const welcome = await this.waitForFrame(FrameType.WELCOME)
    return { nonce, welcome: welcome?.type === FrameType.WELCOME ? welcome : undefined }
  }

  /**
   * Runs the whole dialer handshake with `secret` (or a forged proof when
   * `forgeProof` is set) and, when accepted, the resume exchange.
   * Resolves true once the listener's RESUME arrived.
   */
  async authenticate(nodeId: string, role: NodeRole, secret: Uint8Array | string | null, listenerId: string): Promise<boolean> {
    return this.completeHandshake(nodeId, role, secret, listenerId, await this.hello(nodeId, role))
  }

  /** The rest of {@link authenticate} after {@link hello}: AUTH and RESUME out; true once the listener's RESUME arrived. */
  async completeHandshake(
    nodeId: string,
    role: NodeRole,
    secret: Uint8Array | string | null,
    listenerId: string,
    { nonce, welcome }: Awaited<ReturnType<RawPeer['hello']>>,
  ): Promise<boolean> {
    if (welcome === undefined) return false
    const proof =
      secret === null
        ? null
        : handshakeProof(Buffer.from(secret), 'dialer', {
            clusterId: CLUSTER,
            dialerId: nodeId,
            dialerRole: role,
            listenerId,
            dialerNonce: nonce,
            listenerNonce: welcome.nonce,
          })
    // In one write, as a dialer that sends its RESUME right behind its AUTH: the listener reads both at once.
    this.write(Buffer.concat([encodeAuthFrame(proof), encodeResumeFrame({ incarnation: 'raw-peer', oldestSeq: 1, peerIncarnation: null, receivedUpTo: 0 })]))
    return (await this.waitForFrame(FrameType.RESUME)) !== undefined
  }

  /** The reason of a REFUSE frame, once it arrived (undefined if the connection closed without one). */
  async refusal(): Promise<string | undefined> {
    const refuse = await this.waitForFrame(FrameType.REFUSE)
    return refuse?.type === FrameType.REFUSE ? refuse.reason : undefined
  }

  /** Closes the socket. */
  destroy(): void {
    this.socket.destroy()
  }

  private wake(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }
}
