/** How bad a diagnostic is: errors stop compilation, warnings do not. */
export type Severity = 'error' | 'warning'

/**
 * Stable diagnostic codes. DSL1xxx come from the scanner, DSL2xxx from the
 * parser, DSL3xxx are checker errors and DSL4xxx checker warnings. A code is
 * never reused for another meaning.
 */
export const DiagnosticCodes = {
  UNEXPECTED_CHARACTER: 'DSL1001',
  UNTERMINATED_STRING: 'DSL1002',
  INVALID_ESCAPE: 'DSL1003',
  INTEGER_TOO_LARGE: 'DSL1004',
  INVALID_ENCODING: 'DSL1005',
  STRING_TOO_LONG: 'DSL1006',
  COMMENT_AFTER_OPERAND: 'DSL1007',

  EXPECTED: 'DSL2001',
  MISSING_SEPARATOR: 'DSL2002',
  END_NAME_MISMATCH: 'DSL2003',
  EMPTY_ARM: 'DSL2004',
  CHAINED_COMPARISON: 'DSL2005',
  TRAILING_INPUT: 'DSL2006',
  INVALID_ASSIGNMENT_TARGET: 'DSL2007',
  MIXED_BODY: 'DSL2008',
  EQUALS_FOR_ASSIGNMENT: 'DSL2009',
  DECLARATION_OUTSIDE_VAR: 'DSL2010',
  NESTED_TOO_DEEP: 'DSL2011',

  UNKNOWN_NAME: 'DSL3001',
  DUPLICATE_VARIABLE: 'DSL3002',
  DUPLICATE_COMMAND: 'DSL3003',
  DUPLICATE_PARAMETER: 'DSL3004',
  NAME_CONFLICT: 'DSL3005',
  TYPE_MISMATCH: 'DSL3006',
  OPERATOR_TYPE: 'DSL3007',
  ASSIGN_TO_CLIENT: 'DSL3008',
  ASSIGN_TO_PARAMETER: 'DSL3009',
  UNKNOWN_FUNCTION: 'DSL3011',
  NOT_INDEXABLE: 'DSL3012',
  NOT_SCALAR: 'DSL3013',
  INIT_NOT_CONSTANT: 'DSL3014',
  UNREACHABLE_ARM: 'DSL3015',
  CANNOT_INFER_NIL: 'DSL3016',
  RESERVED_NAME: 'DSL3017',
  NO_COMMANDS: 'DSL3019',
  CLIENT_OUTSIDE_COMMAND: 'DSL3020',
  INIT_FAILS: 'DSL3021',
  ASSIGN_TO_NOW: 'DSL3022',
  NOW_OUTSIDE_COMMAND: 'DSL3023',

  OVERLAPPING_GUARDS: 'DSL4001',
  UNUSED_VARIABLE: 'DSL4002',
} as const

/** One of {@link DiagnosticCodes}. */
export type DiagnosticCode = (typeof DiagnosticCodes)[keyof typeof DiagnosticCodes]

/** A problem found in a program, as data. Positions count UTF-16 code units; line and column start at 1. */
export interface Diagnostic {
  readonly file: string
  /** Offset of the first character in the source. */
  readonly start: number
  /** Number of characters the problem spans (at least 1 where there is text, 0 at the end of the file). */
  readonly length: number
  readonly line: number
  readonly column: number
  readonly severity: Severity
  readonly code: DiagnosticCode
  readonly message: string
}

/** A source text with its line table, for turning offsets into lines and columns. */
export class SourceText {
  readonly file: string
  readonly text: string
  private readonly lineStarts: number[]

