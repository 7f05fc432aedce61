import { X509Certificate } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { certificatesOf, readRevocationLists, revocationListsProblem, revokedBy } from '../src/index'
import { tcp } from '../src/index'
import { CLUSTER, HOST } from './helpers'
import { TestPki, opensslAvailable } from './test-pki'

if (!opensslAvailable()) {
  // Without openssl these tests fail and say why: none is left out.
  describe('certificate revocation lists', () => {
    it('makes its test lists with openssl', () => {
      throw new Error('no openssl binary on the PATH to make the test certificates: install it (Debian: apt-get install -y openssl)')
    })
  })
} else {
  const pki = new TestPki()
  afterAll(() => pki.dispose())
  const ca = pki.createCa('crl-test-ca')
  const other = pki.createCa('crl-other-ca')
  const kept = ca.issue('r1', 'replica')
  const gone = ca.issue('r2', 'replica')
  ca.revoke(gone)
  const list = ca.crl()
  const caCert = new X509Certificate(ca.cert)

  describe('certificate revocation lists', () => {
    it('reads the serial numbers a CA revoked, its dates and its issuer', () => {
      const [read, more] = readRevocationLists(list, 'test')
      expect(more).toBeUndefined()
      expect(read!.issuer).toBe('CN=crl-test-ca')
      expect([...read!.revoked]).toEqual([new X509Certificate(gone.cert).serialNumber.toUpperCase()])
      expect(read!.revokes(new X509Certificate(gone.cert))).toBe(true)
      expect(read!.revokes(new X509Certificate(kept.cert))).toBe(false)
      const days = (read!.nextUpdate!.getTime() - read!.thisUpdate.getTime()) / 86_400_000
      expect(days).toBeCloseTo(30, 3)
    })

    it('checks its signature with the CA\'s key, and refuses a list whose signed part was changed', () => {
      const [read] = readRevocationLists(list, 'test')
      expect(read!.signedBy(caCert)).toBe(true)
      expect(read!.signedBy(new X509Certificate(other.cert))).toBe(false)
      // The revoked serial number, changed by one bit inside the signed part: the signature no longer holds.
      const der = Buffer.from(list.replace(/-----[^-]+-----|\s/g, ''), 'base64')
      const serial = Buffer.from(new X509Certificate(gone.cert).serialNumber, 'hex')
      const at = der.indexOf(Buffer.concat([Buffer.from([0x02, serial.length]), serial])) // INTEGER, its length, the serial
      expect(at).toBeGreaterThan(0)
      der[at + 1 + serial.length]! ^= 1
      const tampered = `-----BEGIN X509 CRL-----\n${der.toString('base64')}\n-----END X509 CRL-----\n`
      const [changed] = readRevocationLists(tampered, 'test')
      expect(changed!.revokes(new X509Certificate(gone.cert))).toBe(false)
      expect(changed!.signedBy(caCert)).toBe(false)
    })

    it('names the certificate a list revokes, and the list, for a CA', () => {
      const lists = readRevocationLists(list + other.crl(), 'test')
      expect(lists).toHaveLength(2)
      expect(revokedBy(new X509Certificate(gone.cert), caCert, lists)?.issuer).toBe('CN=crl-test-ca')
      expect(revokedBy(new X509Certificate(kept.cert), caCert, lists)).toBeUndefined()
    })

    it('says what is wrong with lists for a set of CAs: a CA without one, one from another CA, one past its next update', () => {
      const lists = readRevocationLists(list, 'test')
      const cas = certificatesOf([ca.cert, other.cert])
      expect(cas).toHaveLength(2)
      expect(revocationListsProblem([caCert], lists, new Date())).toBeUndefined()
      expect(revocationListsProblem(cas, lists)).toMatch(/^no revocation list of the CA CN=crl-other-ca was given: with revocation lists, TLS refuses every certificate of a CA that has none$/)
      expect(revocationListsProblem([caCert], readRevocationLists(other.crl(), 'test'))).toBe('the revocation list of CN=crl-other-ca was not signed by a CA of the cluster')
      const later = new Date(lists[0]!.nextUpdate!.getTime() + 1000)
      expect(revocationListsProblem([caCert], lists, later)).toMatch(/^the revocation list of CN=crl-test-ca expired at .*Z \(its next update\): TLS refuses every certificate while it is given; make a new one \(openssl ca -gencrl\)$/)
    })

    it('refuses text that holds no list, or a list that is not one, naming where', () => {
      expect(() => readRevocationLists(ca.cert, '/security/tls/crl')).toThrow(/^\/security\/tls\/crl: holds no certificate revocation list \(a PEM block "-----BEGIN X509 CRL-----"\)$/)
      expect(() => readRevocationLists('-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----', 'crl.pem')).toThrow(/^crl\.pem: its revocation list 1 is not a well-formed CRL: /)
    })

    it('a transport refuses lists that do not fit its CAs before it starts', () => {
      const options = { self: 'r1', clusterId: CLUSTER, listen: { host: HOST, port: 0 }, peers: [{ id: 'r1', host: HOST, port: 1 }] }
      const build = (crl: string) => tcp({ ...options, auth: { tls: { ca: ca.cert, cert: kept.cert, key: kept.key, crl } } })({ self: 'r1', log: { debug() {}, info() {}, warn() {}, error() {} }, scheduler: { now: () => 0, setTimeout: () => 0 as never, clearTimeout() {}, defer() {} } as never })
      expect(() => build(other.crl())).toThrow(/auth\.tls\.crl: the revocation list of CN=crl-other-ca was not signed by a CA of the cluster/)
      expect(() => build(ca.cert)).toThrow(/auth\.tls\.crl: holds no certificate revocation list/)
    })
  })
}
