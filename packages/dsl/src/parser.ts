import type {
  Arm, BinaryOp, CommandDecl, Expr, Identifier, MachineNode, Param, Span, Stmt, TypeNode, VarDecl,
} from './ast'
import { DiagnosticCodes, type DiagnosticBag, type DiagnosticCode } from './diagnostics'
import type { Token } from './scanner'

/** How deep expressions and types may nest: it bounds the recursion of every stage after the parser. */
export const MAX_NESTING = 256

const comparisonOps: ReadonlySet<string> = new Set(['=', '!=', '<', '<=', '>', '>=', 'in'])
const typeKeywords: ReadonlySet<string> = new Set(['client_id', 'int', 'bool', 'string'])

/** Parses a whole program: one `NAME: state_machine … end NAME`. Reports every syntax error it can recover from. */
export function parseMachine(tokens: readonly Token[], diagnostics: DiagnosticBag): MachineNode | undefined {
  return new Parser(tokens, diagnostics).parseProgram()
}

/** Parses a lone expression (an invariant), which must use the whole input. */
export function parseExpression(tokens: readonly Token[], diagnostics: DiagnosticBag): Expr | undefined {
  const parser = new Parser(tokens, diagnostics)
  return parser.parseStandaloneExpression()
}

class Parser {
  private pos = 0
  /** After an error, further errors are suppressed until the parser resynchronizes (no cascades). */
  private panic = false
  /** Syntax errors met, reported or not. */
  private failures = 0
  /** Lines the scanner already complained about. */
  private readonly quietLines: Set<number>
  /** How deep the expression or type being parsed nests right now. */
  private nesting = 0
  /** The depth of each expression node built (a chain `a + b + c` is `(a + b) + c`, one level per operator). */
  private readonly depths = new WeakMap<Expr, number>()
  /** The nesting limit was reported for the current top-level expression or type. */
  private deepReported = false

  constructor(
    private readonly tokens: readonly Token[],
    private readonly diagnostics: DiagnosticBag,
  ) {
    this.quietLines = diagnostics.scannerErrorLines()
  }

