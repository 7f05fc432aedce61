import type { Pem, TlsCredentials } from './options'

/** The `ca`, `cert` and `key` options of node:tls from {@link TlsCredentials}. */
export function tlsSecureContextOptions(tls: TlsCredentials): { ca: (string | Buffer)[]; cert: string | Buffer; key: string | Buffer } {
  const cas = Array.isArray(tls.ca) ? (tls.ca as readonly Pem[]) : [tls.ca as Pem]
  return { ca: cas.map(pem), cert: pem(tls.cert), key: pem(tls.key) }
}

function pem(value: Pem): string | Buffer {
  return typeof value === 'string' ? value : Buffer.from(value)
}
