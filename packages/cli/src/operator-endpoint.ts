import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { ReplicaHost } from '@lockstep/core'
import { ErrorCodes, LockstepError, isLockstepError, type Logger } from '@lockstep/interface'
import { operatorAuthProblem, operatorCertificateProblem, type OperatorTrust } from './operator-auth'
import type { ReplicaMetrics } from './replica-metrics'

/** What a replica's operator endpoint serves. */
export interface OperatorEndpointOptions {
  readonly id: string
  readonly clusterId: string
  readonly host: ReplicaHost
  readonly metrics: ReplicaMetrics
  /** The replicas of the configuration file: the only ones `add` can admit (the transport knows their addresses). */
  readonly knownReplicas: readonly string[]
  /** The replica secret that signs membership requests; undefined in a TLS cluster (see `operatorTrust`). */
  readonly replicaSecret: string | undefined
  /**
   * A TLS cluster's: the certificates that may sign membership requests (issued by its CA, an operator's or a
   * configured replica's). Without it and without a replica secret, membership changes are refused.
   */
  readonly operatorTrust?: OperatorTrust
  readonly log: Logger
}

/** A membership request: `POST /members` with this JSON body. */
export interface MembershipRequestBody {
  readonly action: 'add' | 'remove'
  readonly replica: string
}

const MAX_BODY_BYTES = 64 * 1024

/**
 * A replica's HTTP endpoint for operators: `GET /metrics` (Prometheus text), `GET /health` (200 while it serves
 * in a view, 503 otherwise), `GET /status` (JSON; `?digest=false` skips the state digest) and `POST /members`
 * (add or remove a replica through the ordered view change; signed with the replica secret). Resolves once it
 * listens; `close()` stops it.
 */
export async function startOperatorEndpoint(listen: { host: string; port: number }, options: OperatorEndpointOptions): Promise<{ readonly port: number; close(): Promise<void> }> {
  const seen = new Map<string, number>()
  const server = createServer((request, response) => {
    handle(request, response, options, seen).catch((error: unknown) => {
      options.log.error(`operator endpoint: ${request.method ?? '?'} ${request.url ?? '?'} failed: ${(error as Error)?.message ?? String(error)}`)
      if (!response.headersSent) sendJson(response, 500, { ok: false, error: { code: ErrorCodes.INTERNAL, message: (error as Error)?.message ?? String(error) } })
      else response.destroy()
    })
  })
  server.keepAliveTimeout = 1000
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new LockstepError(ErrorCodes.INVALID_CONFIG, `replica ${options.id}: cannot serve metrics on ${listen.host}:${listen.port}: ${error.message} (metricsPort in the configuration, or --metrics-port)`, { addressInUse: error.code === 'EADDRINUSE' })),
    )
    server.listen(listen.port, listen.host, () => resolve())
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : listen.port
  return { port, close: () => closeServer(server) }
}

async function handle(request: IncomingMessage, response: ServerResponse, options: OperatorEndpointOptions, seen: Map<string, number>): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://replica')
  const route = `${request.method ?? 'GET'} ${url.pathname}`
  const engine = options.host.engine
  switch (route) {
    case 'GET /metrics': {
      const text = await options.metrics.registry.metrics()
      response.writeHead(200, { 'content-type': options.metrics.registry.contentType })
      response.end(text)
      return
    }
    case 'GET /health': {
      const serving = engine.status === 'normal'
      sendJson(response, serving ? 200 : 503, { replica: options.id, status: engine.status, view: engine.view.id, position: engine.position })
      return
    }
    case 'GET /status':
      sendJson(response, 200, await options.metrics.status(url.searchParams.get('digest') !== 'false'))
      return
    case 'POST /members':
      await members(request, response, options, seen)
      return
    default:
      sendJson(response, 404, { ok: false, error: { code: ErrorCodes.INVALID_ARGUMENT, message: `no ${route} here: GET /metrics, /health, /status; POST /members` } })
  }
}

