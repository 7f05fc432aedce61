import { execFileSync } from 'node:child_process'

/** Whether an openssl binary is on the PATH (the tests that make certificates need it). */
export function opensslAvailable(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const openssl = (dir: string, args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })

/** The key of a certificate: an EC P-256 key (the default) or an Ed25519 key. */
export type CertificateKey = 'ec' | 'ed25519'

const newKey = (key: CertificateKey) => (key === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'] : ['-newkey', 'ed25519', '-nodes'])

/**
 * A CA (`<ca>.pem`, `<ca>.key`) and, in `dir`, a certificate and key per node (`<id>.pem`, `<id>.key`) with CN =
 * node id and OU = role, made with openssl as docs/running-a-cluster.md shows (`issuer`: a node certificate that
 * is a CA itself, an intermediate).
 */
export function issueCertificates(dir: string, nodes: readonly (readonly [id: string, role: string, key?: CertificateKey, kind?: 'leaf' | 'issuer'])[], ca = 'ca'): void {
  openssl(dir, ['req', '-x509', ...newKey('ec'), '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '3650', '-subj', `/CN=lockstep-test-${ca}`])
  execFileSync('sh', ['-c', 'printf "basicConstraints=CA:FALSE\\nkeyUsage=digitalSignature\\nextendedKeyUsage=serverAuth,clientAuth\\n" > leaf.ext'], { cwd: dir })
  execFileSync('sh', ['-c', 'printf "basicConstraints=critical,CA:TRUE\\nkeyUsage=keyCertSign,digitalSignature\\n" > issuer.ext'], { cwd: dir })
  nodes.forEach(([id, role, key, kind], i) => {
    openssl(dir, ['req', '-new', ...newKey(key ?? 'ec'), '-keyout', `${id}.key`, '-out', `${id}.csr`, '-subj', `/CN=${id}/OU=${role}`])
    openssl(dir, ['x509', '-req', '-in', `${id}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-set_serial', String(i + 2), '-days', '3650', '-extfile', `${kind ?? 'leaf'}.ext`, '-out', `${id}.pem`])
  })
}

/**
 * Revokes the certificates of `ids` (made by `issueCertificates` in `dir`) and writes the CA's revocation list to
 * `<ca>.crl` with `openssl ca`, as docs/operations.md shows; the list is due for renewal after `seconds`.
 */
export function revokeCertificates(dir: string, ids: readonly string[], ca = 'ca', seconds = 30 * 86_400): string {
  const config = `${ca}-crl.cnf`
  execFileSync('sh', ['-c', `test -f ${ca}.index || : > ${ca}.index; test -f ${ca}.crlnumber || echo 01 > ${ca}.crlnumber`], { cwd: dir })
  execFileSync('sh', ['-c', `printf "[ca]\\ndefault_ca = ca_default\\n[ca_default]\\ndatabase = ${ca}.index\\ncrlnumber = ${ca}.crlnumber\\ndefault_md = sha256\\n" > ${config}`], { cwd: dir })
  const base = ['ca', '-config', config, '-keyfile', `${ca}.key`, '-cert', `${ca}.pem`]
  for (const id of ids) openssl(dir, [...base, '-revoke', `${id}.pem`])
  openssl(dir, [...base, '-gencrl', '-crlsec', String(seconds), '-out', `${ca}.crl`])
  return `${ca}.crl`
}
