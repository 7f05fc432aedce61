import { ErrorCodes } from '@lockstep/interface'
import type { LoadedClusterConfig, ReplicaEntry } from './cluster-config'
import { signOperatorRequest, signOperatorRequestWithCertificate, type OperatorCertificate } from './operator-auth'
import type { ReplicaStatusReport } from './replica-metrics'

/** What asking one replica's operator endpoint gave: its answer, or why there was none. */
export type EndpointAnswer<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: { readonly code: string; readonly message: string } }

/** How long one replica may take to answer an operator command. */
export const ENDPOINT_TIMEOUT_MS = 5000

/** The base URL of a replica's operator endpoint, or undefined when it has no `metricsPort`. */
export function endpointUrl(replica: ReplicaEntry): string | undefined {
  if (replica.metricsPort === undefined) return undefined
  const host = replica.host.includes(':') ? `[${replica.host}]` : replica.host
  return `http://${host}:${replica.metricsPort}`
}

/** GET `path` from replica `replica`'s endpoint as JSON (any HTTP status: /health answers 503 with a body). */
export async function getJson<T>(config: LoadedClusterConfig, replica: ReplicaEntry, path: string, timeoutMs = ENDPOINT_TIMEOUT_MS): Promise<EndpointAnswer<T> & { readonly httpStatus?: number }> {
  return request<T>(config, replica, 'GET', path, undefined, undefined, timeoutMs)
}

/** Asks every configured replica for its `/status` at once. */
export function statusOfAll(config: LoadedClusterConfig, options: { readonly digest: boolean; readonly timeoutMs?: number }): Promise<(EndpointAnswer<ReplicaStatusReport> & { readonly id: string })[]> {
  return Promise.all(
    config.replicas.map(async (replica) => ({ id: replica.id, ...(await getJson<ReplicaStatusReport>(config, replica, `/status${options.digest ? '' : '?digest=false'}`, options.timeoutMs)) })),
  )
}

/** What signs an operator's request: the replica secret, or (a TLS cluster) a certificate of the cluster and its key. */
export type OperatorSigner = { readonly secret: string } | { readonly certificate: OperatorCertificate }

/** POSTs a JSON body to replica `replica`'s endpoint, signed with the replica secret or an operator's certificate. */
export function postSigned<T>(config: LoadedClusterConfig, replica: ReplicaEntry, path: string, body: unknown, signer: OperatorSigner, timeoutMs = ENDPOINT_TIMEOUT_MS): Promise<EndpointAnswer<T> & { readonly httpStatus?: number }> {
  const text = JSON.stringify(body)
  const signed = { clusterId: config.clusterId, replica: replica.id, method: 'POST', path, body: text }
  const authorization = 'secret' in signer ? signOperatorRequest(signer.secret, signed, Date.now()) : signOperatorRequestWithCertificate(signer.certificate, signed, Date.now())
  return request<T>(config, replica, 'POST', path, text, authorization, timeoutMs)
}

/** GET `path` from replica `replica`'s endpoint as text (`/metrics`: Prometheus text), with its HTTP status. */
export async function getText(config: LoadedClusterConfig, replica: ReplicaEntry, path: string, timeoutMs = ENDPOINT_TIMEOUT_MS): Promise<EndpointAnswer<string> & { readonly httpStatus?: number }> {
  const answer = await exchange(config, replica, 'GET', path, undefined, undefined, timeoutMs)
  return answer.ok ? { ok: true, httpStatus: answer.httpStatus, value: answer.text } : answer
}

async function request<T>(
  config: LoadedClusterConfig,
  replica: ReplicaEntry,
  method: string,
  path: string,
  body: string | undefined,
  authorization: string | undefined,
  timeoutMs: number,
): Promise<EndpointAnswer<T> & { readonly httpStatus?: number }> {
  const answer = await exchange(config, replica, method, path, body, authorization, timeoutMs)
  if (!answer.ok) return answer
  const { text, where, httpStatus } = answer
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, httpStatus, error: { code: ErrorCodes.MALFORMED_MESSAGE, message: `replica ${replica.id}: ${where} answered ${httpStatus} with something that is not JSON: ${text.slice(0, 200)}` } }
  }
  const refusal = (value as { ok?: unknown; error?: { code?: unknown; message?: unknown } }).error
  if ((value as { ok?: unknown }).ok === false && refusal !== undefined) {
    return { ok: false, httpStatus, error: { code: String(refusal.code), message: String(refusal.message) } }
  }
  return { ok: true, httpStatus, value: value as T }
}

/** One HTTP exchange with a replica's endpoint: the body as text, or why there was none. */
async function exchange(
  config: LoadedClusterConfig,
  replica: ReplicaEntry,
  method: string,
  path: string,
  body: string | undefined,
  authorization: string | undefined,
  timeoutMs: number,
): Promise<{ readonly ok: true; readonly text: string; readonly where: string; readonly httpStatus: number } | { readonly ok: false; readonly error: { readonly code: string; readonly message: string } }> {
  const base = endpointUrl(replica)
  if (base === undefined) {
    return { ok: false, error: { code: ErrorCodes.INVALID_CONFIG, message: `replica ${replica.id} has no metricsPort in ${config.file}: it serves no operator endpoint` } }
  }
  const where = `${base}${path}`
  try {
    const response = await fetch(where, {
      method,
      signal: AbortSignal.timeout(timeoutMs),
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(authorization === undefined ? {} : { authorization }) },
      ...(body === undefined ? {} : { body }),
    })
    return { ok: true, text: await response.text(), where, httpStatus: response.status }
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code
    if ((error as Error).name === 'TimeoutError') return { ok: false, error: { code: ErrorCodes.TIMEOUT, message: `replica ${replica.id}: no answer from ${where} within ${timeoutMs} ms` } }
    return { ok: false, error: { code: ErrorCodes.UNREACHABLE, message: `replica ${replica.id}: cannot reach ${where} (${cause ?? (error as Error).message})` } }
  }
}
