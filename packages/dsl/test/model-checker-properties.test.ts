import { describe, expect, it } from 'vitest'
import { itfTrace, modelCheck } from '../src/index'
import { compileOk, readSpec } from './helpers'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

const fixture = (name: string): string => readFileSync(join(__dirname, 'fixtures', name), 'utf8')

/** A mutex whose release hands out a token one lower: the token shrinks. */
const shrinkingToken = `
shrinking: state_machine
  var
    user: client_id
    token: int init 5
  acquire: command
    if user = Φ ->
      user := client
      token := token + 1
  end acquire
  release: command
    if user = client ->
      user := Φ
      token := token - 2
  end release
end shrinking
`

/** Only c1 may take the lock: a command with no enabled arm for everyone else. */
const picky = `
picky: state_machine
  var user: client_id
  take: command
    if user = Φ -> user := client
    if user ≠ Φ -> skip
  end take
  drop: command
    if user = client -> user := Φ
  end drop
end picky
`

describe('the model checker reports aborted commands', () => {
  it('reports a command that aborts (kv get of a missing key), unless allowAbort', () => {
    const { machine } = compileOk(readSpec('kv.sm'))
    const result = modelCheck(machine, { clients: 1, depth: 1, invariants: [] })
    expect(result.ok).toBe(false)
    expect(result.violation).toMatchObject({ kind: 'abort' })
    expect(result.violation!.trace.map((s) => s.line)).toEqual(['c1 get {"key":"a"}'])
    expect(result.violation!.message).toContain('get failed: the map has no key "a"')
    expect(modelCheck(machine, { clients: 1, depth: 1, invariants: [], allowAbort: true }).ok).toBe(true)
  })
})

describe('the model checker reports commands with no enabled arm', () => {
  it('with deadlock: a state where a client command has no arm whose guard holds', () => {
    const { machine } = compileOk(picky)
    expect(modelCheck(machine, { clients: 2, depth: 3, invariants: [] }).ok).toBe(true)
    const result = modelCheck(machine, { clients: 2, depth: 3, invariants: [], deadlock: true })
    expect(result.ok).toBe(false)
    expect(result.violation).toMatchObject({ kind: 'deadlock' })
    expect(result.violation!.trace.map((s) => s.line)).toEqual(['c1 drop'])
    expect(result.violation!.message).toBe('c1 drop has no enabled arm: no guard holds')
  })
})

describe('symmetry reduction over client ids', () => {
  it('explores far fewer states of the seed mutex with 3 clients, and finds the same result', () => {
    const { machine } = compileOk(readSpec('seed-mutex.sm'))
    const reduced = modelCheck(machine, { clients: 3, depth: 7, invariants: ['len(waiting) <= 7'] })
    const full = modelCheck(machine, { clients: 3, depth: 7, invariants: ['len(waiting) <= 7'], symmetry: false })
    expect(reduced.ok && full.ok).toBe(true)
    expect(full.statesExplored).toBeGreaterThan(4 * reduced.statesExplored)
    // Every state explored stands for its orbit: together, exactly the states of the full search.
    expect(reduced.symmetry).toEqual({ enabled: true, fixedClients: [], statesWithoutSymmetry: full.statesExplored })
    expect(full.symmetry).toEqual({ enabled: false, fixedClients: [], statesWithoutSymmetry: full.statesExplored })
  })

  it('reduces the seed mutex with 4 clients to depth 10 by at least 10x (the acceptance bound)', () => {
    const { machine } = compileOk(readSpec('seed-mutex.sm'))
    const reduced = modelCheck(machine, { clients: 4, depth: 10, invariants: [] })
    expect(reduced.symmetry.statesWithoutSymmetry).toBe(1_398_101)
    expect(reduced.statesExplored * 10).toBeLessThanOrEqual(1_398_101)
  })

  it('keeps clients that properties name in place, and finds violations symmetry would hide otherwise', () => {
    const { machine } = compileOk(readSpec('seed-mutex.sm'))
    // Only c3 may not wait: a violation needs c3 itself to queue, whatever the renaming.
    const result = modelCheck(machine, { clients: 3, depth: 3, invariants: ['not (c3 in waiting)'] })
    expect(result.symmetry).toMatchObject({ enabled: true, fixedClients: ['c3'] })
    expect(result.violation!.trace.map((s) => s.line)).toEqual(['c1 acquire', 'c3 acquire'])
  })

  it('handles client ids nested in lists of sets and maps of lists (a search for the smallest encoding)', () => {
    const { machine } = compileOk(`
rounds: state_machine
  var
    rounds: list of set of client_id
    seen: map of int to list of client_id
    none: set of client_id
    nobody: list of client_id
  join: command
    rounds := rounds ● (none ● client)
    seen[len(rounds)] := nobody ● client
  end join
end rounds
`)
    const reduced = modelCheck(machine, { clients: 3, depth: 3, invariants: ['len(rounds) <= 3'] })
    const full = modelCheck(machine, { clients: 3, depth: 3, invariants: ['len(rounds) <= 3'], symmetry: false })
    expect(reduced.ok && full.ok).toBe(true)
    // 1 + 3 + 9 + 27 sequences of joiners; up to renaming: 1 + 1 + 2 + 5.
    expect(full.statesExplored).toBe(40)
    expect(reduced.statesExplored).toBe(9)
  })

  it('is exact for sets of client ids (the semaphore keeps holders in a map)', () => {
    const { machine } = compileOk(readSpec('semaphore.sm'))
    const result = modelCheck(machine, { clients: 4, depth: 8, invariants: [] })
    expect(result.symmetry.statesWithoutSymmetry).toBeUndefined()
    expect(modelCheck(machine, { clients: 4, depth: 8, invariants: [], symmetry: false }).statesExplored).toBeGreaterThan(result.statesExplored)
  })
})

