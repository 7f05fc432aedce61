import { DiagnosticBag, DiagnosticCodes, SourceText, type Diagnostic } from './diagnostics'

/** A spec file's bytes decoded as UTF-8, with a diagnostic for every byte that is not valid UTF-8. */
export interface DecodedSource {
  /** The text; each invalid sequence stands as one U+FFFD, so lines and columns match the diagnostics. */
  readonly source: string
  /** One `invalid UTF-8 byte 0xNN` error (DSL1005) per invalid sequence: at most the first 100, in file order. */
  readonly diagnostics: readonly Diagnostic[]
  /** How many more invalid sequences there were. */
  readonly omittedDiagnostics: number
}

const strictDecoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Decodes a spec file read as bytes. Valid UTF-8 (the usual case) is decoded in one call; otherwise every
 * invalid sequence (a stray continuation byte, a truncated or overlong sequence, a surrogate, a byte that
 * never occurs in UTF-8) is reported at its line and column, naming its first byte, the way WHATWG
 * decoders split the input into replacement characters. A leading byte order mark is dropped.
 */
export function decodeSource(bytes: Uint8Array, options: { readonly file?: string } = {}): DecodedSource {
  try {
    return { source: strictDecoder.decode(bytes), diagnostics: [], omittedDiagnostics: 0 }
  } catch {
    // Not valid UTF-8: find where, below.
  }
  const parts: string[] = []
  /** Offsets (in the decoded text) and first bytes of the invalid sequences. */
  const bad: [offset: number, byte: number][] = []
  let length = 0
  let validFrom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0
  let i = validFrom
  const flushValid = (end: number): void => {
    if (end <= validFrom) return
    const text = strictDecoder.decode(bytes.subarray(validFrom, end))
    parts.push(text)
    length += text.length
  }
  while (i < bytes.length) {
    const sequence = validSequenceLength(bytes, i)
    if (sequence > 0) {
      i += sequence
      continue
    }
    flushValid(i)
    bad.push([length, bytes[i]!])
    parts.push('\ufffd')
    length += 1
    i += invalidSequenceLength(bytes, i)
    validFrom = i
  }
  flushValid(bytes.length)
  const source = parts.join('')
  const diagnostics = new DiagnosticBag(new SourceText(options.file ?? 'input.sm', source))
  for (const [offset, byte] of bad) {
    diagnostics.error(DiagnosticCodes.INVALID_ENCODING, offset, offset + 1, `invalid UTF-8 byte 0x${byte.toString(16).toUpperCase().padStart(2, '0')}`)
  }
  return { source, diagnostics: diagnostics.sorted(), omittedDiagnostics: diagnostics.omitted() }
}

/** The second byte's range for a lead byte (Unicode table 3-7), or undefined for a byte that cannot lead. */
function secondByteRange(lead: number): [low: number, high: number, length: number] | undefined {
  if (lead >= 0xc2 && lead <= 0xdf) return [0x80, 0xbf, 2]
  if (lead === 0xe0) return [0xa0, 0xbf, 3]
  if (lead === 0xed) return [0x80, 0x9f, 3]
  if (lead >= 0xe1 && lead <= 0xef) return [0x80, 0xbf, 3]
  if (lead === 0xf0) return [0x90, 0xbf, 4]
  if (lead >= 0xf1 && lead <= 0xf3) return [0x80, 0xbf, 4]
  if (lead === 0xf4) return [0x80, 0x8f, 4]
  return undefined
}

function isContinuation(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 0x80 && byte <= 0xbf
}

/** The length of the well-formed sequence at `i`, or 0 when it is not one. */
function validSequenceLength(bytes: Uint8Array, i: number): number {
  const lead = bytes[i]!
  if (lead < 0x80) return 1
  const range = secondByteRange(lead)
  if (!range) return 0
  const second = bytes[i + 1]
  if (second === undefined || second < range[0] || second > range[1]) return 0
  for (let k = 2; k < range[2]; k++) if (!isContinuation(bytes[i + k])) return 0
  return range[2]
}

/** How many bytes one replacement character stands for: the maximal subpart of a sequence (at least 1). */
function invalidSequenceLength(bytes: Uint8Array, i: number): number {
  const range = secondByteRange(bytes[i]!)
  if (!range) return 1
  const second = bytes[i + 1]
  if (second === undefined || second < range[0] || second > range[1]) return 1
  let k = 2
  while (k < range[2] && isContinuation(bytes[i + k])) k++
  return k
}
