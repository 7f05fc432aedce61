import { decodePeerMessage, type PeerMessage } from '@lockstep/core'
import { requestKey } from './client-fleet'

/** How a trace shows one message: its kind, a short summary, and the requests it carries. */
export interface MessageDescription {
  readonly kind: string
  readonly summary: string
  readonly requests: readonly string[]
}

/** Summaries stop here: a trace shows what a message is, the JSON of a state chunk would drown it. */
const MAX_SUMMARY_CHARS = 160

/**
 * Describes a message of the memory network for a trace: a peer message (decoded from its wire form) by its kind
 * (`orderer`, `heartbeat`, `prepare`, …), and between clients and replicas `request`, `reply`, `output`,
 * `outputs`. Requests anywhere inside it are shown by key (`c1#4`).
 */
export function describeMessage(from: string, to: string, message: unknown, isReplica: (id: string) => boolean): MessageDescription {
  const requests: string[] = []
  if (isReplica(from) && isReplica(to)) {
    let peer: PeerMessage
    try {
      peer = decodePeerMessage(from, message)
    } catch {
      return { kind: 'malformed', summary: clip(compact(message, requests)), requests }
    }
    if (peer.kind === 'orderer') return { kind: 'orderer', summary: clip(`v${peer.view} ${ordererPayload(peer.message, requests)}`), requests }
    if (peer.kind === 'heartbeat') return { kind: 'heartbeat', summary: `v${peer.view} suspects {${peer.suspects.join(',')}}${peer.silent ? ` silent {${peer.silent.join(',')}}` : ''}`, requests }
    const { kind, ...fields } = peer
    const view = 'view' in fields ? `v${String(fields.view)} ` : ''
    if (kind === 'stateChunk' || kind === 'stateSuffix') return { kind, summary: `${view}(state transfer data)`, requests }
    delete (fields as { view?: unknown }).view
    return { kind, summary: clip(`${view}${compact(fields, requests)}`), requests }
  }
  const m = message as { type?: unknown; request?: { client: string; incarnation?: number; seq: number; command?: unknown }; reply?: { client: string; incarnation?: number; seq: number; position?: number }; output?: { outputSeq?: number } }
  if (m.type === 'request' && m.request) {
    const key = requestKey(m.request.client, m.request.incarnation, m.request.seq)
    return { kind: 'request', summary: clip(`${key} ${JSON.stringify(m.request.command) ?? ''}`), requests: [key] }
  }
  if (m.type === 'reply' && m.reply) {
    const key = requestKey(m.reply.client, m.reply.incarnation, m.reply.seq)
    return { kind: 'reply', summary: `${key}${m.reply.position === undefined ? '' : ` at position ${m.reply.position}`}`, requests: [key] }
  }
  if (m.type === 'output') return { kind: 'output', summary: `output ${m.output?.outputSeq ?? ''}`, requests }
  const kind = typeof m.type === 'string' ? m.type : 'message'
  return { kind, summary: clip(compact(message, requests)), requests }
}

/** An orderer's message: `lamport c=12 a={"r1":3} r=[[13,4,"c1#4"]]` (fields after its `t`). */
function ordererPayload(payload: unknown, requests: string[]): string {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return compact(payload, requests)
  const { t, ...fields } = payload as Record<string, unknown>
  const head = typeof t === 'string' ? `${t} ` : ''
  return head + Object.entries(fields).map(([name, value]) => `${name}=${compact(value, requests)}`).join(' ')
}

/** Compact JSON, with every request inside replaced by its key (collected in `requests`). */
function compact(value: unknown, requests: string[]): string {
  return JSON.stringify(value, (_name, inner: unknown) => {
    if (isRequest(inner)) {
      const key = requestKey(inner.client, inner.incarnation, inner.seq)
      requests.push(key)
      return key
    }
    if (inner instanceof Uint8Array) return `(${inner.byteLength} bytes)`
    return inner
  }) ?? String(value)
}

function isRequest(value: unknown): value is { client: string; incarnation?: number; seq: number } {
  if (typeof value !== 'object' || value === null) return false
  const r = value as Record<string, unknown>
  return typeof r.client === 'string' && typeof r.seq === 'number' && 'command' in r
}

function clip(text: string): string {
  return text.length > MAX_SUMMARY_CHARS ? `${text.slice(0, MAX_SUMMARY_CHARS - 1)}…` : text
}
