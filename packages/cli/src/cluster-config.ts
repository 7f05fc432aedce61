import { dirname, isAbsolute, resolve } from 'node:path'
import type { ErrorObject, ValidateFunction } from 'ajv'
import { ErrorCodes, LockstepError } from '@lockstep/interface'
import type { Io } from './io'
import { machineSpecProblem } from './machine-source'
import schema from './cluster-config.schema.json'
import { validate } from './cluster-config-validator.generated'

/** The JSON Schema of a cluster configuration file (draft-07). */
export const clusterConfigSchema: object = schema

/** Ordering strategies a replica can run. */
export const orderNames = ['lamport', 'realtime'] as const

/** How clients vote on the replicas' answers (`voter` in the configuration, `--voter`). */
export const voterNames = ['first', 'majority', 'byzantine'] as const
export type VoterName = (typeof voterNames)[number]

/** Where a secret comes from: exactly one of a file, an environment variable or the value itself. */
export type SecretSource = { readonly file: string } | { readonly env: string } | { readonly value: string }

/** One replica of the cluster. */
export interface ReplicaEntry {
  readonly id: string
  readonly host: string
  readonly port: number
  /** Port of its HTTP endpoint for operators (/metrics, /health, /status, /members) on `host`; none when unset. */
  readonly metricsPort?: number
  /** This replica's certificate and key (PEM paths), when the cluster uses TLS. */
  readonly tls?: { readonly cert: string; readonly key: string }
  /** This replica's Ed25519 public key (base64 of the raw 32 bytes): readers verify its signed reply digests with it. */
  readonly publicKey?: string
  /** Path of the file holding this replica's Ed25519 private key (base64), read by that replica only. */
  readonly signingKey?: string
}

/** Timeouts, with every default filled in. */
export interface ClusterTimeouts {
  readonly tickMs: number
  readonly heartbeatMs: number
  readonly suspectAfterMs: number
  readonly viewChangeTimeoutMs: number
  readonly handshakeTimeoutMs: number
  readonly idleTimeoutMs: number
  readonly reconnectMaxDelayMs: number
  readonly clientRetryMs: number
  readonly clientTimeoutMs: number
}

/** Transport limits a configuration may set; unset ones keep @lockstep/transport-tcp's defaults. */
export interface ClusterLimits {
  readonly maxFrameBytes?: number
  readonly maxPeerMessageBytes?: number
  readonly maxConnectionsPerAddress?: number
  readonly maxPendingHandshakesPerAddress?: number
  readonly maxPendingHandshakes?: number
  readonly maxConnections?: number
  readonly maxClientSessions?: number
  readonly clientSessionRetentionMs?: number
  readonly maxBufferedBytesPerPeer?: number
  readonly maxBufferedBytesPerClient?: number
  readonly sharedStringCharsPerPeer?: number
}

/** Bounds of the replicated session table; unset ones keep @lockstep/core's defaults. */
export interface ClusterSessions {
  readonly capacity?: number
  readonly expireAfterPositions?: number
}

/** A validated cluster configuration with its defaults filled in. */
export interface ClusterConfig {
  readonly clusterId: string
  readonly replicas: readonly ReplicaEntry[]
  readonly order: (typeof orderNames)[number]
  /** How its clients vote on the replicas' answers. */
  readonly voter: VoterName
  /** The real-time orderer's timing bounds (order 'realtime'); unset ones keep @lockstep/order-realtime's defaults. */
  readonly realtime: { readonly maxDelayMs?: number; readonly maxSkewMs?: number; readonly deltaMs?: number }
  readonly machine: string
  readonly storage: { readonly type: 'memory' } | { readonly type: 'file'; readonly dir: string; readonly sync: 'batch' | 'interval' | 'never' }
  readonly security: {
    readonly replicaSecret?: SecretSource
    readonly clientSecret?: SecretSource
    /** `crl`: the path of a PEM revocation list file, or several. */
    readonly tls?: { readonly ca: string; readonly crl?: string | readonly string[] }
  }
  readonly timeouts: ClusterTimeouts
  readonly limits: ClusterLimits
  readonly sessions: ClusterSessions
  /** State digests every this many deliveries (0: off). */
  readonly stateDigestEvery: number
  /** GET /status includes the machine's summary of its state (`StateMachine.summary`) when it has one. */
  readonly statusSummary: boolean
}

