// Certificate revocation lists (RFC 5280, section 5): read from PEM, their signatures checked against a CA's key.
// node:tls checks the lists a secure context is given during each handshake; this reads them apart from any
// handshake, for what node:crypto cannot do: to check a list before the transport starts (its CA, its dates), and to
// check a certificate that signs something outside TLS (an operator's membership request) against it.

import { X509Certificate, verify as verifySignature, type KeyObject } from 'node:crypto'
import { ErrorCodes, LockstepError } from '@lockstep/interface'
import type { Pem } from './options'

/** One certificate revocation list. */
export interface RevocationList {
  /** The list's issuer, as OpenSSL prints a name (`CN=…`), for messages. */
  readonly issuer: string
  /** When the list was made, and when the next one is due (absent when the list names no date). */
  readonly thisUpdate: Date
  readonly nextUpdate: Date | undefined
  /** Serial numbers of the revoked certificates, as `X509Certificate.serialNumber` spells them (upper-case hex). */
  readonly revoked: ReadonlySet<string>
  /** True if `ca`'s key signed this list. */
  signedBy(ca: X509Certificate | KeyObject): boolean
  /** True if this list revokes `certificate` (its serial number is listed; the list's issuer is for the caller to check). */
  revokes(certificate: X509Certificate): boolean
}

/**
 * Reads every CRL in `pem` (PEM blocks `-----BEGIN X509 CRL-----`); `where` names the source in errors. Throws
 * `INVALID_CONFIG` when there is none, or one is not a well-formed CRL.
 */
export function readRevocationLists(pem: Pem, where: string): RevocationList[] {
  const blocks = [...pemText(pem).matchAll(/-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/g)]
  if (blocks.length === 0) throw invalid(where, 'holds no certificate revocation list (a PEM block "-----BEGIN X509 CRL-----")')
  return blocks.map((block, index) => {
    const der = Buffer.from(block[1]!.replace(/\s+/g, ''), 'base64')
    try {
      return parseCrl(der)
    } catch (error) {
      throw invalid(where, `its revocation list ${index + 1} is not a well-formed CRL: ${(error as Error).message}`)
    }
  })
}

/**
 * Checks that `lists` fit `cas` (at `now`, when given): each CA has a list it signed (node:tls refuses every certificate of a CA
 * without one once any list is given), none is due for renewal (past its next update: node:tls refuses every
 * certificate then), and none comes from another issuer. Returns the problem, or undefined.
 */
export function revocationListsProblem(cas: readonly X509Certificate[], lists: readonly RevocationList[], now?: Date): string | undefined {
  for (const list of lists) {
    if (!cas.some((ca) => list.signedBy(ca))) return `the revocation list of ${list.issuer} was not signed by a CA of the cluster`
    if (now === undefined) continue
    if (list.nextUpdate !== undefined && list.nextUpdate.getTime() < now.getTime()) {
      return `the revocation list of ${list.issuer} expired at ${list.nextUpdate.toISOString()} (its next update): TLS refuses every certificate while it is given; make a new one (openssl ca -gencrl)`
    }
    if (list.thisUpdate.getTime() > now.getTime()) return `the revocation list of ${list.issuer} is dated ${list.thisUpdate.toISOString()}, in the future (check this host's clock)`
  }
  for (const ca of cas) {
    if (!lists.some((list) => list.signedBy(ca))) return `no revocation list of the CA ${ca.subject.replace(/\n/g, ', ')} was given: with revocation lists, TLS refuses every certificate of a CA that has none`
  }
  return undefined
}

