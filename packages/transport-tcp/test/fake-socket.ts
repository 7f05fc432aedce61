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
  setNoDelay(): void {}
  write(bytes: Uint8Array): boolean {
    this.writtenBytes += bytes.length
    return true
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

/** A real {@link Connection} over a {@link FakeSocket}. */
export function fakeConnection(limits: Partial<ResolvedLimits> = {}): { socket: FakeSocket; connection: Connection } {
  const socket = new FakeSocket()
  const connection = new Connection(socket as unknown as Socket, 'fuzz', { ...DEFAULT_LIMITS, ...limits }, silentLogger, inertScheduler)
  return { socket, connection }
}