/** A configuration read from a file: relative paths in it are resolved against `baseDir`. */
export interface LoadedClusterConfig extends ClusterConfig {
  /** The file it was read from (absolute). */
  readonly file: string
  /** The directory relative paths are resolved against. */
  readonly baseDir: string
}

/** One thing wrong with a configuration: the JSON path of the field and what was expected there. */
export interface ConfigProblem {
  /** JSON Pointer of the offending field, `/replicas/0/port`; `/` for the whole document. */
  readonly path: string
  readonly message: string
}

/** The defaults of {@link ClusterTimeouts}. */
export const DEFAULT_TIMEOUTS: ClusterTimeouts = {
  tickMs: 10,
  heartbeatMs: 50,
  suspectAfterMs: 1000,
  viewChangeTimeoutMs: 2000,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  reconnectMaxDelayMs: 10_000,
  clientRetryMs: 1000,
  clientTimeoutMs: 10_000,
}

/**
 * The schema's validator, compiled by ajv ahead of time (scripts/generate-config-validator.mjs): compiling it at
 * start took about a quarter of the CPU of a `lockstep client` call.
 */
const compiledValidator = validate as ValidateFunction

/**
 * Checks a parsed configuration against the schema and the rules a schema
 * cannot express (unique ids and addresses, known machines, TLS consistency).
 * Returns every problem found, or the configuration with defaults filled in.
 */
export function validateClusterConfig(data: unknown): { ok: true; config: ClusterConfig } | { ok: false; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = []
  if (!compiledValidator(data)) problems.push(...schemaProblems(compiledValidator.errors ?? []))
  problems.push(...ruleProblems(data))
  const unique = dedupe(problems).sort((a, b) => comparePaths(a.path, b.path))
  if (unique.length > 0) return { ok: false, problems: unique }
  return { ok: true, config: withDefaults(data as RawConfig) }
}

/** Parses and validates configuration text; throws INVALID_CONFIG listing every problem with its JSON path. */
export function parseClusterConfig(text: string, file: string): LoadedClusterConfig {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (cause) {
    throw configError(file, [{ path: '/', message: `is not valid JSON: ${(cause as Error).message}` }])
  }
  const result = validateClusterConfig(data)
  if (!result.ok) throw configError(file, result.problems)
  const absolute = resolve(file)
  return { ...result.config, file: absolute, baseDir: dirname(absolute) }
}

/** Reads, parses and validates a configuration file. */
export async function loadClusterConfig(file: string, io: Io): Promise<LoadedClusterConfig> {
  let text: string
  try {
    text = await io.readFile(file)
  } catch (cause) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `cannot read the cluster configuration ${file}: ${(cause as Error).message}; pass --config (or --cluster) the path of a cluster.json, as written by \`lockstep cluster up\``)
  }
  return parseClusterConfig(text, file)
}

/** The error for an invalid configuration: one line per problem, `path: what was expected`. */
export function configError(file: string, problems: readonly ConfigProblem[]): LockstepError {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`
  const lines = problems.map((p) => `  ${p.path}: ${p.message}`)
  return new LockstepError(
    ErrorCodes.INVALID_CONFIG,
    `${file} is not a valid cluster configuration (${count}):\n${lines.join('\n')}\nThe format is described in docs/running-a-cluster.md; \`lockstep cluster schema\` prints its JSON Schema.`,
    { path: problems[0]?.path, problems },
  )
}

/** Resolves a path from the configuration against the file's directory. */
export function configPath(config: LoadedClusterConfig, path: string): string {
  return isAbsolute(path) ? path : resolve(config.baseDir, path)
}

