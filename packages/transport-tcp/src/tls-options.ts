import { ErrorCodes, LockstepError } from '@lockstep/interface'
import { certificatesOf, pemItems, readRevocationLists, revocationListsProblem, type RevocationList } from './crl'
import type { Pem, TlsCredentials } from './options'

/** The `ca`, `cert`, `key` and `crl` options of node:tls from {@link TlsCredentials}. */
export function tlsSecureContextOptions(tls: TlsCredentials): { ca: (string | Buffer)[]; cert: string | Buffer; key: string | Buffer; crl?: (string | Buffer)[] } {
  const options = { ca: pemItems(tls.ca).map(pem), cert: pem(tls.cert), key: pem(tls.key) }
  return tls.crl === undefined ? options : { ...options, crl: pemItems(tls.crl).map(pem) }
}

/**
 * Checks the revocation lists of `tls` before any handshake: each well-formed and signed by a CA of `tls.ca`, and
 * every CA with one. Throws `INVALID_CONFIG` naming `where` otherwise; returns the lists read (none without `crl`).
 */
export function checkTlsRevocationLists(tls: TlsCredentials, where: string): RevocationList[] {
  if (tls.crl === undefined) return []
  const crls = pemItems(tls.crl)
  const lists = crls.flatMap((crl, index) => readRevocationLists(crl, `${where}: auth.tls.crl${crls.length > 1 ? `[${index}]` : ''}`))
  const problem = revocationListsProblem(certificatesOf(tls.ca), lists)
  if (problem !== undefined) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `${where}: auth.tls.crl: ${problem}`)
  return lists
}

function pem(value: Pem): string | Buffer {
  return typeof value === 'string' ? value : Buffer.from(value)
}
