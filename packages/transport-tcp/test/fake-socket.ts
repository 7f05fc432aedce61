import { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import type { Scheduler } from '@lockstep/interface'
import { Connection } from '../src/connection'
import { DEFAULT_LIMITS } from '../src/options'
import type { ResolvedLimits } from '../src/options'
import { silentLogger } from '@lockstep/interface'

/** A socket stand-in: tests push bytes in with `emit('data')`; writes are counted; close is synchronous. */
export class FakeSocket extends EventEmitter {
  writableLength = 0
  remoteAddress = '127.0.0.1'
  remotePort = 9
  destroyed = false
  writtenBytes = 0
  /** What each system call would carry: one entry per write, or per cork…uncork span. */
  readonly writes: Buffer[] = []
  private corked = 0
  private held: Buffer[] = []
  setNoDelay(): void {}
  write(bytes: Uint8Array): boolean {
    this.writtenBytes += bytes.length
    if (this.corked > 0) this.held.push(Buffer.from(bytes))
    else this.writes.push(Buffer.from(bytes))
    return true
  }
  cork(): void {
    this.corked += 1
  }
  uncork(): void {
    if (this.corked === 0) return
    this.corked -= 1
    if (this.corked > 0 || this.held.length === 0) return
    this.writes.push(Buffer.concat(this.held))
    this.held = []
  }
  end(bytes?: Uint8Array): void {
    if (bytes) this.write(bytes)
    this.destroy()
  }
  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    this.emit('close')
  }
}

/** A scheduler whose timers never fire and whose deferred work is dropped: nothing outlives a test case. */
export const inertScheduler: Scheduler = {
  now: () => 0,
  setTimer: () => 0,
  clearTimer: () => {},
  defer: () => {},
}

/** A scheduler the test drives: `runDeferred` runs the deferred work, `advance(ms)` fires the timers due. */
export class ManualScheduler implements Scheduler {
  private time = 0
  private deferred: (() => void)[] = []
  private timers = new Map<number, { at: number; fn: () => void }>()
  private nextTimer = 1
  now(): number {
    return this.time
  }
  setTimer(delayMs: number, fn: () => void): number {
    const handle = this.nextTimer++
    this.timers.set(handle, { at: this.time + delayMs, fn })
    return handle
  }
  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number)
  }
  defer(fn: () => void): void {
    this.deferred.push(fn)
  }
  runDeferred(): void {
    const work = this.deferred
    this.deferred = []
    for (const fn of work) fn()
  }
  advance(ms: number): void {
    this.time += ms
    for (const [handle, timer] of [...this.timers]) {
      if (timer.at > this.time) continue
      this.timers.delete(handle)
      timer.fn()
    }
  }
}

/** A real {@link Connection} over a {@link FakeSocket}. */
export function fakeConnection(limits: Partial<ResolvedLimits> = {}): { socket: FakeSocket; connection: Connection } {
  const socket = new FakeSocket()
  const connection = new Connection(socket as unknown as Socket, 'fuzz', { ...DEFAULT_LIMITS, ...limits }, silentLogger, inertScheduler)
  return { socket, connection }
}
