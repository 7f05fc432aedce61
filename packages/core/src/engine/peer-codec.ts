import type { ReplicaId, View } from '@lockstep/interface'
import { malformed, parseRequest } from './client-messages'
import { isOrderDigestVersion } from './digest'
import type { AcceptedValue, Ballot, Holding, PeerMessage, PeerMessageKind, ReplySignature, ViewValue } from './peer-messages'
import { MAX_SIGNATURES_PER_MESSAGE } from './output-evidence'

/**
 * The wire form of peer messages: a tuple whose first element is the kind's
 * code, then the fields in a fixed order. The logic only ever sees the named
 * form of `peer-messages.ts`; this file is the one place that knows the
 * compact one, and decoding checks every field, so a malformed message from
 * the network becomes a `MALFORMED_MESSAGE` error naming the field instead of
 * a crash deeper in.
 */
const codes: Readonly<Record<PeerMessageKind, number>> = {
  orderer: 0,
  heartbeat: 1,
  prepare: 2,
  promise: 3,
  nack: 4,
  accept: 5,
  accepted: 6,
  commit: 7,
  query: 8,
  removed: 9,
  join: 10,
  remove: 11,
  admit: 12,
  recover: 13,
  stateRequest: 14,
  stateChunk: 15,
  durable: 16,
  stateSuffix: 17,
  replySignatures: 18,
  stateDigest: 19,
  signatureRequest: 20,
}
const kindsByCode = Object.fromEntries(Object.entries(codes).map(([kind, code]) => [code, kind])) as Record<number, PeerMessageKind>

type Wire = readonly unknown[]

/** The compact wire form of a peer message. */
export function encodePeerMessage(message: PeerMessage): Wire {
  const code = codes[message.kind]
  switch (message.kind) {
    case 'orderer':
      return [code, message.view, message.message]
    case 'heartbeat':
      // `started` and `silent` after the fields earlier versions read, which ignore them (an empty `started`, where
      // `silent` needs its place, names nobody: the same as none).
      if (message.silent && message.silent.length > 0) return [code, message.view, message.suspects, message.started ?? {}, message.silent]
      return message.started ? [code, message.view, message.suspects, message.started] : [code, message.view, message.suspects]
    case 'prepare':
      return message.previous ? [code, message.view, ...encodeBallot(message.ballot), encodeValue(message.previous)] : [code, message.view, ...encodeBallot(message.ballot)]
    case 'accepted':
      return [code, message.view, ...encodeBallot(message.ballot)]
    case 'nack':
      return [code, message.view, ...(message.ballot ? encodeBallot(message.ballot) : [null, null]), message.knownView]
    case 'promise':
      return [code, message.view, ...encodeBallot(message.ballot), encodeHolding(message.holding), message.suspects, message.accepted && [...encodeBallot(message.accepted.ballot), encodeValue(message.accepted.value)], message.incarnation]
    case 'accept':
      return message.previous
        ? [code, message.view, ...encodeBallot(message.ballot), encodeValue(message.value), encodeValue(message.previous)]
        : [code, message.view, ...encodeBallot(message.ballot), encodeValue(message.value)]
    case 'commit':
      return [code, encodeValue(message.value)]
    case 'query':
      return [code, message.view]
    case 'stateRequest':
      return message.from ? [code, message.view, message.offset, message.from.position, message.from.digest] : [code, message.view, message.offset]
    case 'stateSuffix':
      return message.digestVersion === undefined || message.digestVersion === 1
        ? [code, message.view, message.from, message.target, message.digest, message.requests]
        : [code, message.view, message.from, message.target, message.digest, message.requests, message.digestVersion]
    case 'removed':
      return [code, message.view.id, message.view.members]
    case 'join':
      if (message.leftView !== undefined) return [code, message.incarnation, message.fresh, message.started === true, message.leftView]
      if (message.started) return [code, message.incarnation, message.fresh, true]
      // `knows` in the slot of `started`, which earlier versions read as not started (anything but true).
      return message.knows ? [code, message.incarnation, message.fresh, message.knows] : [code, message.incarnation, message.fresh]
    case 'remove':
    case 'admit':
      return message.view === undefined ? [code, message.replica] : [code, message.replica, message.view]
    case 'recover':
      return [code, message.view.id, message.view.members, message.position, message.incarnation]
    case 'stateChunk':
      // The size and digest sit where earlier versions always had them; null until the source knows them.
      return [code, message.view, message.position, message.end?.totalBytes ?? null, message.end?.digest ?? null, message.offset, message.bytes]
    case 'durable':
      return message.digest === undefined ? [code, message.position] : [code, message.position, message.digest]
    case 'replySignatures':
      return [code, message.signatures.map((s) => [s.client, s.seq, s.incarnation, s.position, s.digest, s.signature])]
    case 'stateDigest':
      return [code, message.position, message.digest]
    case 'signatureRequest':
      return [code, message.positions]
  }
}

