import { describe, expect, it } from 'vitest'
import { ErrorCodes, LockstepError } from '@lockstep/interface'
import type { CompiledMachine, Value } from '../src/index'
import { compile, modelCheck } from '../src/index'
import { buildActions, describeStep } from '../src/model-checker'
import type { TraceStep } from '../src/model-checker'
import { compileOk, readSpec, seededRandom } from './helpers'
import { ProgramGenerator } from './program-generator'

/**
 * Replays a reported lasso on the machine, apart from the model checker's graph, and checks it is a real fair run:
 * the cycle comes back to the state it starts from, the property fails in every state of it, and every action
 * (client, command, arguments) is either taken in the cycle or disabled (changes nothing, or aborts) in one of
 * its states.
 */
function assertFairLasso(machine: CompiledMachine, clients: readonly string[], trace: readonly TraceStep[], cycle: readonly TraceStep[], holds: (state: Value[]) => boolean): void {
  const run = (state: Value[], step: TraceStep): Value[] => {
    const index = machine.commandIndex.get(step.command)!
    try {
      return machine.step(state, index, step.client, machine.argsFromJson(index, step.args), step.time)
    } catch (error) {
      if (error instanceof LockstepError && error.code === ErrorCodes.COMMAND_FAILED) return state
      throw error
    }
  }
  let state = machine.init()
  for (const step of trace) state = run(state, step)
  const loop = machine.encodeState(state)
  const inCycle: Value[][] = [state]
  for (const step of cycle) {
    state = run(state, step)
    inCycle.push(state)
  }
  expect(machine.encodeState(state), 'the cycle returns to where it started').toBe(loop)
  for (const s of inCycle) expect(holds(s), `the property holds in ${JSON.stringify(machine.stateToJson(s))}`).toBe(false)
  const taken = new Set(cycle.map((step) => step.line))
  for (const action of buildActions(machine, clients, {})) {
    const line = describeStep(machine, action, [], 0).line
    if (taken.has(line)) continue
    const disabledSomewhere = inCycle.some((s) => {
      try {
        return machine.encodeState(machine.step(s, action.commandIndex, action.client, action.args, 0)) === machine.encodeState(s)
      } catch (error) {
        if (error instanceof LockstepError && error.code === ErrorCodes.COMMAND_FAILED) return true
        throw error
      }
    })
    expect(disabledSomewhere, `'${line}' is enabled in every state of the cycle and never taken`).toBe(true)
  }
}

describe('liveness lassos are fair runs, replayed apart from the checker', () => {
  it('on 400 generated programs (seed 43)', () => {
    const generator = new ProgramGenerator(seededRandom(43))
    let lassos = 0
    let cycles = 0
    for (let i = 0; i < 400; i++) {
      const { source } = generator.program()
      // Time steps would make an action's effect depend on when it runs; these checks replay at time 0.
      if (/\bnow\b/.test(source)) continue
      const { machine } = compile(source)
      if (!machine) continue
      const result = modelCheck(machine, { clients: 2, depth: 4, invariants: [], allowAbort: true, maxStates: 20_000, eventually: ['false'] })
      if (result.violation?.kind !== 'liveness') continue
      lassos++
      if (result.violation.cycle!.length > 0) cycles++
      assertFairLasso(machine.compiled, ['c1', 'c2'], result.violation.trace, result.violation.cycle!, () => false)
    }
    // The check must have had real lassos to look at, cycles among them.
    expect(lassos).toBeGreaterThan(100)
    expect(cycles).toBeGreaterThan(10)
  })

  it('on the lock specs, where nothing ends', () => {
    for (const spec of ['seed-mutex.sm', 'semaphore.sm']) {
      const { machine } = compileOk(readSpec(spec))
      const result = modelCheck(machine, { clients: 3, depth: 7, invariants: [], allowAbort: true, eventually: ['false'] })
      expect(result.violation?.kind, spec).toBe('liveness')
      assertFairLasso(machine.compiled, ['c1', 'c2', 'c3'], result.violation!.trace, result.violation!.cycle!, () => false)
    }
  })
})
