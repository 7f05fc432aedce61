import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { Ajv } from 'ajv'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as lockstepInterface from '@lockstep/interface'
import { compile, type CheckedProgram, type DslMachine } from '../src/index'

const here = dirname(fileURLToPath(import.meta.url))

/** The repository root. */
export const repoRoot = join(here, '..', '..', '..')

/** The example specs in apps/lock-service/specs. */
export const specsDir = join(repoRoot, 'apps', 'lock-service', 'specs')

/** Reads an example spec. */
export function readSpec(name: string): string {
  return readFileSync(join(specsDir, name), 'utf8')
}

/** Compiles source that must have no errors; returns the program and machine. */
export function compileOk(source: string, file = 'test.sm'): { program: CheckedProgram; machine: DslMachine } {
  const result = compile(source, { file })
  if (!result.program || !result.machine) {
    throw new Error(`expected ${file} to compile:\n${result.diagnostics.map((d) => `${d.line}:${d.column} ${d.message}`).join('\n')}`)
  }
  return { program: result.program, machine: result.machine }
}

/** Transpiles a generated TypeScript module to CommonJS and evaluates it, with `@lockstep/interface` injected. */
export function loadGenerated(code: string): Record<string, any> {
  // Loaded on first use: most test files never need the TypeScript compiler.
  const ts = createRequire(import.meta.url)('typescript') as typeof import('typescript')
  const js = ts.transpileModule(code, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  }).outputText
  const module = { exports: {} as Record<string, any> }
  const requireStub = (id: string) => {
    if (id === '@lockstep/interface') return lockstepInterface
    throw new Error(`generated code may only import @lockstep/interface, not ${id}`)
  }
  new Function('require', 'module', 'exports', js)(requireStub, module, module.exports)
  return module.exports
}

/** ajv 8 configured as the replica engine uses it (a devDependency: the package itself never validates with ajv). */
export function createAjv(): any {
  return new Ajv({ discriminator: true, allErrors: false })
}

/** A small deterministic PRNG (mulberry32) for tests that draw their own numbers. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
