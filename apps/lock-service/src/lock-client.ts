import { ErrorCodes, LockstepError } from '@lockstep/interface'
import type { LockstepClient } from '@lockstep/client'

/**
 * The lock service's client: `acquire()` resolves exactly when this client is
 * granted the lock — at once if it was free, or later when the holder's
 * `release` hands it over (the seed's `send OK to head(waiting)`).
 */
export class LockClient {
  constructor(readonly client: LockstepClient) {}

  /** Resolves when the lock is granted to this client. */
  async acquire(): Promise<void> {
    const reply = await this.client.submit({ name: 'acquire' })
    if (!reply.ok) throw new LockstepError(reply.error.code, `acquire failed: ${reply.error.message}`)
    if (reply.outputs.some((o) => o.value === 'OK')) return
    await this.client.nextNotice((notice) => notice.value === 'OK')
  }

  /** Releases the lock (the seed's mutex trusts the caller to be the holder). */
  async release(): Promise<void> {
    const reply = await this.client.submit({ name: 'release' })
    if (!reply.ok) throw new LockstepError(reply.error.code ?? ErrorCodes.COMMAND_FAILED, `release failed: ${reply.error.message}`)
  }

  /** Runs `fn` while holding the lock. */
  async withLock<T>(fn: () => Promise<T> | T): Promise<T> {
    await this.acquire()
    try {
      return await fn()
    } finally {
      await this.release()
    }
  }
}
