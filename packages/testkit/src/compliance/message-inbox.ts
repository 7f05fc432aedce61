/** One received message and who sent it. */
export interface Received {
  readonly from: string
  readonly message: unknown
}

interface Waiter {
  readonly predicate: (received: readonly Received[]) => boolean
  readonly resolve: () => void
}

/** How long a wait may take before it fails with a description, as a guard against hangs (not a timing assertion). */
export const GUARD_TIMEOUT_MS = 45_000

/**
 * Collects messages as a transport hands them up, and lets a test wait until
 * what arrived satisfies a condition. Waiting is driven by arrivals: each
 * message re-checks the pending conditions; the guard timer only turns a hang
 * into a readable failure.
 */
export class MessageInbox {
  readonly received: Received[] = []
  private waiters: Waiter[] = []

  constructor(readonly name: string) {}

  /** Records a message and wakes the waits it satisfies. */
  push(from: string, message: unknown): void {
    this.received.push({ from, message })
    if (this.waiters.length === 0) return
    const still: Waiter[] = []
    for (const waiter of this.waiters) {
      if (waiter.predicate(this.received)) waiter.resolve()
      else still.push(waiter)
    }
    this.waiters = still
  }

  /** Messages from one sender, in arrival order. */
  from(sender: string): unknown[] {
    return this.received.filter((r) => r.from === sender).map((r) => r.message)
  }

  /** Resolves once `predicate` holds for what has arrived; `what` describes it if the guard fires. */
  waitFor(predicate: (received: readonly Received[]) => boolean, what: string): Promise<void> {
    if (predicate(this.received)) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const guard = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        reject(new Error(`${this.name}: still waiting for ${what} after ${GUARD_TIMEOUT_MS} ms; ${this.received.length} messages arrived`))
      }, GUARD_TIMEOUT_MS)
      const waiter: Waiter = {
        predicate,
        resolve: () => {
          clearTimeout(guard)
          resolve()
        },
      }
      this.waiters.push(waiter)
    })
  }

  /** Resolves once `count` messages from `sender` have arrived. */
  waitForCount(sender: string, count: number): Promise<void> {
    let seen = 0
    let scanned = 0
    return this.waitFor((received) => {
      for (; scanned < received.length; scanned += 1) if (received[scanned]!.from === sender) seen += 1
      return seen >= count
    }, `${count} messages from ${sender}`)
  }
}
