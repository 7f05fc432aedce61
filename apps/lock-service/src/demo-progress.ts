/** Where the demo writes: a terminal (live line) or anything else (plain lines). */
export interface ProgressStream {
  readonly isTTY?: boolean
  readonly columns?: number
  write(text: string): boolean
}

/** Carriage return and "erase the whole line" (ANSI EL2): the cursor back to the start of an empty line. */
const CLEAR_LINE = '\r\x1b[2K'

/**
 * The demo's progress: on a terminal, ONE line that is redrawn in place every `refreshMs` (what `render`
 * returns, cut to the terminal's width) with events printed above it; on a pipe or file, only the events,
 * one plain line each, so that a log reads well.
 */
export class ProgressDisplay {
  private timer: ReturnType<typeof setInterval> | undefined

  constructor(
    private readonly stream: ProgressStream,
    private readonly render: () => string,
    /** Seconds since the demo started, for the events' timestamps. */
    private readonly elapsedSeconds: () => number,
    private readonly refreshMs = 100,
  ) {}

  /** True on a terminal: the status line is drawn and redrawn. */
  get live(): boolean {
    return this.stream.isTTY === true
  }

  /** Starts redrawing the status line (on a terminal only). */
  start(): void {
    if (!this.live || this.timer !== undefined) return
    this.redraw()
    this.timer = setInterval(() => this.redraw(), this.refreshMs)
  }

  /** Prints an event on a line of its own, timestamped; on a terminal the status line is drawn again below it. */
  event(text: string): void {
    const line = `[${this.elapsedSeconds().toFixed(2).padStart(6)} s] ${text}`
    if (!this.live) {
      this.stream.write(`${line}\n`)
      return
    }
    this.stream.write(`${CLEAR_LINE}${line}\n`)
    if (this.timer !== undefined) this.redraw()
  }

  /** Stops redrawing and erases the status line, so that what follows starts on a clean line. */
  stop(): void {
    if (this.timer === undefined) return
    clearInterval(this.timer)
    this.timer = undefined
    this.stream.write(CLEAR_LINE)
  }

  private redraw(): void {
    const width = Math.max(20, (this.stream.columns ?? 120) - 1)
    const line = this.render()
    this.stream.write(`${CLEAR_LINE}${line.length > width ? `${line.slice(0, width - 1)}…` : line}`)
  }
}

/** The `p`-th percentile (0…100) of `values` by the nearest-rank method; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)))
  return sorted[rank - 1]!
}