/** Decodes and checks a peer message from the wire; throws `MALFORMED_MESSAGE` naming what is wrong. */
export function decodePeerMessage(from: ReplicaId, raw: unknown): PeerMessage {
  // The orderer's messages are nearly all of them: a well-formed one is taken without the kind's table or a field
  // reader. Anything else, malformed ones included, takes the full path (and its error).
  if (Array.isArray(raw) && raw[0] === codes.orderer && Number.isSafeInteger(raw[1]) && (raw[1] as number) >= 0) {
    return { kind: 'orderer', view: raw[1] as number, message: raw[2] }
  }
  // The texts that name where a field is are made only for an error (or for a nested value's checks): a report of
  // how far a disk or a delivery reached comes once per flush and peer, a heartbeat once per tick.
  const where = () => messageFrom(from)
  if (!Array.isArray(raw) || raw.length === 0) throw malformed(where(), 'message', 'a non-empty array (kind code first)')
  const kind = kindsByCode[raw[0] as number]
  if (kind === undefined) throw malformed(where(), 'kind', `one of the codes 0–${Object.keys(codes).length - 1} (got ${String(raw[0])})`)
  const field = new Fields(raw, kind, from)
  switch (kind) {
    case 'orderer':
      return { kind, view: field.count(1, 'view'), message: field.any(2) }
    case 'heartbeat': {
      const heartbeat = { kind, view: field.count(1, 'view'), suspects: field.ids(2, 'suspects') }
      if (raw[3] === undefined && raw[4] === undefined) return heartbeat
      const started = incarnationsField(raw[3], `${where()} (heartbeat)`, 'started')
      const silent = raw[4] === undefined ? [] : field.ids(4, 'silent')
      return { ...heartbeat, ...(Object.keys(started).length > 0 && { started }), ...(silent.length > 0 && { silent }) }
    }
    case 'prepare':
      return { kind, view: field.count(1, 'view'), ballot: field.ballot(2), ...(raw[4] === undefined ? {} : { previous: decodeValue(raw[4], `${where()} (prepare) previous`) }) }
    case 'accepted':
      return { kind, view: field.count(1, 'view'), ballot: field.ballot(2) }
    case 'nack':
      return { kind, view: field.count(1, 'view'), ballot: raw[2] === null ? null : field.ballot(2), knownView: field.count(4, 'knownView') }
    case 'promise': {
      const accepted = raw[6] === null ? null : decodeAccepted(raw[6], `${where()} (promise) accepted`)
      const holding = decodeHolding(raw[4], `${where()} (promise) holding`)
      return { kind, view: field.count(1, 'view'), ballot: field.ballot(2), holding, suspects: field.ids(5, 'suspects'), accepted, incarnation: field.number(7, 'incarnation') }
    }
    case 'accept':
      return {
        kind,
        view: field.count(1, 'view'),
        ballot: field.ballot(2),
        value: decodeValue(raw[4], `${where()} (accept) value`),
        ...(raw[5] === undefined ? {} : { previous: decodeValue(raw[5], `${where()} (accept) previous`) }),
      }
    case 'commit':
      return { kind, value: decodeValue(raw[1], `${where()} (commit) value`) }
    case 'query':
      return { kind, view: field.count(1, 'view') }
    case 'stateRequest':
      return raw.length > 3
        ? { kind, view: field.count(1, 'view'), offset: field.count(2, 'offset'), from: { position: field.count(3, 'from position'), digest: field.text(4, 'from digest') } }
        : { kind, view: field.count(1, 'view'), offset: field.count(2, 'offset') }
    case 'stateSuffix': {
      const requests = raw[5]
      if (!Array.isArray(requests)) throw malformed(`${where()} (stateSuffix)`, 'requests', 'a list of requests')
      const checked = requests.map((request, i) => parseRequest(request, `${where()} (stateSuffix) request ${i}`))
      const suffix = { kind, view: field.count(1, 'view'), from: field.count(2, 'from'), target: field.count(3, 'target'), digest: field.text(4, 'digest'), requests: checked }
      if (raw[6] === undefined) return suffix
      if (!isOrderDigestVersion(raw[6])) throw malformed(`${where()} (stateSuffix)`, 'digestVersion', 'an order digest version this version knows (1 or 2)')
      return { ...suffix, digestVersion: raw[6] }
    }
    case 'removed':
      return { kind, view: field.view(1) }
    case 'join': {
      const plain = { kind, incarnation: field.number(1, 'incarnation'), fresh: field.boolean(2, 'fresh') }
      const join = raw[3] === true ? { ...plain, started: true } : typeof raw[3] === 'object' && raw[3] !== null ? { ...plain, knows: incarnationsField(raw[3], `${where()} (join)`, 'knows') } : plain
      return raw[4] === undefined ? join : { ...join, leftView: field.count(4, 'leftView') }
    }
    case 'remove':
    case 'admit':
      return raw[2] === undefined ? { kind, replica: field.id(1, 'replica') } : { kind, replica: field.id(1, 'replica'), view: field.count(2, 'view') }
    case 'recover':
      return { kind, view: field.view(1), position: field.count(3, 'position'), incarnation: field.number(4, 'incarnation') }
    case 'stateChunk': {
      const chunk = { kind, view: field.count(1, 'view'), position: field.count(2, 'position'), offset: field.count(5, 'offset'), bytes: field.bytes(6, 'bytes') }
      if (raw[3] === null && raw[4] === null) return chunk
      return { ...chunk, end: { totalBytes: field.count(3, 'totalBytes'), digest: field.text(4, 'digest') } }
    }
    case 'durable':
      return raw[2] === undefined ? { kind, position: field.count(1, 'position') } : { kind, position: field.count(1, 'position'), digest: field.text(2, 'digest') }
    case 'replySignatures': {
      const list = raw[1]
      if (!Array.isArray(list) || list.length > MAX_SIGNATURES_PER_MESSAGE) throw malformed(`${where()} (replySignatures)`, 'signatures', `a list of at most ${MAX_SIGNATURES_PER_MESSAGE} signatures`)
      return { kind, signatures: list.map((item, i) => decodeReplySignature(item, `${where()} (replySignatures) signature ${i}`)) }
    }
    case 'stateDigest':
      return { kind, position: field.count(1, 'position'), digest: field.text(2, 'digest') }
    case 'signatureRequest': {
      const list = raw[1]
      const valid = Array.isArray(list) && list.length <= MAX_SIGNATURES_PER_MESSAGE && list.every((p) => Number.isSafeInteger(p) && (p as number) >= 1)
      if (!valid) throw malformed(`${where()} (signatureRequest)`, 'positions', `a list of at most ${MAX_SIGNATURES_PER_MESSAGE} positions >= 1`)
      return { kind, positions: list as number[] }
    }
  }
}

