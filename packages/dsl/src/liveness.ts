import { ErrorCodes, LockstepError, type Output } from '@lockstep/interface'
import { formatDiagnostics } from './diagnostics'
import type { CompiledMachine } from './interpreter'
import type { Action, TraceStep, Violation } from './model-checker'
import { describeStep } from './model-checker'
import { compileProperty, type CompiledProperty } from './property'
import { CanonicalKeys } from './symmetry'
import type { Value } from './values'

/** A liveness property: after `after` (a client and a command, `"c1 acquire"`; default: the start), `property` eventually holds. */
export interface EventuallyProperty {
  readonly property: string | CompiledProperty
  readonly after?: string
}

/** What the liveness search needs from the model checker. */
export interface LivenessSearch {
  readonly clients: readonly string[]
  readonly actions: readonly Action[]
  readonly actionSteps: readonly (readonly number[])[]
  readonly startTime: number
  readonly latest: number
  readonly timed: boolean
  readonly depth: number
  readonly maxStates: number
  readonly eventually: readonly (string | EventuallyProperty)[]
}

/** Edge values besides a target state id. */
const STUTTER = -1
const OUTSIDE = -2
const ABORT = -3
const NO_STEP = -4

/** (state, satisfied actions) pairs the search for the shortest fair cycle may visit before it settles for a longer one. */
const FAIR_CYCLE_SEARCH_LIMIT = 200_000

interface Goal {
  readonly text: string
  readonly property: CompiledProperty
  readonly after: { readonly client: string; readonly commandIndex: number } | undefined
  readonly afterText: string | undefined
}

function compileGoal(compiled: CompiledMachine, clients: readonly string[], goal: string | EventuallyProperty): Goal {
  const spec = typeof goal === 'string' ? { property: goal } : goal
  let property: CompiledProperty
  if (typeof spec.property === 'string') {
    const text = spec.property
    const result = compileProperty(compiled.program, text, { clients, file: '<eventually>' })
    if (!result.property) throw new LockstepError(ErrorCodes.DSL_ERROR, `invalid eventually property '${text}':\n${formatDiagnostics(result.diagnostics, text)}`)
    property = result.property
  } else {
    property = spec.property
  }
  if (property.kind === 'transition') {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `eventually '${property.text}': a liveness property reads one state; primed names belong in transition properties (--invariant)`)
  }
  let after: Goal['after']
  if (spec.after !== undefined) {
    const words = spec.after.trim().split(/\s+/)
    const commandIndex = compiled.commandIndex.get(words[1] ?? '')
    if (words.length !== 2 || !clients.includes(words[0]!) || commandIndex === undefined) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG,
        `--after '${spec.after}' must be a client and a command, like '${clients[0]} ${compiled.program.commands[0]!.name}' (clients: ${clients.join(', ')}; commands: ${[...compiled.commandIndex.keys()].join(', ')})`)
    }
    after = { client: words[0]!, commandIndex }
  }
  return { text: property.text, property, after, afterText: spec.after?.trim() }
}

/**
 * Checks `eventually` properties under weak fairness: every command of every
 * client (with every argument) that stays able to change the state is
 * eventually run. Explores the state graph up to `depth` (no symmetry
 * reduction), then looks for a lasso in which, from the trigger (`after`) on,
 * the property never holds: a strongly connected set of states where it
 * fails, that the run can cycle through fairly (each command is disabled in
 * one of its states or run within it). Steps leaving the explored graph
 * count as enabled, so every lasso reported is a real run.
 */
