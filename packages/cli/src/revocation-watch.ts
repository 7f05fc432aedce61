// A replica's watch over the next updates of its revocation lists: past a list's next update, node:tls refuses
// every certificate of its CA, so new connections (a peer reconnecting, every client) fail. The replica says so
// a day ahead at warn level, and at error level once it happened.

import type { Logger } from '@lockstep/interface'
import type { RevocationList } from '@lockstep/transport-tcp'

/** How long before a list's next update the replica warns. */
export const REVOCATION_WARN_AHEAD_MS = 24 * 3600 * 1000

/** setTimeout's longest delay: a later moment is reached in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** The clock and timers of the watch (the replica's real ones; a test's). */
export interface RevocationWatchClock {
  nowMs(): number
  setTimer(ms: number, run: () => void): unknown
  clearTimer(timer: unknown): void
}

/**
 * Watches `lists` (those with a next update): a warning `warnAheadMs` before the earliest next update (at once when
 * that is nearer already), an error when it passed. Returns a stop for the watch's timer.
 */
export function watchRevocationLists(lists: readonly RevocationList[], clock: RevocationWatchClock, log: Logger, warnAheadMs = REVOCATION_WARN_AHEAD_MS): () => void {
  const due = lists.filter((list) => list.nextUpdate !== undefined).sort((a, b) => a.nextUpdate!.getTime() - b.nextUpdate!.getTime())[0]
  if (due === undefined) return () => {}
  const at = due.nextUpdate!.getTime()
  const when = due.nextUpdate!.toISOString()
  let warned = false
  let timer: unknown
  const check = () => {
    timer = undefined
    const now = clock.nowMs()
    if (now >= at) {
      log.error(
        `the revocation list of ${due.issuer} (security.tls.crl) expired at ${when}: TLS now refuses every certificate of its CA, so no new connection (a peer reconnecting, a client) succeeds; install a new list on every replica and send each one SIGHUP`,
        { code: 'CRL_EXPIRED', issuer: due.issuer, nextUpdate: when },
      )
      return
    }
    if (!warned && now >= at - warnAheadMs) {
      warned = true
      log.warn(
        `the revocation list of ${due.issuer} (security.tls.crl) is due for renewal at ${when}, in ${Math.ceil((at - now) / 60_000)} min: past it, TLS refuses every certificate of its CA; install a new list on every replica and send each one SIGHUP before then`,
        { code: 'CRL_DUE', issuer: due.issuer, nextUpdate: when },
      )
    }
    const next = warned ? at : at - warnAheadMs
    timer = clock.setTimer(Math.min(Math.max(next - now, 0), MAX_TIMER_MS), check)
  }
  check()
  return () => {
    if (timer !== undefined) clock.clearTimer(timer)
    timer = undefined
  }
}