/** The certificates of a PEM bundle (one or more `-----BEGIN CERTIFICATE-----` blocks), each on its own. */
export function certificatesOf(pem: Pem | readonly Pem[]): X509Certificate[] {
  return pemItems(pem).flatMap((bundle) => [...pemText(bundle).matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((block) => new X509Certificate(block[0])))
}

/** One PEM or several, as a list. */
export function pemItems(pem: Pem | readonly Pem[]): readonly Pem[] {
  return Array.isArray(pem) ? (pem as readonly Pem[]) : [pem as Pem]
}

function pemText(pem: Pem): string {
  return typeof pem === 'string' ? pem : Buffer.from(pem).toString('latin1')
}

/** The list among `lists` signed by `ca` that revokes `certificate`, if any. */
export function revokedBy(certificate: X509Certificate, ca: X509Certificate, lists: readonly RevocationList[]): RevocationList | undefined {
  return lists.find((list) => list.signedBy(ca) && list.revokes(certificate))
}

function invalid(where: string, problem: string): LockstepError {
  return new LockstepError(ErrorCodes.INVALID_CONFIG, `${where}: ${problem}`)
}

// ------------------------------------------------------------------ DER

interface Element {
  readonly tag: number
  /** The element's bytes, header included. */
  readonly whole: Buffer
  /** Its contents. */
  readonly body: Buffer
}

/** The DER elements of `bytes`, one after the other. */
function elements(bytes: Buffer): Element[] {
  const found: Element[] = []
  let at = 0
  while (at < bytes.length) {
    const tag = bytes[at]!
    if ((tag & 0x1f) === 0x1f) throw new Error('a multi-byte tag')
    let length = bytes[at + 1]
    if (length === undefined) throw new Error('a truncated element')
    let header = 2
    if (length & 0x80) {
      const count = length & 0x7f
      if (count === 0 || count > 4) throw new Error('an unsupported length')
      length = 0
      for (let i = 0; i < count; i++) {
        const byte = bytes[at + 2 + i]
        if (byte === undefined) throw new Error('a truncated length')
        length = length * 256 + byte
      }
      header += count
    }
    const end = at + header + length
    if (end > bytes.length) throw new Error('an element longer than its container')
    found.push({ tag, whole: bytes.subarray(at, end), body: bytes.subarray(at + header, end) })
    at = end
  }
  return found
}

function expect(element: Element | undefined, tag: number, what: string): Element {
  if (element?.tag !== tag) throw new Error(`expected ${what}`)
  return element
}

/** The DER tags read here. */
const Tag = { SEQUENCE: 0x30, INTEGER: 0x02, BIT_STRING: 0x03, OID: 0x06, UTC_TIME: 0x17, GENERALIZED_TIME: 0x18 } as const

function parseCrl(der: Buffer): RevocationList {
  const [list, rest] = elements(der)
  if (rest !== undefined) throw new Error('bytes after the list')
  const [tbs, algorithm, signature] = elements(expect(list, Tag.SEQUENCE, 'a SEQUENCE').body)
  const signed = expect(tbs, Tag.SEQUENCE, 'the list to be signed').whole
  const hash = signatureHash(expect(elements(expect(algorithm, Tag.SEQUENCE, 'the signature algorithm').body)[0], Tag.OID, 'an algorithm identifier').body)
  const bits = expect(signature, Tag.BIT_STRING, 'the signature').body
  if (bits[0] !== 0) throw new Error('a signature with unused bits')
  const signatureValue = bits.subarray(1)
  const fields = elements(tbs!.body)
  let at = fields[0]?.tag === Tag.INTEGER ? 1 : 0 // the version (v2), optional
  expect(fields[at++], Tag.SEQUENCE, 'the signature algorithm of the list')
  const issuerName = expect(fields[at++], Tag.SEQUENCE, "the issuer's name")
  const thisUpdate = time(fields[at++], 'thisUpdate')
  let nextUpdate: Date | undefined
  if (fields[at]?.tag === Tag.UTC_TIME || fields[at]?.tag === Tag.GENERALIZED_TIME) nextUpdate = time(fields[at++], 'nextUpdate')
  const revoked = new Set<string>()
  if (fields[at]?.tag === Tag.SEQUENCE) {
    for (const entry of elements(fields[at++]!.body)) {
      const serial = expect(elements(expect(entry, Tag.SEQUENCE, 'a revoked certificate').body)[0], Tag.INTEGER, 'a serial number').body
      revoked.add(serialHex(serial))
    }
  }
  const issuer = describeName(issuerName)
  return {
    issuer,
    thisUpdate,
    nextUpdate,
    revoked,
    signedBy: (ca) => {
      const key = ca instanceof X509Certificate ? ca.publicKey : ca
      try {
        return verifySignature(hash, signed, key, signatureValue)
      } catch {
        return false
      }
    },
    revokes: (certificate) => revoked.has(certificate.serialNumber.toUpperCase()),
  }
}

/** The hash node:crypto's `verify` takes for a signature algorithm (null for Ed25519). */
function signatureHash(oid: Buffer): string | null {
  const name = oidText(oid)
  const hashes: Record<string, string | null> = {
    '1.2.840.10045.4.3.2': 'sha256', // ecdsa-with-SHA256
    '1.2.840.10045.4.3.3': 'sha384',
    '1.2.840.10045.4.3.4': 'sha512',
    '1.2.840.113549.1.1.11': 'sha256', // sha256WithRSAEncryption
    '1.2.840.113549.1.1.12': 'sha384',
    '1.2.840.113549.1.1.13': 'sha512',
    '1.3.101.112': null, // Ed25519
  }
  if (!(name in hashes)) throw new Error(`an unsupported signature algorithm ${name} (ECDSA or RSA with SHA-256, -384 or -512, or Ed25519)`)
  return hashes[name]!
}

function oidText(oid: Buffer): string {
  const parts: number[] = [Math.floor(oid[0]! / 40), oid[0]! % 40]
  let value = 0
  for (const byte of oid.subarray(1)) {
    value = value * 128 + (byte & 0x7f)
    if (!(byte & 0x80)) {
      parts.push(value)
      value = 0
    }
  }
  return parts.join('.')
}

/** A serial number as X509Certificate.serialNumber spells it: upper-case hex, without a leading zero byte. */
function serialHex(bytes: Buffer): string {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  return bytes.subarray(start).toString('hex').toUpperCase()
}

function time(element: Element | undefined, what: string): Date {
  if (element?.tag !== Tag.UTC_TIME && element?.tag !== Tag.GENERALIZED_TIME) throw new Error(`expected ${what}`)
  const text = element.body.toString('latin1')
  const match = element.tag === Tag.UTC_TIME ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
  if (!match) throw new Error(`${what} is not a time in UTC ('${text}')`)
  const year = element.tag === Tag.UTC_TIME ? (Number(match[1]) < 50 ? 2000 : 1900) + Number(match[1]) : Number(match[1])
  return new Date(Date.UTC(year, Number(match[2]) - 1, Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6])))
}

/** A name's attributes (CN, O, OU, …) as `CN=…, O=…`; others by their OID. */
function describeName(name: Element): string {
  const short: Record<string, string> = { '2.5.4.3': 'CN', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.10': 'O', '2.5.4.11': 'OU' }
  const parts: string[] = []
  for (const set of elements(name.body)) {
    for (const attribute of elements(set.body)) {
      const [type, value] = elements(attribute.body)
      if (type?.tag !== Tag.OID || value === undefined) continue
      const oid = oidText(type.body)
      // A BMPString (0x1e) is UTF-16 big-endian.
      parts.push(`${short[oid] ?? oid}=${value.tag === 0x1e ? Buffer.from(value.body).swap16().toString('utf16le') : value.body.toString('utf8')}`)
    }
  }
  return parts.join(', ') || '(an unnamed issuer)'
}
