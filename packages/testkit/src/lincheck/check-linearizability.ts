import { LockstepError } from '@lockstep/interface'
import { canonicalJson } from './canonical-json'
import type { Model } from './model'
import type { IndexedOperation, Operation } from './operation'
import { checkOperationShape } from './parse-history'
import { searchPartition, type SearchBudget } from './partition-search'

/** Options of {@link checkLinearizability}. */
export interface LinearizabilityOptions {
  /**
   * Give up (verdict `unknown`) after this many milliseconds, as read from `now`.
   * The checker never reads a clock itself, so `now` is required with it.
   */
  readonly timeoutMs?: number
  /** The clock for `timeoutMs`, in milliseconds, for example `() => performance.now()`. */
  readonly now?: () => number
  /** Give up (verdict `unknown`) after about this many model steps; deterministic, unlike `timeoutMs`. */
  readonly maxSteps?: number
  /**
   * Give up on a partition (its verdict `unknown`) once its search has
   * recorded about this many states. Partitions are searched one at a time
   * and only the current one's states are kept, so this bounds the memory the
   * checker uses (about 150 bytes a state, plus the model's state keys).
   * The other partitions are still searched: a violation in one of them still
   * makes the verdict `not-linearizable`. Deterministic. Default
   * {@link DEFAULT_MAX_STATES}; `Infinity` for no limit.
   */
  readonly maxStates?: number
  /** Also return a linearization of every partition when the history is linearizable. */
  readonly witness?: boolean
}

/**
 * The default of {@link LinearizabilityOptions.maxStates}: far more than the
 * project's benchmark histories need (at most a few hundred thousand), and
 * under a gigabyte of memory when state keys are short, so a search too large
 * ends in verdict `unknown` instead of exhausting the process's memory.
 */
export const DEFAULT_MAX_STATES = 5_000_000

/** Why a history is not linearizable: the failing partition's longest linearizable prefix and the operation that cannot follow it. */
export interface LinearizabilityViolation {
  /** The failing partition's name (such as `key "x"`), or null when the model does not partition. */
  readonly partition: string | null
  /** Position of the failing partition among the model's partitions. */
  readonly partitionIndex: number
  /** The longest linearizable prefix found, in linearization order. */
  readonly prefix: readonly IndexedOperation[]
  /** The operation that must be linearized next but cannot be placed after the prefix. */
  readonly failedOperation: IndexedOperation
  /** The model's description of the state after the prefix. */
  readonly stateAfterPrefix: string
  /** One sentence saying what went wrong. */
  readonly message: string
  /**
   * Only with verdict `unknown`: the search gave up, but had already shown
   * that no linearization exists in which every operation with an unknown
   * outcome takes effect within `horizon` time units of its call (or never).
   */
  readonly horizon?: number
}

/** What {@link checkLinearizability} found. */
export interface LinearizabilityResult {
  /** True exactly when the history is linearizable. */
  readonly ok: boolean
  /** `unknown` when the search gave up (`timeoutMs`, `maxSteps` or `maxStates`) before deciding. */
  readonly verdict: 'linearizable' | 'not-linearizable' | 'unknown'
  /** The model's name. */
  readonly model: string
  /** Number of operations in the history. */
  readonly operations: number
  /** Number of independent partitions the model split the history into. */
  readonly partitions: number
  /** Search nodes (linearized set, state) recorded, over all partitions searched. */
  readonly statesExplored: number
  /** Model steps taken, over all partitions searched. */
  readonly steps: number
  /**
   * Present when the verdict is `not-linearizable`; also, with a `horizon`,
   * when the verdict is `unknown` but a bounded search found a violation.
   */
  readonly violation?: LinearizabilityViolation
  /** Present when the verdict is `unknown`: why the search stopped. */
  readonly reason?: string
  /** With `witness: true` and a linearizable history: per partition, history indices in linearization order. */
  readonly witness?: readonly (readonly number[])[]
}