  constructor(file: string, text: string) {
    this.file = file
    this.text = text
    this.lineStarts = [0]
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i)
      if (ch === 10) this.lineStarts.push(i + 1)
      else if (ch === 13 && text.charCodeAt(i + 1) !== 10) this.lineStarts.push(i + 1)
    }
  }

  /** Line and column (both from 1) of an offset. */
  position(offset: number): { line: number; column: number } {
    let low = 0
    let high = this.lineStarts.length - 1
    while (low < high) {
      const mid = (low + high + 1) >> 1
      if (this.lineStarts[mid]! <= offset) low = mid
      else high = mid - 1
    }
    return { line: low + 1, column: offset - this.lineStarts[low]! + 1 }
  }

  /** The text of a line (from 1), without its line break. */
  lineText(line: number): string {
    const start = this.lineStarts[line - 1]
    if (start === undefined) return ''
    let end = this.lineStarts[line] ?? this.text.length
    while (end > start && (this.text.charCodeAt(end - 1) === 10 || this.text.charCodeAt(end - 1) === 13)) end--
    return this.text.slice(start, end)
  }
}

/** At most this many diagnostics are kept (the first in source order); the rest are counted. */
export const MAX_DIAGNOSTICS = 100

/** The line index of the text formatted last: formatting many diagnostics of one source stays linear. */
let lastSource: SourceText | undefined

function sourceTextOf(text: string): SourceText {
  if (lastSource?.text !== text) lastSource = new SourceText('', text)
  return lastSource
}

/** Collects diagnostics for one source text. */
export class DiagnosticBag {
  private readonly items: Diagnostic[] = []
  /** Every diagnostic recorded, kept or not, by place and code (`start * 10000 + code number`): recovery must not repeat itself. */
  private readonly seen = new Set<number>()
  /** The same for scanner codes (DSL1001–DSL1008): bit `code - 1001` of the byte at the offset. */
  private scannerSeen: Uint8Array | undefined
  private readonly scannerLines = new Set<number>()
  private errors = 0
  /** Diagnostics recorded beyond {@link MAX_DIAGNOSTICS}. */
  private dropped = 0
  /** The largest start among the kept diagnostics, once the bag is full. */
  private largestKeptStart = -1
  readonly source: SourceText

  constructor(source: SourceText) {
    this.source = source
  }

  /** Records a diagnostic spanning `[start, end)`. */
  add(severity: Severity, code: DiagnosticCode, start: number, end: number, message: string): void {
    const clampedStart = Math.max(0, Math.min(start, this.source.text.length))
    const clampedEnd = Math.max(clampedStart, Math.min(end, this.source.text.length))
    // One diagnostic per code and place: recovery must not repeat itself. Hostile input yields hundreds of
    // thousands of scanner diagnostics (DSL1001–1008): those are marked in a bit per code and offset.
    const codeNumber = Number(code.slice(3))
    const fromScanner = code.startsWith('DSL1')
    if (codeNumber >= 1001 && codeNumber <= 1008) {
      this.scannerSeen ??= new Uint8Array(this.source.text.length + 1)
      const bit = 1 << (codeNumber - 1001)
      if ((this.scannerSeen[clampedStart]! & bit) !== 0) return
      this.scannerSeen[clampedStart]! |= bit
    } else {
      const key = clampedStart * 10_000 + codeNumber
      if (this.seen.has(key)) return
      this.seen.add(key)
    }
    if (severity === 'error') this.errors++
    if (this.items.length >= MAX_DIAGNOSTICS && clampedStart >= this.largestKeptStart) {
      // Full, and after every kept one: only counted.
      this.dropped++
      if (fromScanner) this.scannerLines.add(this.source.position(clampedStart).line)
      return
    }
    const { line, column } = this.source.position(clampedStart)
    if (fromScanner) this.scannerLines.add(line)
    if (this.items.length >= MAX_DIAGNOSTICS) {
      // Full: keep the first diagnostics in source order, count the rest.
      this.dropped++
      let last = 0
      for (let i = 1; i < this.items.length; i++) if (this.items[i]!.start >= this.items[last]!.start) last = i
      this.items.splice(last, 1)
    }
    this.items.push({
      file: this.source.file,
      start: clampedStart,
      length: clampedEnd - clampedStart,
      line,
      column,
      severity,
      code,
      message,
    })
    if (this.items.length >= MAX_DIAGNOSTICS) this.largestKeptStart = Math.max(...this.items.map((d) => d.start))
  }

