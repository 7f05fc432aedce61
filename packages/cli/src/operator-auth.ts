import { createHmac, timingSafeEqual } from 'node:crypto'

/** The scheme of the `Authorization` header of an operator's request to a replica's HTTP endpoint. */
export const OPERATOR_AUTH_SCHEME = 'Lockstep-HMAC-SHA256'

/** How far the time of a signed request may be from the replica's clock. */
export const OPERATOR_AUTH_WINDOW_MS = 60_000

/** What a signature covers: the cluster, the replica asked, the method and path, the time and the body. */
function signedText(clusterId: string, replica: string, method: string, path: string, timeMs: number, body: string): string {
  return ['lockstep-operator-v1', clusterId, replica, method.toUpperCase(), path, String(timeMs), body].join('\n')
}

/**
 * The `Authorization` header value of an operator's request: an HMAC-SHA256, keyed with the replica secret, of
 * the cluster id, the replica asked, the method, the path, the time and the body. The secret itself never
 * travels, a signature fits one replica and one request only, and it expires after {@link OPERATOR_AUTH_WINDOW_MS}.
 */
export function signOperatorRequest(secret: string, clusterId: string, replica: string, method: string, path: string, body: string, timeMs: number): string {
  const mac = createHmac('sha256', secret).update(signedText(clusterId, replica, method, path, timeMs, body)).digest('hex')
  return `${OPERATOR_AUTH_SCHEME} time=${timeMs},mac=${mac}`
}

/**
 * Checks an operator's request: undefined when the signature is right and fresh and was not seen before (the
 * caller remembers `seen` signatures for the window), otherwise why it is refused.
 */
export function operatorAuthProblem(
  header: string | undefined,
  secret: string,
  clusterId: string,
  replica: string,
  method: string,
  path: string,
  body: string,
  nowMs: number,
  seen: Map<string, number>,
): string | undefined {
  if (header === undefined) return `no Authorization header: sign the request with the replica secret (${OPERATOR_AUTH_SCHEME}; \`lockstep member\` does)`
  const match = new RegExp(`^${OPERATOR_AUTH_SCHEME} time=(\\d+),mac=([0-9a-f]{64})$`).exec(header)
  if (!match) return `the Authorization header is not "${OPERATOR_AUTH_SCHEME} time=<ms>,mac=<hex>"`
  const timeMs = Number(match[1])
  if (Math.abs(nowMs - timeMs) > OPERATOR_AUTH_WINDOW_MS) return `the signature's time is ${Math.round((timeMs - nowMs) / 1000)} s from this replica's clock (at most ${OPERATOR_AUTH_WINDOW_MS / 1000} s allowed): check the clocks`
  const expected = createHmac('sha256', secret).update(signedText(clusterId, replica, method, path, timeMs, body)).digest()
  const given = Buffer.from(match[2]!, 'hex')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'the signature does not match: a wrong replica secret, or a request meant for another replica or cluster'
  for (const [mac, at] of seen) if (nowMs - at > 2 * OPERATOR_AUTH_WINDOW_MS) seen.delete(mac)
  if (seen.has(match[2]!)) return 'this signed request was already used (replayed)'
  seen.set(match[2]!, nowMs)
  return undefined
}
