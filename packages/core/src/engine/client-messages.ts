import { ErrorCodes, LockstepError, type ClientId, type Request } from '@lockstep/interface'

/** Checks that a value is a well-formed request; throws MALFORMED_MESSAGE naming the field otherwise. */
export function parseRequest(value: unknown, where: string): Request {
  if (typeof value !== 'object' || value === null) throw malformed(where, 'request', 'an object')
  const request = value as Record<string, unknown>
  if (typeof request.client !== 'string' || request.client.length === 0) throw malformed(where, 'request.client', 'a non-empty string')
  if (!Number.isSafeInteger(request.seq) || (request.seq as number) < 1) throw malformed(where, 'request.seq', 'an integer >= 1')
  if (!('command' in request)) throw malformed(where, 'request.command', 'present')
  if (request.ackedBelow !== undefined && (!Number.isSafeInteger(request.ackedBelow) || (request.ackedBelow as number) < 0 || (request.ackedBelow as number) > (request.seq as number))) {
    throw malformed(where, 'request.ackedBelow', 'an integer between 0 and request.seq')
  }
  if (request.incarnation !== undefined && (!Number.isSafeInteger(request.incarnation) || (request.incarnation as number) < 0)) {
    throw malformed(where, 'request.incarnation', 'a non-negative integer')
  }
  if (request.outputsAckedBelow !== undefined && (!Number.isSafeInteger(request.outputsAckedBelow) || (request.outputsAckedBelow as number) < 0)) {
    throw malformed(where, 'request.outputsAckedBelow', 'a non-negative integer')
  }
  if (request.replyFromAll !== undefined && typeof request.replyFromAll !== 'boolean') throw malformed(where, 'request.replyFromAll', 'a boolean')
  // Any clock reading: a simulated clock set back may read below zero (agreed time never goes below 0).
  if (request.time !== undefined && (typeof request.time !== 'number' || !Number.isFinite(request.time))) {
    throw malformed(where, 'request.time', 'a finite number of milliseconds')
  }
  return value as Request
}

/** A client's message: a request, a request for the outputs it may have missed, or for a reply's evidence. */
export type ClientMessage =
  | { readonly type: 'request'; readonly request: Request }
  | { readonly type: 'outputs'; readonly from: number }
  | { readonly type: 'evidence'; readonly client: ClientId; readonly seq: number; readonly incarnation: number }

/** Checks a client's message; a request's client must be the connection's own id (no posing as another). */
export function parseClientMessage(client: ClientId, value: unknown): ClientMessage {
  const where = `message from client '${client}'`
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined
  if (type === 'outputs') {
    const from = (value as { from?: unknown }).from
    if (!Number.isSafeInteger(from) || (from as number) < 1) throw malformed(where, 'from', 'an integer >= 1')
    return value as ClientMessage
  }
  if (type === 'evidence') {
    // Any client may ask about any client's request: external readers verify what they are served.
    const { client: of, seq, incarnation } = value as { client?: unknown; seq?: unknown; incarnation?: unknown }
    if (typeof of !== 'string' || of.length === 0) throw malformed(where, 'client', 'a non-empty string')
    if (!Number.isSafeInteger(seq) || (seq as number) < 1) throw malformed(where, 'seq', 'an integer >= 1')
    if (incarnation !== undefined && (!Number.isSafeInteger(incarnation) || (incarnation as number) < 0)) throw malformed(where, 'incarnation', 'a non-negative integer')
    return { type: 'evidence', client: of, seq: seq as number, incarnation: (incarnation as number | undefined) ?? 0 }
  }
  if (type !== 'request') throw malformed(where, 'type', "'request', 'outputs' or 'evidence'")
  const request = parseRequest((value as { request?: unknown }).request, where)
  if (request.client !== client) {
    throw new LockstepError(ErrorCodes.AUTH_FAILED, `client '${client}' sent a request in the name of '${request.client}'; refused`)
  }
  return value as ClientMessage
}

/** The error for a message field that does not have the required shape. */
export function malformed(where: string, field: string, expected: string): LockstepError {
  return new LockstepError(ErrorCodes.MALFORMED_MESSAGE, `${where}: ${field} must be ${expected}`, { path: field })
}