/** Reads a secret (file, environment variable or inline value); throws INVALID_CONFIG naming its JSON path. */
export async function readSecret(config: LoadedClusterConfig, which: 'replicaSecret' | 'clientSecret', io: Io): Promise<string> {
  const source = config.security[which]
  const path = `/security/${which}`
  if (source === undefined) throw configError(config.file, [{ path, message: 'is required' }])
  let secret: string
  if ('value' in source) secret = source.value
  else if ('env' in source) {
    const value = process.env[source.env]
    if (value === undefined || value === '') throw configError(config.file, [{ path: `${path}/env`, message: `names the environment variable ${source.env}, which is not set` }])
    secret = value
  } else {
    try {
      secret = (await io.readFile(configPath(config, source.file))).trim()
    } catch (cause) {
      throw configError(config.file, [{ path: `${path}/file`, message: `cannot read ${configPath(config, source.file)}: ${(cause as Error).message}` }])
    }
  }
  if (Buffer.byteLength(secret, 'utf8') < 16) {
    throw configError(config.file, [{ path, message: 'must be at least 16 bytes long; generate one with `openssl rand -hex 32`' }])
  }
  return secret
}

/** Checks that replicas can authenticate: a replica secret without TLS, and a client secret unless clients use certificates. */
export function authProblems(config: ClusterConfig, role: 'replica' | 'client'): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  const tls = config.security.tls !== undefined
  if (role === 'replica' && !tls && config.security.replicaSecret === undefined) {
    problems.push({ path: '/security/replicaSecret', message: 'is required unless security.tls is set: replicas authenticate each other with it (HMAC)' })
  }
  if (!tls && config.security.clientSecret === undefined) {
    problems.push({ path: '/security/clientSecret', message: 'is required unless security.tls is set: clients authenticate with it' })
  }
  return problems
}

interface RawConfig {
  clusterId?: string
  replicas: ReplicaEntry[]
  order?: ClusterConfig['order']
  voter?: VoterName
  realtime?: ClusterConfig['realtime']
  machine: string
  storage?: { type: 'memory' | 'file'; dir?: string; sync?: 'batch' | 'interval' | 'never' }
  security?: ClusterConfig['security']
  timeouts?: Partial<ClusterTimeouts>
  limits?: ClusterLimits
  sessions?: ClusterSessions
  stateDigestEvery?: number
  statusSummary?: boolean
}

function withDefaults(raw: RawConfig): ClusterConfig {
  const storage = raw.storage ?? { type: 'memory' }
  return {
    clusterId: raw.clusterId ?? 'lockstep',
    replicas: raw.replicas.map((r) => ({ ...r })),
    order: raw.order ?? 'lamport',
    voter: raw.voter ?? 'first',
    realtime: { ...raw.realtime },
    machine: raw.machine,
    storage: storage.type === 'file' ? { type: 'file', dir: storage.dir!, sync: storage.sync ?? 'batch' } : { type: 'memory' },
    security: { ...raw.security },
    timeouts: { ...DEFAULT_TIMEOUTS, ...raw.timeouts },
    limits: { ...raw.limits },
    sessions: { ...raw.sessions },
    stateDigestEvery: raw.stateDigestEvery ?? 1000,
    statusSummary: raw.statusSummary ?? true,
  }
}

/** Turns ajv's errors into `path: expectation` lines a person can act on. */
function schemaProblems(errors: readonly ErrorObject[]): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  for (const error of errors) {
    const path = error.instancePath || ''
    const got = error.data === undefined ? '' : ` (got ${describe(error.data)})`
    switch (error.keyword) {
      case 'if':
        break // the branch's own errors (a missing field) say it better
      case 'required':
        problems.push({ path: `${path}/${(error.params as { missingProperty: string }).missingProperty}`, message: 'is required' })
        break
      case 'additionalProperties': {
        const field = (error.params as { additionalProperty: string }).additionalProperty
        const known = Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {}).filter((k) => k !== '$schema')
        problems.push({ path: `${path}/${field}`, message: `is not a known field${known.length > 0 ? ` (expected one of: ${known.join(', ')})` : ''}` })
        break
      }
      case 'enum':
        problems.push({ path: path || '/', message: `must be one of: ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}${got}` })
        break
      case 'minProperties':
      case 'maxProperties':
        problems.push({ path: path || '/', message: `must have exactly one of: ${Object.keys((error.parentSchema as { properties?: object }).properties ?? {}).join(', ')}${got}` })
        break
      case 'type':
        problems.push({ path: path || '/', message: `must be ${article((error.params as { type: string }).type)}${got}` })
        break
      case 'pattern':
        problems.push({ path: path || '/', message: `${(error.parentSchema as { description?: string }).description ?? error.message ?? 'has the wrong form'}${got}` })
        break
      default:
        problems.push({ path: path || '/', message: `${error.message ?? 'is invalid'}${got}` })
    }
  }
  return problems
}

