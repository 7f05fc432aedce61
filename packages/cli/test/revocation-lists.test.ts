import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseClusterConfig } from '../src/cluster-config'
import { processIo } from '../src/io'
import { readClusterRevocationLists } from '../src/revocation-lists'
import { issueCertificates, opensslAvailable, revokeCertificates } from './certificates'

// How a replica or a client reads security.tls.crl before it starts: each list must fit the cluster's CAs.
describe('the revocation lists of a TLS cluster (security.tls.crl)', () => {
  let dir: string
  const configWith = (crl: string | string[] | undefined, ca = 'ca.pem') =>
    parseClusterConfig(JSON.stringify({ replicas: [{ id: 'r1', host: '127.0.0.1', port: 7001, tls: { cert: 'r1.pem', key: 'r1.key' } }], machine: 'kv', security: { tls: { ca, ...(crl === undefined ? {} : { crl }) } } }), join(dir, 'cluster.json'))
  const read = (crl: string | string[] | undefined, now = new Date(), ca = 'ca.pem') => readClusterRevocationLists(configWith(crl, ca), processIo, readFileSync(join(dir, ca), 'utf8'), now)

  beforeAll(() => {
    // Without openssl these fail and say why: every test here runs.
    if (!opensslAvailable()) throw new Error('no openssl binary on the PATH to make the test certificates: install it (Debian: apt-get install -y openssl)')
    dir = mkdtempSync(join(tmpdir(), 'lockstep-crl-config-'))
    issueCertificates(dir, [['r1', 'replica'], ['eve', 'client']])
    revokeCertificates(dir, ['eve'])
    issueCertificates(dir, [['x', 'client']], 'other-ca')
    revokeCertificates(dir, [], 'other-ca')
  })

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('reads the lists a cluster names (none without security.tls.crl)', async () => {
    expect(await read(undefined)).toBeUndefined()
    const lists = await read('ca.crl')
    expect(lists!.pems).toHaveLength(1)
    expect(lists!.lists.map((list) => [list.issuer, list.revoked.size])).toEqual([['CN=lockstep-test-ca', 1]])
  })

  it('refuses a list of another CA, a CA without a list, a list past its next update, and a file that is not a list, naming /security/tls/crl', async () => {
    await expect(read(['ca.crl', 'other-ca.crl'])).rejects.toThrow(/\/security\/tls\/crl: the revocation list of CN=lockstep-test-other-ca was not signed by a CA of the cluster/)
    // Both CAs trusted (a move to a new CA), one list: TLS would refuse every certificate of the other.
    const both = join(dir, 'both.pem')
    await processIo.writeFile(both, readFileSync(join(dir, 'ca.pem'), 'utf8') + readFileSync(join(dir, 'other-ca.pem'), 'utf8'))
    await expect(read('ca.crl', new Date(), 'both.pem')).rejects.toThrow(/\/security\/tls\/crl: no revocation list of the CA CN=lockstep-test-other-ca was given/)
    expect((await read(['ca.crl', 'other-ca.crl'], new Date(), 'both.pem'))!.lists).toHaveLength(2)
    const [list] = (await read('ca.crl'))!.lists
    await expect(read('ca.crl', new Date(list!.nextUpdate!.getTime() + 1000))).rejects.toThrow(/\/security\/tls\/crl: the revocation list of CN=lockstep-test-ca expired at /)
    await expect(read(['ca.crl', 'r1.pem'])).rejects.toThrow(/\/security\/tls\/crl\/1: .*r1\.pem: holds no certificate revocation list/)
    await expect(read('missing.crl')).rejects.toThrow(/\/security\/tls\/crl: cannot read .*missing\.crl: ENOENT/)
  })
})
