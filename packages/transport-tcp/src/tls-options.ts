import { ErrorCodes, LockstepError } from '@lockstep/interface'
import type { TLSSocket } from 'node:tls'
import type { Connection } from './connection'
import { certificatesOf, pemItems, readRevocationLists, revocationListsProblem, revokedBy, type RevocationList } from './crl'
import { invalid, type Pem, type TlsCredentials } from './options'

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

/**
 * The credentials `current` with the revocation lists `crl` in place of its own (undefined: none), checked as
 * {@link checkTlsRevocationLists} checks them (`INVALID_CONFIG` naming `where`, also when there is no TLS to put
 * them in); returns them with the lists read.
 */
export function withRevocationLists(current: TlsCredentials | undefined, crl: Pem | readonly Pem[] | undefined, where: string): { readonly tls: TlsCredentials; readonly lists: RevocationList[] } {
  if (current === undefined) invalid(where, 'setRevocationLists needs mutual TLS (auth.tls)')
  const { crl: _old, ...without } = current
  const tls: TlsCredentials = crl === undefined ? without : { ...without, crl }
  return { tls, lists: checkTlsRevocationLists(tls, where) }
}

/** Closes each of `connections` whose peer's certificate one of `lists` names (issued by a CA of `tls.ca`); returns how many. */
export function closeRevoked(connections: Iterable<Connection>, tls: TlsCredentials, lists: readonly RevocationList[]): number {
  if (lists.length === 0) return 0
  const cas = certificatesOf(tls.ca)
  let closed = 0
  for (const connection of [...connections]) {
    const certificate = (connection.socket as TLSSocket).getPeerX509Certificate?.()
    const issuer = certificate && cas.find((ca) => certificate.checkIssued(ca))
    const list = issuer && revokedBy(certificate, issuer, lists)
    if (!list) continue
    closed++
    connection.close(`its certificate (serial number ${certificate.serialNumber}) is revoked: the revocation list of ${list.issuer} names it`, 'warn')
  }
  return closed
}
