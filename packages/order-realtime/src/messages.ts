import { ErrorCodes, LockstepError, type Request } from '@lockstep/interface'

/**
 * The real-time orderer's one message type. Every message carries the sender's
 * stamp floor and its acknowledgement vector, and may carry requests, a clock
 * probe and a probe answer:
 * - `c`: the sender's stamp floor (integer microseconds): every request the sender stamps later is stamped
 *   above `c`, and every one it stamped at or below `c` was sent on this link before (FIFO), so `c` is what
 *   Test II compares with;
 * - `a`: for each origin replica, how many of that origin's requests the sender holds without a gap;
 * - `r`: requests, the sender's own (in order) and those it relays for other origins:
 *   `[stamp, origin, n, request]`, where `n` numbers the origin's requests from 1 with no gaps;
 * - `p`: a clock probe: the sender's clock reading (ms) when it sent the message;
 * - `q`: the answer to the receiver's probe: `[the probe's reading, the sender's clock reading (ms)]`.
 */
export interface RealtimeMessage {
  readonly t: 'realtime'
  readonly c: number
  readonly a: Readonly<Record<string, number>>
  readonly r?: readonly RealtimeEntry[]
  readonly p?: number
  readonly q?: readonly [probeSentAtMs: number, peerClockMs: number]
}

/** One stamped request in a message: `[stamp (µs), origin replica, origin sequence number, request]`. */
export type RealtimeEntry = readonly [stamp: number, origin: string, n: number, request: Request]

/** Validates a message from the network; throws MALFORMED_MESSAGE naming the field. */
export function parseRealtimeMessage(from: string, value: unknown): RealtimeMessage {
  if (typeof value !== 'object' || value === null) throw bad(from, 'message', 'an object')
  const message = value as Record<string, unknown>
  if (message.t !== 'realtime') throw bad(from, 't', "'realtime'")
  if (!Number.isSafeInteger(message.c) || (message.c as number) < 0) throw bad(from, 'c', 'a non-negative integer stamp floor')
  if (typeof message.a !== 'object' || message.a === null || Array.isArray(message.a)) throw bad(from, 'a', 'an object of counts')
  const counts = message.a as Record<string, unknown>
  for (const origin in counts) {
    if (!Object.hasOwn(counts, origin)) continue
    const count = counts[origin]
    if (!Number.isSafeInteger(count) || (count as number) < 0) throw bad(from, `a.${origin}`, 'a non-negative integer')
  }
  if (message.r !== undefined) {
    if (!Array.isArray(message.r)) throw bad(from, 'r', 'an array of entries')
    // Indexed loops, not forEach or every: those skip a sparse array's holes, which the orderer would then read.
    for (let index = 0; index < message.r.length; index++) {
      const entry: unknown = message.r[index]
      if (!Array.isArray(entry) || entry.length !== 4) throw bad(from, `r[${index}]`, '[stamp, origin, n, request]')
      const stamp: unknown = entry[0]
      const origin: unknown = entry[1]
      const n: unknown = entry[2]
      const request: unknown = entry[3]
      if (!Number.isSafeInteger(stamp) || (stamp as number) < 1) throw bad(from, `r[${index}][0]`, 'a positive integer stamp')
      if (typeof origin !== 'string' || origin === '') throw bad(from, `r[${index}][1]`, 'a replica id')
      if (!Number.isSafeInteger(n) || (n as number) < 1) throw bad(from, `r[${index}][2]`, 'a positive integer')
      checkRequest(from, `r[${index}][3]`, request)
    }
  }
  if (message.p !== undefined && !Number.isFinite(message.p)) throw bad(from, 'p', 'a clock reading')
  if (message.q !== undefined) {
    if (!Array.isArray(message.q) || message.q.length !== 2 || !Number.isFinite(message.q[0]) || !Number.isFinite(message.q[1])) throw bad(from, 'q', '[probe reading, clock reading]')
  }
  return value as unknown as RealtimeMessage
}

function checkRequest(from: string, field: string, value: unknown): void {
  if (typeof value !== 'object' || value === null) throw bad(from, field, 'a request object')
  const request = value as Record<string, unknown>
  if (typeof request.client !== 'string') throw bad(from, `${field}.client`, 'a string')
  if (!Number.isSafeInteger(request.seq) || (request.seq as number) < 1) throw bad(from, `${field}.seq`, 'an integer >= 1')
  if (!('command' in request)) throw bad(from, `${field}.command`, 'present')
}

/** The error for a field of `from`'s message (the text is made only then: parsing runs for every message). */
function bad(from: string, field: string, expected: string): LockstepError {
  return new LockstepError(ErrorCodes.MALFORMED_MESSAGE, `realtime message from '${from}': ${field} must be ${expected}`, { path: field })
}
