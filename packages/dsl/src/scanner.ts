import { DiagnosticCodes, type DiagnosticBag } from './diagnostics'
import { MAX_VALUE_SIZE } from './values'

/** What kind of token: names, output atoms (`OK`), literals, keywords, punctuation. */
export type TokenKind = 'ident' | 'atom' | 'int' | 'string' | 'keyword' | 'punct' | 'eof'

/**
 * A token. `value` is normalized: keywords and punctuation carry their ASCII
 * spelling (`Φ` → `nil`, `●`/`∘` → `++`, `≠` → `!=`, `→` → `->`, `≤` → `<=`,
 * `≥` → `>=`), strings carry their decoded contents.
 */
export interface Token {
  readonly kind: TokenKind
  readonly value: string
  readonly start: number
  readonly end: number
  /** True when a line break separates this token from the previous one (statements may end at line breaks). */
  readonly newlineBefore: boolean
}

/** Reserved words. `nil` is also spelled `Φ`. */
export const keywords: ReadonlySet<string> = new Set([
  'state_machine', 'var', 'init', 'command', 'end', 'if', 'send', 'to', 'skip',
  'and', 'or', 'not', 'in', 'list', 'set', 'map', 'of', 'client', 'now', 'true', 'false', 'nil',
  'client_id', 'int', 'bool', 'string',
])

/** Unicode symbols and the ASCII spelling they stand for. */
const unicodeSymbols: ReadonlyMap<string, { kind: TokenKind; value: string }> = new Map([
  ['Φ', { kind: 'keyword', value: 'nil' }],
  ['●', { kind: 'punct', value: '++' }],
  ['∘', { kind: 'punct', value: '++' }],
  ['≠', { kind: 'punct', value: '!=' }],
  ['→', { kind: 'punct', value: '->' }],
  ['≤', { kind: 'punct', value: '<=' }],
  ['≥', { kind: 'punct', value: '>=' }],
])

const twoCharPunct = new Set([':=', '!=', '<=', '>=', '->', '++'])
const oneCharPunct = new Set([':', ';', ',', '(', ')', '[', ']', '=', '<', '>', '+', '-', '*', '/', '%'])

/** The largest integer literal: integers are exact up to 2^53 - 1. */
export const MAX_INT = Number.MAX_SAFE_INTEGER

const atomPattern = /^[A-Z][A-Z0-9_]*$/

/** True for a name spelled in capitals (`OK`, `NOT_HOLDER`): an output atom, not a variable. */
export function isAtomName(name: string): boolean {
  return atomPattern.test(name)
}

function isIdentStart(ch: number): boolean {
  return (ch >= 65 && ch <= 90) || (ch >= 97 && ch <= 122) || ch === 95
}

function isIdentPart(ch: number): boolean {
  return isIdentStart(ch) || (ch >= 48 && ch <= 57)
}

function isDigit(ch: number): boolean {
  return ch >= 48 && ch <= 57
}

/** Options for {@link scan}. */
export interface ScanOptions {
  /** Read `x'` (a name followed by a prime) as one name: the next-state value of `x` in a transition property. */
  readonly primes?: boolean
}

