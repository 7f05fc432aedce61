/** One edit of a mutant: `find` (found exactly once in `file`) becomes `replace`. */
export interface MutantEdit {
  readonly file: string
  readonly find: string
  readonly replace: string
}

/** A fix of tooling/mutants.json taken out again, and the tests that must then fail. */
export interface Mutant extends MutantEdit {
  readonly id: string
  readonly fix: string
  readonly also?: readonly MutantEdit[]
  readonly caughtBy: readonly { readonly package: string; readonly test: string; readonly name: string }[]
}

/** The registry (tooling/mutants.json by default), checked; throws naming the entry and field that are wrong. */
export declare function loadRegistry(file?: string): Mutant[]
/** A fix the registry lists as a known equivalent mutant: its code, and why no test can tell it from its absence. */
export interface KnownEquivalent {
  readonly fix: string
  readonly file: string
  readonly find: string
  readonly why: string
}

/** The registry's known equivalent mutants, checked; throws naming the entry and field that are wrong. */
export declare function loadEquivalents(file?: string): KnownEquivalent[]
/** A mutant's edits: its own, then those of `also`. */
export declare function edits(mutant: Mutant): MutantEdit[]
/** How many times an edit's `find` occurs in its file under `base` (the repository by default). */
export declare function occurrences(edit: Pick<MutantEdit, 'file' | 'find'>, base?: string): number
