import { ErrorCodes, LockstepError } from '@lockstep/interface'
import type { LockstepClient } from '@lockstep/client'

/** A grant: the fencing token when the machine issues them (the safe mutex), else undefined (the seed's mutex). */
export interface Grant {
  readonly token: number | undefined
}

/** True for an output that grants the lock: the seed mutex's `OK`, or the safe mutex's fencing token. */
function isGrant(value: unknown): boolean {
  return value === 'OK' || typeof value === 'number'
}

/**
 * The lock service's client. `acquire()` resolves exactly when this client is
 * granted the lock — at once if it was free, or later when the holder's
 * `release` hands it over (the seed's `send OK to head(waiting)`). It works
 * with the seed's mutex (grants are `OK`) and with the safe mutex of
 * `specs/safe-mutex.sm` (grants carry a fencing token that grows with every
 * grant; only the holder may release).
 */
export class LockClient {
  constructor(readonly client: LockstepClient) {}

  /** Resolves with the grant when the lock is this client's. */
  async acquire(): Promise<Grant> {
    const reply = await this.client.submit({ name: 'acquire' })
    if (!reply.ok) throw new LockstepError(reply.error.code, `acquire failed: ${reply.error.message}`)
    const values = reply.outputs.map((o) => o.value)
    if (values.includes('HELD')) throw new LockstepError(ErrorCodes.COMMAND_FAILED, `acquire: '${this.client.id}' already holds the lock`)
    const granted = values.find(isGrant)
    if (granted !== undefined) return { token: typeof granted === 'number' ? granted : undefined }
    // Queued (or already queued: QUEUED): the grant arrives when the holder releases.
    const notice = await this.client.nextNotice((n) => isGrant(n.value))
    return { token: typeof notice.value === 'number' ? notice.value : undefined }
  }

  /** Releases the lock. The safe mutex refuses a release by anyone but the holder. */
  async release(): Promise<void> {
    const reply = await this.client.submit({ name: 'release' })
    if (!reply.ok) throw new LockstepError(reply.error.code ?? ErrorCodes.COMMAND_FAILED, `release failed: ${reply.error.message}`)
    if (reply.outputs.some((o) => o.value === 'NOT_HOLDER')) {
      throw new LockstepError(ErrorCodes.COMMAND_FAILED, `release: '${this.client.id}' does not hold the lock`)
    }
  }

  /** Runs `fn` while holding the lock; `fn` gets the grant (use its token to fence writes). */
  async withLock<T>(fn: (grant: Grant) => Promise<T> | T): Promise<T> {
    const grant = await this.acquire()
    try {
      return await fn(grant)
    } finally {
      await this.release()
    }
  }
}
