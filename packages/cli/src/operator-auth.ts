import { X509Certificate, createHash, createHmac, createPrivateKey, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto'
import { revokedBy, type RevocationList } from '@lockstep/transport-tcp'

/** The scheme of the `Authorization` header of an operator's request to a replica's HTTP endpoint. */
export const OPERATOR_AUTH_SCHEME = 'Lockstep-HMAC-SHA256'

/**
 * The scheme of a TLS cluster's operator requests (it has no replica secret): a signature with the key of a
 * certificate the cluster's CA issued, the certificate in the header.
 */
export const OPERATOR_CERT_AUTH_SCHEME = 'Lockstep-Cert-Signature'

/** How far the time of a signed request may be from the replica's clock. */
export const OPERATOR_AUTH_WINDOW_MS = 60_000

/** An operator's request to one replica's endpoint, as a signature covers it (with the time it was signed at). */
export interface OperatorRequest {
  readonly clusterId: string
  /** The replica asked. */
  readonly replica: string
  readonly method: string
  readonly path: string
  readonly body: string
}

/** What a signature covers: the cluster, the replica asked, the method and path, the time and the body. */
function signedText({ clusterId, replica, method, path, body }: OperatorRequest, timeMs: number): string {
  return ['lockstep-operator-v1', clusterId, replica, method.toUpperCase(), path, String(timeMs), body].join('\n')
}

/** Why a signature's time is refused (too far from this replica's clock), or undefined. */
function timeProblem(timeMs: number, nowMs: number): string | undefined {
  if (Math.abs(nowMs - timeMs) <= OPERATOR_AUTH_WINDOW_MS) return undefined
  return `the signature's time is ${Math.round((timeMs - nowMs) / 1000)} s from this replica's clock (at most ${OPERATOR_AUTH_WINDOW_MS / 1000} s allowed): check the clocks`
}

/** Records a signed request (`key`) as used; false if it was used within the window before (a replay). */
function firstUse(seen: Map<string, number>, key: string, nowMs: number): boolean {
  for (const [used, at] of seen) if (nowMs - at > 2 * OPERATOR_AUTH_WINDOW_MS) seen.delete(used)
  if (seen.has(key)) return false
  seen.set(key, nowMs)
  return true
}

const REPLAYED = 'this signed request was already used (replayed)'

/**
 * The `Authorization` header value of an operator's request: an HMAC-SHA256, keyed with the replica secret, of
 * the cluster id, the replica asked, the method, the path, the time and the body. The secret itself never
 * travels, a signature fits one replica and one request only, and it expires after {@link OPERATOR_AUTH_WINDOW_MS}.
 */
export function signOperatorRequest(secret: string, request: OperatorRequest, timeMs: number): string {
  const mac = createHmac('sha256', secret).update(signedText(request, timeMs)).digest('hex')
  return `${OPERATOR_AUTH_SCHEME} time=${timeMs},mac=${mac}`
}

/**
 * Checks an operator's request: undefined when the signature is right and fresh and was not seen before (the
 * caller remembers `seen` signatures for the window), otherwise why it is refused.
 */
export function operatorAuthProblem(header: string | undefined, secret: string, request: OperatorRequest, nowMs: number, seen: Map<string, number>): string | undefined {
  if (header === undefined) return `no Authorization header: sign the request with the replica secret (${OPERATOR_AUTH_SCHEME}; \`lockstep member\` does)`
  const match = new RegExp(`^${OPERATOR_AUTH_SCHEME} time=(\\d+),mac=([0-9a-f]{64})$`).exec(header)
  if (!match) return `the Authorization header is not "${OPERATOR_AUTH_SCHEME} time=<ms>,mac=<hex>"`
  const timeMs = Number(match[1])
  const late = timeProblem(timeMs, nowMs)
  if (late !== undefined) return late
  const expected = createHmac('sha256', secret).update(signedText(request, timeMs)).digest()
  const given = Buffer.from(match[2]!, 'hex')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'the signature does not match: a wrong replica secret, or a request meant for another replica or cluster'
  return firstUse(seen, match[2]!, nowMs) ? undefined : REPLAYED
}

/** A certificate (PEM) and its private key (PEM) that sign an operator's requests to a TLS cluster. */
export interface OperatorCertificate {
  readonly cert: string
  readonly key: string
}

/** The signature algorithm for `key`: Ed25519 and Ed448 take none (they hash themselves), others SHA-256. */
function digestFor(key: KeyObject): string | null {
  return key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448' ? null : 'sha256'
}

/**
 * The `Authorization` header value of an operator's request to a TLS cluster: the certificate (DER, base64) and
 * a signature with its key over the same text as {@link signOperatorRequest}'s (the cluster id, the replica asked,
 * the method, the path, the time and the body). The key never travels; a signature fits one replica and one
 * request, and expires after {@link OPERATOR_AUTH_WINDOW_MS}. Throws if the certificate or the key cannot be read.
 */
export function signOperatorRequestWithCertificate(credentials: OperatorCertificate, request: OperatorRequest, timeMs: number): string {
  const certificate = new X509Certificate(credentials.cert)
  const key = createPrivateKey(credentials.key)
  const signature = sign(digestFor(key), Buffer.from(signedText(request, timeMs)), key)
  return `${OPERATOR_CERT_AUTH_SCHEME} time=${timeMs},cert=${certificate.raw.toString('base64')},sig=${signature.toString('base64')}`
}

/** A certificate's subject fields (`CN`, `OU`, ...), each with all its values. */
export function subjectFields(certificate: X509Certificate): Map<string, string[]> {
  const fields = new Map<string, string[]>()
  for (const line of certificate.subject.split('\n')) {
    const at = line.indexOf('=')
    if (at <= 0) continue
    const name = line.slice(0, at)
    fields.set(name, [...(fields.get(name) ?? []), line.slice(at + 1)])
  }
  return fields
}

/** Who may sign a TLS cluster's operator requests. */
export interface OperatorTrust {
  /** The cluster's CA certificates (`security.tls.ca`): the signer's certificate must be issued by one. */
  readonly cas: readonly X509Certificate[]
  /** The replicas of the configuration: a replica's certificate (OU = replica, CN = its id) may sign. */
  readonly replicas: readonly string[]
  /** The cluster's revocation lists (`security.tls.crl`): a certificate one of its CA's lists names may not sign. */
  readonly revocationLists?: readonly RevocationList[]
}

/**
 * Checks a TLS cluster's operator request: `{ operator }` (who signed: the certificate's CN) when the certificate
 * was issued by the cluster's CA, is valid now, is an operator's (OU = operator) or a configured replica's (OU =
 * replica, CN = its id), and signed this request freshly and for the first time (the caller remembers `seen`
 * signatures for the window); otherwise `{ problem }`, why it is refused. A client's certificate is refused:
 * changing membership is an act of the cluster's operators, not of its clients.
 */
export function operatorCertificateProblem(
  header: string | undefined,
  trust: OperatorTrust,
  request: OperatorRequest,
  nowMs: number,
  seen: Map<string, number>,
): { readonly problem: string } | { readonly operator: string } {
  if (header === undefined) return { problem: `no Authorization header: sign the request with an operator's certificate (${OPERATOR_CERT_AUTH_SCHEME}; \`lockstep member --cert --key\` does)` }
  if (header.startsWith(`${OPERATOR_AUTH_SCHEME} `)) return { problem: `the request is signed with a replica secret, and this cluster uses TLS: sign it with an operator's certificate (${OPERATOR_CERT_AUTH_SCHEME})` }
  const match = new RegExp(`^${OPERATOR_CERT_AUTH_SCHEME} time=(\\d+),cert=([A-Za-z0-9+/=]+),sig=([A-Za-z0-9+/=]+)$`).exec(header)
  if (!match) return { problem: `the Authorization header is not "${OPERATOR_CERT_AUTH_SCHEME} time=<ms>,cert=<base64>,sig=<base64>"` }
  const timeMs = Number(match[1])
  const late = timeProblem(timeMs, nowMs)
  if (late !== undefined) return { problem: late }
  let certificate: X509Certificate
  try {
    certificate = new X509Certificate(Buffer.from(match[2]!, 'base64'))
  } catch (error) {
    return { problem: `the certificate in the Authorization header cannot be read: ${(error as Error).message}` }
  }
  const named = `certificate ${JSON.stringify(certificate.subject.replace(/\n/g, ', '))}`
  const issuer = trust.cas.find((ca) => certificate.checkIssued(ca) && certificate.verify(ca.publicKey))
  if (issuer === undefined) return { problem: `the ${named} was not issued by the cluster's CA (security.tls.ca)` }
  const revoked = trust.revocationLists && revokedBy(certificate, issuer, trust.revocationLists)
  if (revoked) return { problem: `the ${named} was revoked: the revocation list of ${revoked.issuer} (security.tls.crl) names its serial number ${certificate.serialNumber}` }
  if (certificate.ca) return { problem: `the ${named} is a CA's: sign with an operator's certificate` }
  if (nowMs < Date.parse(certificate.validFrom) || nowMs > Date.parse(certificate.validTo)) return { problem: `the ${named} is not valid now (from ${certificate.validFrom} to ${certificate.validTo})` }
  const subject = subjectFields(certificate)
  const commonName = subject.get('CN')?.[0]
  const units = subject.get('OU') ?? []
  const replicaOwn = units.includes('replica') && commonName !== undefined && trust.replicas.includes(commonName)
  if (commonName === undefined || (!units.includes('operator') && !replicaOwn)) {
    return { problem: `the ${named} may not change membership: only an operator's certificate (OU = operator) or a replica's (OU = replica, CN = a replica of the configuration) may` }
  }
  const text = Buffer.from(signedText(request, timeMs))
  let valid: boolean
  try {
    valid = verify(digestFor(certificate.publicKey), text, certificate.publicKey, Buffer.from(match[3]!, 'base64'))
  } catch {
    valid = false
  }
  if (!valid) return { problem: `the signature does not match the ${named}: another key, or a request meant for another replica or cluster` }
  // A replay is known by what was signed, not by the signature: an ECDSA signature has a twin as valid as itself
  // ((r, s) and (r, n - s)), which a captured request could be sent again with.
  const signed = createHash('sha256').update(certificate.raw).update(text).digest('hex')
  return firstUse(seen, signed, nowMs) ? { operator: commonName } : { problem: REPLAYED }
}
