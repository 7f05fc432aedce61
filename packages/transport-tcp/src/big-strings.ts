import { addExtension } from 'msgpackr'
import { LockstepError } from '@lockstep/interface'

/**
 * Large strings cross a replica link once.
 *
 * A replica sends the same large value to the same peer many times: a 10 MB request is relayed by the orderer,
 * then reported in every promise of a view change, proposed in every accept, installed by every commit, and
 * carried again as the previous view's value. Each copy queued behind the others on the link; with the peer
 * stalled for a few seconds the link filled up, sends were refused, and the view change never finished.
 *
 * Both ends of a link keep the same table of the large strings (`BIG_STRING_CHARS` characters or more) that
 * went over it, numbered in the order they went: the sender's is a mirror of the receiver's. A string the
 * receiver holds goes as a {@link StringRef} to its number (a few bytes), which the receiver replaces with the
 * string. The tables stay identical because both ends change them at the same points of the same sequence of
 * messages: every large string sent whole is added, in the order the message holds them (`Object.keys` order,
 * which msgpack keeps), and after each message the oldest are dropped while the table holds more than its
 * capacity. The capacity is the receiver's, announced in its RESUME; a receiver that announces none (an older
 * version, or a client link) gets every string whole. A peer that lost the link's state (a new incarnation)
 * starts with an empty table, and the sender encodes again, for that peer, the messages it still holds.
 */

/** Strings at least this long (in UTF-16 code units) are shared through the table; shorter ones always go whole. */
export const BIG_STRING_CHARS = 64 * 1024

/** The msgpack extension type of a {@link StringRef}. */
const STRING_REF_TYPE = 0x6c

/** A reference, in a message on a link, to a large string the receiver already holds in its table. */
export class StringRef {
  constructor(readonly id: number) {}
}

/** How many references the decoder made since the process started: a frame whose decoding made none holds none. */
let decodedRefs = 0

addExtension({
  Class: StringRef,
  type: STRING_REF_TYPE,
  write: (ref: StringRef) => ref.id,
  read: (id: unknown) => {
    decodedRefs += 1
    return new StringRef(id as number)
  },
})

/** The number of references decoded so far (compare before and after decoding a frame). */
export function stringRefsDecoded(): number {
  return decodedRefs
}

/** The table of one link's large strings, numbered in the order they went over it. */
class StringTable {
  readonly byId = new Map<number, string>()
  chars = 0
  nextId = 1

  constructor(readonly capacityChars: number) {}

  add(value: string): number {
    const id = this.nextId++
    this.byId.set(id, value)
    this.chars += value.length
    return id
  }

  /** After each message: drops the oldest strings while the table holds more than its capacity. */
  trim(dropped?: (id: number, value: string) => void): void {
    while (this.chars > this.capacityChars && this.byId.size > 0) {
      const [id, value] = this.byId.entries().next().value as [number, string]
      this.byId.delete(id)
      this.chars -= value.length
      dropped?.(id, value)
    }
  }
}

/** The result of {@link OutgoingStrings.prepare}: the message to encode and what sending it adds to the table. */
export interface PreparedMessage {
  /** The message with references in place of the strings the peer holds; the message itself when there are none. */
  readonly value: unknown
  /** References made. */
  readonly refs: number
  /** At most the bytes the referenced strings would take whole (3 per UTF-16 unit and a 5-byte str32 header each), found without reading them. */
  readonly referencedBytes: number
  /** Large strings that go whole, in order: {@link OutgoingStrings.commit} adds them once the message is queued. */
  readonly added: readonly string[]
}

/** One end's table: the receiver's, or the sender's mirror of it. */
abstract class TableEnd {
  protected readonly table: StringTable

  /** `capacityChars` is the receiver's capacity (0: it takes no references; every string goes whole). */
  constructor(capacityChars: number) {
    this.table = new StringTable(capacityChars)
  }

  get capacityChars(): number {
    return this.table.capacityChars
  }

  /** Characters of the strings in the table now. */
  get heldChars(): number {
    return this.table.chars
  }
}

/** The sender's mirror of the receiver's table. */
export class OutgoingStrings extends TableEnd {
  /** The newest number of each string in the table. */
  private readonly ids = new Map<string, number>()

