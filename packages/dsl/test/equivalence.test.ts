import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StateMachine } from '@lockstep/interface'
import { mutex } from '@lockstep/machines'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compile, emitTypeScript } from '../src/index'
import { compileOk, loadGenerated, readSpec, seededRandom } from './helpers'
import { ProgramGenerator } from './program-generator'

type Machine = StateMachine & { toJSON(state: unknown): unknown; summary(state: unknown): unknown }

interface Step {
  readonly client: string
  readonly command: { name: string; args?: Record<string, unknown> }
  /** The agreed time the step runs at (what `now` reads); 0 when absent. */
  readonly time?: number
}

/** Runs the same steps on several machines, comparing outputs, errors, JSON states, summaries and snapshots after every step. */
function runInLockstep(machines: readonly [string, Machine][], steps: readonly Step[], compareSnapshots: (label: string) => boolean = () => true): void {
  const states = machines.map(([, m]) => m.init())
  steps.forEach((step, i) => {
    const results = machines.map(([, machine], m) => {
      try {
        return { outputs: machine.apply(states[m], step.command, { client: step.client, position: i + 1, time: step.time ?? 0 }) }
      } catch (error) {
        return { error: (error as Error).message }
      }
    })
    const views = machines.map(([, machine], m) => JSON.stringify(machine.toJSON(states[m])))
    const summaries = machines.map(([, machine], m) => JSON.stringify(machine.summary(states[m])))
    const snapshots = machines.map(([label, machine], m) => (compareSnapshots(label) ? Buffer.from(machine.snapshot(states[m])).toString() : ''))
    for (let m = 1; m < machines.length; m++) {
      const context = `step ${i + 1} (${step.client} ${JSON.stringify(step.command)}): ${machines[0]![0]} vs ${machines[m]![0]}`
      expect(results[m], context).toEqual(results[0])
      expect(views[m], context).toBe(views[0])
      expect(summaries[m], `${context}: summary`).toBe(summaries[0])
      if (compareSnapshots(machines[m]![0])) expect(snapshots[m], context).toBe(snapshots[0])
    }
  })
}

describe('the seed mutex: interpreter, generated TypeScript and the hand-written mutex agree', () => {
  const directory = mkdtempSync(join(tmpdir(), 'lockstep-dsl-'))
  let generated: Machine

  beforeAll(async () => {
    const { program } = compileOk(readSpec('seed-mutex.sm'), 'seed-mutex.sm')
    // A real module on disk, imported like user code would be.
    const file = join(directory, 'mutex.generated.ts')
    writeFileSync(file, emitTypeScript(program))
    generated = (await import(file)).mutex as Machine
  })

  afterAll(() => rmSync(directory, { recursive: true, force: true }))

  it('on random command sequences (fast-check, fixed seed)', () => {
    const interpreted = compile(readSpec('seed-mutex.sm')).machine! as Machine
    const step = fc.record({
      client: fc.constantFrom('c1', 'c2', 'c3'),
      command: fc.constantFrom({ name: 'acquire' }, { name: 'release' }),
    })
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        runInLockstep([['interpreter', interpreted], ['generated', generated], ['hand-written', mutex as Machine]], steps)
      }),
      { seed: 20261125, numRuns: 300 },
    )
  })
})

describe('interpreter and generated code agree on the example specs', () => {
  const cases: [string, fc.Arbitrary<Step['command']>][] = [
    ['safe-mutex.sm', fc.constantFrom({ name: 'acquire' }, { name: 'release' })],
    ['semaphore.sm', fc.constantFrom({ name: 'acquire' }, { name: 'release' })],
    ['named-mutex.sm', fc.record({ name: fc.constantFrom('acquire', 'release'), args: fc.record({ lock: fc.constantFrom('a', 'b') }) })],
    ['counter.sm', fc.oneof(
      fc.constantFrom({ name: 'increment' }, { name: 'read' }, { name: 'reset' }),
      fc.integer({ min: -3, max: 2 ** 52 }).map((amount) => ({ name: 'add', args: { amount } })),
    )],
    ['kv.sm', fc.oneof(
      fc.record({ name: fc.constantFrom('get', 'find', 'remove'), args: fc.record({ key: fc.constantFrom('a', 'b', '__proto__') }) }),
      fc.record({ key: fc.constantFrom('a', 'b'), value: fc.integer({ min: -2, max: 5 }) }).map((args) => ({ name: 'put', args })),
      fc.record({ name: fc.constantFrom('incr', 'divide'), args: fc.record({ key: fc.constantFrom('a', 'b'), by: fc.integer({ min: -2, max: 5 }) }) }),
      fc.constant({ name: 'size' }),
      fc.constant({ name: 'put', args: { key: 'a', value: 'nope' } }),
    )],
  ]
  for (const [spec, command] of cases) {
    it(spec, () => {
      const { program, machine } = compileOk(readSpec(spec), spec)
      const generated = loadGenerated(emitTypeScript(program))[program.name] as Machine
      fc.assert(
        fc.property(fc.array(fc.record({ client: fc.constantFrom('c1', 'c2', 'c3'), command }), { maxLength: 40 }), (steps) => {
          runInLockstep([['interpreter', machine as Machine], ['generated', generated]], steps)
        }),
        { seed: 7, numRuns: 150 },
      )
    })
  }
})

describe('interpreter and generated code agree on random programs', () => {
  it('100 generated programs, 40 random commands each', () => {
    const random = seededRandom(42)
    const generator = new ProgramGenerator(random)
    let compiled = 0
    for (let i = 0; i < 100; i++) {
      const generatedProgram = generator.program()
      const result = compile(generatedProgram.source, { file: `gen${i}.sm` })
      if (!result.program) continue
      compiled++
      const module = loadGenerated(emitTypeScript(result.program))
      // Agreed time starts at a realistic epoch and never decreases; programs read it as `now`.
      let time = 1_764_000_000_000 + Math.floor(random() * 1000)
      const steps: Step[] = Array.from({ length: 40 }, () => {
        const command = generatedProgram.commands[Math.floor(random() * generatedProgram.commands.length)]!
        const args = Object.fromEntries(command.params.map((p) => [p.name, generator.argument(p.type)]))
        time += [0, 0, 1, 7, 250][Math.floor(random() * 5)]!
        return { client: ['c1', 'c2', 'c3'][Math.floor(random() * 3)]!, command: command.params.length > 0 ? { name: command.name, args } : { name: command.name }, time }
      })
      try {
        runInLockstep([['interpreter', result.machine as Machine], ['generated', module.gen as Machine]], steps)
      } catch (error) {
        throw new Error(`program ${i} diverged:\n${generatedProgram.source}\n${(error as Error).message}`)
      }
    }
    // Most generated programs are valid; the rest exercise the checker.
    expect(compiled).toBeGreaterThan(40)
  })
})