describe('properties beyond state invariants', () => {
  it('checks transition properties over the previous state (a fencing token only grows)', () => {
    const { machine } = compileOk(shrinkingToken)
    const result = modelCheck(machine, { clients: 2, depth: 4, invariants: ["always token' >= token"] })
    expect(result.ok).toBe(false)
    expect(result.violation).toMatchObject({ kind: 'property', invariant: "always token' >= token" })
    expect(result.violation!.trace.map((s) => s.line)).toEqual(['c1 acquire', 'c1 release'])
    expect(modelCheck(compileOk(readSpec('safe-mutex.sm')).machine, { clients: 3, depth: 6, invariants: ["always token' >= token"] }).ok).toBe(true)
  })

  it('checks quantifiers over clients and client literals', () => {
    const { machine } = compileOk(readSpec('seed-mutex.sm'))
    const result = modelCheck(machine, { clients: 2, depth: 4, invariants: ['forall c: not (c in waiting and c = user)'] })
    expect(result.violation!.trace.map((s) => s.line)).toEqual(['c1 acquire', 'c1 acquire'])
    const literal = modelCheck(machine, { clients: 2, depth: 4, invariants: ['not (c2 in waiting)'] })
    expect(literal.violation!.trace.map((s) => s.line)).toEqual(['c1 acquire', 'c2 acquire'])
    expect(modelCheck(machine, { clients: 2, depth: 3, invariants: ['exists c: c = c1 or user = Φ'] }).ok).toBe(true)
  })
})

// Anyone may release and the lock goes to whoever asks next, not to the queue: c2 and c3 can pass it between them.
const unfairSpec = `
unfair: state_machine
  var
    user: client_id
    asked: list of client_id
  acquire: command
    if user = Φ -> user := client
    if user ≠ Φ and not (client in asked) -> asked := asked ● client
  end acquire
  release: command
    if user = client -> user := Φ
  end release
end unfair
`

