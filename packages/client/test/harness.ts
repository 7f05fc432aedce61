import type { ClientTransport, LockstepError, Logger, Reply, Scheduler } from '@lockstep/interface'
import type { VoterFactory } from '@lockstep/voting'
import { LockstepClient } from '../src/index'

/** What the client passes its transport at start, beyond the message handler (absent before the events existed). */
interface Events {
  refused?(replica: string, error: LockstepError): void
  connected?(replica: string): void
}

/**
 * Manual time, a transport whose sends the test inspects (or makes throw), and the transport's connection events in
 * the test's hands. Timers run as the real scheduler runs them: a timer that throws would crash the process, so
 * `advance` collects what timers throw and the tests expect none.
 */
export function harness(options: { retryAfterMs?: number; replicas?: string[]; maxAttempts?: number; voter?: VoterFactory } = {}) {
  let now = 0
  let timers: { at: number; fn: () => void; live: boolean }[] = []
  const thrownFromTimers: unknown[] = []
  const scheduler: Scheduler = {
    now: () => now,
    setTimer: (ms, fn) => {
      const t = { at: now + ms, fn, live: true }
      timers.push(t)
      return t
    },
    clearTimer: (t) => void ((t as { live: boolean }).live = false),
    defer: (fn) => fn(),
  }
  const sent: { to: string; message: any }[] = []
  let failSend: (() => unknown) | undefined
  let receive: (from: string, message: unknown) => void = () => {}
  let events: Events | undefined
  const transport: ClientTransport = {
    self: 'c1',
    start: async (onMessage: (from: string, message: unknown) => void, transportEvents?: Events) => {
      receive = onMessage
      events = transportEvents
    },
    send: (to, message) => {
      if (failSend) throw failSend()
      sent.push({ to, message })
    },
    stop: async () => {},
  }
  const logged: { level: string; message: string }[] = []
  const log: Logger = {
    debug: (message) => void logged.push({ level: 'debug', message }),
    info: (message) => void logged.push({ level: 'info', message }),
    warn: (message) => void logged.push({ level: 'warn', message }),
    error: (message) => void logged.push({ level: 'error', message }),
  }
  const client = new LockstepClient({
    id: 'c1',
    transport: () => transport,
    replicas: options.replicas ?? ['r1', 'r2', 'r3'],
    scheduler,
    log,
    retryAfterMs: options.retryAfterMs ?? 100,
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
    ...(options.voter === undefined ? {} : { voter: options.voter }),
  })
  return {
    client,
    sent,
    logged,
    thrownFromTimers,
    failSendWith: (error: (() => unknown) | undefined) => (failSend = error),
    receive: (from: string, message: unknown) => receive(from, message),
    refused: (replica: string, error: LockstepError) => events?.refused?.(replica, error),
    connected: (replica: string) => events?.connected?.(replica),
    advance(ms: number) {
      const until = now + ms
      for (;;) {
        const due = timers.filter((t) => t.live && t.at <= until).sort((a, b) => a.at - b.at)[0]
        if (due === undefined) break
        now = due.at
        due.live = false
        timers = timers.filter((t) => t !== due)
        try {
          due.fn()
        } catch (error) {
          thrownFromTimers.push(error)
        }
      }
      now = until
    },
  }
}

export const okReply = (seq: number): Reply => ({ client: 'c1', seq, ok: true, outputs: [], position: seq })

/** Settles `promise` into a value the test can look at synchronously after a microtask turn. */
export function track<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false }
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  )
  return state
}

export const flush = () => new Promise<void>((resolve) => setImmediate(resolve))