/** Splits a source text into tokens, reporting bad characters, strings and numbers to `diagnostics`. The last token is `eof`. */
export function scan(text: string, diagnostics: DiagnosticBag, options: ScanOptions = {}): Token[] {
  const tokens: Token[] = []
  let pos = 0
  let newlineBefore = false
  // A byte order mark at the start is not part of the program.
  if (text.charCodeAt(0) === 0xfeff) pos = 1
  reportLoneSurrogates(text, diagnostics)

  const push = (kind: TokenKind, value: string, start: number, end: number) => {
    tokens.push({ kind, value, start, end, newlineBefore })
    newlineBefore = false
  }

  while (pos < text.length) {
    const ch = text.charCodeAt(pos)
    if (ch === 10 || ch === 13) {
      newlineBefore = true
      pos++
      continue
    }
    if (ch === 32 || ch === 9 || ch === 12 || ch === 11 || ch === 0xa0 || ch === 0xfeff) {
      pos++
      continue
    }
    // `--` starts a comment that runs to the end of the line, always (`x --1` is `x` and a comment).
    if (ch === 45 && text.charCodeAt(pos + 1) === 45) {
      const start = pos
      const last = tokens[tokens.length - 1]
      if (last !== undefined && !newlineBefore && /[0-9A-Za-z_(]/.test(text[pos + 2] ?? '')) {
        const word = /^--[^\s]*/.exec(text.slice(pos, pos + 40))![0]
        diagnostics.warning(DiagnosticCodes.COMMENT_AFTER_OPERAND, pos, pos + word.length,
          `'--' starts a comment, so '${word}' and the rest of the line are ignored; write '- -' with a space (or '- (-…)') to subtract a negative, or put a space after '--'`)
      }
      while (pos < text.length && text.charCodeAt(pos) !== 10 && text.charCodeAt(pos) !== 13) pos++
      reportControlCharacters(text, start, pos, 'a comment', diagnostics)
      continue
    }
    const start = pos
    if (isIdentStart(ch)) {
      while (pos < text.length && isIdentPart(text.charCodeAt(pos))) pos++
      if (options.primes === true && text.charCodeAt(pos) === 39) pos++
      const word = text.slice(start, pos)
      if (keywords.has(word)) push('keyword', word, start, pos)
      else if (isAtomName(word)) push('atom', word, start, pos)
      else push('ident', word, start, pos)
      continue
    }
    if (isDigit(ch)) {
      while (pos < text.length && isDigit(text.charCodeAt(pos))) pos++
      if (pos < text.length && isIdentStart(text.charCodeAt(pos))) {
        const badStart = pos
        while (pos < text.length && isIdentPart(text.charCodeAt(pos))) pos++
        diagnostics.error(DiagnosticCodes.UNEXPECTED_CHARACTER, badStart, pos,
          `a number cannot be followed by letters ('${text.slice(start, pos)}'); separate them with a space or an operator`)
      }
      const digits = text.slice(start, pos).replace(/[^0-9]/g, '')
      const value = Number(digits)
      if (!Number.isSafeInteger(value)) {
        diagnostics.error(DiagnosticCodes.INTEGER_TOO_LARGE, start, pos,
          `integer literal ${digits} is too large; integers are exact only up to ${MAX_INT}`)
        push('int', '0', start, pos)
      } else {
        push('int', String(value), start, pos)
      }
      continue
    }
    if (ch === 34) {
      pos = scanString(text, pos, diagnostics, (value, end) => push('string', value, start, end))
      continue
    }
    const symbol = unicodeSymbols.get(text[pos]!)
    if (symbol) {
      pos++
      push(symbol.kind, symbol.value, start, pos)
      continue
    }
    // Spellings from other languages: report them, then read them as meant so parsing goes on.
    // (Before punctuation: `==` would otherwise be read as `=` and then another `=`.)
    const foreign = foreignSpellings.find(([spelling]) => text.startsWith(spelling, pos) && !(spelling === '!' && text[pos + 1] === '='))
    if (foreign) {
      const [spelling, kind, value, advice] = foreign
      diagnostics.error(DiagnosticCodes.UNEXPECTED_CHARACTER, pos, pos + spelling.length, `unexpected '${spelling}'; ${advice}`)
      pos += spelling.length
      push(kind, value, start, pos)
      continue
    }
    const two = text.slice(pos, pos + 2)
    if (twoCharPunct.has(two)) {
      pos += 2
      push('punct', two, start, pos)
      continue
    }
    const one = text[pos]!
    if (oneCharPunct.has(one)) {
      pos++
      push('punct', one, start, pos)
      continue
    }
    // Unknown characters: one report for a run of them, then go on.
    let end = pos
    while (end < text.length) {
      const code = text.codePointAt(end)!
      const ch = String.fromCodePoint(code)
      if (!isUnknown(text, end)) break
      end += ch.length
    }
    const run = text.slice(pos, end)
    const first = run.codePointAt(0)!
    const shown = [...run].map(printable).join('')
    const hint = run.startsWith("'") ? '; strings use double quotes' : ''
    diagnostics.error(DiagnosticCodes.UNEXPECTED_CHARACTER, pos, end,
      [...run].length === 1
        ? `unexpected character '${shown}' (U+${first.toString(16).toUpperCase().padStart(4, '0')})${hint}`
        : `unexpected characters '${shown}'${hint}`)
    pos = end
  }
  tokens.push({ kind: 'eof', value: '', start: text.length, end: text.length, newlineBefore: true })
  return tokens
}

/** Operators from other languages: reported, then read as the DSL's own. */
const foreignSpellings: readonly [string, TokenKind, string, string][] = [
  ['&&', 'keyword', 'and', "write 'and'"],
  ['||', 'keyword', 'or', "write 'or'"],
  ['==', 'punct', '=', "write '=' to compare (':=' assigns)"],
  ['!', 'keyword', 'not', "write 'not' for negation ('!=' or '≠' for 'not equal')"],
]

/** True when the character at `pos` starts no token. */
function isUnknown(text: string, pos: number): boolean {
  const ch = text.charCodeAt(pos)
  if (ch === 10 || ch === 13 || ch === 32 || ch === 9 || ch === 12 || ch === 11 || ch === 0xa0 || ch === 0xfeff || ch === 34) return false
  if (isIdentStart(ch) || isDigit(ch)) return false
  if (text.startsWith('--', pos) || foreignSpellings.some(([spelling]) => text.startsWith(spelling, pos))) return false
  const one = text[pos]!
  if (unicodeSymbols.has(one) || oneCharPunct.has(one) || twoCharPunct.has(text.slice(pos, pos + 2))) return false
  return true
}

function printable(ch: string): string {
  const code = ch.codePointAt(0)!
  return code < 32 || code === 127 ? '?' : ch
}

function scanString(text: string, startPos: number, diagnostics: DiagnosticBag, emit: (value: string, end: number) => void): number {
  let pos = startPos + 1
  let value = ''
  while (true) {
    if (pos >= text.length || text[pos] === '\n' || text[pos] === '\r') {
      diagnostics.error(DiagnosticCodes.UNTERMINATED_STRING, startPos, pos,
        'unterminated string: close it with \'"\' on the same line')
      emit(value, pos)
      return pos
    }
    const ch = text[pos]!
    if (ch === '"') {
      pos++
      reportControlCharacters(text, startPos, pos, 'a string', diagnostics)
      if (value.length > MAX_VALUE_SIZE) {
        diagnostics.error(DiagnosticCodes.STRING_TOO_LONG, startPos, pos,
          `string literal of ${value.length} characters is too long; values are limited to ${MAX_VALUE_SIZE} characters`)
      }
      emit(value, pos)
      return pos
    }
    if (ch === '\\') {
      const next = text[pos + 1]
      const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' }
      if (next !== undefined && simple[next] !== undefined) {
        value += simple[next]
        pos += 2
        continue
      }
      if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(pos + 2, pos + 6))) {
        value += String.fromCharCode(parseInt(text.slice(pos + 2, pos + 6), 16))
        pos += 6
        continue
      }
      const end = next === undefined || next === '\n' || next === '\r' ? pos + 1 : pos + 2
      diagnostics.error(DiagnosticCodes.INVALID_ESCAPE, pos, end,
        'invalid escape in string; use \\n, \\t, \\r, \\", \\\\ or \\uXXXX')
      pos = end
      continue
    }
    value += ch
    pos++
  }
}