  /**
   * What `message` becomes on the link, without changing the table: each large string the receiver holds (or
   * that went whole earlier in the same message) becomes a reference. The message is not modified; the parts on
   * the way to a replaced string are copied.
   */
  prepare(message: unknown): PreparedMessage {
    if (this.table.capacityChars === 0) return { value: message, refs: 0, referencedBytes: 0, added: [] }
    const added: string[] = []
    const local = new Map<string, number>()
    let refs = 0
    let referencedBytes = 0
    const value = rewrite(message, (text, canRef) => {
      const id = canRef ? (this.ids.get(text) ?? local.get(text)) : undefined
      if (id !== undefined) {
        refs += 1
        referencedBytes += 5 + 3 * text.length
        return new StringRef(id)
      }
      local.set(text, this.table.nextId + added.length)
      added.push(text)
      return text
    })
    return { value, refs, referencedBytes, added }
  }

  /** The prepared message was queued: its whole strings join the table (and the oldest leave it past capacity). */
  commit(prepared: PreparedMessage): void {
    if (this.table.capacityChars === 0) return
    for (const text of prepared.added) this.ids.set(text, this.table.add(text))
    this.table.trim((id, text) => {
      if (this.ids.get(text) === id) this.ids.delete(text)
    })
  }
}

/** The receiver's table: it replaces references with the strings, and adds the strings that came whole. */
export class IncomingStrings extends TableEnd {
  /**
   * Takes in one received message, in the order of the link: returns it with its references replaced (in place).
   * Throws MALFORMED_MESSAGE for a reference to a string this table does not hold (the peer's mirror is not this
   * table: a protocol violation).
   */
  receive(message: unknown): unknown {
    if (this.table.capacityChars === 0) {
      // This end announced no table: a reference cannot be resolved.
      return rewrite(message, (text) => text, (ref) => this.unknown(ref))
    }
    const value = rewrite(
      message,
      (text) => {
        this.table.add(text)
        return text
      },
      (ref) => this.table.byId.get(ref.id) ?? this.unknown(ref),
      true,
    )
    this.table.trim()
    return value
  }

  private unknown(ref: StringRef): never {
    throw new LockstepError('MALFORMED_MESSAGE', `a reference to large string #${String(ref.id)}, which this end of the link does not hold`)
  }
}

/**
 * Walks a value the way msgpack encodes it (arrays in order, objects by `Object.keys`, Map and Set values in
 * order) and replaces each large string by what `onString` returns and each reference by what `onRef` returns.
 * Copies the arrays and objects on the way to a replaced value, or (`inPlace`) writes into them. Binary values
 * and dates are leaves. Inside a Map or Set nothing is replaced: `onString` is told (`canRef` false) that those
 * strings go whole.
 */
function rewrite(
  value: unknown,
  onString: (text: string, canRef: boolean) => unknown,
  onRef?: (ref: StringRef) => unknown,
  inPlace = false,
): unknown {
  const walk = (node: unknown, canRef: boolean): unknown => {
    if (typeof node === 'string') {
      if (node.length < BIG_STRING_CHARS) return node
      const next = onString(node, canRef)
      return canRef ? next : node
    }
    if (typeof node !== 'object' || node === null) return node
    if (node instanceof StringRef) return onRef ? onRef(node) : node
    if (Array.isArray(node)) {
      let out: unknown[] | undefined
      for (let i = 0; i < node.length; i++) {
        const item: unknown = node[i]
        const next = walk(item, canRef)
        if (next !== item && canRef) {
          out ??= inPlace ? node : node.slice()
          out[i] = next
        }
      }
      return out ?? node
    }
    if (ArrayBuffer.isView(node) || node instanceof ArrayBuffer || node instanceof Date) return node
    if (node instanceof Map || node instanceof Set) {
      for (const item of node.values()) walk(item, false)
      return node
    }
    const record = node as Record<string, unknown>
    let out: Record<string, unknown> | undefined
    for (const key of Object.keys(record)) {
      const item = record[key]
      const next = walk(item, canRef)
      if (next !== item && canRef) {
        out ??= inPlace ? record : { ...record }
        out[key] = next
      }
    }
    return out ?? node
  }
  return walk(value, true)
}

/**
 * Whether `value` may hold a string of {@link BIG_STRING_CHARS} characters or more, found without allocating (the
 * common message holds none, and is then encoded as it is). It may say yes where {@link rewrite} finds nothing
 * (it also looks at inherited enumerable properties), never no where there is one.
 */
export function mayHoldLargeString(value: unknown): boolean {
  if (typeof value === 'string') return value.length >= BIG_STRING_CHARS
  if (typeof value !== 'object' || value === null) return false
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (mayHoldLargeString(value[i])) return true
    return false
  }
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date || value instanceof StringRef) return false
  if (value instanceof Map || value instanceof Set) {
    for (const item of value.values()) if (mayHoldLargeString(item)) return true
    return false
  }
  const record = value as Record<string, unknown>
  for (const key in record) if (mayHoldLargeString(record[key])) return true
  return false
}
