import { join } from 'node:path'
import * as lockstepInterface from '@lockstep/interface'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { compile, emitTypeScript, type DslMachine } from '../src/index'
import { repoRoot, seededRandom } from './helpers'
import { ProgramGenerator, type GeneratedProgram } from './program-generator'

/**
 * The generated TypeScript is the interpreter, always: thousands of random programs are emitted,
 * type-checked together under the strictest settings the docs promise, and run step by step
 * against the interpreter on random command sequences.
 */

const PROGRAMS = 2000
const STEPS = 25
const BATCH = 1000
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
  types: [],
  skipLibCheck: true,
  paths: { '@lockstep/interface': [join(repoRoot, 'packages', 'interface', 'src', 'index.ts')] },
}

/** Library files parsed once for every Program of the test. */
const libraryFiles = new Map<string, ts.SourceFile | undefined>()

const hostGlobals = 'declare class TextEncoder { encode(input?: string): Uint8Array }\ndeclare class TextDecoder { decode(input?: Uint8Array): string }\n'

/** Type-checks every module in one Program (fast) and returns the diagnostics per module and the emitted JavaScript. */
function checkAndEmit(modules: ReadonlyMap<string, string>): { errors: Map<string, string[]>; js: Map<string, string> } {
  const root = join(repoRoot, 'packages', 'dsl', '.virtual')
  const files = new Map<string, string>([...modules].map(([name, code]) => [join(root, name), code]))
  files.set(join(root, 'host-globals.d.ts'), hostGlobals)
  const host = ts.createCompilerHost(compilerOptions)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (name, language, ...rest) => {
    const code = files.get(name)
    if (code !== undefined) return ts.createSourceFile(name, code, language)
    if (!libraryFiles.has(name)) libraryFiles.set(name, getSourceFile(name, language, ...rest))
    return libraryFiles.get(name)
  }
  const fileExists = host.fileExists.bind(host)
  host.fileExists = (name) => files.has(name) || fileExists(name)
  const js = new Map<string, string>()
  host.writeFile = (_name, text, _bom, _onError, sources) => {
    const source = sources?.[0]?.fileName
    if (source?.startsWith(root)) js.set(source.slice(root.length + 1), text)
  }
  const program = ts.createProgram([...files.keys()], { ...compilerOptions, outDir: root, noEmitOnError: false }, host)
  const errors = new Map<string, string[]>()
  const all = ts.getPreEmitDiagnostics(program)
  for (const d of all) {
    const name = d.file ? d.file.fileName.slice(root.length + 1) : '(global)'
    const where = d.file ? `:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : ''
    const list = errors.get(name) ?? []
    list.push(`${name}${where}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`)
    errors.set(name, list)
  }
  program.emit()
  return { errors, js }
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

type AnyMachine = DslMachine & { toJSON(state: unknown): unknown }

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
  it(`on ${PROGRAMS} random programs: strict type-check and step-by-step runs (seed 16)`, () => {
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

    // One Program per 1,000 modules: the library is parsed once, and memory stays bounded.
    const errors = new Map<string, string[]>()
    const js = new Map<string, string>()
    const ids = [...modules.keys()]
    for (let i = 0; i < ids.length; i += BATCH) {
      const batch = checkAndEmit(new Map(ids.slice(i, i + BATCH).map((id) => [id, modules.get(id)!])))
      for (const [id, list] of batch.errors) errors.set(id, list)
      for (const [id, code] of batch.js) js.set(id, code)
    }
    const typeErrors = [...errors.values()].flat()
    const firstBad = [...errors.keys()][0]
    expect(typeErrors.slice(0, 10), firstBad ? `${errors.size} modules fail to type-check; the first:\n${cases.find((c) => c.id === firstBad)?.generated.source}` : '').toEqual([])

    for (const c of cases) {
      const exports = load(js.get(c.id)!)
      const generated = exports[c.exportName] as AnyMachine
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
        const context = `${c.id}, step ${step} (${client} ${JSON.stringify(wire)}) of:\n${c.generated.source}`
        expect(actual, context).toEqual(expected)
        expect(JSON.stringify(generated.toJSON(states[1])), context).toBe(JSON.stringify(c.machine.toJSON(states[0])))
        expect(Buffer.from(generated.snapshot(states[1] as never)).toString(), context).toBe(Buffer.from(c.machine.snapshot(states[0] as never)).toString())
      }
    }
  }, 300_000)
})
