import { join } from 'node:path'
import * as lockstepInterface from '@lockstep/interface'
import { isDeepStrictEqual } from 'node:util'
import { transform } from 'esbuild'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { runtimeHelpers } from '../src/emitter-runtime'
import { compile, emitTypeScript, type DslMachine } from '../src/index'
import { repoRoot, seededRandom } from './helpers'
import { ProgramGenerator, type GeneratedProgram } from './program-generator'

/**
 * The generated TypeScript is the interpreter, always: thousands of random programs are emitted,
 * type-checked together under the strictest settings the docs promise, and run step by step
 * against the interpreter on random command sequences.
 *
 * Cost, measured on the project's 2-core machine with other jobs running (/usr/bin/time of `npx vitest run`
 * on this file): before, 223 s wall and 77 s user CPU at a load of 5–9, 2.6 GB peak RSS (emit from two
 * 1,000-module Programs: type-check 42 s, emit 14 s, runs 13 s of CPU). Now, 34 s wall and 39 s user CPU
 * at a load of 4 (type-check 28 s, generating and compiling 2 s, transpiling and running 8 s); peak RSS
 * 1.3 GB when V8 grows its heap as it likes, 0.7 GB under `--max-old-space-size=600` (the live data stays
 * under 600 MB; then 54 s of CPU). How:
 * - type-check only (`noEmit`), Programs of BATCH modules sharing one host that parses the library once;
 * - the runtime helpers (the same text in every module, some 60% of it) are type-checked in full once,
 *   and in the first FULL_CHECKS modules exactly as emitted; every module is type-checked with their
 *   bodies stubbed (signatures and every name they read kept, so unused helpers are still errors);
 * - the JavaScript comes from esbuild (under 1 ms a module; `ts.transpileModule` took 20 ms, emitting from the Program 7 ms);
 * - results are compared with `isDeepStrictEqual` first, `expect` only to print a difference, and toJSON of
 *   states over 64 KiB only at the last step (the snapshot, the canonical state, is compared at every step).
 * Breaking the emitter's statement separation (no `;` after an assignment) still fails it: 16 modules
 * fail to type-check (`TS2322 Type '([]: Iterable<any…>, as: any, …) => void' is not assignable …`).
 */

const PROGRAMS = 2000
const STEPS = 25
const BATCH = 150
/** How many modules are also type-checked exactly as emitted, runtime helpers in full. */
const FULL_CHECKS = 60
/** Machine names that could clash with what a generated module imports or uses. */
const machineNames = ['gen', 'ErrorCodes', 'LockstepError', 'Output', 'ClientId', 'StateMachine', 'TextEncoder', 'TextDecoder', 'Object', 'JSON', 'Set', 'Map', 'Array', 'Number', 'String', 'class', 'Error']
/** File names that could break the comments and strings of a generated module. */
const fileNames = ['gen.sm', 'specs/a*/b.sm', 'c:\\specs\\x.sm', 'line\nbreak.sm', 'para\u2028graph.sm', "quote'\"`${x}.sm", '/* c */.sm']

const compilerOptions: ts.CompilerOptions = {
  strict: true,
  noUnusedLocals: true,
  noUnusedParameters: true,
  noImplicitOverride: true,
  noFallthroughCasesInSwitch: true,
  noImplicitReturns: true,
  isolatedModules: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.CommonJS,
  moduleResolution: ts.ModuleResolutionKind.Node10,
  lib: ['lib.es2023.d.ts'],
  // TextEncoder and TextDecoder come from the host (Node, browsers): declared in host-globals.d.ts instead of loading @types/node.
  types: [],
  skipLibCheck: true,
  // Type-check only: the JavaScript comes from esbuild, which strips types some hundred times faster than emitting from a Program.
  noEmit: true,
  paths: { '@lockstep/interface': [join(repoRoot, 'packages', 'interface', 'src', 'index.ts')] },
}

const virtualRoot = join(repoRoot, 'packages', 'dsl', '.virtual')
const hostGlobals = 'declare class TextEncoder { encode(input?: string): Uint8Array }\ndeclare class TextDecoder { decode(input?: Uint8Array): string }\n'

/** One compiler host for every Program of the test: the library files (lib.*.d.ts, @lockstep/interface) are read and parsed once. */
function cachingHost(): { host: ts.CompilerHost; setModules(modules: ReadonlyMap<string, string>): void } {
  const host = ts.createCompilerHost(compilerOptions)
  const sharedFiles = new Map<string, ts.SourceFile | undefined>()
  let files = new Map<string, string>()
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (name, language, ...rest) => {
    const code = files.get(name)
    if (code !== undefined) return ts.createSourceFile(name, code, language)
    if (!sharedFiles.has(name)) sharedFiles.set(name, getSourceFile(name, language, ...rest))
    return sharedFiles.get(name)
  }
  const fileExists = host.fileExists.bind(host)
  host.fileExists = (name) => files.has(name) || fileExists(name)
  return {
    host,
    setModules(modules) {
      files = new Map([...modules].map(([name, code]) => [join(virtualRoot, name), code]))
      files.set(join(virtualRoot, 'host-globals.d.ts'), hostGlobals)
    },
  }
}