/** Reports UTF-16 code units that are half a surrogate pair: text that was not valid Unicode (and cannot be UTF-8). */
function reportLoneSurrogates(text: string, diagnostics: DiagnosticBag): void {
  const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g
  for (let match = lone.exec(text); match !== null; match = lone.exec(text)) {
    diagnostics.error(DiagnosticCodes.INVALID_ENCODING, match.index, match.index + 1,
      `invalid Unicode: a lone surrogate U+${text.charCodeAt(match.index).toString(16).toUpperCase()} (the file is not valid UTF-8 text)`)
  }
}

/** Reports control characters (other than tab) inside a string or comment: they are invisible and never meant. */
function reportControlCharacters(text: string, start: number, end: number, where: string, diagnostics: DiagnosticBag): void {
  const part = text.slice(start, end)
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  const control = /[\u0000-\u0008\u000b-\u001f\u007f]/g
  for (let match = control.exec(part); match !== null; match = control.exec(part)) {
    const at = start + match.index
    const code = text.charCodeAt(at).toString(16).toUpperCase().padStart(4, '0')
    diagnostics.error(DiagnosticCodes.UNEXPECTED_CHARACTER, at, at + 1,
      `unexpected control character U+${code} in ${where}${where === 'a string' ? `; write it as \\u${code}` : ''}`)
  }
}