/** A SHA-256 digest in hex, as `digestOf` writes it. */
const sha256Hex = /^[0-9a-f]{64}$/
/** An Ed25519 signature in base64: 64 bytes, 88 characters. */
const ed25519Base64 = /^[A-Za-z0-9+/]{86}==$/

function decodeReplySignature(raw: unknown, where: string): ReplySignature {
  if (!Array.isArray(raw) || raw.length !== 6) throw malformed(where, 'signature', '[client, seq, incarnation, position, digest, signature]')
  const field = new Fields(raw, where)
  const client = field.text(0, 'client')
  if (client.length === 0) throw malformed(where, 'client', 'a non-empty client id')
  const digest = field.text(4, 'digest')
  if (!sha256Hex.test(digest)) throw malformed(where, 'digest', 'a SHA-256 digest in 64 lowercase hex digits')
  const signature = field.text(5, 'signature')
  if (!ed25519Base64.test(signature)) throw malformed(where, 'signature', 'an Ed25519 signature in base64 (88 characters)')
  const seq = field.count(1, 'seq')
  if (seq < 1) throw malformed(where, 'seq', 'an integer >= 1')
  const position = field.count(3, 'position')
  if (position < 1) throw malformed(where, 'position', 'an integer >= 1')
  return { client, seq, incarnation: field.count(2, 'incarnation'), position, digest, signature }
}

function encodeBallot(ballot: Ballot): [number, ReplicaId] {
  return [ballot.round, ballot.coordinator]
}

function encodeValue(value: ViewValue): Wire {
  const wire: unknown[] = [value.view.id, value.view.members, value.joining, value.incarnations, value.boundary, value.configuration, value.source ?? null]
  // Field 7 (admitted) before field 8 (changes): an empty one where a value has none (earlier versions read it so).
  if (value.admitted || value.changes) wire.push(value.admitted ?? {})
  if (value.changes) wire.push(value.changes)
  return wire
}

function encodeHolding(holding: Holding): Wire {
  if (holding.kind === 'live') return [0, holding.report]
  if (holding.kind === 'disk') return holding.damaged ? [1, holding.view.id, holding.view.members, holding.position, 1] : [1, holding.view.id, holding.view.members, holding.position]
  return [2]
}

