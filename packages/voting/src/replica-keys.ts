import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { ErrorCodes, LockstepError } from '@lockstep/interface'

/**
 * One replica's Ed25519 key pair, as two base64 strings that fit a JSON cluster configuration: `publicKey` is the
 * raw 32-byte public key (RFC 8032), `privateKey` the raw 32-byte private key (the seed). The public keys of all
 * replicas go to every external reader; each private key stays with its replica.
 */
export interface ReplicaKeys {
  readonly publicKey: string
  readonly privateKey: string
}

/** A key as {@link ReplicaKeys} writes it (base64 of the raw 32 bytes), or a `KeyObject` of node:crypto. */
export type KeyInput = string | KeyObject

// The fixed DER headers of an Ed25519 SubjectPublicKeyInfo and PKCS #8 PrivateKeyInfo (RFC 8410): node:crypto
// imports raw keys through them.
const spkiPrefix = Buffer.from('302a300506032b6570032100', 'hex')
const pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex')

/** Makes a fresh Ed25519 key pair for one replica. */
export function generateReplicaKeys(): ReplicaKeys {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  return {
    publicKey: publicKey.export({ format: 'der', type: 'spki' }).subarray(spkiPrefix.length).toString('base64'),
    privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(pkcs8Prefix.length).toString('base64'),
  }
}

/** The 32 raw bytes of a base64 key, or an error saying what is wrong with it. */
function rawKey(text: string, what: string): Buffer {
  const bytes = /^[A-Za-z0-9+/]*={0,2}$/.test(text) ? Buffer.from(text, 'base64') : undefined
  if (bytes?.length !== 32) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `${what} is not an Ed25519 key: expected the base64 of 32 raw bytes (as generateReplicaKeys writes it)`)
  }
  return bytes
}

/** An Ed25519 public key for verification; `what` names it in the error (`the public key of replica 'r1'`). */
export function publicKeyObject(key: KeyInput, what: string): KeyObject {
  if (typeof key !== 'string') {
    if (key?.type !== 'public' || key.asymmetricKeyType !== 'ed25519') throw new LockstepError(ErrorCodes.INVALID_CONFIG, `${what} is not an Ed25519 public key`)
    return key
  }
  return createPublicKey({ key: Buffer.concat([spkiPrefix, rawKey(key, what)]), format: 'der', type: 'spki' })
}

/** An Ed25519 private key for signing; `what` names it in the error. */
export function privateKeyObject(key: KeyInput, what: string): KeyObject {
  if (typeof key !== 'string') {
    if (key?.type !== 'private' || key.asymmetricKeyType !== 'ed25519') throw new LockstepError(ErrorCodes.INVALID_CONFIG, `${what} is not an Ed25519 private key`)
    return key
  }
  return createPrivateKey({ key: Buffer.concat([pkcs8Prefix, rawKey(key, what)]), format: 'der', type: 'pkcs8' })
}