describe('liveness under weak fairness', () => {
  it('finds the waiter that is never granted, with a lasso', () => {
    const { machine } = compileOk(fixture('lost-waiter.sm'))
    const result = modelCheck(machine, { clients: 2, depth: 6, invariants: [], eventually: [{ property: 'user = c1', after: 'c1 acquire' }] })
    expect(result.ok).toBe(false)
    expect(result.violation).toMatchObject({ kind: 'liveness' })
    expect(result.violation!.trace.map((s) => s.line)).toEqual(['c2 acquire', 'c1 acquire', 'c2 release'])
    expect(result.violation!.cycle).toEqual([])
    expect(result.violation!.state).toEqual({ user: null, waiting: ['c1'] })
  })

  it('passes the safe mutex: under weak fairness the holder releases, and the waiter is granted', () => {
    const { machine } = compileOk(readSpec('safe-mutex.sm'))
    const result = modelCheck(machine, { clients: 2, depth: 8, invariants: [], eventually: [{ property: 'user = c1', after: 'c1 acquire' }] })
    expect(result.violation).toBeUndefined()
    expect(result.ok).toBe(true)
    expect(result.livenessStates).toBeGreaterThan(5)
  })

  it('reports a lasso with a real cycle when clients can keep the waiter out forever', () => {
    const { machine } = compileOk(unfairSpec)
    const result = modelCheck(machine, { clients: 3, depth: 8, invariants: [], eventually: [{ property: 'user = c1', after: 'c1 acquire' }] })
    expect(result.violation?.kind).toBe('liveness')
    // Fair: every command that can change the state runs in the cycle or is disabled somewhere in it.
    expect(result.violation!.cycle!.length).toBeGreaterThan(0)
    const lines = result.violation!.cycle!.map((s) => s.line)
    expect(lines).not.toContain('c1 acquire')
  })

  it('reports the shortest fair cycle through the set, not a walk through every state of it', () => {
    // From {user: c2, asked: [c1]}: c2 release, c3 acquire, c3 release, c2 acquire is fair (c3's acquire, enabled
    // everywhere, is taken; c1's is disabled while c2 holds; c3's release while c2 holds; c2's release is taken).
    // Walking through every state of the strongly connected set made it 6 steps.
    const { machine } = compileOk(unfairSpec)
    const result = modelCheck(machine, { clients: 3, depth: 8, invariants: [], eventually: [{ property: 'user = c1', after: 'c1 acquire' }] })
    expect(result.violation!.trace.map((s) => s.line)).toEqual(['c2 acquire', 'c1 acquire'])
    expect(result.violation!.cycle!.map((s) => s.line)).toEqual(['c2 release', 'c3 acquire', 'c3 release', 'c2 acquire'])
  })

  it('reports a two-step cycle where one is fair in a larger set', () => {
    // Whoever claims first walks x up and down between 0 and 3 (or jumps from 0 to 2); the goal never holds. Every
    // state of 0..3 is in one strongly connected set, but up then down is fair: up and down are taken, jump is
    // disabled at 1, the other client's commands change nothing. Walking through every state made it 6 steps.
    const { machine } = compileOk(`
ladder: state_machine
  var
    owner: client_id
    x: int init 0
  claim: command
    if owner = Φ -> owner := client
  end claim
  up: command
    if client = owner and x < 3 -> x := x + 1
  end up
  down: command
    if client = owner and x > 0 -> x := x - 1
  end down
  jump: command
    if client = owner and x = 0 -> x := 2
  end jump
end ladder
`)
    const result = modelCheck(machine, { clients: 2, depth: 10, invariants: [], allowAbort: true, eventually: [{ property: 'x > 5' }] })
    expect(result.violation?.kind).toBe('liveness')
    expect(result.violation!.trace.map((s) => s.line)).toEqual(['c1 claim'])
    expect(result.violation!.cycle!.map((s) => s.line)).toEqual(['c1 up', 'c1 down'])
  })
})

describe('ITF traces', () => {
  it('writes the states of a counterexample with ITF values', () => {
    const { machine } = compileOk(readSpec('safe-mutex.sm'))
    const result = modelCheck(machine, { clients: 2, depth: 4, invariants: ['token < 2'] })
    const trace = itfTrace(machine, result.violation!)
    expect(trace.vars).toEqual(['user', 'waiting', 'token'])
    expect(trace.states.map((s) => s['#meta'])).toEqual([{ index: 0 }, { index: 1, action: 'c1 acquire', time: 0 }, { index: 2, action: 'c2 acquire', time: 0 }, { index: 3, action: 'c1 release', time: 0 }])
    expect(trace.states[3]).toMatchObject({ user: 'c2', waiting: [], token: { '#bigint': '2' } })
    expect(trace.loop).toBeUndefined()
  })
})