  /** How many diagnostics were recorded but not kept (beyond {@link MAX_DIAGNOSTICS}). */
  omitted(): number {
    return this.dropped
  }

  /** Records an error. */
  error(code: DiagnosticCode, start: number, end: number, message: string): void {
    this.add('error', code, start, end, message)
  }

  /** Records a warning. */
  warning(code: DiagnosticCode, start: number, end: number, message: string): void {
    this.add('warning', code, start, end, message)
  }

  /** Lines (from 1) where the scanner reported a problem: the parser stays quiet there to avoid cascades. */
  scannerErrorLines(): Set<number> {
    return this.scannerLines
  }

  /** How many errors (not warnings) were recorded. */
  errorCount(): number {
    return this.errors
  }

  /** True when an error (not a warning) was recorded. */
  hasErrors(): boolean {
    return this.errors > 0
  }

  /** Every diagnostic, in source order (stable for equal positions). */
  sorted(): Diagnostic[] {
    return this.items
      .map((d, i) => [d, i] as const)
      .sort(([a, i], [b, j]) => a.start - b.start || i - j)
      .map(([d]) => d)
  }
}

/** True when any diagnostic is an error. */
export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error')
}

/** Lines longer than this are shown as a window around the caret. */
const MAX_SHOWN_LINE = 120

/**
 * Formats a diagnostic the way compilers do: `FILE:LINE:COL: error: MESSAGE [CODE]`,
 * then the source line and a caret line under the offending text. A long line is cut
 * to a window around the caret, marked with `…`.
 */
export function formatDiagnostic(diagnostic: Diagnostic, source: string): string {
  const header = `${diagnostic.file}:${diagnostic.line}:${diagnostic.column}: ${diagnostic.severity}: ${diagnostic.message} [${diagnostic.code}]`
  let lineText = sourceTextOf(source).lineText(diagnostic.line)
  let column = diagnostic.column
  const available = Math.max(1, lineText.length - (column - 1))
  let caretCount = Math.max(1, Math.min(diagnostic.length, available))
  if (lineText.length > MAX_SHOWN_LINE) {
    caretCount = Math.min(caretCount, MAX_SHOWN_LINE / 2)
    const from = Math.max(0, Math.min(column - 1 - MAX_SHOWN_LINE / 3, lineText.length - MAX_SHOWN_LINE))
    const to = Math.min(lineText.length, from + MAX_SHOWN_LINE)
    const before = from > 0 ? '…' : ''
    lineText = before + lineText.slice(from, to) + (to < lineText.length ? '…' : '')
    column = column - from + before.length
  }
  // Control characters would garble the terminal: show them as '?', keeping columns.
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  lineText = lineText.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '?')
  const prefix = lineText.slice(0, column - 1).replace(/[^\t]/g, ' ')
  return `${header}\n${lineText}\n${prefix}${'^'.repeat(caretCount)}`
}

/**
 * Formats diagnostics, one block each, separated by line breaks: at most {@link MAX_DIAGNOSTICS},
 * then a line `and N more` for the rest (`omitted` adds those a compilation did not keep).
 */
export function formatDiagnostics(diagnostics: readonly Diagnostic[], source: string, omitted = 0): string {
  const shown = diagnostics.slice(0, MAX_DIAGNOSTICS).map((d) => formatDiagnostic(d, source))
  const more = diagnostics.length - Math.min(diagnostics.length, MAX_DIAGNOSTICS) + omitted
  if (more > 0) shown.push(moreDiagnostics(more))
  return shown.join('\n')
}

/** The line that stands for diagnostics not shown. */
export function moreDiagnostics(count: number): string {
  return `and ${count} more diagnostic${count === 1 ? '' : 's'}`
}
