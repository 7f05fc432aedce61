export { tcp } from './tcp-transport'
export type { TcpTransport, TcpTransportStats } from './tcp-transport'
export { tcpClient } from './tcp-client-transport'
export type { TcpClientTransportFactory } from './tcp-client-transport'
export { DEFAULT_LIMITS, DEFAULT_RECONNECT, MIN_SECRET_BYTES } from './options'
export type {
  CommonOptions,
  Pem,
  PeerAddress,
  ReconnectOptions,
  ReplicaAuth,
  Secret,
  TcpClientTransportOptions,
  TcpTransportOptions,
  TlsCredentials,
  TransportLimits,
} from './options'
export { PROTOCOL_VERSION } from './envelope'
export { certificatesOf, readRevocationLists, revocationListsProblem, revokedBy } from './crl'
export type { RevocationList } from './crl'
