import { ErrorCodes, LockstepError } from '@lockstep/interface'
import { certificatesOf, readRevocationLists, revocationListsProblem } from './crl'
import type { Pem, TlsCredentials } from './options'

/** The `ca`, `cert`, `key` and `crl` options of node:tls from {@link TlsCredentials}. */
export function tlsSecureContextOptions(tls: TlsCredentials): { ca: (string | Buffer)[]; cert: string | Buffer; key: string | Buffer; crl?: (string | Buffer)[] } {
  const cas = Array.isArray(tls.ca) ? (tls.ca as readonly Pem[]) : [tls.ca as Pem]
  const options = { ca: cas.map(pem), cert: pem(tls.cert), key: pem(tls.key) }
  if (tls.crl === undefined) return options
  const crls = Array.isArray(tls.crl) ? (tls.crl as readonly Pem[]) : [tls.crl as Pem]
  return { ...options, crl: crls.map(pem) }
}

/**
 * Checks the revocation lists of `tls` before any handshake: each well-formed and signed by a CA of `tls.ca`, and
 * every CA with one. Throws `INVALID_CONFIG` naming `where` otherwise.
 */
export function checkTlsRevocationLists(tls: TlsCredentials, where: string): void {
  if (tls.crl === undefined) return
  const crls = Array.isArray(tls.crl) ? (tls.crl as readonly Pem[]) : [tls.crl as Pem]
  const lists = crls.flatMap((crl, index) => readRevocationLists(crl, `${where}: auth.tls.crl${crls.length > 1 ? `[${index}]` : ''}`))
  const problem = revocationListsProblem(certificatesOf(tls.ca), lists)
  if (problem !== undefined) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `${where}: auth.tls.crl: ${problem}`)
}

function pem(value: Pem): string | Buffer {
  return typeof value === 'string' ? value : Buffer.from(value)
}