/** Type-checks modules together in one Program; returns the errors of each module that has any. */
function typeCheck(modules: ReadonlyMap<string, string>, compiler: ReturnType<typeof cachingHost>): Map<string, string[]> {
  compiler.setModules(modules)
  const program = ts.createProgram([...modules.keys(), 'host-globals.d.ts'].map((name) => join(virtualRoot, name)), compilerOptions, compiler.host)
  const errors = new Map<string, string[]>()
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const name = d.file ? d.file.fileName.slice(virtualRoot.length + 1) : '(global)'
    const where = d.file ? `:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : ''
    const list = errors.get(name) ?? []
    list.push(`${name}${where}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`)
    errors.set(name, list)
  }
  return errors
}

/** Every function and class the runtime helpers declare, and the module-level names their bodies may use. */
const helperDeclarations = new Set(Object.values(runtimeHelpers).flatMap((h) => [...h.code.matchAll(/^(?:function|class) (\$\w+)/gm)].map((m) => m[1]!)))
const moduleLevelNames = new Set([...helperDeclarations, '$sites', '$file', 'LockstepError', 'ErrorCodes'])

/**
 * A runtime helper with each function body replaced by a stub that reads exactly the module-level names
 * and parameters the real body reads, and mentions the types it mentions: the module keeps its
 * signatures and its unused-name diagnostics (a helper nobody calls, a `$sites` nobody reads), and the
 * checker skips the bodies, which are the same text in every module and are checked once, in full.
 */
function stubHelper(code: string): string {
  const file = ts.createSourceFile('helper.ts', code, ts.ScriptTarget.ES2022, true)
  let out = ''
  let copied = 0
  for (const statement of file.statements) {
    if (!ts.isFunctionDeclaration(statement) || !statement.body) continue
    const parameters = new Set(statement.parameters.map((p) => p.name.getText(file)))
    const values = new Set<string>()
    const types = new Set<string>()
    const visit = (node: ts.Node): void => {
      if (ts.isIdentifier(node) && (moduleLevelNames.has(node.text) || parameters.has(node.text))) values.add(node.text)
      if (ts.isTypeReferenceNode(node)) types.add(node.getText(file))
      ts.forEachChild(node, visit)
    }
    visit(statement.body)
    const mentions = [values.size > 0 ? ` void [${[...values].join(', ')}];` : '', types.size > 0 ? ` void (undefined as unknown as [${[...types].join(', ')}]);` : '']
    out += `${code.slice(copied, statement.body.getStart(file))}{${mentions.join('')} throw 0 }`
    copied = statement.body.end
  }
  return out + code.slice(copied)
}

const helperStubs = Object.values(runtimeHelpers).map((h) => [h.code, stubHelper(h.code)] as const)

/** A generated module with its runtime helpers stubbed (see {@link stubHelper}). */
function withStubbedHelpers(code: string): string {
  let out = code
  for (const [helper, stub] of helperStubs) out = out.replace(helper, stub)
  return out
}

/** Every runtime helper in full, in the context an emitted module gives them (its imports, `$file` and `$sites`), all exported. */
function allHelpersModule(emitted: string): string {
  const context = emitted.split('\n').filter((line) => /^import \{ |^const \$file = |^const \$sites: /.test(line)).map((line) => line.replace(/= \[$/, '= [];'))
  return [...context, ...Object.values(runtimeHelpers).map((h) => h.code), `export const helpers = [$file, $sites, ${[...helperDeclarations].join(', ')}]`, 'export type HelperTypes = [$Type, $Scalar]', ''].join('\n')
}

/** Strips the types of every module (esbuild: the JavaScript tsc emits for this code, class fields defined as in ES2022), in parallel. */
async function transpile(modules: ReadonlyMap<string, string>): Promise<Map<string, string>> {
  const options = { loader: 'ts', format: 'cjs', target: 'es2022', tsconfigRaw: { compilerOptions: { useDefineForClassFields: true } } } as const
  return new Map(await Promise.all([...modules].map(async ([id, code]) => [id, (await transform(code, options)).code] as const)))
}

function load(js: string): Record<string, unknown> {
  const module = { exports: {} as Record<string, unknown> }
  const requireStub = (id: string) => {
    if (id === '@lockstep/interface') return lockstepInterface
    throw new Error(`generated code may only import @lockstep/interface, not ${id}`)
  }
  new Function('require', 'module', 'exports', js)(requireStub, module, module.exports)
  return module.exports
}

type AnyMachine = DslMachine & { toJSON(state: unknown): unknown; summary(state: unknown): unknown }

function outcome(machine: AnyMachine, state: unknown, command: unknown, client: string, position: number, time: number): unknown {
  try {
    return { outputs: machine.apply(state as never, command as never, { client, position, time }) }
  } catch (error) {
    return { error: (error as Error).message, code: (error as { code?: unknown }).code }
  }
}

interface Case {
  readonly id: string
  readonly generated: GeneratedProgram
  readonly machine: AnyMachine
  readonly exportName: string
}

describe('generated TypeScript equals the interpreter', () => {
  it(`on ${PROGRAMS} random programs: strict type-check and step-by-step runs (seed 16)`, async () => {
    const random = seededRandom(16)
    const generator = new ProgramGenerator(random, { machineNames, nestedTypes: true })
    const modules = new Map<string, string>()
    const cases: Case[] = []
    for (let i = 0; cases.length < PROGRAMS && i < PROGRAMS * 3; i++) {
      const generated = generator.program()
      const file = fileNames[i % fileNames.length]!
      const result = compile(generated.source, { file })
      if (!result.program) continue
      const id = `m${i}.ts`
      const code = emitTypeScript(result.program)
      modules.set(id, code)
      const exportName = /^export const (\S+):/m.exec(code)![1]!
      cases.push({ id, generated, machine: result.machine as AnyMachine, exportName })
    }
    expect(cases.length).toBe(PROGRAMS)

    // The first FULL_CHECKS modules are type-checked as emitted, with every runtime helper in full, and so
    // is one module holding all the helpers; every module is type-checked with its helpers stubbed.
    // One Program per BATCH modules: the library is parsed once, and memory stays bounded.
    const ids = [...modules.keys()]
    {
      const checked = new Map<string, string>([['all-helpers.ts', allHelpersModule(modules.get(ids.find((id) => modules.get(id)!.includes('const $sites'))!)!)]])
      for (const id of ids.slice(0, FULL_CHECKS)) checked.set(id.replace(/\.ts$/, '.full.ts'), modules.get(id)!)
      for (const id of ids) checked.set(id, withStubbedHelpers(modules.get(id)!))
      const compiler = cachingHost()
      const errors = new Map<string, string[]>()
      const names = [...checked.keys()]
      for (let i = 0; i < names.length; i += BATCH) {
        for (const [id, list] of typeCheck(new Map(names.slice(i, i + BATCH).map((name) => [name, checked.get(name)!])), compiler)) errors.set(id, list)
      }
      const typeErrors = [...errors.values()].flat()
      const firstBad = [...errors.keys()][0]
      expect(typeErrors.slice(0, 10), firstBad ? `${errors.size} modules fail to type-check; the first:\n${cases.find((c) => c.id === firstBad.replace('.full', ''))?.generated.source ?? checked.get(firstBad)}` : '').toEqual([])
    }

    const js = await transpile(modules)
    for (const c of cases) {
      const generated = load(js.get(c.id)!)[c.exportName] as AnyMachine
      const states = [c.machine.init(), generated.init()]
      let time = 1_764_000_000_000
      for (let step = 1; step <= STEPS; step++) {
        const command = c.generated.commands[Math.floor(random() * c.generated.commands.length)]!
        const args = Object.fromEntries(command.params.map((p) => [p.name, generator.argument(p.type)]))
        const wire = command.params.length > 0 ? { name: command.name, args } : { name: command.name }
        const client = ['c1', 'c2', 'c3'][Math.floor(random() * 3)]!
        time += [0, 1, 7, 250][Math.floor(random() * 4)]!
        const expected = outcome(c.machine, states[0], wire, client, step, time)
        const actual = outcome(generated, states[1], wire, client, step, time)
        // Compared cheaply first; `expect` (slow, but with a readable diff) runs only on a difference. The snapshot
        // (the canonical state) is compared at every step; toJSON too, except for large states before the last step.
        const snapshots = [generated.snapshot(states[1] as never), c.machine.snapshot(states[0] as never)] as const
        const compareJson = step === STEPS || snapshots[1].length <= 65_536
        const json = compareJson ? [JSON.stringify(generated.toJSON(states[1])), JSON.stringify(c.machine.toJSON(states[0]))] as const : ['', ''] as const
        // The summary (bounded, whatever the state's size) at every step.
        const summary = [JSON.stringify(generated.summary(states[1])), JSON.stringify(c.machine.summary(states[0]))] as const
        if (isDeepStrictEqual(actual, expected) && json[0] === json[1] && summary[0] === summary[1] && Buffer.from(snapshots[0]).equals(snapshots[1])) continue
        const context = `${c.id}, step ${step} (${client} ${JSON.stringify(wire)}) of:\n${c.generated.source}`
        expect(actual, context).toEqual(expected)
        expect(json[0], context).toBe(json[1])
        expect(summary[0], `${context}\nsummary`).toBe(summary[1])
        expect(Buffer.from(snapshots[0]).toString(), context).toBe(Buffer.from(snapshots[1]).toString())
      }
    }
  }, 300_000)
})
