import type { Type } from './types'

/** A span of source text: offsets `[start, end)`. */
export interface Span {
  readonly start: number
  readonly end: number
}

/** A name as written, with where it was written. */
export interface Identifier extends Span {
  readonly name: string
}

/** A type as written. */
export type TypeNode =
  | (Span & { readonly kind: 'NamedType'; readonly name: 'client_id' | 'int' | 'bool' | 'string' })
  | (Span & { readonly kind: 'ListType'; readonly element: TypeNode })
  | (Span & { readonly kind: 'SetType'; readonly element: TypeNode })
  | (Span & { readonly kind: 'MapType'; readonly key: TypeNode; readonly value: TypeNode })
  | (Span & { readonly kind: 'ErrorType' })

/** `NAME: state_machine … end NAME`. */
export interface MachineNode extends Span {
  readonly kind: 'Machine'
  readonly name: Identifier
  readonly vars: VarDecl[]
  readonly commands: CommandDecl[]
}

/** `name: TYPE init EXPR` in a `var` section. */
export interface VarDecl extends Span {
  readonly kind: 'VarDecl'
  readonly name: Identifier
  readonly type: TypeNode
  /** Absent means `init Φ`. */
  readonly init: Expr | undefined
}

/** A typed command parameter: `key: string`. */
export interface Param extends Span {
  readonly kind: 'Param'
  readonly name: Identifier
  readonly type: TypeNode
}

/** `NAME(params): command ARMS end NAME`. */
export interface CommandDecl extends Span {
  readonly kind: 'Command'
  readonly name: Identifier
  readonly params: Param[]
  readonly arms: Arm[]
  /** False when the body was written as plain statements (one arm whose guard always holds). */
  readonly guarded: boolean
}

/** `if GUARD -> STATEMENTS`; `guard` is absent for an unguarded body. */
export interface Arm extends Span {
  readonly kind: 'Arm'
  readonly guard: Expr | undefined
  readonly statements: Stmt[]
}

/** A statement. */
export type Stmt = AssignStmt | IndexAssignStmt | SendStmt | SkipStmt

/** `x := e` */
export interface AssignStmt extends Span {
  readonly kind: 'Assign'
  readonly target: Identifier
  readonly value: Expr
}

/** `m[k] := e` */
export interface IndexAssignStmt extends Span {
  readonly kind: 'IndexAssign'
  readonly target: Identifier
  readonly index: Expr
  readonly value: Expr
}

/** `send e to c` */
export interface SendStmt extends Span {
  readonly kind: 'Send'
  readonly value: Expr
  readonly to: Expr
}

/** `skip` */
export interface SkipStmt extends Span {
  readonly kind: 'Skip'
}

/** Binary operators, by their ASCII spelling. */
export type BinaryOp = 'or' | 'and' | '=' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | '++' | '+' | '-' | '*' | '/' | '%'

/** How the checker resolved an append (`●`): it depends on the operand types. */
export type AppendKind = 'list-element' | 'list-concat' | 'set-element' | 'set-union' | 'string-concat'

/** Fields the checker fills in on every expression. */
interface Checked {
  /** The expression's type, once checked. */
  type?: Type
}

/** An expression. */
export type Expr =
  | IntLiteral
  | StringLiteral
  | BoolLiteral
  | NilLiteral
  | AtomLiteral
  | NameExpr
  | ClientExpr
  | NowExpr
  | UnaryExpr
  | BinaryExpr
  | CallExpr
  | IndexExpr
  | ErrorExpr

export interface IntLiteral extends Span, Checked { readonly kind: 'Int'; readonly value: number }
export interface StringLiteral extends Span, Checked { readonly kind: 'String'; readonly value: string }
export interface BoolLiteral extends Span, Checked { readonly kind: 'Bool'; readonly value: boolean }
/** `Φ` / `nil`: the empty value of its type. */
export interface NilLiteral extends Span, Checked { readonly kind: 'Nil' }
/** A bare name in capitals (`OK`): a string value. */
export interface AtomLiteral extends Span, Checked { readonly kind: 'Atom'; readonly name: string }
export interface NameExpr extends Span, Checked {
  readonly kind: 'Name'
  readonly name: string
  /** What the name refers to, once checked. */
  binding?: { readonly kind: 'var' | 'param'; readonly index: number }
}
/** `client`: the requesting client. */
export interface ClientExpr extends Span, Checked { readonly kind: 'Client' }
/** `now`: the agreed time of the command (`ApplyContext.time`, epoch milliseconds). */
export interface NowExpr extends Span, Checked { readonly kind: 'Now' }
export interface UnaryExpr extends Span, Checked { readonly kind: 'Unary'; readonly op: 'not' | '-'; readonly operand: Expr }
export interface BinaryExpr extends Span, Checked {
  readonly kind: 'Binary'
  readonly op: BinaryOp
  readonly left: Expr
  readonly right: Expr
  /** For `++`: what the append does, once checked. */
  appendKind?: AppendKind
}
export interface CallExpr extends Span, Checked { readonly kind: 'Call'; readonly callee: Identifier; readonly args: Expr[] }
export interface IndexExpr extends Span, Checked { readonly kind: 'Index'; readonly object: Expr; readonly index: Expr }
/** Stands in for an expression that failed to parse (already reported). */
export interface ErrorExpr extends Span, Checked { readonly kind: 'Error' }

/** The built-in functions and their arities. */
export const builtinFunctions: ReadonlyMap<string, number> = new Map([
  ['head', 1],
  ['tail', 1],
  ['len', 1],
])

/** Calls `onNode` for `e` and every expression inside it, parents first. */
export function walkExpr(e: Expr | undefined, onNode: (node: Expr) => void): void {
  if (!e) return
  onNode(e)
  switch (e.kind) {
    case 'Unary':
      walkExpr(e.operand, onNode)
      break
    case 'Binary':
      walkExpr(e.left, onNode)
      walkExpr(e.right, onNode)
      break
    case 'Call':
      for (const arg of e.args) walkExpr(arg, onNode)
      break
    case 'Index':
      walkExpr(e.object, onNode)
      walkExpr(e.index, onNode)
      break
    default:
      break
  }
}
