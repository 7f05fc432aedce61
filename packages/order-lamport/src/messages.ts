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
  const where = `lamport message from '${from}'`
  if (typeof value !== 'object' || value === null) throw bad(where, 'message', 'an object')
  const message = value as Record<string, unknown>
  if (message.t !== 'lamport') throw bad(where, 't', "'lamport'")
  if (!Number.isSafeInteger(message.c) || (message.c as number) < 0) throw bad(where, 'c', 'a non-negative integer clock')
  if (typeof message.a !== 'object' || message.a === null || Array.isArray(message.a)) throw bad(where, 'a', 'an object of counts')
  for (const [origin, count] of Object.entries(message.a)) {
    if (!Number.isSafeInteger(count) || (count as number) < 0) throw bad(where, `a.${origin}`, 'a non-negative integer')
  }
  if (message.r !== undefined) {
    if (!Array.isArray(message.r)) throw bad(where, 'r', 'an array of entries')
    // An indexed loop, not forEach: forEach skips a sparse array's holes, which the orderer would then read.
    for (let index = 0; index < message.r.length; index++) {
      const entry: unknown = message.r[index]
      if (!Array.isArray(entry) || entry.length !== 3) throw bad(where, `r[${index}]`, '[time, n, request]')
      const [time, n, request] = entry as unknown[]
      if (!Number.isSafeInteger(time) || (time as number) < 1) throw bad(where, `r[${index}][0]`, 'a positive integer stamp')
      if (!Number.isSafeInteger(n) || (n as number) < 1) throw bad(where, `r[${index}][1]`, 'a positive integer')
      checkRequest(where, `r[${index}][2]`, request)
    }
  }
  return value as unknown as LamportMessage
}

function checkRequest(where: string, field: string, value: unknown): void {
  if (typeof value !== 'object' || value === null) throw bad(where, field, 'a request object')
  const request = value as Record<string, unknown>
  if (typeof request.client !== 'string') throw bad(where, `${field}.client`, 'a string')
  if (!Number.isSafeInteger(request.seq) || (request.seq as number) < 1) throw bad(where, `${field}.seq`, 'an integer >= 1')
  if (!('command' in request)) throw bad(where, `${field}.command`, 'present')
}

function bad(where: string, field: string, expected: string): LockstepError {
  return new LockstepError(ErrorCodes.MALFORMED_MESSAGE, `${where}: ${field} must be ${expected}`, { path: field })
}
