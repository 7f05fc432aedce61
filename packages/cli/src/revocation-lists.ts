// The certificate revocation lists of a TLS cluster (`security.tls.crl`), read and checked as a process starts, and
// again while it runs (a replica on SIGHUP, a client program when it asks).

import { certificatesOf, readRevocationLists, revocationListsProblem, type Pem, type RevocationList } from '@lockstep/transport-tcp'
import { configError, configPath, type LoadedClusterConfig } from './cluster-config'
import type { Io } from './io'

/** The lists as node:tls takes them (PEM, one text per file) and as read for checks outside TLS. */
export interface ClusterRevocationLists {
  readonly pems: readonly string[]
  readonly lists: readonly RevocationList[]
}

/**
 * Reads the files of `security.tls.crl` and checks them against the cluster's CA certificates (`ca`, PEM: one text or several) at `now`:
 * each file holds well-formed lists signed by a CA of the cluster, every CA has one, and none is past its next
 * update (node:tls would then refuse every certificate of its CA). Undefined without `security.tls.crl`; throws
 * INVALID_CONFIG naming `/security/tls/crl` otherwise.
 */
export async function readClusterRevocationLists(config: LoadedClusterConfig, io: Io, ca: Pem | readonly Pem[], now: Date): Promise<ClusterRevocationLists | undefined> {
  const crl = config.security.tls?.crl
  if (crl === undefined) return undefined
  const files = typeof crl === 'string' ? [crl] : crl
  const pems: string[] = []
  const lists: RevocationList[] = []
  for (const [index, file] of files.entries()) {
    const pointer = typeof crl === 'string' ? '/security/tls/crl' : `/security/tls/crl/${index}`
    const path = configPath(config, file)
    try {
      const pem = await io.readFile(path)
      lists.push(...readRevocationLists(pem, path))
      pems.push(pem)
    } catch (cause) {
      throw configError(config.file, [{ path: pointer, message: (cause as Error).message.startsWith(path) ? (cause as Error).message : `cannot read ${path}: ${(cause as Error).message}` }])
    }
  }
  const problem = revocationListsProblem(certificatesOf(ca), lists, now)
  if (problem !== undefined) throw configError(config.file, [{ path: '/security/tls/crl', message: problem }])
  return { pems, lists }
}

/** What a reload of the revocation lists put in place: the lists, and how many connections it closed. */
export interface ReloadedRevocationLists {
  readonly lists: readonly RevocationList[]
  readonly closed: number
}

/**
 * Reads the files of `security.tls.crl` again ({@link readClusterRevocationLists}: INVALID_CONFIG when they do not
 * fit, and nothing changes) and hands them to `transport`, which closes the connections they revoke. Undefined
 * without `security.tls.crl`. A replica does it on SIGHUP, a client program when it asks (`ClusterClient`).
 */
export async function reloadRevocationLists(config: LoadedClusterConfig, io: Io, ca: Pem | readonly Pem[], transport: { setRevocationLists(crl: readonly string[]): number }): Promise<ReloadedRevocationLists | undefined> {
  if (config.security.tls?.crl === undefined) return undefined
  const revocation = (await readClusterRevocationLists(config, io, ca, new Date()))!
  return { lists: revocation.lists, closed: transport.setRevocationLists(revocation.pems) }
}
