import { resolve } from 'node:path'
import { fileStorage } from '@lockstep/storage-file'
import { ReplicaHost, type FailureCause } from '@lockstep/core'
import { ErrorCodes, LockstepError, realScheduler, type Logger, type OrdererFactory, type Transport } from '@lockstep/interface'
import { lamport } from '@lockstep/order-lamport'
import { realtime } from '@lockstep/order-realtime'
import { lieModes, lyingMachine, lyingTransport, ReplicaClock, type LieOptions } from '@lockstep/testkit'
import { tcp, type ReplicaAuth, type RevocationList, type TcpTransport, type TcpTransportOptions, type TcpTransportStats, type TlsCredentials } from '@lockstep/transport-tcp'
import { digestOf, signOutputDigest, verifyEvidence } from '@lockstep/voting'
import { authProblems, configError, configPath, readSecret, type ClusterConfig, type ClusterTimeouts, type LoadedClusterConfig, type ReplicaEntry } from './cluster-config'
import type { Io } from './io'
import { loadMachine } from './machine-source'
import type { ReplicaMetrics } from './replica-metrics'
import { readClusterRevocationLists, reloadRevocationLists, type ReloadedRevocationLists } from './revocation-lists'
import { TEST_CLOCK_VARIABLE } from './test-clock'
import { transportTuning } from './transport-tuning'

/** A replica process's running parts. */
export interface RunningReplica {
  readonly id: string
  readonly host: ReplicaHost
  /** Where it listens (the configured address). */
  readonly address: { readonly host: string; readonly port: number }
  readonly machineName: string
  /** The TCP endpoint's figures (peers and clients connected, connections refused). */
  transportStats(): TcpTransportStats | undefined
  /** The replica secret (undefined in a TLS cluster): it signs operators' membership requests. */
  readonly replicaSecret: string | undefined
  /** The cluster's CA certificates (PEM, `security.tls.ca`; undefined without TLS): they issue the certificates that sign operators' membership requests there. */
  readonly tlsCa: string | undefined
  /** The cluster's revocation lists (`security.tls.crl`; undefined without): a certificate they name signs nothing. */
  readonly tlsRevocationLists: readonly RevocationList[] | undefined
  /**
   * Reads the files of `security.tls.crl` again and, once they fit the cluster (see `readClusterRevocationLists`;
   * INVALID_CONFIG otherwise, and the lists in use stay), hands them to the transport, which closes the open
   * connections of the certificates they revoke. Undefined without `security.tls.crl`.
   */
  reloadRevocationLists(): Promise<ReloadedRevocationLists | undefined>
  /** With `skewableClock`: the clock the replica runs on, which can be set off (chaos tests of clock skew). */
  readonly clock?: ReplicaClock
  /** Stops the engine's timer and closes every socket. */
  stop(): Promise<void>
}

/** Timer drift allowed for in {@link peerAckDelayMs}: a heartbeat is checked on a tick, and a tick can run late. */
const ACK_DELAY_MARGIN_MS = 15
/** The longest {@link peerAckDelayMs}: after a reconnect, what the peer has not acknowledged is sent again. */
const MAX_PEER_ACK_DELAY_MS = 1000

/**
 * How long an acknowledgement to another replica waits for a message going back to ride on (the transport's
 * `peerAckDelayMs`): a little longer than an idle replica goes without sending its peers anything (a heartbeat every
 * `heartbeatMs`, checked on the engine's ticks of `tickMs`), so that idle links acknowledge on heartbeats and neither
 * end wakes for an acknowledgement of its own. 75 ms with the default timeouts; at most 1 s.
 */
export function peerAckDelayMs(timeouts: Pick<ClusterTimeouts, 'heartbeatMs' | 'tickMs'>): number {
  return Math.min(timeouts.heartbeatMs + timeouts.tickMs + ACK_DELAY_MARGIN_MS, MAX_PEER_ACK_DELAY_MS)
}

/** The options of replica `entry`'s TCP endpoint, from the configuration. */
export function replicaTransportOptions(config: ClusterConfig, entry: ReplicaEntry, auth: ReplicaAuth, clientSecret: string | undefined): TcpTransportOptions {
  return {
    clusterId: config.clusterId,
    listen: { host: entry.host, port: entry.port },
    peers: config.replicas.map((r) => ({ id: r.id, host: r.host, port: r.port })),
    auth,
    clients: { secret: clientSecret },
    ...transportTuning(config),
    peerAckDelayMs: peerAckDelayMs(config.timeouts),
  }
}

/** The environment variable that makes replicas lie to clients, for tests of voting (see {@link testLie}). */
export const TEST_LIE_VARIABLE = 'LOCKSTEP_TEST_LIE'

/**
 * For tests of voting only: how replica `id` lies, from `LOCKSTEP_TEST_LIE`, a JSON object of replica ids to
 * `{ "seed": N, "mode": "outputs" | "state", "rate": 0..1 }` (see the testkit's `LieOptions`). Undefined when the
 * variable is unset or does not name this replica. A malformed value throws INVALID_CONFIG: a test that meant a
 * replica to lie must not run with an honest one.
 */
