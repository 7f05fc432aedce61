/**
 * Stable error codes. Users' code and scripts match on these, so a code is
 * never renamed or reused for another meaning.
 */
export const ErrorCodes = {
  /** A command failed its machine's JSON Schema; it was never ordered. */
  INVALID_COMMAND: 'INVALID_COMMAND',
  /** A command was ordered and executed but aborted; the state is unchanged on every replica. */
  COMMAND_FAILED: 'COMMAND_FAILED',
  /** A request's session slot was forgotten (the client had acknowledged it already). */
  SESSION_EXPIRED: 'SESSION_EXPIRED',
  /** A peer message did not have the shape its protocol requires. */
  MALFORMED_MESSAGE: 'MALFORMED_MESSAGE',
  /** A frame on the wire could not be decoded. */
  MALFORMED_FRAME: 'MALFORMED_FRAME',
  /** A frame exceeded the configured maximum size. */
  FRAME_TOO_LARGE: 'FRAME_TOO_LARGE',
  /** A message came from, or was addressed to, a node that is not known. */
  UNKNOWN_PEER: 'UNKNOWN_PEER',
  /** A peer or client failed authentication (a wrong secret or certificate). */
  AUTH_FAILED: 'AUTH_FAILED',
  /** A node belongs to another cluster (a different cluster id) than the one it reached. */
  CLUSTER_MISMATCH: 'CLUSTER_MISMATCH',
  /** No replica accepted a connection (connection refused on every one): the cluster is not running there. */
  UNREACHABLE: 'UNREACHABLE',
  /** Configuration was invalid. */
  INVALID_CONFIG: 'INVALID_CONFIG',
  /** A bounded queue was full. */
  BACKPRESSURE: 'BACKPRESSURE',
  /** No reply came in time. */
  TIMEOUT: 'TIMEOUT',
  /** The component was stopped. */
  STOPPED: 'STOPPED',
  /** The caller abandoned a request (its AbortSignal aborted); a request already sent may still execute. */
  ABORTED: 'ABORTED',
  /**
   * A client's voter can no longer decide a request's result or an output: the replicas' answers differ so much
   * that no value can reach the voter's threshold (more replicas are faulty than the voter tolerates).
   */
  VOTE_FAILED: 'VOTE_FAILED',
  /** A replica is not (or no longer) a member of the current view. */
  NOT_MEMBER: 'NOT_MEMBER',
  /** Stored data failed its checksum or could not be parsed. */
  STORAGE_CORRUPT: 'STORAGE_CORRUPT',
  /**
   * A replica's orderer can no longer guarantee the order (a timing assumption of real-time ordering broke:
   * a request arrived after its deadline, or the clocks drifted apart beyond the bound). The replica stops
   * serving from its state and rejoins by state transfer.
   */
  ORDER_DIVERGED: 'ORDER_DIVERGED',
  /**
   * Replicas' state digests at a position of the order differ: a majority agrees on one digest and the replicas
   * named in the message hold another. A replica in the minority stops serving and rejoins by state transfer.
   */
  STATE_DIVERGED: 'STATE_DIVERGED',
  /**
   * The evidence a replica served for a request's reply does not verify: fewer than t+1 replicas with known public
   * keys validly signed the served reply's digest. The replica asked may be lying; ask another.
   */
  EVIDENCE_INVALID: 'EVIDENCE_INVALID',
  /**
   * A replica does not hold the evidence asked for: the request did not execute there, it is older than the replica
   * keeps (`evidenceWindow`), the replica has no signing key, or it is not serving. Ask another replica.
   */
  EVIDENCE_UNAVAILABLE: 'EVIDENCE_UNAVAILABLE',
  /** A DSL program had errors. */
  DSL_ERROR: 'DSL_ERROR',
  /**
   * A function was given an argument it cannot take: a value with no canonical encoding (a Map, a function,
   * a cycle), a digest that is not SHA-256 hex, a statement that names no request. The message says which.
   */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** A feature was asked for that this version does not implement. */
  UNSUPPORTED: 'UNSUPPORTED',
  /** An invariant of Lockstep itself broke: a bug. */
  INTERNAL: 'INTERNAL',
} as const

/** One of {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

/** Where an error was found, when it is about a piece of data (a JSON path, a field). */
export interface ErrorDetails {
  /** JSON Pointer-style path of the offending field, for example `/args/key`. */
  readonly path?: string
  readonly [key: string]: unknown
}

/** The brand every {@link LockstepError} carries; `Symbol.for`, so errors of two installed copies of this package recognise each other. */
const lockstepErrorBrand = Symbol.for('@lockstep/error')

/** Every error Lockstep raises: a stable `code` and a message that says what, where, and what to do. */
export class LockstepError extends Error {
  override readonly name = 'LockstepError'
  readonly code: ErrorCode
  readonly details: ErrorDetails | undefined

  static {
    // On the prototype, not enumerable: the brand never shows in logs or comparisons.
    Object.defineProperty(this.prototype, lockstepErrorBrand, { value: true })
  }

  constructor(code: ErrorCode, message: string, details?: ErrorDetails, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.details = details
  }

  /** Plain data for replies and logs. */
  toInfo(): ErrorInfo {
    return this.details?.path === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, path: this.details.path }
  }
}

/** An error as it travels in a reply. */
export interface ErrorInfo {
  readonly code: ErrorCode
  readonly message: string
  readonly path?: string
  /** With SESSION_EXPIRED: the client's session is gone; it resumes under an incarnation above this. */
  readonly resumeAbove?: number
}

/** True for a LockstepError, also one from another installed copy of this package (it checks the brand). */
export function isLockstepError(value: unknown): value is LockstepError {
  return typeof value === 'object' && value !== null && (value as { [lockstepErrorBrand]?: unknown })[lockstepErrorBrand] === true
}
