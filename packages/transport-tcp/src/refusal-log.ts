import type { Logger, Scheduler, TimerHandle } from '@lockstep/interface'

/** How often refusals are summed up in one log line per cause. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000

interface Tally {
  count: number
  readonly byAddress: Map<string, number>
}

/**
 * Logs refused connections without flooding the log: the first refusal of a cause is logged at once, and the
 * ones that follow within {@link REFUSAL_LOG_INTERVAL_MS} are summed up in one line per cause at the end of the
 * interval ("refused 1,827 connections from 127.0.0.1 in the last 10 s: ..."). Runs on the transport's
 * scheduler; `stop` logs what is left and cancels the timer, so nothing keeps the process alive.
 */
export class RefusalLog {
  private readonly tallies = new Map<string, Tally>()
  private timer: TimerHandle | undefined
  private stopped = false
  /** Refusals recorded since creation (metrics). */
  total = 0

  constructor(
    private readonly prefix: string,
    private readonly logger: Logger,
    private readonly scheduler: Scheduler,
    private readonly intervalMs = REFUSAL_LOG_INTERVAL_MS,
  ) {}

  /**
   * Records one refusal of a connection from `address` for `cause` (a stable description, the same for every
   * refusal it should be summed with); `detail` goes into the line when it is logged at once.
   */
  refused(address: string, cause: string, detail = cause): void {
    if (this.stopped) return
    this.total++
    if (this.timer === undefined) {
      // Quiet until now: say it at once, then sum up what follows.
      this.logger.warn(`lockstep tcp: ${this.prefix}: refused a connection from ${address}: ${detail} (further refusals are logged every ${formatSeconds(this.intervalMs)})`)
      this.timer = this.scheduler.setTimer(this.intervalMs, () => this.flush())
      return
    }
    let tally = this.tallies.get(cause)
    if (tally === undefined) this.tallies.set(cause, (tally = { count: 0, byAddress: new Map() }))
    tally.count += 1
    tally.byAddress.set(address, (tally.byAddress.get(address) ?? 0) + 1)
  }

  /** Logs what was not logged yet and stops the timer. */
  stop(): void {
    if (this.stopped) return
    this.stopped = true
    if (this.timer !== undefined) this.scheduler.clearTimer(this.timer)
    this.timer = undefined
    this.logTallies()
  }

  private flush(): void {
    this.timer = undefined
    if (this.stopped) return
    // Nothing new in this interval: the next refusal is logged at once again.
    if (this.logTallies() > 0) this.timer = this.scheduler.setTimer(this.intervalMs, () => this.flush())
  }

  private logTallies(): number {
    let lines = 0
    for (const [cause, tally] of this.tallies) {
      this.logger.warn(`lockstep tcp: ${this.prefix}: refused ${formatCount(tally.count)} ${tally.count === 1 ? 'connection' : 'connections'} from ${describeAddresses(tally.byAddress)} in the last ${formatSeconds(this.intervalMs)}: ${cause}`)
      lines += 1
    }
    this.tallies.clear()
    return lines
  }
}

function describeAddresses(byAddress: Map<string, number>): string {
  if (byAddress.size === 1) return [...byAddress.keys()][0]!
  let busiest = ''
  let most = 0
  for (const [address, count] of byAddress) {
    if (count > most) [busiest, most] = [address, count]
  }
  return `${formatCount(byAddress.size)} addresses (most from ${busiest}: ${formatCount(most)})`
}

function formatCount(count: number): string {
  return count.toLocaleString('en-US')
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`
}