export function checkLiveness(compiled: CompiledMachine, search: LivenessSearch): { statesExplored: number; violation?: Violation } {
  const goals = search.eventually.map((goal) => compileGoal(compiled, search.clients, goal))
  const { actions, actionSteps } = search
  // Labels: each (action, time step) pair is a transition label; fairness is per action.
  const labelAction: number[] = []
  const labelStep: number[] = []
  actions.forEach((action, a) => actionSteps[action.commandIndex]!.forEach((step) => {
    labelAction.push(a)
    labelStep.push(step)
  }))
  const labels = labelAction.length
  const keys = new CanonicalKeys(compiled.program, search.clients, undefined)
  const keyOf = (state: Value[], at: number): string => keys.key(state, search.timed ? at : undefined)
  const ids = new Map<string, number>()
  const states: Value[][] = []
  const times: number[] = []
  const depths: number[] = []
  const parents: number[] = []
  const via: number[] = []
  const edges: number[] = []
  const initial = compiled.init()
  ids.set(keyOf(initial, search.startTime), 0)
  states.push(initial)
  times.push(search.startTime)
  depths.push(0)
  parents.push(-1)
  via.push(-1)
  for (let id = 0; id < states.length; id++) {
    const state = states[id]!
    const before = times[id]!
    const own = keyOf(state, before)
    for (let l = 0; l < labels; l++) {
      const action = actions[labelAction[l]!]!
      const at = before + labelStep[l]!
      if (labelStep[l]! > 0 && at > search.latest) {
        edges.push(NO_STEP)
        continue
      }
      let successor: Value[]
      try {
        successor = compiled.step(state, action.commandIndex, action.client, action.args, at)
      } catch (error) {
        if (!(error instanceof LockstepError) || error.code !== ErrorCodes.COMMAND_FAILED) throw error
        edges.push(ABORT)
        continue
      }
      const key = keyOf(successor, at)
      if (key === own) {
        edges.push(STUTTER)
        continue
      }
      const known = ids.get(key)
      if (known !== undefined) {
        edges.push(known)
        continue
      }
      if (depths[id]! >= search.depth || states.length >= search.maxStates) {
        edges.push(OUTSIDE)
        continue
      }
      ids.set(key, states.length)
      edges.push(states.length)
      states.push(successor)
      times.push(at)
      depths.push(depths[id]! + 1)
      parents.push(id)
      via.push(l)
    }
  }
  const edge = (state: number, label: number): number => edges[state * labels + label]!
  /** Action `a` can change `state`: a step of it leads to another state, or out of the explored graph. */
  const enabledIn = (state: number, a: number): boolean => {
    for (let l = 0; l < labels; l++) {
      if (labelAction[l] !== a) continue
      const t = edge(state, l)
      if (t === OUTSIDE || (t >= 0 && t !== state)) return true
    }
    return false
  }
  /** A step of action `a` from `state` stays within `inside`. */
  const takenWithin = (inside: ReadonlySet<number>, state: number, a: number): boolean => {
    for (let l = 0; l < labels; l++) {
      if (labelAction[l] !== a) continue
      const t = edge(state, l)
      if (t >= 0 && t !== state && inside.has(t)) return true
    }
    return false
  }
  for (const goal of goals) {
    const violation = findLasso(goal)
    if (violation) return { statesExplored: states.length, violation }
  }
  return { statesExplored: states.length }

  function findLasso(goal: Goal): Violation | undefined {
    const n = states.length
    const holds = states.map((state) => {
      try {
        return goal.property.evaluate(state) === true
      } catch {
        return false
      }
    })
    // Sources: the states right after the trigger where the goal does not hold, by how long the path to them is.
    const sources: { state: number; distance: number; from: number; label: number }[] = []
    if (goal.after === undefined) {
      if (!holds[0]) sources.push({ state: 0, distance: 0, from: -1, label: -1 })
    } else {
      for (let s = 0; s < n; s++) {
        for (let l = 0; l < labels; l++) {
          const action = actions[labelAction[l]!]!
          if (action.client !== goal.after.client || action.commandIndex !== goal.after.commandIndex) continue
          const target = edge(s, l)
          const t = target === STUTTER ? s : target
          if (t < 0 || holds[t]) continue
          sources.push({ state: t, distance: depths[s]! + 1, from: s, label: l })
        }
      }
      sources.sort((x, y) => x.distance - y.distance)
    }
    // Breadth first over the states where the goal fails, from the sources in order of distance.
    const distance = new Int32Array(n).fill(-1)
    const previous = new Int32Array(n).fill(-1)
    const previousLabel = new Int32Array(n).fill(-1)
    const trigger = new Map<number, { from: number; label: number }>()
    const queue: number[] = []
    let nextSource = 0
    let head = 0
    const inject = (upTo: number): void => {
      while (nextSource < sources.length && sources[nextSource]!.distance <= upTo) {
        const source = sources[nextSource++]!
        if (distance[source.state] !== -1) continue
        distance[source.state] = source.distance
        trigger.set(source.state, { from: source.from, label: source.label })
        queue.push(source.state)
      }
    }
    while (head < queue.length || nextSource < sources.length) {
      if (head === queue.length) inject(sources[nextSource]!.distance)
      const s = queue[head++]!
      inject(distance[s]!)
      for (let l = 0; l < labels; l++) {
        const t = edge(s, l)
        if (t < 0 || holds[t] || distance[t] !== -1) continue
        distance[t] = distance[s]! + 1
        previous[t] = s
        previousLabel[t] = l
        queue.push(t)
      }
      inject(distance[s]! + 1)
    }
    const components = stronglyConnected(queue, (s, visit) => {
      for (let l = 0; l < labels; l++) {
        const t = edge(s, l)
        if (t >= 0 && t !== s && distance[t] !== -1) visit(t)
      }
    })
    let best: { members: number[]; entry: number } | undefined
    for (const members of components) {
      if (!isFair(members)) continue
      let entry = members[0]!
      for (const m of members) if (distance[m]! < distance[entry]! || (distance[m] === distance[entry] && m < entry)) entry = m
      if (best === undefined || distance[entry]! < distance[best.entry]! || (distance[entry] === distance[best.entry] && entry < best.entry)) best = { members, entry }
    }
    if (best === undefined) return undefined
    // The lasso: to the trigger, through it, to the entry of the fair set; then a cycle through it.
    const steps: { label: number; state: number }[] = []
    let s = best.entry
    while (previous[s] !== -1) {
      steps.push({ label: previousLabel[s]!, state: s })
      s = previous[s]!
    }
    const fired = trigger.get(s)!
    if (fired.from >= 0) {
      steps.push({ label: fired.label, state: s })
      for (let node = fired.from; node > 0; node = parents[node]!) steps.push({ label: via[node]!, state: node })
    }
    steps.reverse()
    const cycle = shortestFairCycle(best.members, best.entry) ?? cycleThrough(best.members, best.entry)
    const prefixTrace = replay(compiled.init(), steps)
    const cycleTrace = replay(prefixTrace.state, cycle)
    const after = goal.afterText === undefined ? 'from the start' : `after ${goal.afterText}`
    const message = cycle.length === 0
      ? `${after}, '${goal.text}' never holds: the run reaches a state where no command changes anything, and stays there`
      : `${after}, '${goal.text}' never holds: the run can repeat the cycle forever, giving every command its turn (weak fairness)`
    return {
      kind: 'liveness',
      invariant: goal.afterText === undefined ? `eventually ${goal.text}` : `eventually ${goal.text} after ${goal.afterText}`,
      message,
      trace: prefixTrace.trace,
      cycle: cycleTrace.trace,
      state: compiled.stateToJson(states[best.entry]!),
    }
  }

  /** Weak fairness: every action is disabled in some state of the set, or taken within it. */
  function isFair(members: readonly number[]): boolean {
    const inside = new Set(members)
    for (let a = 0; a < actions.length; a++) {
      if (!members.some((m) => takenWithin(inside, m, a) || !enabledIn(m, a))) return false
    }
    return true
  }

  /**
   * The shortest fair cycle from `entry` back to it within the set: breadth first over (state, the actions the
   * walk so far has satisfied), where an action is satisfied by a state of the walk in which it is disabled or by
   * a step of the walk that takes it. Undefined when the search passes `FAIR_CYCLE_SEARCH_LIMIT` pairs (the
   * caller then walks through every state of the set, which is fair but longer).
   */
  function shortestFairCycle(members: readonly number[], entry: number): { label: number; state: number }[] | undefined {
    const inside = new Set(members)
    // Each action's bit, for the actions the entry state does not satisfy by itself.
    const bit = new Map<number, bigint>()
    for (let a = 0; a < actions.length; a++) if (enabledIn(entry, a)) bit.set(a, 1n << BigInt(bit.size))
    const full = (1n << BigInt(bit.size)) - 1n
    const disabledMask = new Map<number, bigint>()
    for (const m of members) {
      let mask = 0n
      for (const [a, b] of bit) if (!enabledIn(m, a)) mask |= b
      disabledMask.set(m, mask)
    }
    if (full === 0n && members.length === 1) return []
    const seen = new Map<string, { prev: string | undefined; state: number; label: number }>()
    const start = `${entry}:0`
    seen.set(start, { prev: undefined, state: entry, label: -1 })
    const queue: { state: number; mask: bigint; key: string }[] = [{ state: entry, mask: 0n, key: start }]
    for (let head = 0; head < queue.length; head++) {
      const { state, mask, key } = queue[head]!
      for (let l = 0; l < labels; l++) {
        const t = edge(state, l)
        if (t < 0 || t === state || !inside.has(t)) continue
        const next = mask | (bit.get(labelAction[l]!) ?? 0n) | disabledMask.get(t)!
        if (t === entry && next === full) {
          const steps: { label: number; state: number }[] = [{ label: l, state: t }]
          for (let at = seen.get(key)!; at.prev !== undefined; at = seen.get(at.prev)!) steps.push({ label: at.label, state: at.state })
          return steps.reverse()
        }
        const nextKey = `${t}:${next}`
        if (seen.has(nextKey)) continue
        if (seen.size >= FAIR_CYCLE_SEARCH_LIMIT) return undefined
        seen.set(nextKey, { prev: key, state: t, label: l })
        queue.push({ state: t, mask: next, key: nextKey })
      }
    }
    return undefined
  }

  /** Steps from `entry` through every state of the set, taking each action it must take, back to `entry`. */
  function cycleThrough(members: readonly number[], entry: number): { label: number; state: number }[] {
    const inside = new Set(members)
    const steps: { label: number; state: number }[] = []
    const required: { from: number; label: number; to: number }[] = []
    for (let a = 0; a < actions.length; a++) {
      let disabledSomewhere = false
      let taken: { from: number; label: number; to: number } | undefined
      for (const m of members) {
        let enabled = false
        for (let l = 0; l < labels; l++) {
          if (labelAction[l] !== a) continue
          const t = edge(m, l)
          if (t === OUTSIDE || (t >= 0 && t !== m)) enabled = true
          if (taken === undefined && t >= 0 && t !== m && inside.has(t)) taken = { from: m, label: l, to: t }
        }
        if (!enabled) disabledSomewhere = true
      }
      if (!disabledSomewhere && taken) required.push(taken)
    }
    if (members.length === 1 && required.length === 0) return steps
    const visited = new Set<number>([entry])
    let current = entry
    const walkTo = (goal: number): void => {
      for (const step of pathWithin(inside, current, goal)) {
        steps.push(step)
        visited.add(step.state)
      }
      current = goal
    }
    for (const edgeToTake of required) {
      walkTo(edgeToTake.from)
      steps.push({ label: edgeToTake.label, state: edgeToTake.to })
      visited.add(edgeToTake.to)
      current = edgeToTake.to
    }
    for (const m of members) if (!visited.has(m)) walkTo(m)
    if (current !== entry || steps.length === 0) walkTo(entry)
    return steps
  }

  /** A shortest path within the set (at least one step when from = to). */
  function pathWithin(inside: ReadonlySet<number>, from: number, to: number): { label: number; state: number }[] {
    const back = new Map<number, { prev: number; label: number }>()
    const queue = [from]
    for (let head = 0; head < queue.length; head++) {
      const s = queue[head]!
      for (let l = 0; l < labels; l++) {
        const t = edge(s, l)
        if (t < 0 || t === s || !inside.has(t) || back.has(t)) continue
        back.set(t, { prev: s, label: l })
        if (t === to) {
          const path: { label: number; state: number }[] = []
          for (let node = to; ; ) {
            const step = back.get(node)!
            path.push({ label: step.label, state: node })
            if (step.prev === from) break
            node = step.prev
          }
          return path.reverse()
        }
        queue.push(t)
      }
    }
    return []
  }

  function replay(start: Value[], steps: readonly { label: number; state: number }[]): { trace: TraceStep[]; state: Value[] } {
    const trace: TraceStep[] = []
    let current = start
    for (const step of steps) {
      const action = actions[labelAction[step.label]!]!
      const at = times[step.state]!
      let result: { state: Value[]; outputs: Output[] }
      try {
        result = compiled.exec(current, action.commandIndex, action.client, action.args, at)
      } catch (error) {
        if (!(error instanceof LockstepError) || error.code !== ErrorCodes.COMMAND_FAILED) throw error
        result = { state: current, outputs: [] }
      }
      trace.push(describeStep(compiled, action, result.outputs, at))
      current = result.state
    }
    return { trace, state: current }
  }
}

