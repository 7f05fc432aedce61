/**
 * Printing for scenario output: peer messages, requests, replies and values, in
 * full words and one line each, deterministic, whatever message kinds the engine
 * sends. Known shapes (ballots, views, requests, stamped entries) print compactly;
 * anything else prints generically as `field=value`, so a renamed or new message
 * kind still prints (only the golden files change).
 */
import type { ReplicaToClient, Reply, Request, View } from '@lockstep/interface'

/** Readable names of the engine's one-letter envelope fields (unknown fields print under their own name). */
const envelopeFieldNames: Readonly<Record<string, string>> = {
  v: 'view',
  b: 'ballot',
  s: 'suspects',
  n: 'incarnation',
  p: 'position',
  u: 'replicas',
  r: 'replica',
}

/** Readable names of an orderer message's fields (the Lamport orderer's compact encoding). */
const ordererFieldNames: Readonly<Record<string, string>> = {
  c: 'clock',
  a: 'acks',
  r: 'requests',
}

/** Readable names of message kinds that are abbreviated on the wire. */
const kindNames: Readonly<Record<string, string>> = {
  hb: 'heartbeat',
}

/** Fields holding counts per replica, whose zeros are left out. */
const countFields = new Set(['acks', 'delivered', 'maxDelivered'])

/** Envelope kinds that carry an orderer's message: printed as the inner message. */
const ordererEnvelopeKinds = new Set(['o', 'order', 'orderer'])

/** The field naming a peer message's kind (`k` today; `kind` or `type` would do too). */
function kindField(message: Record<string, unknown>): string | undefined {
  return ['k', 'kind', 'type'].find((field) => typeof message[field] === 'string')
}

/**
 * The orderer's message an envelope carries, and the field it is in: an envelope of a known orderer kind,
 * or any message whose `m` (or `message`) field is itself a message with a type `t`.
 */
function ordererPayload(message: Record<string, unknown>): { field: string; payload: unknown } | undefined {
  const field = 'm' in message ? 'm' : 'message' in message ? 'message' : undefined
  if (!field) return undefined
  const kind = kindField(message)
  const payload = message[field]
  if ((kind && ordererEnvelopeKinds.has(message[kind] as string)) || (isRecord(payload) && typeof payload.t === 'string')) return { field, payload }
  return undefined
}

/** The display name of a peer message's kind (`heartbeat`, `prepare`, `lamport`, …). */
export function messageKind(message: unknown): string {
  if (!isRecord(message)) return 'malformed'
  const orderer = ordererPayload(message)
  if (orderer) return isRecord(orderer.payload) && typeof orderer.payload.t === 'string' ? orderer.payload.t : 'order'
  const field = kindField(message)
  const kind = field ? (message[field] as string) : 'unknown'
  return kindNames[kind] ?? kind
}

/**
 * A routine message: a heartbeat, or an orderer message that carries no request (an acknowledgement or
 * the orderer's own heartbeat). Only `verbose` prints them.
 */
export function isRoutine(message: unknown): boolean {
  if (!isRecord(message)) return false
  const orderer = ordererPayload(message)
  if (orderer) return !(isRecord(orderer.payload) && Array.isArray(orderer.payload.r) && orderer.payload.r.length > 0)
  // Heartbeats, and a disk's progress reports, flow all the time: shown only with `verbose`.
  return messageKind(message) === 'heartbeat' || messageKind(message) === 'durable'
}

/** One peer message, without its link: `prepare view=2 ballot=(1,r1)`. */
export function formatMessage(message: unknown): string {
  if (!isRecord(message)) return `malformed ${formatValue(message)}`
  const kind = kindField(message)
  const orderer = ordererPayload(message)
  const parts = [messageKind(message)]
  for (const [field, value] of Object.entries(message)) {
    if (field === kind || field === orderer?.field) continue
    const name = envelopeFieldNames[field] ?? field
    parts.push(`${name}=${formatValue(value, name)}`)
  }
  if (orderer) {
    if (isRecord(orderer.payload)) {
      for (const [field, value] of Object.entries(orderer.payload)) {
        if (field === 't') continue
        const name = ordererFieldNames[field] ?? field
        parts.push(`${name}=${formatValue(value, name)}`)
      }
    } else {
      parts.push(`message=${formatValue(orderer.payload)}`)
    }
  }
  return parts.join(' ')
}

/** A client command in the scenario language's own syntax: `put x 1`, `acquire`. */
export function formatCommand(command: unknown): string {
  if (!isRecord(command) || typeof command.name !== 'string') return formatValue(command)
  const args = isRecord(command.args) ? Object.values(command.args).map((value) => (typeof value === 'string' ? word(value) : JSON.stringify(value))) : []
  return [command.name, ...args].join(' ')
}