export function testLie(id: string, env: NodeJS.ProcessEnv = process.env): LieOptions | undefined {
  const text = env[TEST_LIE_VARIABLE]
  if (text === undefined || text === '') return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `${TEST_LIE_VARIABLE} is not JSON (${(error as Error).message}): ${text.slice(0, 200)}`)
  }
  const entry = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)[id] : undefined
  if (entry === undefined) return undefined
  const lie = entry as Partial<LieOptions>
  const valid =
    typeof entry === 'object' && entry !== null && Number.isSafeInteger(lie.seed) && (lie.mode === undefined || (lieModes as readonly string[]).includes(lie.mode)) && (lie.rate === undefined || (typeof lie.rate === 'number' && lie.rate >= 0 && lie.rate <= 1))
  if (!valid) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `${TEST_LIE_VARIABLE}: replica ${id}'s entry must be {"seed": integer, "mode": "outputs"|"state", "rate": 0..1}, not ${JSON.stringify(entry)}`)
  return lie as LieOptions
}

/** The orderer named by the configuration. */
export function ordererFor(config: ClusterConfig): OrdererFactory {
  switch (config.order) {
    case 'lamport':
      return lamport({ heartbeatMs: config.timeouts.heartbeatMs })
    case 'realtime':
      return realtime({ heartbeatMs: config.timeouts.heartbeatMs, ...config.realtime })
  }
}

/**
 * Starts replica `id` of a cluster: loads the machine, reads the secrets or
 * TLS material, listens on the configured address and starts the engine with
 * failure detection and view changes. With `join`, it starts without state
 * and asks the running replicas to add it back (state transfer): the way to
 * restart a replica, since its state lived in memory.
 * Configuration problems throw INVALID_CONFIG naming the JSON path.
 */
export async function startReplica(config: LoadedClusterConfig, id: string, io: Io, logger: Logger, options: { join?: boolean; metrics?: ReplicaMetrics; onHostCreated?: (host: ReplicaHost) => void; skewableClock?: boolean; onFailed?: (error: Error, cause: FailureCause) => void } = {}): Promise<RunningReplica> {
  const entry = config.replicas.find((r) => r.id === id)
  if (!entry) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `--id ${id}: not a replica of ${config.file} (its replicas: ${config.replicas.map((r) => r.id).join(', ')})`)
  }
  const problems = authProblems(config, 'replica')
  if (problems.length > 0) throw configError(config.file, problems)
  const honestMachine = await loadMachine(config.machine, config.baseDir, io)
  const lie = testLie(id)
  if (lie) logger.error(`replica '${id}' LIES to clients (${TEST_LIE_VARIABLE}: mode ${lie.mode ?? 'outputs'}, seed ${lie.seed}); for tests of voting only`)
  const machine = lie?.mode === 'state' ? lyingMachine(honestMachine, lie) : honestMachine
  const index = config.replicas.indexOf(entry)
  let auth: ReplicaAuth
  let clientSecret: string | undefined
  let tlsCa: string | undefined
  let tlsRevocationLists: readonly RevocationList[] | undefined
  if (config.security.tls) {
    const tls = await readTls(config, io, config.security.tls.ca, entry.tls!, `/replicas/${index}/tls`)
    const revocation = await readClusterRevocationLists(config, io, tls.ca, new Date())
    tlsCa = tls.ca
    tlsRevocationLists = revocation?.lists
    auth = { tls: revocation === undefined ? tls : { ...tls, crl: revocation.pems } }
    if (config.security.clientSecret) clientSecret = await readSecret(config, 'clientSecret', io)
  } else {
    auth = { secret: await readSecret(config, 'replicaSecret', io) }
    clientSecret = await readSecret(config, 'clientSecret', io)
  }
  if (clientSecret !== undefined && 'secret' in auth && clientSecret === auth.secret) {
    throw configError(config.file, [{ path: '/security/clientSecret', message: 'must differ from security.replicaSecret, or a client could authenticate as a replica' }])
  }
  const transportFactory = tcp(replicaTransportOptions(config, entry, auth, clientSecret))
  const metrics = options.metrics
  // Each replica keeps its write-ahead log and snapshots in its own folder under storage.dir.
  const storage = config.storage.type === 'file' ? fileStorage({ dir: resolve(config.baseDir, config.storage.dir, id), sync: config.storage.sync, onCorruptLog: 'rejoin' }) : undefined
  // The host builds the transport (with its id, scheduler and logger); keep it to bind before starting.
  let transport: TcpTransport | undefined
  const machineClock = realScheduler()
  const clock = options.skewableClock ? new ReplicaClock(machineClock) : undefined
  if (clock) logger.warn(`replica '${id}' runs on a clock its parent process may set off (${TEST_CLOCK_VARIABLE}=skewable): for chaos tests of clock skew only`)
  const host = new ReplicaHost({
    self: id,
    ...(clock ? { scheduler: clock.scheduler(machineClock) } : {}),
    replicas: config.replicas.map((r) => r.id),
    machine,
    orderer: ordererFor(config),
    transport: (components) => {
      transport = transportFactory(components)
      const built = transport
      const used = lie && lie.mode !== 'state' ? lyingTransport(() => built, lie)(components) : built
      return metrics ? observedTransport(used, metrics) : used
    },
    onDeliver: metrics && ((_position, request) => metrics.delivered(request)),
    onViewInstalled: metrics && ((view) => metrics.viewInstalled(view.id)),
    onFailed: options.onFailed,
    tickMs: config.timeouts.tickMs,
    log: logger,
    membership: { heartbeatMs: config.timeouts.heartbeatMs, suspectAfterMs: config.timeouts.suspectAfterMs, viewChangeTimeoutMs: config.timeouts.viewChangeTimeoutMs },
    join: options.join === true,
    sessions: config.sessions,
    stateDigestEvery: config.stateDigestEvery,
    ...(entry.signingKey === undefined ? {} : { outputSigning: { clusterId: config.clusterId, privateKey: await readSigningKey(config, io, entry, index) } }),
    storage: storage && metrics ? metrics.timedStorage(storage) : storage,
  })
  options.onHostCreated?.(host)
  // A taken port is reported before the disk is locked and recovered.
  await transport!.bind()
  try {
    await host.start()
  } catch (error) {
    // A replica that cannot start (its disk refused to open) must not keep its port open, or the process never exits.
    await transport!.stop().catch(() => undefined)
    throw error
  }
  const replicaSecret = 'secret' in auth && typeof auth.secret === 'string' ? auth.secret : undefined
  return {
    id,
    host,
    address: { host: entry.host, port: entry.port },
    machineName: machine.name,
    transportStats: () => transport?.stats(),
    replicaSecret,
    tlsCa,
    get tlsRevocationLists() {
      return tlsRevocationLists
    },
    async reloadRevocationLists() {
      if (tlsCa === undefined || transport === undefined) return undefined
      const reloaded = await reloadRevocationLists(config, io, tlsCa, transport)
      if (reloaded !== undefined) tlsRevocationLists = reloaded.lists
      return reloaded
    },
    ...(clock ? { clock } : {}),
    stop: () => host.stop(),
  }
}