/** Tarjan's strongly connected components (iterative), of the nodes given and what they reach. */
function stronglyConnected(nodes: readonly number[], successors: (node: number, visit: (next: number) => void) => void): number[][] {
  const index = new Map<number, number>()
  const low = new Map<number, number>()
  const onStack = new Set<number>()
  const stack: number[] = []
  const components: number[][] = []
  let counter = 0
  for (const root of nodes) {
    if (index.has(root)) continue
    const work: { node: number; next: number[]; i: number }[] = []
    const open = (node: number): void => {
      index.set(node, counter)
      low.set(node, counter)
      counter++
      stack.push(node)
      onStack.add(node)
      const next: number[] = []
      successors(node, (t) => next.push(t))
      work.push({ node, next, i: 0 })
    }
    open(root)
    while (work.length > 0) {
      const frame = work[work.length - 1]!
      if (frame.i < frame.next.length) {
        const t = frame.next[frame.i++]!
        if (!index.has(t)) open(t)
        else if (onStack.has(t)) low.set(frame.node, Math.min(low.get(frame.node)!, index.get(t)!))
        continue
      }
      work.pop()
      const parent = work[work.length - 1]
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!))
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: number[] = []
        let member: number
        do {
          member = stack.pop()!
          onStack.delete(member)
          component.push(member)
        } while (member !== frame.node)
        components.push(component)
      }
    }
  }
  return components
}
