import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  OPERATOR_AUTH_WINDOW_MS,
  operatorAuthProblem,
  operatorCertificateProblem,
  signOperatorRequest,
  signOperatorRequestWithCertificate,
  type OperatorTrust,
} from '../src/operator-auth'
import { certificatesOf, readRevocationLists } from '@lockstep/transport-tcp'
import { issueCertificates, opensslAvailable, revokeCertificates } from './certificates'

const secret = 'r'.repeat(32)
const body = JSON.stringify({ action: 'remove', replica: 'r3' })
const at = 1_800_000_000_000
const sign = (overrides: Partial<{ secret: string; cluster: string; replica: string; path: string; body: string; time: number }> = {}) =>
  signOperatorRequest(overrides.secret ?? secret, { clusterId: overrides.cluster ?? 'c', replica: overrides.replica ?? 'r1', method: 'POST', path: overrides.path ?? '/members', body: overrides.body ?? body }, overrides.time ?? at)
const request = { clusterId: 'c', replica: 'r1', method: 'POST', path: '/members', body }
const check = (header: string | undefined, seen = new Map<string, number>(), nowMs = at) => operatorAuthProblem(header, secret, request, nowMs, seen)

describe('signed operator requests', () => {
  it('accept a fresh request signed with the replica secret, once', () => {
    const seen = new Map<string, number>()
    expect(check(sign(), seen)).toBeUndefined()
    expect(check(sign(), seen)).toBe('this signed request was already used (replayed)')
  })

  it('refuse a missing or malformed header, another secret, replica, cluster, path or body', () => {
    expect(check(undefined)).toMatch(/^no Authorization header/)
    expect(check('Bearer abc')).toMatch(/is not "Lockstep-HMAC-SHA256 time=<ms>,mac=<hex>"/)
    for (const wrong of [{ secret: 's'.repeat(32) }, { replica: 'r2' }, { cluster: 'other' }, { path: '/other' }, { body: '{}' }]) {
      expect(check(sign(wrong)), JSON.stringify(wrong)).toMatch(/^the signature does not match/)
    }
  })

  it('refuse a signature older or newer than the window', () => {
    expect(check(sign({ time: at - OPERATOR_AUTH_WINDOW_MS - 1 }))).toMatch(/^the signature's time is -60 s from this replica's clock/)
    expect(check(sign({ time: at + OPERATOR_AUTH_WINDOW_MS + 1000 }))).toMatch(/^the signature's time is 61 s from/)
    expect(check(sign({ time: at - OPERATOR_AUTH_WINDOW_MS }))).toBeUndefined()
  })
})

describe('operator requests signed with a certificate (TLS clusters)', () => {
  let dir: string
  let trust: OperatorTrust
  const pair = (id: string) => ({ cert: readFileSync(join(dir, `${id}.pem`), 'utf8'), key: readFileSync(join(dir, `${id}.key`), 'utf8') })
  const signed = (id: string, overrides: Partial<{ replica: string; body: string; time: number; key: string }> = {}) =>
    signOperatorRequestWithCertificate({ ...pair(id), ...(overrides.key === undefined ? {} : { key: readFileSync(join(dir, `${overrides.key}.key`), 'utf8') }) }, { ...request, replica: overrides.replica ?? 'r1', body: overrides.body ?? body }, overrides.time ?? at)
  const verdict = (header: string | undefined, seen = new Map<string, number>(), nowMs = at) => operatorCertificateProblem(header, trust, request, nowMs, seen)

  beforeAll(() => {
    // Without openssl these fail and say why: every test here runs.
    if (!opensslAvailable()) throw new Error('no openssl binary on the PATH to make the test certificates: install it (Debian: apt-get install -y openssl)')
    dir = mkdtempSync(join(tmpdir(), 'lockstep-operator-auth-'))
    issueCertificates(dir, [['alice', 'operator'], ['r2', 'replica'], ['r9', 'replica'], ['bob', 'client'], ['carol', 'operator', 'ed25519'], ['dan', 'operator', 'ec', 'issuer'], ['erin', 'operator']])
    issueCertificates(dir, [['mallory', 'operator']], 'other-ca')
    trust = { cas: certificatesOf(readFileSync(join(dir, 'ca.pem'), 'utf8')), replicas: ['r1', 'r2', 'r3'] }
  })

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it("accept a fresh request signed by an operator's or a configured replica's certificate, once, naming who signed", () => {
    const seen = new Map<string, number>()
    const header = signed('alice')
    expect(verdict(header, seen)).toEqual({ operator: 'alice' })
    expect(verdict(header, seen)).toEqual({ problem: 'this signed request was already used (replayed)' })
    // Signed again (an ECDSA signature differs each time), the same request is still a replay.
    expect(verdict(signed('alice'), seen)).toEqual({ problem: 'this signed request was already used (replayed)' })
    expect(verdict(signed('r2'))).toEqual({ operator: 'r2' })
    // An Ed25519 key signs without a separate digest.
    expect(verdict(signed('carol'))).toEqual({ operator: 'carol' })
  })

  it("refuse a client's certificate, a replica's outside the configuration, one of another CA, and a CA's", () => {
    expect(verdict(signed('bob'))).toEqual({ problem: expect.stringMatching(/"CN=bob, OU=client" may not change membership: only an operator's certificate \(OU = operator\) or a replica's/) as unknown })
    expect(verdict(signed('r9'))).toEqual({ problem: expect.stringMatching(/"CN=r9, OU=replica" may not change membership/) as unknown })
    expect(verdict(signed('mallory'))).toEqual({ problem: expect.stringMatching(/"CN=mallory, OU=operator" was not issued by the cluster's CA/) as unknown })
    expect(verdict(signed('dan'))).toEqual({ problem: expect.stringMatching(/"CN=dan, OU=operator" is a CA's: sign with an operator's certificate/) as unknown })
  })

  it('refuse a signature by another key, for another replica or body, out of the window, or by a certificate not valid then', () => {
    for (const wrong of [{ key: 'r2' }, { replica: 'r2' }, { body: '{}' }]) {
      expect(verdict(signed('alice', wrong)), JSON.stringify(wrong)).toEqual({ problem: expect.stringMatching(/^the signature does not match the certificate "CN=alice, OU=operator"/) as unknown })
    }
    expect(verdict(signed('alice', { time: at - OPERATOR_AUTH_WINDOW_MS - 1 }))).toEqual({ problem: expect.stringMatching(/^the signature's time is -60 s/) as unknown })
    const late = Date.now() + 20 * 365 * 86_400_000
    expect(verdict(signed('alice', { time: late }), new Map(), late)).toEqual({ problem: expect.stringMatching(/"CN=alice, OU=operator" is not valid now \(from /) as unknown })
  })

  it('refuse a certificate the CA\'s revocation list names, and take the others', () => {
    const lists = readRevocationLists(readFileSync(join(dir, revokeCertificates(dir, ['erin'])), 'utf8'), 'ca.crl')
    const revoking = { ...trust, revocationLists: lists }
    const serial = new X509Certificate(pair('erin').cert).serialNumber
    expect(operatorCertificateProblem(signed('erin'), revoking, request, at, new Map())).toEqual({ problem: `the certificate "CN=erin, OU=operator" was revoked: the revocation list of CN=lockstep-test-ca (security.tls.crl) names its serial number ${serial}` })
    expect(operatorCertificateProblem(signed('alice'), revoking, request, at, new Map())).toEqual({ operator: 'alice' })
    // Without the list, the same certificate signs.
    expect(verdict(signed('erin'))).toEqual({ operator: 'erin' })
  })

  it("refuse a missing or malformed header, and one signed with a replica secret, saying what to do", () => {
    expect(verdict(undefined)).toEqual({ problem: expect.stringMatching(/^no Authorization header: sign the request with an operator's certificate/) as unknown })
    expect(verdict(sign())).toEqual({ problem: expect.stringMatching(/^the request is signed with a replica secret, and this cluster uses TLS/) as unknown })
    expect(verdict('Lockstep-Cert-Signature time=1,cert=%%,sig=AA==')).toEqual({ problem: expect.stringMatching(/is not "Lockstep-Cert-Signature time=<ms>,cert=<base64>,sig=<base64>"/) as unknown })
    expect(verdict(`Lockstep-Cert-Signature time=${at},cert=AAAA,sig=AA==`)).toEqual({ problem: expect.stringMatching(/^the certificate in the Authorization header cannot be read/) as unknown })
  })
})