/** A transport that tells the metrics of every client message received and every message sent to a client. */
function observedTransport(inner: Transport, metrics: ReplicaMetrics): Transport {
  return {
    self: inner.self,
    start: (handler) =>
      inner.start({
        ...handler,
        onClientMessage: (client, message) => {
          metrics.clientMessage(client, message)
          handler.onClientMessage(client, message)
        },
      }),
    send: (to, message) => inner.send(to, message),
    sendToClient: (to, message) => {
      metrics.clientReply(to, message)
      inner.sendToClient(to, message)
    },
    stop: () => inner.stop(),
  }
}

/**
 * Reads a replica's Ed25519 private key (`signingKey`) and checks it against its `publicKey`, so a wrong file fails
 * the start with the JSON path instead of making every signature unverifiable.
 */
async function readSigningKey(config: LoadedClusterConfig, io: Io, entry: ReplicaEntry, index: number): Promise<string> {
  const where = `/replicas/${index}/signingKey`
  const file = configPath(config, entry.signingKey!)
  let privateKey: string
  try {
    privateKey = (await io.readFile(file)).trim()
  } catch (cause) {
    throw configError(config.file, [{ path: where, message: `cannot read ${file}: ${(cause as Error).message}` }])
  }
  try {
    const statement = { clusterId: config.clusterId, replicaId: entry.id, client: 'key-check', seq: 1, incarnation: 0, position: 1, digest: digestOf(null) }
    const check = verifyEvidence({ value: null, statements: [signOutputDigest(statement, privateKey)] }, { [entry.id]: entry.publicKey! }, 0)
    if (!check.ok) throw new Error(`it does not match /replicas/${index}/publicKey`)
  } catch (cause) {
    throw configError(config.file, [{ path: where, message: `${file} is not this replica's Ed25519 private key: ${(cause as Error).message}` }])
  }
  return privateKey
}

/** Reads the CA, certificate and key PEM files named by the configuration. */
export async function readTls(config: LoadedClusterConfig, io: Io, ca: string, own: { cert: string; key: string }, where: string): Promise<TlsCredentials & { readonly ca: string }> {
  const read = async (path: string, pointer: string) => {
    try {
      return await io.readFile(configPath(config, path))
    } catch (cause) {
      throw configError(config.file, [{ path: pointer, message: `cannot read ${configPath(config, path)}: ${(cause as Error).message}` }])
    }
  }
  return { ca: await read(ca, '/security/tls/ca'), cert: await read(own.cert, `${where}/cert`), key: await read(own.key, `${where}/key`) }
}