  // ---- token helpers ------------------------------------------------------

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)]!
  }

  private previous(): Token | undefined {
    return this.pos > 0 ? this.tokens[this.pos - 1] : undefined
  }

  private next(): Token {
    const token = this.peek()
    if (token.kind !== 'eof') this.pos++
    return token
  }

  private isKeyword(value: string, offset = 0): boolean {
    const token = this.peek(offset)
    return token.kind === 'keyword' && token.value === value
  }

  private isPunct(value: string, offset = 0): boolean {
    const token = this.peek(offset)
    return token.kind === 'punct' && token.value === value
  }

  private isEof(): boolean {
    return this.peek().kind === 'eof'
  }

  private describe(token: Token): string {
    if (token.kind === 'eof') return 'the end of the file'
    const text = this.diagnostics.source.text.slice(token.start, token.end)
    if (token.kind === 'string') return `string ${text.length > 30 ? text.slice(0, 27) + '…' : text}`
    return `'${text}'`
  }

  private error(code: DiagnosticCode, span: Span, message: string): void {
    this.failures++
    if (!this.panic && !this.onQuietLine(span)) this.diagnostics.error(code, span.start, span.end, message)
    this.panic = true
  }

  /** True when the scanner reported a problem on this line or the previous token's line: a parse error there is a cascade. */
  private onQuietLine(span: Span): boolean {
    if (this.quietLines.size === 0) return false
    const source = this.diagnostics.source
    const before = this.previous()
    return this.quietLines.has(source.position(span.start).line) || (before !== undefined && this.quietLines.has(source.position(before.start).line))
  }

  private expectPunct(value: string, context: string): boolean {
    if (this.isPunct(value)) {
      this.next()
      return true
    }
    const token = this.peek()
    this.error(DiagnosticCodes.EXPECTED, token, `expected '${value}' ${context} but found ${this.describe(token)}`)
    return false
  }

  private expectKeyword(value: string, context: string): boolean {
    if (this.isKeyword(value)) {
      this.next()
      return true
    }
    const token = this.peek()
    this.error(DiagnosticCodes.EXPECTED, token, `expected '${value}' ${context} but found ${this.describe(token)}`)
    return false
  }

  private expectIdentifier(what: string): Identifier | undefined {
    const token = this.peek()
    if (token.kind === 'ident') {
      this.next()
      return { name: token.value, start: token.start, end: token.end }
    }
    if (token.kind === 'atom') {
      this.error(DiagnosticCodes.EXPECTED, token,
        `'${token.value}' cannot be ${what}: names in capitals are output atoms; use a name with a lower-case letter`)
      this.next()
      return { name: token.value, start: token.start, end: token.end }
    }
    if (token.kind === 'keyword') {
      this.error(DiagnosticCodes.EXPECTED, token, `expected ${what} but found the reserved word '${token.value}'`)
      return undefined
    }
    this.error(DiagnosticCodes.EXPECTED, token, `expected ${what} but found ${this.describe(token)}`)
    return undefined
  }

  /** `name (` or `name : command`: the start of a command. */
  private atCommandStart(): boolean {
    const token = this.peek()
    if (token.kind !== 'ident' && token.kind !== 'atom') return false
    return this.isPunct('(', 1) || (this.isPunct(':', 1) && this.isKeyword('command', 2))
  }

  /** `name :` not followed by `command`: the start of a declaration. */
  private atDeclarationStart(): boolean {
    const token = this.peek()
    if (token.kind !== 'ident' && token.kind !== 'atom') return false
    return this.isPunct(':', 1) && !this.isKeyword('command', 2)
  }

  private atStatementStart(offset = 0): boolean {
    const token = this.peek(offset)
    if (token.kind === 'keyword' && (token.value === 'skip' || token.value === 'send')) return true
    if (token.kind === 'ident' || (token.kind === 'keyword' && (token.value === 'client' || token.value === 'now'))) {
      return this.isPunct(':=', offset + 1) || this.isPunct('[', offset + 1) || this.isPunct('=', offset + 1)
    }
    return false
  }

  // ---- program structure --------------------------------------------------

  parseProgram(): MachineNode | undefined {
    const first = this.peek()
    if (first.kind === 'eof') {
      this.error(DiagnosticCodes.EXPECTED, first, "expected a state machine ('NAME: state_machine … end NAME') but the file is empty")
      return undefined
    }
    const name = this.expectIdentifier('the name of the state machine') ?? { name: '', start: first.start, end: first.start }
    this.expectPunct(':', 'after the name of the state machine')
    this.expectKeyword('state_machine', `to start the state machine '${name.name}'`)
    this.panic = false
    const vars: VarDecl[] = []
    const commands: CommandDecl[] = []
    while (true) {
      const token = this.peek()
      if (token.kind === 'eof') {
        this.error(DiagnosticCodes.EXPECTED, token, `expected 'end ${name.name}' to close the state machine but found the end of the file`)
        break
      }
      if (this.isKeyword('end')) break
      if (this.isKeyword('var')) {
        this.next()
        this.parseVarSection(vars)
        continue
      }
      if (this.atCommandStart()) {
        commands.push(this.parseCommand(name.name))
        continue
      }
      if (this.atDeclarationStart()) {
        this.diagnostics.error(DiagnosticCodes.DECLARATION_OUTSIDE_VAR, token.start, token.end,
          `declaration of '${token.value}' outside a 'var' section; write 'var' before it`)
        this.parseVarSection(vars)
        continue
      }
      this.error(DiagnosticCodes.EXPECTED, token,
        `expected a command ('NAME: command … end NAME') or a 'var' section but found ${this.describe(token)}`)
      this.next()
      while (!this.isEof() && !this.isKeyword('end') && !this.isKeyword('var') && !this.atCommandStart() && !(this.atDeclarationStart() && this.peek().newlineBefore)) this.next()
      this.panic = false
    }
    let end = this.peek().end
    if (this.isKeyword('end')) {
      this.next()
      const endName = this.expectIdentifier(`the name of the state machine ('end ${name.name}')`)
      if (endName) {
        end = endName.end
        if (endName.name !== name.name) {
          this.diagnostics.error(DiagnosticCodes.END_NAME_MISMATCH, endName.start, endName.end,
            `'end ${endName.name}' does not match the state machine '${name.name}'; write 'end ${name.name}'`)
        }
      }
      this.panic = false
      if (!this.isEof()) {
        const extra = this.peek()
        this.diagnostics.error(DiagnosticCodes.TRAILING_INPUT, extra.start, extra.end,
          `unexpected ${this.describe(extra)} after 'end ${name.name}'; a file holds one state machine`)
      }
    }
    return { kind: 'Machine', name, vars, commands, start: first.start, end }
  }

  private parseVarSection(vars: VarDecl[]): void {
    let separated = true
    while (this.atDeclarationStart()) {
      const token = this.peek()
      if (!separated && !token.newlineBefore) {
        this.diagnostics.error(DiagnosticCodes.MISSING_SEPARATOR, token.start, token.end,
          `expected ';' or a line break before the declaration of '${token.value}'`)
      }
      const decl = this.parseVarDecl()
      if (decl) vars.push(decl)
      if (this.panic) this.syncDeclaration()
      separated = false
      while (this.isPunct(';')) {
        this.next()
        separated = true
      }
    }
  }

  private parseVarDecl(): VarDecl | undefined {
    const name = this.expectIdentifier('a variable name')
    this.expectPunct(':', 'after the variable name')
    const type = this.parseType()
    let init: Expr | undefined
    if (this.isKeyword('init')) {
      this.next()
      init = this.parseExpr()
    }
    if (!name) return undefined
    const end = init ? init.end : type.end
    return { kind: 'VarDecl', name, type, init, start: name.start, end }
  }

  private syncDeclaration(): void {
    while (!this.isEof()) {
      if (this.isPunct(';')) break
      if (this.isKeyword('var') || this.isKeyword('end') || this.atCommandStart()) break
      if (this.peek().newlineBefore && this.atDeclarationStart()) break
      this.next()
    }
    this.panic = false
  }

  private parseType(): TypeNode {
    if (this.nesting === 0) this.deepReported = false
    const token = this.peek()
    if (this.nesting >= MAX_NESTING) {
      this.tooDeep(token, 'type')
      // Skip the rest of the type without recursing.
      while (!this.isEof() && (this.isKeyword('list') || this.isKeyword('set') || this.isKeyword('map') || this.isKeyword('of') || this.isKeyword('to') || typeKeywords.has(this.peek().value))) this.next()
      return { kind: 'ErrorType', start: token.start, end: this.previous()?.end ?? token.end }
    }
    this.nesting++
    try {
      return this.parseTypeInner(token)
    } finally {
      this.nesting--
    }
  }

  private parseTypeInner(token: Token): TypeNode {
    if (token.kind === 'keyword' && typeKeywords.has(token.value)) {
      this.next()
      return { kind: 'NamedType', name: token.value as 'client_id', start: token.start, end: token.end }
    }
    if (this.isKeyword('list') || this.isKeyword('set')) {
      this.next()
      this.expectKeyword('of', `after '${token.value}'`)
      const element = this.parseType()
      return token.value === 'list'
        ? { kind: 'ListType', element, start: token.start, end: element.end }
        : { kind: 'SetType', element, start: token.start, end: element.end }
    }
    if (this.isKeyword('map')) {
      this.next()
      this.expectKeyword('of', "after 'map'")
      const key = this.parseType()
      this.expectKeyword('to', "between the key and value types of a map ('map of K to V')")
      const value = this.parseType()
      return { kind: 'MapType', key, value, start: token.start, end: value.end }
    }
    this.error(DiagnosticCodes.EXPECTED, token,
      `expected a type (client_id, int, bool, string, list of T, set of T or map of K to V) but found ${this.describe(token)}`)
    return { kind: 'ErrorType', start: token.start, end: token.end }
  }

  private parseCommand(machineName: string): CommandDecl {
    const start = this.peek().start
    const name = this.expectIdentifier('a command name') ?? { name: '', start, end: start }
    const params: Param[] = []
    if (this.isPunct('(')) {
      this.next()
      if (!this.isPunct(')')) {
        while (true) {
          const paramName = this.expectIdentifier('a parameter name')
          if (!paramName) break
          this.expectPunct(':', `after the parameter '${paramName.name}'`)
          const type = this.parseType()
          params.push({ kind: 'Param', name: paramName, type, start: paramName.start, end: type.end })
          if (this.panic) break
          if (!this.isPunct(',')) break
          this.next()
        }
      }
      if (this.panic) {
        while (!this.isEof() && !this.isPunct(')') && !this.isKeyword('command') && !this.isKeyword('end') && !this.isKeyword('if')) this.next()
      }
      if (!this.isKeyword('command')) this.expectPunct(')', 'to close the parameter list')
    }
    this.expectPunct(':', `after the command name '${name.name}'`)
    this.expectKeyword('command', `after '${name.name}:'`)
    this.panic = false

    const arms: Arm[] = []
    let guarded = true
    if (this.isKeyword('if')) {
      while (this.isKeyword('if')) arms.push(this.parseArm())
    } else {
      guarded = false
      const bodyStart = this.peek()
      const failuresBefore = this.failures
      const statements = this.parseStatements()
      if (statements.length === 0 && this.failures === failuresBefore) {
        this.diagnostics.error(DiagnosticCodes.EMPTY_ARM, bodyStart.start, bodyStart.end,
          `command '${name.name}' has no statements; write 'skip' to do nothing`)
      }
      const armEnd = statements.length > 0 ? statements[statements.length - 1]!.end : bodyStart.start
      arms.push({ kind: 'Arm', guard: undefined, statements, start: bodyStart.start, end: armEnd })
      if (this.isKeyword('if')) {
        const token = this.peek()
        this.diagnostics.error(DiagnosticCodes.MIXED_BODY, token.start, token.end,
          `command '${name.name}' mixes plain statements with guarded arms; put the statements in an arm ('if GUARD -> …')`)
        while (this.isKeyword('if')) this.parseArm()
      }
    }

    let end = this.peek().start
    if (this.isKeyword('end')) {
      // `end mutex` at the very end closes the machine: this command's own `end` is missing.
      const closesMachine = this.peek(1).kind === 'ident' && this.peek(1).value === machineName && machineName !== name.name && this.peek(2).kind === 'eof'
      if (closesMachine) {
        const token = this.peek()
        this.diagnostics.error(DiagnosticCodes.EXPECTED, token.start, token.end,
          `expected 'end ${name.name}' to close the command '${name.name}' before 'end ${machineName}'`)
      } else {
        this.next()
        const endName = this.expectIdentifier(`the command name ('end ${name.name}')`)
        if (endName) {
          end = endName.end
          if (endName.name !== name.name) {
            this.diagnostics.error(DiagnosticCodes.END_NAME_MISMATCH, endName.start, endName.end,
              `'end ${endName.name}' does not match the command '${name.name}'; write 'end ${name.name}'`)
          }
        }
      }
    } else {
      const token = this.peek()
      this.error(DiagnosticCodes.EXPECTED, token,
        `expected 'end ${name.name}' to close the command '${name.name}' but found ${this.describe(token)}`)
      if (!this.atCommandStart()) this.next()
    }
    this.panic = false
    return { kind: 'Command', name, params, arms, guarded, start, end }
  }

  private parseArm(): Arm {
    const ifToken = this.next()
    const guard = this.parseExpr()
    let arrowEnd = guard.end
    if (this.isPunct('->')) {
      arrowEnd = this.next().end
    } else {
      this.error(DiagnosticCodes.EXPECTED, this.peek(), `expected '->' after the guard but found ${this.describe(this.peek())}`)
      while (!this.isEof() && !this.isPunct('->') && !this.isKeyword('if') && !this.isKeyword('end') && !this.peek().newlineBefore) this.next()
      if (this.isPunct('->')) arrowEnd = this.next().end
      this.panic = false
    }
    const hadError = this.panic
    const failuresBefore = this.failures
    const statements = this.parseStatements()
    if (statements.length === 0 && !hadError && this.failures === failuresBefore) {
      this.diagnostics.error(DiagnosticCodes.EMPTY_ARM, ifToken.start, arrowEnd,
        "this arm has no statements; write 'skip' to do nothing")
    }
    const end = statements.length > 0 ? statements[statements.length - 1]!.end : arrowEnd
    return { kind: 'Arm', guard, statements, start: ifToken.start, end }
  }

  private parseStatements(): Stmt[] {
    const statements: Stmt[] = []
    let separated = true
    while (true) {
      const token = this.peek()
      if (token.kind === 'eof' || this.isKeyword('if') || this.isKeyword('end') || this.isKeyword('var')) break
      if (token.newlineBefore && this.atCommandStart()) break
      if (!separated && !token.newlineBefore) {
        this.diagnostics.error(DiagnosticCodes.MISSING_SEPARATOR, token.start, token.end,
          `expected ';' or a line break before ${this.describe(token)}`)
      }
      if (this.atStatementStart()) {
        const statement = this.parseStatement()
        if (statement) statements.push(statement)
      } else {
        this.error(DiagnosticCodes.EXPECTED, token,
          `expected a statement ('x := e', 'm[k] := e', 'send e to c' or 'skip') but found ${this.describe(token)}`)
      }
      if (this.panic) this.syncStatement()
      separated = false
      while (this.isPunct(';')) {
        this.next()
        separated = true
      }
    }
    return statements
  }

  /** Skips to the end of the broken statement: a `;`, a line break, or the next arm or `end`. */
  private syncStatement(): void {
    let first = true
    while (!this.isEof()) {
      if (this.isKeyword('if') || this.isKeyword('end') || this.isKeyword('var') || this.isPunct(';')) break
      if (!first && this.peek().newlineBefore) break
      this.next()
      first = false
    }
    this.panic = false
  }

  private parseStatement(): Stmt | undefined {
    const token = this.peek()
    if (this.isKeyword('skip')) {
      this.next()
      return { kind: 'Skip', start: token.start, end: token.end }
    }
    if (this.isKeyword('send')) {
      this.next()
      const value = this.parseExpr()
      if (!this.expectKeyword('to', "after the value in 'send VALUE to CLIENT'")) return undefined
      const to = this.parseExpr()
      return { kind: 'Send', value, to, start: token.start, end: to.end }
    }
    this.next()
    const target: Identifier = { name: token.value, start: token.start, end: token.end }
    if (this.isPunct('[')) {
      this.next()
      const index = this.parseExpr()
      this.expectPunct(']', 'to close the index')
      if (this.isPunct('[')) {
        const bracket = this.peek()
        this.error(DiagnosticCodes.INVALID_ASSIGNMENT_TARGET, bracket,
          "only one level of indexing can be assigned ('m[k] := e'); assign the inner map to a variable first")
        return undefined
      }
      if (!this.expectPunct(':=', "after 'm[k]' in an assignment")) return undefined
      const value = this.parseExpr()
      return { kind: 'IndexAssign', target, index, value, start: token.start, end: value.end }
    }
    if (this.isPunct('=')) {
      const eq = this.next()
      this.diagnostics.error(DiagnosticCodes.EQUALS_FOR_ASSIGNMENT, eq.start, eq.end,
        `'=' compares; write '${token.value} := …' to assign`)
    } else {
      this.next() // ':='
    }
    const value = this.parseExpr()
    return { kind: 'Assign', target, value, start: token.start, end: value.end }
  }

  // ---- expressions --------------------------------------------------------

  parseStandaloneExpression(): Expr | undefined {
    if (this.isEof()) {
      this.error(DiagnosticCodes.EXPECTED, this.peek(), 'expected an expression but the input is empty')
      return undefined
    }
    const expr = this.parseExpr()
    if (!this.isEof()) {
      const token = this.peek()
      this.error(DiagnosticCodes.TRAILING_INPUT, token, `unexpected ${this.describe(token)} after the expression`)
    }
    return expr
  }

  private parseExpr(): Expr {
    if (this.nesting === 0) this.deepReported = false
    return this.parseOr()
  }

  private depthOf(e: Expr): number {
    return this.depths.get(e) ?? 1
  }

  /** Records a node's depth; past {@link MAX_NESTING} it reports the limit and stands in an error node. */
  private sized(e: Expr, depth: number, at: Span): Expr {
    if (depth > MAX_NESTING) {
      this.tooDeep(at, 'expression')
      return { kind: 'Error', start: e.start, end: e.end }
    }
    this.depths.set(e, depth)
    return e
  }

  private tooDeep(at: Span, what: 'expression' | 'type'): void {
    if (this.deepReported) return
    this.deepReported = true
    this.failures++
    this.diagnostics.error(DiagnosticCodes.NESTED_TOO_DEEP, at.start, at.end, `${what} nested deeper than ${MAX_NESTING} levels`)
  }

  /** Runs a nested parse one level deeper, or, past the limit, reports it and skips the nested text without recursing. */
  private nested(at: Span, parse: () => Expr): Expr {
    if (this.nesting >= MAX_NESTING) {
      this.tooDeep(at, 'expression')
      this.skipNested()
      return { kind: 'Error', start: at.start, end: this.previous()?.end ?? at.end }
    }
    this.nesting++
    try {
      return parse()
    } finally {
      this.nesting--
    }
  }

  /** Skips the rest of a too-deep expression: operators, operands and balanced brackets, iteratively. */
  private skipNested(): void {
    let open = 0
    while (!this.isEof()) {
      const token = this.peek()
      if (token.kind === 'punct' && (token.value === '(' || token.value === '[')) open++
      else if (token.kind === 'punct' && (token.value === ')' || token.value === ']')) {
        if (open === 0) return
        open--
      } else if (open === 0 && (token.kind === 'keyword' && ['if', 'end', 'send', 'skip', 'var', 'to', 'init'].includes(token.value))) return
      this.next()
    }
  }

  private binary(op: BinaryOp, left: Expr, right: Expr, at: Span = right): Expr {
    const node: Expr = { kind: 'Binary', op, left, right, start: left.start, end: right.end }
    return this.sized(node, 1 + Math.max(this.depthOf(left), this.depthOf(right)), at)
  }

  private parseOr(): Expr {
    let left = this.parseAnd()
    while (this.isKeyword('or')) {
      this.next()
      left = this.binary('or', left, this.parseAnd())
    }
    return left
  }

  private parseAnd(): Expr {
    let left = this.parseNot()
    while (this.isKeyword('and')) {
      this.next()
      left = this.binary('and', left, this.parseNot())
    }
    return left
  }

  private parseNot(): Expr {
    if (this.isKeyword('not')) {
      const token = this.next()
      const operand = this.nested(token, () => this.parseNot())
      return this.sized({ kind: 'Unary', op: 'not', operand, start: token.start, end: operand.end }, 1 + this.depthOf(operand), token)
    }
    return this.parseComparison()
  }

  private atComparison(): boolean {
    const token = this.peek()
    return (token.kind === 'punct' || token.kind === 'keyword') && comparisonOps.has(token.value)
  }

  private parseComparison(): Expr {
    let left = this.parseAppend()
    let chained = false
    let count = 0
    while (this.atComparison()) {
      const op = this.next()
      if (count > 0) {
        chained = true
        this.diagnostics.error(DiagnosticCodes.CHAINED_COMPARISON, op.start, op.end,
          `comparisons cannot be chained; add parentheses or combine them with 'and'`)
      }
      left = this.binary(op.value as BinaryOp, left, this.parseAppend())
      count++
    }
    // A chain has no meaning to check: stand in an error node so no type errors follow.
    return chained ? { kind: 'Error', start: left.start, end: left.end } : left
  }

  private parseAppend(): Expr {
    let left = this.parseAdditive()
    while (this.isPunct('++')) {
      this.next()
      left = this.binary('++', left, this.parseAdditive())
    }
    return left
  }

  private parseAdditive(): Expr {
    let left = this.parseTerm()
    while (this.isPunct('+') || this.isPunct('-')) {
      const op = this.next()
      left = this.binary(op.value as BinaryOp, left, this.parseTerm())
    }
    return left
  }

  private parseTerm(): Expr {
    let left = this.parseUnary()
    while (this.isPunct('*') || this.isPunct('/') || this.isPunct('%')) {
      const op = this.next()
      left = this.binary(op.value as BinaryOp, left, this.parseUnary())
    }
    return left
  }

  private parseUnary(): Expr {
    if (this.isPunct('-') || this.isKeyword('not')) {
      const token = this.next()
      const operand = this.nested(token, () => this.parseUnary())
      return this.sized({ kind: 'Unary', op: token.value as '-' | 'not', operand, start: token.start, end: operand.end }, 1 + this.depthOf(operand), token)
    }
    return this.parsePostfix()
  }

  private parsePostfix(): Expr {
    let expr = this.parsePrimary()
    while (this.isPunct('[') && expr.kind !== 'Error') {
      const open = this.next()
      const index = this.nested(open, () => this.parseExpr())
      const close = this.peek()
      this.expectPunct(']', 'to close the index')
      const node: Expr = { kind: 'Index', object: expr, index, start: expr.start, end: close.end }
      expr = this.sized(node, 1 + Math.max(this.depthOf(expr), this.depthOf(index)), open)
    }
    return expr
  }

  private parsePrimary(): Expr {
    const token = this.peek()
    // A line that starts a new statement means this line's expression is missing.
    // (Only unmistakable starts count: `y = 0` on a new line may well continue a guard.)
    const startsStatement = this.isKeyword('send') || this.isKeyword('skip') || this.isKeyword('if') || this.isKeyword('end') ||
      ((token.kind === 'ident' || this.isKeyword('client') || this.isKeyword('now')) && this.isPunct(':=', 1))
    if (token.newlineBefore && startsStatement) {
      const before = this.previous()
      const at = before ? { start: before.end, end: before.end } : token
      this.error(DiagnosticCodes.EXPECTED, at,
        before ? `expected an expression after '${this.diagnostics.source.text.slice(before.start, before.end)}' before the end of the line` : 'expected an expression')
      return { kind: 'Error', start: at.start, end: at.end }
    }
    switch (token.kind) {
      case 'int':
        this.next()
        return { kind: 'Int', value: Number(token.value), start: token.start, end: token.end }
      case 'string':
        this.next()
        return { kind: 'String', value: token.value, start: token.start, end: token.end }
      case 'atom':
        this.next()
        return { kind: 'Atom', name: token.value, start: token.start, end: token.end }
      case 'ident': {
        this.next()
        if (this.isPunct('(')) {
          this.next()
          const args: Expr[] = []
          if (!this.isPunct(')')) {
            while (true) {
              args.push(this.nested(token, () => this.parseExpr()))
              if (!this.isPunct(',')) break
              this.next()
            }
          }
          const close = this.peek()
          this.expectPunct(')', `to close the call of '${token.value}'`)
          const call: Expr = { kind: 'Call', callee: { name: token.value, start: token.start, end: token.end }, args, start: token.start, end: close.end }
          return this.sized(call, 1 + Math.max(0, ...args.map((a) => this.depthOf(a))), token)
        }
        return { kind: 'Name', name: token.value, start: token.start, end: token.end }
      }
      case 'keyword':
        if (token.value === 'true' || token.value === 'false') {
          this.next()
          return { kind: 'Bool', value: token.value === 'true', start: token.start, end: token.end }
        }
        if (token.value === 'nil') {
          this.next()
          return { kind: 'Nil', start: token.start, end: token.end }
        }
        if (token.value === 'client') {
          this.next()
          return { kind: 'Client', start: token.start, end: token.end }
        }
        if (token.value === 'now') {
          this.next()
          return { kind: 'Now', start: token.start, end: token.end }
        }
        break
      case 'punct':
        if (token.value === '(') {
          this.next()
          const inner = this.nested(token, () => this.parseExpr())
          const close = this.peek()
          if (!this.expectPunct(')', 'to close the parenthesis')) return inner
          // The parentheses belong to the expression's span, so messages quote them.
          return this.sized({ ...inner, start: token.start, end: close.end }, this.depthOf(inner), token)
        }
        break
      default:
        break
    }
    this.error(DiagnosticCodes.EXPECTED, token, `expected an expression but found ${this.describe(token)}`)
    return { kind: 'Error', start: token.start, end: token.end }
  }
}
