import { ErrorCodes, LockstepError, type Request } from '@lockstep/interface'

/**
 * The Lamport orderer's one message type. Every message carries the sender's
 * clock and its acknowledgement vector, and may carry a batch of the sender's
 * own stamped requests:
 * - `c`: the sender's Lamport clock when it sent the message;
 * - `a`: for each origin replica, how many of that origin's requests the sender has received;
 * - `r`: new requests of the sender, in order: `[stamp, n, request]`, where `n`
 *   numbers the sender's requests from 1 with no gaps.
 */
export interface LamportMessage {
  readonly t: 'lamport'
  readonly c: number
  readonly a: Readonly<Record<string, number>>
  readonly r?: readonly StampedEntry[]
}

/** One stamped request in a batch: `[stamp time, origin sequence number, request]`. */
export type StampedEntry = readonly [time: number, n: number, request: Request]

/** Validates a message from the network; throws MALFORMED_MESSAGE naming the field. */
export function parseLamportMessage(from: string, value: unknown): LamportMessage {
  if (typeof value !== 'object' || value === null) throw bad(from, 'message', 'an object')
  const message = value as Record<string, unknown>
  if (message.t !== 'lamport') throw bad(from, 't', "'lamport'")
  if (!Number.isSafeInteger(message.c) || (message.c as number) < 0) throw bad(from, 'c', 'a non-negative integer clock')
  if (typeof message.a !== 'object' || message.a === null || Array.isArray(message.a)) throw bad(from, 'a', 'an object of counts')
  const counts = message.a as Record<string, unknown>
  // for…in, not Object.entries: no array per origin (a decoded message is a plain object with no inherited keys).
  for (const origin in counts) {
    const count = counts[origin]
    if (!Number.isSafeInteger(count) || (count as number) < 0) throw bad(from, `a.${origin}`, 'a non-negative integer')
  }
  if (message.r !== undefined) {
    if (!Array.isArray(message.r)) throw bad(from, 'r', 'an array of entries')
    // An indexed loop, not forEach: forEach skips a sparse array's holes, which the orderer would then read.
    for (let index = 0; index < message.r.length; index++) {
      const entry: unknown = message.r[index]
      if (!Array.isArray(entry) || entry.length !== 3) throw bad(from, `r[${index}]`, '[time, n, request]')
      const [time, n, request] = entry as unknown[]
      if (!Number.isSafeInteger(time) || (time as number) < 1) throw bad(from, `r[${index}][0]`, 'a positive integer stamp')
      if (!Number.isSafeInteger(n) || (n as number) < 1) throw bad(from, `r[${index}][1]`, 'a positive integer')
      checkRequest(from, `r[${index}][2]`, request)
    }
  }
  return value as unknown as LamportMessage
}

function checkRequest(from: string, field: string, value: unknown): void {
  if (typeof value !== 'object' || value === null) throw bad(from, field, 'a request object')
  const request = value as Record<string, unknown>
  if (typeof request.client !== 'string') throw bad(from, `${field}.client`, 'a string')
  if (!Number.isSafeInteger(request.seq) || (request.seq as number) < 1) throw bad(from, `${field}.seq`, 'an integer >= 1')
  if (!('command' in request)) throw bad(from, `${field}.command`, 'present')
}

/** The error for a malformed message; its text names the sender (built only then: parsing runs for every message). */
function bad(from: string, field: string, expected: string): LockstepError {
  return new LockstepError(ErrorCodes.MALFORMED_MESSAGE, `lamport message from '${from}': ${field} must be ${expected}`, { path: field })
}
