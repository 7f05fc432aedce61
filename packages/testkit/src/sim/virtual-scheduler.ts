import type { Scheduler, TimerHandle } from '@lockstep/interface'

interface Event {
  readonly at: number
  /** Tie-breaker: events at the same time run in the order they were scheduled. */
  readonly order: number
  fn: (() => void) | undefined
}

/**
 * Virtual time for the simulator. Nothing happens between events; time jumps
 * to the next one. Events at equal times run in the order they were scheduled,
 * so a run is a pure function of its seed.
 */
export class VirtualScheduler implements Scheduler {
  private time = 0
  private order = 0
  private heap: Event[] = []
  /** Events run so far. */
  eventsRun = 0

  now(): number {
    return this.time
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const event: Event = { at: this.time + Math.max(0, delayMs), order: this.order++, fn }
    this.push(event)
    return event
  }

  clearTimer(handle: TimerHandle): void {
    if (handle) (handle as Event).fn = undefined
  }

  defer(fn: () => void): void {
    this.push({ at: this.time, order: this.order++, fn })
  }

  /** Runs the next event; false when there is none. */
  step(): boolean {
    while (this.heap.length > 0) {
      const event = this.pop()
      if (!event.fn) continue
      this.time = event.at
      const fn = event.fn
      event.fn = undefined
      this.eventsRun++
      fn()
      return true
    }
    return false
  }

  /** Time of the next live event, or undefined. */
  peekTime(): number | undefined {
    while (this.heap.length > 0 && !this.heap[0]!.fn) this.pop()
    return this.heap[0]?.at
  }

  /** Events waiting (including cancelled ones not yet discarded). */
  get size(): number {
    return this.heap.length
  }

  private push(event: Event): void {
    const heap = this.heap
    heap.push(event)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
  }

  private pop(): Event {
    const heap = this.heap
    const top = heap[0]!
    const last = heap.pop()!
    if (heap.length > 0) {
      heap[0] = last
      let i = 0
      while (true) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r
        if (m === i) break
        ;[heap[i], heap[m]] = [heap[m]!, heap[i]!]
        i = m
      }
    }
    return top
  }
}

function before(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order)
}
