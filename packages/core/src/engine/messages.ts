import { ErrorCodes, LockstepError, type ClientId, type Request } from '@lockstep/interface'

/** Envelope of every replica-to-replica message the engine sends: `o` carries an orderer's message. */
export type PeerEnvelope = { readonly k: 'o'; readonly m: unknown }

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
  return value as Request
}

/** Checks a client's message; the request's client must be the connection's own id (no posing as another). */
export function parseClientMessage(client: ClientId, value: unknown): Request {
  if (typeof value !== 'object' || value === null || (value as { type?: unknown }).type !== 'request') {
    throw malformed(`message from client '${client}'`, 'type', "'request'")
  }
  const request = parseRequest((value as { request?: unknown }).request, `message from client '${client}'`)
  if (request.client !== client) {
    throw new LockstepError(ErrorCodes.AUTH_FAILED, `client '${client}' sent a request in the name of '${request.client}'; refused`)
  }
  return request
}

/** The error for a message field that does not have the required shape. */
export function malformed(where: string, field: string, expected: string): LockstepError {
  return new LockstepError(ErrorCodes.MALFORMED_MESSAGE, `${where}: ${field} must be ${expected}`, { path: field })
}
