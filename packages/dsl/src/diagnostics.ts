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
    return lineOf(this.text, line)
  }
}

function lineOf(text: string, line: number): string {
  const lines = text.split(/\r\n|\r|\n/)
  return lines[line - 1] ?? ''
}

/** Collects diagnostics for one source text. */
export class DiagnosticBag {
  private readonly items: Diagnostic[] = []
  readonly source: SourceText

  constructor(source: SourceText) {
    this.source = source
  }

  /** Records a diagnostic spanning `[start, end)`. */
  add(severity: Severity, code: DiagnosticCode, start: number, end: number, message: string): void {
    const clampedStart = Math.max(0, Math.min(start, this.source.text.length))
    const clampedEnd = Math.max(clampedStart, Math.min(end, this.source.text.length))
    // One diagnostic per code and place: recovery must not repeat itself.
    if (this.items.some((d) => d.start === clampedStart && d.code === code)) return
    const { line, column } = this.source.position(clampedStart)
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
    return new Set(this.items.filter((d) => d.code.startsWith('DSL1')).map((d) => d.line))
  }

  /** How many errors (not warnings) were recorded. */
  errorCount(): number {
    let count = 0
    for (const d of this.items) if (d.severity === 'error') count++
    return count
  }

  /** True when an error (not a warning) was recorded. */
  hasErrors(): boolean {
    return this.items.some((d) => d.severity === 'error')
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

/**
 * Formats a diagnostic the way compilers do: `FILE:LINE:COL: error: MESSAGE [CODE]`,
 * then the source line and a caret line under the offending text.
 */
export function formatDiagnostic(diagnostic: Diagnostic, source: string): string {
  const header = `${diagnostic.file}:${diagnostic.line}:${diagnostic.column}: ${diagnostic.severity}: ${diagnostic.message} [${diagnostic.code}]`
  const lineText = lineOf(source, diagnostic.line)
  const prefix = lineText.slice(0, diagnostic.column - 1).replace(/[^\t]/g, ' ')
  const available = Math.max(1, lineText.length - (diagnostic.column - 1))
  const caretCount = Math.max(1, Math.min(diagnostic.length, available))
  return `${header}\n${lineText}\n${prefix}${'^'.repeat(caretCount)}`
}

/** Formats several diagnostics, one block each, separated by line breaks. */
export function formatDiagnostics(diagnostics: readonly Diagnostic[], source: string): string {
  return diagnostics.map((d) => formatDiagnostic(d, source)).join('\n')
}