/** A request's name: `c1#2`, or `c1#2/5` for incarnation 5 of the client. */
export function requestName(request: Pick<Request, 'client' | 'seq' | 'incarnation'>): string {
  return request.incarnation ? `${request.client}#${request.seq}/${request.incarnation}` : `${request.client}#${request.seq}`
}

/** A request with its command: `c1#2 put x 1`. */
export function formatRequest(request: Request): string {
  return `${requestName(request)} ${formatCommand(request.command)}`
}

/** A view: `2(r1,r2,r3)`. */
export function formatView(view: View): string {
  return `${view.id}(${view.members.join(',')})`
}

/** A reply's content: `ok outputs=[{}] position=3` or `error SESSION_EXPIRED: …`. */
export function formatReply(reply: Reply): string {
  if (reply.ok) {
    const outputs = reply.outputs.map((o) => JSON.stringify(o.value)).join(' ')
    const from = reply.outputsFrom === undefined ? '' : ` outputs-from=${reply.outputsFrom}`
    return `ok outputs=[${outputs}] position=${reply.position}${from}`
  }
  const position = reply.position === undefined ? '' : ` position=${reply.position}`
  return `error ${reply.error.code}${position}: ${reply.error.message}`
}

/** A message to a client, as its replica sent it. */
export function formatClientMessage(message: ReplicaToClient): string {
  if (message.type === 'reply') return `reply ${requestName(message.reply)} ${formatReply(message.reply)}`
  if (message.type === 'evidence') return `evidence ${message.answer.client}#${message.answer.seq} ${message.answer.status}`
  if (message.type === 'no-outputs') return `no-outputs since #${message.since}`
  const o = message.output
  return `output #${o.outputSeq} ${JSON.stringify(o.value)} caused-by=${o.cause.client}#${o.cause.seq} position=${o.position}`
}

/**
 * Any value, compactly and deterministically. `name` (the field's display name) selects a few
 * field-specific renderings (sessions are summarised, acknowledgement vectors drop zeros).
 */
export function formatValue(value: unknown, name = ''): string {
  if (value === null) return 'none'
  if (value === undefined) return 'none'
  if (typeof value === 'string') return word(value)
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  if (value instanceof Uint8Array) return `<${value.length} bytes>`
  if (name === 'sessions' && isRecord(value) && Array.isArray(value.sessions)) return formatValue(value.sessions, 'sessions')
  if (name === 'sessions' && Array.isArray(value)) return `<${value.length} client${value.length === 1 ? '' : 's'}>`
  if (Array.isArray(value)) {
    if (isBallot(value)) return `(${value[0]},${value[1]})`
    const request = value.at(-1)
    // A stamped entry: [time, n, request] (an orderer's batch) or [origin, time, n, request] (a report).
    if (value.length >= 2 && isRequest(request)) {
      const stamp = value.length === 4 ? `(${String(value[1])},${String(value[0])})` : String(value[0])
      return `${formatRequest(request)} @${stamp}`
    }
    return `[${value.map((item) => formatValue(item)).join(', ')}]`
  }
  if (isRequest(value)) return formatRequest(value)
  if (isView(value)) return formatView(value)
  if (isRecord(value) && typeof value.round === 'number' && typeof value.coordinator === 'string' && Object.keys(value).length === 2) return `(${value.round},${value.coordinator})`
  if (isRecord(value)) {
    const entries = Object.entries(value)
    // A vector of numbers per replica: `(r1:2 r3:1)`. In counts (acknowledgements, deliveries) zeros are left out.
    if (entries.length > 0 && entries.every(([, v]) => typeof v === 'number')) {
      const shown = countFields.has(name) ? entries.filter(([, v]) => v !== 0) : entries
      return `(${shown.map(([k, v]) => `${k}:${String(v)}`).join(' ')})`
    }
    if (entries.length === 0) return '{}'
    return `{${entries.map(([k, v]) => `${envelopeFieldNames[k] ?? k}=${formatValue(v, envelopeFieldNames[k] ?? k)}`).join(' ')}}`
  }
  return String(value)
}

/** A string as one word: bare when it has no spaces or special characters, JSON-quoted otherwise. */
function word(text: string): string {
  return /^[A-Za-z0-9_.:?!/+-]+$/.test(text) ? text : JSON.stringify(text)
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
}

function isBallot(value: readonly unknown[]): boolean {
  return value.length === 2 && typeof value[0] === 'number' && typeof value[1] === 'string'
}

function isRequest(value: unknown): value is Request {
  return isRecord(value) && typeof value.client === 'string' && typeof value.seq === 'number' && 'command' in value
}

function isView(value: unknown): value is View {
  return isRecord(value) && typeof value.id === 'number' && Array.isArray(value.members) && Object.keys(value).length === 2
}