async function members(request: IncomingMessage, response: ServerResponse, options: OperatorEndpointOptions, seen: Map<string, number>): Promise<void> {
  const refuse = (status: number, code: string, message: string) => sendJson(response, status, { ok: false, error: { code, message: `replica ${options.id}: ${message}` } })
  const { replicaSecret, operatorTrust } = options
  if (replicaSecret === undefined && operatorTrust === undefined) {
    return refuse(501, ErrorCodes.UNSUPPORTED, 'membership changes over HTTP are signed with the replica secret or a certificate of the cluster, and this replica has neither: they are not available')
  }
  const body = await readBody(request)
  if (body === undefined) return refuse(413, ErrorCodes.MALFORMED_MESSAGE, `the body is larger than ${MAX_BODY_BYTES} bytes`)
  const { authorization } = request.headers
  // Who signed, when a certificate did (its CN); a replica secret names no one.
  let operator: string | undefined
  let problem: string | undefined
  const signed = { clusterId: options.clusterId, replica: options.id, method: 'POST', path: '/members', body }
  if (replicaSecret !== undefined) problem = operatorAuthProblem(authorization, replicaSecret, signed, Date.now(), seen)
  else {
    const verdict = operatorCertificateProblem(authorization, operatorTrust!, signed, Date.now(), seen)
    if ('problem' in verdict) problem = verdict.problem
    else operator = verdict.operator
  }
  if (problem !== undefined) {
    options.log.warn(`operator endpoint: refused a membership request from ${request.socket.remoteAddress ?? 'unknown'}: ${problem}`, { code: ErrorCodes.AUTH_FAILED })
    return refuse(401, ErrorCodes.AUTH_FAILED, problem)
  }
  let parsed: Partial<MembershipRequestBody>
  try {
    parsed = JSON.parse(body) as Partial<MembershipRequestBody>
  } catch (error) {
    return refuse(400, ErrorCodes.MALFORMED_MESSAGE, `the body is not JSON: ${(error as Error).message}`)
  }
  if ((parsed.action !== 'add' && parsed.action !== 'remove') || typeof parsed.replica !== 'string') {
    return refuse(400, ErrorCodes.MALFORMED_MESSAGE, 'the body must be {"action": "add" | "remove", "replica": "<id>"}')
  }
  const { action, replica } = parsed
  if (!options.knownReplicas.includes(replica)) {
    return refuse(404, ErrorCodes.UNKNOWN_PEER, `'${replica}' is not a replica of the configuration (${options.knownReplicas.join(', ')}); add it to cluster.json and restart the replicas first`)
  }
  const engine = options.host.engine
  if (engine.status !== 'normal') return refuse(503, ErrorCodes.STOPPED, `it does not serve in a view now (status ${engine.status}): ask another replica`)
  try {
    if (action === 'remove') options.host.removeReplica(replica)
    else {
      // A configured spare started before its admission may be a member of the view outside the configuration: the
      // admission puts it into the configuration. Found replacing a dead machine (cli replace-a-machine.test.ts).
      if (engine.view.members.includes(replica) && engine.configuration.includes(replica)) {
        return refuse(409, ErrorCodes.INVALID_ARGUMENT, `'${replica}' is already a member of view ${engine.view.id} and in the configuration`)
      }
      options.host.admitReplica(replica)
    }
  } catch (error) {
    if (!isLockstepError(error)) throw error
    return refuse(409, error.code, error.message)
  }
  options.log.warn(`operator${operator === undefined ? '' : ` '${operator}'`}: ${action} replica '${replica}' requested (view ${engine.view.id}); the next view change applies it`, {
    action,
    member: replica,
    ...(operator === undefined ? {} : { operator }),
  })
  sendJson(response, 202, { ok: true, action, replica, view: { id: engine.view.id, members: engine.view.members } })
}

function readBody(request: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    request.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY_BYTES) {
        resolve(undefined)
        request.destroy()
        return
      }
      chunks.push(chunk)
    })
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    request.on('error', reject)
  })
}

function sendJson(response: ServerResponse, status: number, value: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' })
  response.end(`${JSON.stringify(value)}\n`)
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}