/** Rules beyond the schema; checks whatever parts of the document have the right shape. */
function ruleProblems(data: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  if (!isObject(data)) return problems
  const replicas = Array.isArray(data.replicas) ? data.replicas : []
  const ids = new Map<string, number>()
  const addresses = new Map<string, string>()
  replicas.forEach((replica, index) => {
    if (!isObject(replica)) return
    if (typeof replica.id === 'string') {
      const first = ids.get(replica.id)
      if (first !== undefined) problems.push({ path: `/replicas/${index}/id`, message: `duplicate replica id ${JSON.stringify(replica.id)} (also /replicas/${first}/id); every replica needs its own id` })
      else ids.set(replica.id, index)
    }
    if (typeof replica.host === 'string' && typeof replica.port === 'number') {
      const address = `${replica.host}:${replica.port}`
      const first = addresses.get(address)
      if (first !== undefined) problems.push({ path: `/replicas/${index}/port`, message: `${address} is also the address of ${first}; every replica needs its own port` })
      else addresses.set(address, `/replicas/${index}`)
    }
    if (typeof replica.host === 'string' && typeof replica.metricsPort === 'number') {
      const address = `${replica.host}:${replica.metricsPort}`
      const first = addresses.get(address)
      if (first !== undefined) problems.push({ path: `/replicas/${index}/metricsPort`, message: `${address} is also the address of ${first}; every port may serve one thing only` })
      else addresses.set(address, `/replicas/${index}/metricsPort`)
    }
  })
  if (typeof data.machine === 'string' && data.machine.length > 0) {
    const problem = machineSpecProblem(data.machine)
    if (problem !== undefined) problems.push({ path: '/machine', message: `${JSON.stringify(data.machine)} ${problem}` })
  }
  const security = isObject(data.security) ? data.security : {}
  const tls = isObject(security.tls)
  if (tls && security.replicaSecret !== undefined) {
    problems.push({ path: '/security/replicaSecret', message: 'must not be set together with security.tls: replicas then authenticate with their certificates; remove one of the two' })
  }
  replicas.forEach((replica, index) => {
    if (isObject(replica) && tls && replica.tls === undefined) {
      problems.push({ path: `/replicas/${index}/tls`, message: 'is required when security.tls is set: { "cert": PATH, "key": PATH }' })
    }
  })
  replicas.forEach((replica, index) => {
    if (isObject(replica) && replica.signingKey !== undefined && replica.publicKey === undefined) {
      problems.push({ path: `/replicas/${index}/publicKey`, message: 'is required when signingKey is set: readers verify the replica\'s signatures with it' })
    }
  })
  const withCertificate = replicas.findIndex((replica) => isObject(replica) && replica.tls !== undefined)
  if (!tls && withCertificate >= 0) {
    problems.push({ path: '/security/tls', message: `is required when replicas have certificates (/replicas/${withCertificate}/tls): { "ca": PATH }` })
  }
  return problems
}

function dedupe(problems: readonly ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>()
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/** Orders JSON paths alphabetically by segment, array indices numerically. */
function comparePaths(a: string, b: string): number {
  const key = (path: string) => path.split('/').map((segment) => (/^\d+$/.test(segment) ? segment.padStart(6, '0') : segment)).join('/')
  const [x, y] = [key(a), key(b)]
  return x < y ? -1 : x > y ? 1 : 0
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`
}

function describe(value: unknown): string {
  const text = JSON.stringify(value)
  if (text === undefined) return String(value)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}
