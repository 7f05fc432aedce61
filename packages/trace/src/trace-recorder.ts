import { ErrorCodes, LockstepError } from '@lockstep/interface'
import { DEFAULT_MAX_TRACE_EVENTS, TRACE_FORMAT_VERSION, type Trace, type TraceEvent, type TraceTruncation, type TraceViolation, type ViolationDelivery } from './trace-format'

/** Options of a {@link TraceRecorder}. */
export interface TraceRecorderOptions {
  /** The most events kept (default 200,000); later ones are counted in the trace's `truncated`. Faults are always kept. */
  readonly maxEvents?: number
}

/** What a finished run adds to its events. */
export interface TraceRun {
  readonly seed: number
  readonly rerun: string
  readonly ok: boolean
  readonly replicas: readonly string[]
  readonly clients: readonly string[]
  readonly endMs: number
  readonly violations: readonly TraceViolation[]
}

/**
 * Collects a run's events, bounded: after `maxEvents` it keeps only faults (few, and what a reader looks for
 * first) and counts the rest, so the trace says where it stops instead of growing without end.
 */
export class TraceRecorder {
  readonly maxEvents: number
  private readonly events: TraceEvent[] = []
  private dropped = 0
  private droppedFromMs: number | undefined

  constructor(options: TraceRecorderOptions = {}) {
    this.maxEvents = options.maxEvents ?? DEFAULT_MAX_TRACE_EVENTS
    if (!Number.isSafeInteger(this.maxEvents) || this.maxEvents < 1) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `TraceRecorder: maxEvents must be a whole number >= 1 (got ${String(options.maxEvents)})`, { path: 'maxEvents' })
    }
  }

  /** True once the recorder keeps no more events but faults: callers may skip describing messages. */
  get full(): boolean {
    return this.events.length >= this.maxEvents
  }

  /** Keeps one event (or counts it, once full). */
  record(event: TraceEvent): void {
    if (this.full && event.type !== 'fault') {
      this.dropped++
      this.droppedFromMs ??= event.t
      return
    }
    this.events.push(event)
  }

  /** The trace: the events by virtual time (events at one time keep the order they were recorded in). */
  finish(run: TraceRun): Trace {
    // Faults may be recorded after the fact (the injector's list); a stable sort puts them in place.
    const events = this.events.map((event, index) => ({ event, index })).sort((a, b) => a.event.t - b.event.t || a.index - b.index).map(({ event }) => event)
    const truncated: TraceTruncation | undefined = this.dropped > 0 ? { maxEvents: this.maxEvents, dropped: this.dropped, fromMs: this.droppedFromMs ?? run.endMs } : undefined
    return {
      version: TRACE_FORMAT_VERSION,
      seed: run.seed,
      rerun: run.rerun,
      ok: run.ok,
      replicas: [...run.replicas],
      clients: [...run.clients],
      endMs: run.endMs,
      events,
      violations: run.violations,
      ...(truncated ? { truncated } : {}),
    }
  }
}

/** Request keys as the checks write them: `c1#4`, `c2~1500#3`. */
const requestKeyPattern = /\b(c\d+(?:~\d+)?#\d+)\b/g

/**
 * A violation from its message alone, for checks that give no structured data: the requests it names (the
 * page highlights their deliveries). `deliveries` adds what a check knows exactly.
 */
export function traceViolation(message: string, deliveries: readonly ViolationDelivery[] = []): TraceViolation {
  const named = new Set<string>()
  for (const match of message.matchAll(requestKeyPattern)) named.add(match[1]!)
  for (const delivery of deliveries) if (delivery.key !== undefined) named.add(delivery.key)
  return { message, deliveries, requests: [...named] }
}
