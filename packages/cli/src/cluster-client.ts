import { X509Certificate } from 'node:crypto'
import { LockstepClient, byzantine, first, majority, type ClientOptions, type VoterFactory } from '@lockstep/client'
import { ErrorCodes, LockstepError, type Logger } from '@lockstep/interface'
import { tcpClient, type TlsCredentials } from '@lockstep/transport-tcp'
import { configPath, readSecret, type LoadedClusterConfig, type VoterName } from './cluster-config'
import { processIo, type Io } from './io'
import { subjectFields } from './operator-auth'
import { readClusterRevocationLists, reloadRevocationLists, type ReloadedRevocationLists } from './revocation-lists'
import { transportTuning } from './transport-tuning'

/** Options of {@link clusterClient}. */
export interface ClusterClientOptions {
  /** The client's id: its session at the replicas. Must not be a replica's id. */
  readonly id: string
  /** The replica to try first; the others follow in configuration order. Default: the first configured. */
  readonly preferred?: string
  /** This client's certificate and key (with the CA), when the cluster uses TLS. */
  readonly tls?: TlsCredentials
  /** Resend an unanswered request (to the next replica) after this long. Default: the configuration's timeouts.clientRetryMs. */
  readonly retryAfterMs?: number
  /** Connection events. Default: silent. */
  readonly logger?: Logger
  /** How the client secret's file is read. Default: the real file system. */
  readonly io?: Io
  /** How the client votes on the replicas' answers. Default: the configuration's `voter`. */
  readonly voter?: VoterName
  /**
   * Share one connection to each replica with the other clients of this process that share theirs (the
   * transport's `shareConnections`), as gRPC's clients share their channels. Needs the client secret; not with
   * TLS (each client proves its id by its certificate there). Default false: a connection of the client's own.
   */
  readonly shareConnections?: boolean
}

/**
 * A client of a configured cluster ({@link clusterClient}): a `LockstepClient` that can also read the cluster's
 * certificate revocation lists again while it runs, as a replica does on SIGHUP.
 */
export class ClusterClient extends LockstepClient {
  private readonly reload: () => Promise<ReloadedRevocationLists | undefined>

  constructor(options: ClientOptions, reload: () => Promise<ReloadedRevocationLists | undefined>) {
    super(options)
    this.reload = reload
  }

  /**
   * Reads the files of `security.tls.crl` again and, once they fit the cluster (well-formed, signed by its CA, none
   * past its next update; INVALID_CONFIG naming `/security/tls/crl` otherwise, and the lists in use stay), checks
   * the replicas against them from the next handshake on and closes this client's open connections to replicas
   * whose certificates they revoke (its requests go on through the others). Undefined for a client without TLS
   * credentials or a cluster without `security.tls.crl`. A long-running program calls it when the lists are
   * renewed, on SIGHUP say: without it, a client keeps the lists it read as it was made.
   */
  reloadRevocationLists(): Promise<ReloadedRevocationLists | undefined> {
    return this.reload()
  }
}

/** The voter named, for `replicas` replicas: `byzantine` tolerates t = (n-1)/2 replicas computing wrong outputs. */
export function voterFor(name: VoterName, replicas: number): VoterFactory {
  if (name === 'byzantine') return byzantine(Math.floor((replicas - 1) / 2))
  return name === 'majority' ? majority() : first()
}

/**
 * A client of a configured cluster over TCP (not started yet: call `start()`),
 * authenticated with the client secret cluster.json names, or with `tls`.
 * Throws INVALID_CONFIG when the id is a replica's or `preferred` is not one.
 */
export async function clusterClient(config: LoadedClusterConfig, options: ClusterClientOptions): Promise<ClusterClient> {
  const { id, preferred } = options
  const ids = config.replicas.map((r) => r.id)
  if (ids.includes(id)) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `client id ${id} is a replica's id in ${config.file}; a client needs its own`)
  if (preferred !== undefined && !ids.includes(preferred)) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica ${preferred} is not a replica of ${config.file} (${ids.join(', ')})`)
  }
  const io = options.io ?? processIo
  const secret = config.security.clientSecret ? await readSecret(config, 'clientSecret', io) : undefined
  const transport = tcpClient({
    clusterId: config.clusterId,
    replicas: config.replicas.map((r) => ({ id: r.id, host: r.host, port: r.port })),
    auth: { secret, tls: options.tls },
    ...transportTuning(config),
    ...(options.shareConnections === true ? { shareConnections: true } : {}),
  })
  const order = preferred === undefined ? ids : [preferred, ...ids.filter((r) => r !== preferred)]
  // Every run of a client is a new incarnation (microseconds since the epoch: a later run has a higher one), so
  // reusing an id, or a certificate's CN, never mixes two runs' sessions, replies or outputs. The client builds
  // its transport on the real scheduler, with this logger.
  const incarnation = Math.floor((performance.timeOrigin + performance.now()) * 1000)
  const voter = voterFor(options.voter ?? config.voter, ids.length)
  const tls = options.tls
  const reload = async () => (tls === undefined ? undefined : reloadRevocationLists(config, io, tls.ca, transport))
  return new ClusterClient({ id, transport, replicas: order, log: options.logger, retryAfterMs: options.retryAfterMs ?? config.timeouts.clientRetryMs, incarnation, voter }, reload)
}

/** A client's certificate and key for a TLS cluster (with the cluster's CA), and the client id it names (its CN). */
export interface ClientCertificate {
  readonly credentials: TlsCredentials
  readonly commonName: string | undefined
}

/**
 * The client certificates for a TLS cluster (`--cert`, `--key` of `lockstep <command>`, one pair per client), each
 * with the id it names (its CN), the CA read once for them all; none for a cluster without TLS. INVALID_CONFIG for a
 * certificate given where the cluster has no TLS, none where it has, or one that cannot be read.
 */
export async function clientCertificates(command: string, config: LoadedClusterConfig, io: Io, pairs: readonly { readonly cert: string; readonly key: string }[]): Promise<ClientCertificate[]> {
  const tls = config.security.tls
  if (tls === undefined) {
    if (pairs.length > 0) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `lockstep ${command}: --cert was given but ${config.file} has no security.tls; the cluster authenticates clients with the client secret`)
    return []
  }
  if (pairs.length === 0) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `lockstep ${command}: ${config.file} uses TLS (security.tls): pass --cert and --key, this client's certificate (CN = client id, OU = client) and key`)
  }
  const read = async (path: string, what: string) => {
    try {
      return await io.readFile(path)
    } catch (cause) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `lockstep ${command}: cannot read ${what} ${path}: ${(cause as Error).message}`)
    }
  }
  const ca = await read(configPath(config, tls.ca), 'the CA certificate (security.tls.ca)')
  const revocation = await readClusterRevocationLists(config, io, ca, new Date())
  return Promise.all(
    pairs.map(async ({ cert, key }) => {
      const credentials = { ca, cert: await read(cert, '--cert'), key: await read(key, '--key'), ...(revocation === undefined ? {} : { crl: revocation.pems }) }
      try {
        return { credentials, commonName: subjectFields(new X509Certificate(credentials.cert)).get('CN')?.[0] }
      } catch (cause) {
        throw new LockstepError(ErrorCodes.INVALID_CONFIG, `lockstep ${command}: --cert ${cert} is not a PEM certificate: ${(cause as Error).message}`)
      }
    }),
  )
}