/** The model's one-line description of an operation, or a generic one. */
export function describeOperation(model: Model, operation: Operation): string {
  if (model.describeOperation !== undefined) return model.describeOperation(operation)
  return `${canonicalJson(operation.input)} -> ${operation.output === null ? '?' : canonicalJson(operation.output)}`
}

function checkOptions(options: LinearizabilityOptions): void {
  const { timeoutMs, now, maxSteps, maxStates } = options
  if (timeoutMs !== undefined) {
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) {
      throw new LockstepError('INVALID_CONFIG', `timeoutMs is ${String(timeoutMs)}; expected a positive number of milliseconds`, { path: 'options.timeoutMs' })
    }
    if (typeof now !== 'function') {
      throw new LockstepError(
        'INVALID_CONFIG',
        'timeoutMs needs a clock: the checker is deterministic and never reads time itself; pass now (for example () => performance.now()), or use maxSteps',
        { path: 'options.now' },
      )
    }
  }
  if (maxSteps !== undefined && (typeof maxSteps !== 'number' || !(maxSteps > 0))) {
    throw new LockstepError('INVALID_CONFIG', `maxSteps is ${String(maxSteps)}; expected a positive number`, { path: 'options.maxSteps' })
  }
  if (maxStates !== undefined && (typeof maxStates !== 'number' || !(maxStates > 0))) {
    throw new LockstepError('INVALID_CONFIG', `maxStates is ${String(maxStates)}; expected a positive number (Infinity for no limit)`, { path: 'options.maxStates' })
  }
}

/** Split the history with the model's partition and check that every operation lands in exactly one part. */
function partitionHistory(history: readonly Operation[], model: Model): number[][] {
  if (model.partition === undefined) return [history.map((_, index) => index)]
  const positions = new Map<Operation, number[]>()
  history.forEach((operation, index) => {
    const list = positions.get(operation)
    if (list === undefined) positions.set(operation, [index])
    else list.push(index)
  })
  const parts = model.partition(history).map((part) =>
    part.map((operation) => {
      const list = positions.get(operation)
      if (list === undefined || list.length === 0) {
        throw new LockstepError(
          'INVALID_CONFIG',
          `model ${model.name}'s partition returned an operation that is not in the history (or returned one twice); partition must return the history's own operation objects, each once`,
          { path: 'model.partition' },
        )
      }
      return list.shift()!
    }),
  )
  const placed = parts.reduce((sum, part) => sum + part.length, 0)
  if (placed !== history.length) {
    throw new LockstepError(
      'INVALID_CONFIG',
      `model ${model.name}'s partition placed ${placed} of ${history.length} operations; every operation must be in exactly one part`,
      { path: 'model.partition' },
    )
  }
  return parts.filter((part) => part.length > 0)
}

/**
 * Decide whether a history is linearizable with respect to a model (Wing &
 * Gong / Lowe's search, as in Porcupine, one partition at a time). When it is
 * not, the result explains why: the failing partition's longest linearizable
 * prefix and the operation that cannot follow it. Throws `LockstepError`
 * `INVALID_CONFIG` for a malformed history or options.
 */