function decodeHolding(raw: unknown, where: string): Holding {
  if (!Array.isArray(raw)) throw malformed(where, 'holding', '[kind, …]')
  const field = new Fields(raw, where)
  if (raw[0] === 0) return { kind: 'live', report: field.any(1) }
  if (raw[0] === 1) {
    const disk = { kind: 'disk', view: field.view(1), position: field.count(3, 'position') } as const
    if (raw[4] === undefined || raw[4] === 0) return disk
    if (raw[4] === 1) return { ...disk, damaged: true }
    throw malformed(where, 'holding damaged flag', 'absent, 0 or 1')
  }
  if (raw[0] === 2) return { kind: 'none' }
  throw malformed(where, 'holding kind', '0 (live), 1 (disk) or 2 (none)')
}

function decodeAccepted(raw: unknown, where: string): AcceptedValue {
  if (!Array.isArray(raw)) throw malformed(where, 'accepted', 'null or [round, coordinator, value]')
  const field = new Fields(raw, where)
  return { ballot: field.ballot(0), value: decodeValue(raw[2], where) }
}

function decodeValue(raw: unknown, where: string): ViewValue {
  if (!Array.isArray(raw)) throw malformed(where, 'value', '[view, members, joining, incarnations, boundary]')
  const field = new Fields(raw, where)
  const incarnations = incarnationsField(raw[3], where, 'incarnations')
  const base: ViewValue = { view: field.view(0), joining: field.ids(2, 'joining'), incarnations, boundary: raw[4], configuration: field.ids(5, 'configuration') }
  const withSource = raw[6] === null || raw[6] === undefined ? base : { ...base, source: field.id(6, 'source') }
  // Fields 7 (admitted) and 8 (changes) are absent in values from versions before them.
  // An empty `admitted` stands in before `changes` (see `encodeValue`).
  const admittedField = raw[7] === undefined ? undefined : incarnationsField(raw[7], where, 'admitted')
  const admitted = admittedField === undefined || (raw[8] !== undefined && Object.keys(admittedField).length === 0) ? withSource : { ...withSource, admitted: admittedField }
  return raw[8] === undefined ? admitted : { ...admitted, changes: incarnationsField(raw[8], where, 'changes') }
}

function incarnationsField(raw: unknown, where: string, name: string): Record<ReplicaId, number> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || !Object.values(raw).every((n) => typeof n === 'number')) {
    throw malformed(where, name, 'an object of numbers')
  }
  return raw as Record<ReplicaId, number>
}

/** "message from replica 'r2'": the start of every decoding error's text. */
function messageFrom(from: ReplicaId): string {
  return `message from replica '${from}'`
}

/** Reads the fields of one wire tuple, each checked, errors naming the field. */
class Fields {
  /**
   * `context` says where the tuple is, for an error's text: with `from`, the tuple is the message of that replica and
   * `context` its kind (the text is made only for an error); without, `context` is the whole text.
   */
  constructor(
    private readonly raw: readonly unknown[],
    private readonly context: string,
    private readonly from?: ReplicaId,
  ) {}

  private get where(): string {
    return this.from === undefined ? this.context : `${messageFrom(this.from)} (${this.context})`
  }

  any(index: number): unknown {
    return this.raw[index]
  }

  number(index: number, name: string): number {
    const value = this.raw[index]
    if (typeof value !== 'number' || Number.isNaN(value)) throw malformed(this.where, name, 'a number')
    return value
  }

  count(index: number, name: string): number {
    const value = this.raw[index]
    if (!Number.isSafeInteger(value) || (value as number) < 0) throw malformed(this.where, name, 'a non-negative integer')
    return value as number
  }

  text(index: number, name: string): string {
    const value = this.raw[index]
    if (typeof value !== 'string') throw malformed(this.where, name, 'a string')
    return value
  }

  boolean(index: number, name: string): boolean {
    const value = this.raw[index]
    if (typeof value !== 'boolean') throw malformed(this.where, name, 'true or false')
    return value
  }

  id(index: number, name: string): ReplicaId {
    const value = this.raw[index]
    if (typeof value !== 'string' || value.length === 0) throw malformed(this.where, name, 'a replica id')
    return value
  }

  ids(index: number, name: string): readonly ReplicaId[] {
    const value = this.raw[index]
    if (!Array.isArray(value) || !value.every((id) => typeof id === 'string' && id.length > 0)) throw malformed(this.where, name, 'a list of replica ids')
    return value as ReplicaId[]
  }

  bytes(index: number, name: string): Uint8Array {
    const value = this.raw[index]
    if (!(value instanceof Uint8Array)) throw malformed(this.where, name, 'bytes')
    return value
  }

  ballot(index: number): Ballot {
    return { round: this.count(index, 'ballot round'), coordinator: this.id(index + 1, 'ballot coordinator') }
  }

  view(index: number): View {
    return { id: this.count(index, 'view id'), members: this.ids(index + 1, 'view members') }
  }
}
