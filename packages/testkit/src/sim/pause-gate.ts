import type { Scheduler, TimerHandle, TransportFactory } from '@lockstep/interface'

/** A callback held while its replica is paused, with whether it was cancelled since. */
interface Held {
  readonly run: () => void
  cancelled: boolean
}

/**
 * What a paused process looks like to the rest of the world (`kill -STOP`, a stop-the-world GC pause, an event
 * loop blocked for seconds): one replica runs none of its code for a while. Everything that would run it goes
 * through the gate: its timers, its deferred work, its disk's completions and the messages that reach it.
 * While the gate is shut they are held, in the order they came due; when it opens they all run at once, in
 * that order, as a process that resumes finds its expired timers and its sockets' backlog. Its clock goes on
 * reading the time, so on resuming it finds that time has passed. Messages it sent before the pause are on
 * their way and arrive; a paused replica sends nothing.
 *
 * A timer cleared after it came due but before it ran (by a held callback that runs first on resuming) does not
 * run, as in Node. A crash drops what is held (`drop`): the process is gone.
 */
export class PauseGate {
  private held: Held[] | undefined
  /** The held entry of each timer that came due during the pause, by handle (to cancel it). */
  private readonly heldTimers = new Map<TimerHandle, Held>()

  /** True while the replica is paused. */
  get paused(): boolean {
    return this.held !== undefined
  }

  /** Callbacks waiting for the replica to resume. */
  get waiting(): number {
    return this.held?.length ?? 0
  }

  /** Pauses the replica: from now on nothing of it runs until `resume`. Pausing a paused replica changes nothing. */
  pause(): void {
    this.held ??= []
  }

  /** Resumes the replica: everything held runs now, in the order it came due. */
  resume(): void {
    // Anything the held callbacks set off runs after them, through the open gate.
    for (const entry of this.open()) if (!entry.cancelled) entry.run()
  }

  /** The process died while paused: what it held is lost, and the next incarnation starts with the gate open. */
  drop(): void {
    this.open()
  }

  /** Opens the gate; returns what it held (nothing if it was open). */
  private open(): Held[] {
    const held = this.held ?? []
    this.held = undefined
    this.heldTimers.clear()
    return held
  }

  /** Runs `fn` now, or holds it while paused. */
  private pass(fn: () => void): Held | undefined {
    if (this.held === undefined) {
      fn()
      return undefined
    }
    const entry: Held = { run: fn, cancelled: false }
    this.held.push(entry)
    return entry
  }

  /** `inner` with every timer and deferred callback passing through this gate. */
  scheduler(inner: Scheduler): Scheduler {
    return {
      now: () => inner.now(),
      setTimer: (delayMs, fn) => {
        const handle: TimerHandle = inner.setTimer(delayMs, () => {
          const entry = this.pass(fn)
          if (entry !== undefined) this.heldTimers.set(handle, entry)
        })
        return handle
      },
      clearTimer: (handle) => {
        inner.clearTimer(handle)
        const entry = this.heldTimers.get(handle)
        if (entry === undefined) return
        entry.cancelled = true
        this.heldTimers.delete(handle)
      },
      defer: (fn) => inner.defer(() => void this.pass(fn)),
    }
  }

  /** `inner` whose messages reach the replica through this gate. */
  transport(inner: TransportFactory): TransportFactory {
    return (components) => {
      const transport = inner(components)
      return {
        self: transport.self,
        start: (handler) =>
          transport.start({
            onPeerMessage: (from, message) => void this.pass(() => handler.onPeerMessage(from, message)),
            onClientMessage: (client, message) => void this.pass(() => handler.onClientMessage(client, message)),
          }),
        send: (to, message) => transport.send(to, message),
        sendToClient: (to, message) => transport.sendToClient(to, message),
        stop: () => transport.stop(),
      }
    }
  }
}