export function checkLinearizability<S, I, O>(
  history: readonly Operation<I, O>[],
  model: Model<S, I, O>,
  options: LinearizabilityOptions = {},
): LinearizabilityResult {
  checkOptions(options)
  if (!Array.isArray(history)) throw new LockstepError('INVALID_CONFIG', 'history must be an array of operations (see parseHistory)', { path: '' })
  history.forEach((operation, index) => {
    checkOperationShape(operation, index)
    const problem = model.checkOperation?.(operation)
    if (problem !== undefined) {
      throw new LockstepError('INVALID_CONFIG', `history operation ${index}, ${problem.path.slice(1)}: ${problem.message} (model ${model.name})`, {
        path: `/${index}${problem.path}`,
        index,
      })
    }
  })
  const untypedModel = model as unknown as Model
  const parts = partitionHistory(history as readonly Operation[], untypedModel)
  const deadline = options.timeoutMs === undefined ? Infinity : options.now!() + options.timeoutMs
  const budget: SearchBudget = {
    steps: 0,
    maxSteps: options.maxSteps ?? Infinity,
    maxStates: options.maxStates ?? DEFAULT_MAX_STATES,
    expired: deadline === Infinity ? () => false : () => options.now!() >= deadline,
  }
  const base = { model: model.name, operations: history.length, partitions: parts.length }
  const indexed = (index: number): IndexedOperation => ({
    index,
    operation: history[index] as Operation,
    description: describeOperation(untypedModel, history[index] as Operation),
  })
  const explain = (p: number, local: { prefix: readonly number[]; blocked: number; stateAfterPrefix: unknown }, horizon?: number): LinearizabilityViolation => {
    const part = parts[p]!
    const partition = model.partition === undefined ? null : (model.describePartition?.(part.map((index) => history[index]!)) ?? `partition ${p}`)
    const prefix = local.prefix.map((position) => indexed(part[position]!))
    const failedOperation = indexed(part[local.blocked]!)
    const stateAfterPrefix = model.describeState?.(local.stateAfterPrefix as S) ?? untypedModel.key(local.stateAfterPrefix)
    const where = partition === null ? '' : ` in ${partition}`
    const bound = horizon === undefined ? '' : ` when every operation with an unknown outcome takes effect within ${horizon} time units of its call or never`
    const message =
      `${horizon === undefined ? 'not linearizable' : 'probably not linearizable'}${where}: operation #${failedOperation.index} ` +
      `(client ${String(failedOperation.operation.client)}, ${failedOperation.description}) cannot be placed after the longest linearizable prefix found ` +
      `(${prefix.length} operation${prefix.length === 1 ? '' : 's'}, state after it: ${stateAfterPrefix})${bound}`
    return { partition, partitionIndex: p, prefix, failedOperation, stateAfterPrefix, message, ...(horizon === undefined ? {} : { horizon }) }
  }
  let statesExplored = 0
  let stoppedFor: 'steps' | 'time' | 'states' | undefined
  let statesAtStop = 0
  let boundedViolation: LinearizabilityViolation | undefined
  const witness: number[][] = []
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p]!
    const outcome = searchPartition(part.map((index) => history[index] as Operation), untypedModel, budget)
    statesExplored += outcome.statesExplored
    if (outcome.verdict === 'unknown') {
      // Running out of time or steps ends the whole check; running out of states, one partition's.
      if (stoppedFor === undefined || stoppedFor === 'states') stoppedFor = outcome.reason
      if (outcome.reason === 'states') statesAtStop = Math.max(statesAtStop, outcome.statesExplored)
      if (outcome.bounded !== undefined && boundedViolation === undefined) boundedViolation = explain(p, outcome.bounded, outcome.bounded.horizon)
      if (outcome.reason === 'time') break
      continue
    }
    if (outcome.verdict === 'linearizable') {
      if (options.witness === true) witness.push(outcome.order.map((local) => part[local]!))
      continue
    }
    return { ok: false, verdict: 'not-linearizable', ...base, statesExplored, steps: budget.steps, violation: explain(p, outcome) }
  }
  if (stoppedFor !== undefined) {
    const reason =
      stoppedFor === 'time'
        ? `timed out after ${options.timeoutMs} ms`
        : stoppedFor === 'steps'
          ? `gave up after ${budget.steps} model steps (maxSteps ${options.maxSteps})`
          : `gave up after ${statesAtStop} states in one partition (maxStates ${budget.maxStates})`
    return {
      ok: false,
      verdict: 'unknown',
      ...base,
      statesExplored,
      steps: budget.steps,
      reason: boundedViolation === undefined ? reason : `${reason}; ${boundedViolation.message}`,
      ...(boundedViolation === undefined ? {} : { violation: boundedViolation }),
    }
  }
  return {
    ok: true,
    verdict: 'linearizable',
    ...base,
    statesExplored,
    steps: budget.steps,
    ...(options.witness === true ? { witness } : {}),
  }
}
