import { DeterminedSet } from './determined-set'
import type { Model } from './model'
import { isDetermined, type Operation } from './operation'
import { StateCache } from './state-cache'

/** Limits shared by the searches of all partitions of one check. */
export interface SearchBudget {
  /** Model steps taken so far, over all partitions. */
  steps: number
  /** Give up once `steps` reaches this (checked every 1024 search iterations). */
  readonly maxSteps: number
  /**
   * Give up on a partition once its search has recorded this many states
   * (checked every 1024 search iterations). The states of one search are all
   * that the checker holds at a time, so this bounds its memory.
   */
  readonly maxStates: number
  /** Give up once this returns true; polled every 1024 search iterations. */
  readonly expired: () => boolean
}

/** How the search of one partition ended; operation numbers are positions in the partition. */
export type PartitionSearchOutcome<S> =
  | { readonly verdict: 'linearizable'; readonly order: readonly number[]; readonly statesExplored: number }
  | {
      readonly verdict: 'not-linearizable'
      /** The longest linearizable prefix found, in linearization order. */
      readonly prefix: readonly number[]
      /** The operation that must come next (it returns first) but cannot be placed after the prefix. */
      readonly blocked: number
      readonly stateAfterPrefix: S
      readonly statesExplored: number
    }
  | {
      readonly verdict: 'unknown'
      readonly reason: 'steps' | 'time' | 'states'
      readonly statesExplored: number
      /** A violation found under a horizon before the search gave up (see HORIZON_FACTORS). */
      readonly bounded?: BoundedViolation<S>
    }

/** A failure of a search in which optional operations had to take effect within `horizon` of their call. */
export interface BoundedViolation<S> {
  readonly horizon: number
  readonly prefix: readonly number[]
  readonly blocked: number
  readonly stateAfterPrefix: S
}

const NIL = -1
const POLL_INTERVAL = 1024
// Phases of the search within a node.
const READ_ONLY = 0
const SCAN = 1
const OPTIONAL = 2
const DONE = 3
// Results of PartitionSearch.tryLinearize.
const REJECTED = 0
const COVERED = 1
const PUSHED = 2
/** The node is new but a read can no longer fit in it (see Model.readSources): it was recorded and left. */
const PRUNED = 3

/**
 * Horizons for optional operations, in multiples of the longest operation
 * duration in the partition, tried in turn.
 *
 * An optional operation (unknown outcome) may take effect at any time after
 * its call, or never. One that never took effect stays a candidate forever;
 * at every dead end the search tries it, with every other pending one, and
 * what it explores grows exponentially with their number. In practice a request
 * takes effect soon after its client gave up on it, or not at all. So the
 * search first lets an optional operation take effect only up to
 * `call + factor × longest duration`. A linearization found that way is a
 * linearization; a failure is exact when the horizon never cut a branch.
 * Otherwise the next, longer horizon is tried, ending with none, so the
 * verdict is always exact.
 */
const HORIZON_FACTORS = [2, 16, Infinity]

/**
 * Decide one partition: Wing & Gong's linearizability search with Lowe's
 * cache, as in Porcupine, once per horizon of HORIZON_FACTORS until one is
 * conclusive.
 */
export function searchPartition<S>(operations: readonly Operation[], model: Model<S>, budget: SearchBudget): PartitionSearchOutcome<S> {
  let longest = 0
  for (const operation of operations) {
    if (operation.return !== null) longest = Math.max(longest, operation.return - operation.call)
  }
  // Optional operations the search must try: not read-only, and observable (Model.unobserved).
  // The others may be taken never to have happened: they constrain nothing.
  const candidate = Uint8Array.from(operations, (operation) =>
    !isDetermined(operation) && model.readOnly?.(operation.input, operation.output) !== true && model.unobserved?.(operation, operations) !== true ? 1 : 0,
  )
  const hasOptional = candidate.includes(1)
  let statesExplored = 0
  let bounded: BoundedViolation<S> | undefined
  for (const factor of hasOptional ? HORIZON_FACTORS : [Infinity]) {
    const horizon = factor === Infinity ? Infinity : factor * longest
    const { outcome, cut } = new PartitionSearch(operations, model, budget, horizon, candidate).run()
    statesExplored += outcome.statesExplored
    if (outcome.verdict === 'not-linearizable' && cut) {
      bounded = { horizon, prefix: outcome.prefix, blocked: outcome.blocked, stateAfterPrefix: outcome.stateAfterPrefix }
      continue
    }
    if (outcome.verdict === 'unknown') return { ...outcome, statesExplored, ...(bounded === undefined ? {} : { bounded }) }
    return { ...outcome, statesExplored }
  }
  throw new Error('unreachable: the last horizon is infinite')
}

/**
 * One depth-first search over a doubly linked list of the call and return
 * entries of the determined operations, sorted by time (at equal times calls
 * first, so operations that touch count as concurrent). At each node the
 * candidates are the operations called before the first return entry still in
 * the list: that operation must be linearized before anything called later.
 * Linearizing a candidate lifts its two entries out of the list; backtracking
 * puts them back. Visited (linearized set, state) nodes are cached, so no node
 * is explored twice. The search succeeds once every determined operation is
 * linearized: optional operations left over never took effect.
 *
 * Candidates of a node are tried in this order:
 * 1. Read-only determined candidates (Model.readOnly). The first that fits is
 *    taken without trying alternatives: it can be moved to the front of any
 *    completion (it changes no state, and as a candidate it returns no
 *    earlier than anything pending), so if it fails, the node fails.
 * 2. The other determined candidates, in call order.
 * 3. Optional operations (unknown outcome or never returned, not read-only,
 *    not unobserved: see searchPartition),
 *    from a second list ordered by call time: those called by the first
 *    pending return and, under a horizon, with the path's latest call at most
 *    `call + horizon` (`cut` records whether that ever removed one). All of
 *    a node's optional children are recorded in the cache before any is
 *    explored, so a node that adds two optional operations is covered by its
 *    sibling that adds only the last one when their states agree.
 *
 * Early pruning (Model.readSources): a node in which some read among the
 * candidates can never fit any more (every write its value can come from is
 * linearized, and the state has moved past its value) has no completion. It
 * is recorded and left at once, instead of trying every order of the writes
 * called before that read returns, which is what made histories with many
 * concurrent clients take minutes.
 */
class PartitionSearch<S> {
  private readonly inputs: unknown[]
  private readonly outputs: unknown[]
  private readonly calls: Float64Array
  /** Return times, Infinity for operations that never returned. */
  private readonly returns: Float64Array
  /** 1 for determined operations. */
  private readonly determined: Uint8Array
  /** 1 for operations the model says leave the state unchanged (see {@link Model.readOnly}). */
  private readonly readOnly: Uint8Array
  /** Bit of an operation in the determined or the optional set; bits follow call order. */
  private readonly slot: Int32Array
  private readonly determinedSet: DeterminedSet
  private readonly optionalBits: Uint32Array
  private readonly cache: StateCache

  // The entry list: entry 2k is the call of the determined operation with bit k, 2k+1 its return.
  private readonly entryOperation: Int32Array
  private readonly entryTime: Float64Array
  private readonly next: Int32Array
  private readonly prev: Int32Array
  private readonly head: number
  // The optional list: node u is the optional operation with bit u.
  private readonly optionalOperation: Int32Array
  private readonly optionalExpiry: Float64Array
  private readonly optionalNext: Int32Array
  private readonly optionalPrev: Int32Array
  private readonly optionalHead: number

  // The path from the root: the operation linearized at each depth, and what it replaced.
  private readonly pathOperation: Int32Array
  private readonly pathState: S[]
  private readonly pathKey: string[]
  private readonly pathLatestCall: Float64Array
  private depth = 0
  // Queued optional children of the nodes on the path: the node at depth d has
  // children childNext[d] … childEnd[d] - 1 left, from its list starting at
  // childStart[d] (-1 before it is prepared). The lists form a stack in one pool.
  private readonly childStart: Int32Array
  private readonly childNext: Int32Array
  private readonly childEnd: Int32Array
  private childTop = 0
  private childOperation: Int32Array = new Int32Array(256)
  private childState: S[] = []
  private childKey: string[] = []
  private state: S
  private stateKey: string
  /** The latest call on the path: the next linearization point is no earlier. */
  private latestCall = -Infinity
  private cut = false

  // Early pruning (Model.readSources), for determined reads: whether the read can still fit
  // without its sources, how many of its sources are not linearized, and, per operation, the
  // reads it is a source of (sourcedReads[sourcedStart[i] … sourcedStart[i + 1] - 1]).
  private readonly reachableFrom: (((state: S) => boolean) | undefined)[]
  private readonly sourcesLeft: Int32Array
  private sourcedStart: Int32Array
  private sourcedReads: Int32Array
  /** Set by deadRead: whether the read it returned was dead before the last push too. */
  private deadReadWasDead = false

  // Determined operations not linearized yet, and the best dead end so far (see recordDeadEnd).
  // Its path is the longest linearizable prefix found; bestPrefix[0, agree) equals the current
  // path, so recording a new best copies only the difference.
  private remaining: number
  private readonly total: number
  private readonly bestPrefix: number[] = []
  private bestPlaced = -1
  private bestFrontier = -Infinity
  private bestPruned = false
  private bestBlocked = NIL
  private bestState: S
  private agree = 0

  constructor(
    operations: readonly Operation[],
    private readonly model: Model<S>,
    private readonly budget: SearchBudget,
    horizon: number,
    /** 1 for the optional operations to try (see searchPartition). */
    optionalCandidate: Uint8Array,
  ) {
    const count = operations.length
    this.inputs = operations.map((operation) => operation.input)
    this.outputs = operations.map((operation) => operation.output)
    this.calls = Float64Array.from(operations, (operation) => operation.call)
    this.returns = Float64Array.from(operations, (operation) => operation.return ?? Infinity)
    this.determined = Uint8Array.from(operations, (operation) => (isDetermined(operation) ? 1 : 0))
    this.readOnly = Uint8Array.from(operations, (operation) => (model.readOnly?.(operation.input, operation.output) === true ? 1 : 0))
    const byCall = Array.from({ length: count }, (_, i) => i).sort((a, b) => this.calls[a]! - this.calls[b]! || a - b)
    this.slot = new Int32Array(count)
    let determinedCount = 0
    let optionalCount = 0
    for (const i of byCall) this.slot[i] = this.determined[i] === 1 ? determinedCount++ : optionalCount++
    this.determinedSet = new DeterminedSet(determinedCount)
    this.optionalBits = new Uint32Array((optionalCount + 31) >>> 5)
    this.cache = new StateCache(this.optionalBits.length)

    const entryCount = 2 * determinedCount
    this.entryOperation = new Int32Array(entryCount)
    this.entryTime = new Float64Array(entryCount)
    this.optionalOperation = new Int32Array(optionalCount)
    this.optionalExpiry = new Float64Array(optionalCount)
    for (let i = 0; i < count; i++) {
      const k = this.slot[i]!
      if (this.determined[i] === 1) {
        this.entryOperation[2 * k] = i
        this.entryOperation[2 * k + 1] = i
        this.entryTime[2 * k] = operations[i]!.call
        this.entryTime[2 * k + 1] = operations[i]!.return!
      } else {
        this.optionalOperation[k] = i
        this.optionalExpiry[k] = operations[i]!.call + horizon
      }
    }
    const entries = Array.from({ length: entryCount }, (_, e) => e).sort(
      (a, b) => this.entryTime[a]! - this.entryTime[b]! || (a & 1) - (b & 1) || a - b,
    )
    this.head = entryCount
    this.next = new Int32Array(entryCount + 1)
    this.prev = new Int32Array(entryCount + 1)
    linkInOrder(entries, this.head, this.next, this.prev)
    // Optional bits already follow call order. Read-only and unobserved optional operations
    // constrain nothing (they may be left out), so they are not candidates.
    this.optionalHead = optionalCount
    this.optionalNext = new Int32Array(optionalCount + 1)
    this.optionalPrev = new Int32Array(optionalCount + 1)
    const candidates = Array.from({ length: optionalCount }, (_, u) => u).filter((u) => optionalCandidate[this.optionalOperation[u]!] === 1)
    linkInOrder(candidates, this.optionalHead, this.optionalNext, this.optionalPrev)

    this.pathOperation = new Int32Array(count)
    this.pathState = new Array<S>(count)
    this.pathKey = new Array<string>(count)
    this.pathLatestCall = new Float64Array(count)
    this.childStart = new Int32Array(count + 1).fill(-1)
    this.childNext = new Int32Array(count + 1)
    this.childEnd = new Int32Array(count + 1)
    this.state = model.init()
    this.stateKey = model.key(this.state)
    this.cache.add(this.determinedSet, this.optionalBits, this.stateKey)
    this.bestState = this.state
    this.total = this.remaining = determinedCount

    this.reachableFrom = new Array<((state: S) => boolean) | undefined>(count)
    this.sourcesLeft = new Int32Array(count)
    this.sourcedStart = new Int32Array(count + 1)
    this.sourcedReads = new Int32Array(0)
    if (model.readSources !== undefined) this.prepareReadSources(operations, model)
  }

  /**
   * Ask the model, for each determined read, which writes its value can come
   * from. Only writes that may still be unlinearized while the read is a
   * candidate are offered: the optional ones called before it returns, and the
   * determined ones concurrent with it (one that returned before the read was
   * called precedes the first pending return, so it is linearized already).
   */
  private prepareReadSources(operations: readonly Operation[], model: Model<S>): void {
    const count = operations.length
    const returns = this.returns
    const determinedWrites: number[] = []
    const optionalWrites: number[] = []
    let longest = 0
    for (let i = 0; i < count; i++) {
      if (this.readOnly[i] === 1) continue
      if (this.determined[i] === 1) {
        determinedWrites.push(i)
        longest = Math.max(longest, returns[i]! - this.calls[i]!)
      } else {
        optionalWrites.push(i)
      }
    }
    const byCall = (a: number, b: number) => this.calls[a]! - this.calls[b]! || a - b
    determinedWrites.sort(byCall)
    optionalWrites.sort(byCall)
    const pairs: number[] = []
    const seen = new Uint8Array(count)
    for (let r = 0; r < count; r++) {
      if (this.readOnly[r] === 0 || this.determined[r] === 0) continue
      const call = this.calls[r]!
      const end = returns[r]!
      const writes: number[] = []
      // Determined writes called by the read's return, returning at or after its call.
      let hi = upperBound(determinedWrites, end, this.calls)
      while (--hi >= 0 && this.calls[determinedWrites[hi]!]! >= call - longest) {
        const w = determinedWrites[hi]!
        if (returns[w]! >= call) writes.push(w)
      }
      for (const w of optionalWrites) {
        if (this.calls[w]! > end) break
        writes.push(w)
      }
      const support = model.readSources!(operations[r]!, writes.map((w) => operations[w]!))
      if (support === undefined) continue
      this.reachableFrom[r] = support.reachableFrom
      let sources = 0
      for (const position of support.sources) {
        const w = writes[position]
        if (w === undefined || seen[w] === 1) continue
        seen[w] = 1
        pairs.push(w, r)
        sources++
      }
      for (const position of support.sources) if (writes[position] !== undefined) seen[writes[position]!] = 0
      this.sourcesLeft[r] = sources
    }
    // Group the (write, read) pairs by write.
    for (let p = 0; p < pairs.length; p += 2) this.sourcedStart[pairs[p]! + 1]!++
    for (let i = 0; i < count; i++) this.sourcedStart[i + 1]! += this.sourcedStart[i]!
    this.sourcedReads = new Int32Array(pairs.length / 2)
    const fill = this.sourcedStart.slice(0, count)
    for (let p = 0; p < pairs.length; p += 2) this.sourcedReads[fill[pairs[p]!]!++] = pairs[p + 1]!
  }

  /**
   * A candidate read that can never fit in the current node (see
   * Model.readSources), or NIL. For the explanation, a read that could not
   * fit before the last push either (it just became a candidate) is preferred
   * to one the last push ruled out: it is the cause, not a consequence.
   */
  private deadRead(): number {
    const { next, entryOperation, reachableFrom, sourcesLeft } = this
    let found = NIL
    for (let entry = next[this.head]!; entry !== NIL && (entry & 1) === 0; entry = next[entry]!) {
      const r = entryOperation[entry]!
      const reachable = reachableFrom[r]
      if (reachable === undefined || sourcesLeft[r] !== 0 || reachable(this.state)) continue
      if (this.deadBeforeLastPush(r, reachable)) {
        this.deadReadWasDead = true
        return r
      }
      if (found === NIL) found = r
    }
    this.deadReadWasDead = false
    return found
  }

  /** Whether read r, dead now, was already dead in the parent node's state. */
  private deadBeforeLastPush(r: number, reachable: (state: S) => boolean): boolean {
    const pushed = this.pathOperation[this.depth - 1]!
    for (let s = this.sourcedStart[pushed]!; s < this.sourcedStart[pushed + 1]!; s++) if (this.sourcedReads[s] === r) return false
    return !reachable(this.pathState[this.depth - 1]!)
  }

  /**
   * After a push: when a candidate read can no longer fit, pop the node and
   * return true. The node is recorded as a dead end blaming that read when it
   * explains the failure: the read could not fit before the push either, or
   * the operation pushed had to come before the read (it returned before the
   * read was called). A read killed by a write that could as well have come
   * after it says nothing about the history, only about this branch.
   */
  private pruneAfterPush(): boolean {
    const read = this.deadRead()
    if (read === NIL) return false
    const pushed = this.pathOperation[this.depth - 1]!
    if (this.deadReadWasDead || this.returns[pushed]! < this.calls[read]!) this.recordDeadEnd(read, true)
    this.backtrack()
    return true
  }

  /**
   * Record the current node as a dead end, where `blocked` cannot be placed,
   * if it is the best so far: the one that got furthest in time (its first
   * pending return is the latest); then one where every candidate was tried
   * (`pruned` false: it blames the operation that had to come next) over one
   * left because a read could no longer fit; then the one with the most
   * determined operations placed; then the fewest optional ones. Time comes
   * first because pruning stops a branch as soon as a read can no longer
   * fit, with operations called before that read still unplaced, while a
   * wrong branch can place more of them before it fails.
   */
  private recordDeadEnd(blocked: number, pruned: boolean): void {
    const placed = this.total - this.remaining
    let entry = this.next[this.head]!
    while (entry !== NIL && (entry & 1) === 0) entry = this.next[entry]!
    const frontier = entry === NIL ? Infinity : this.entryTime[entry]!
    const better =
      frontier !== this.bestFrontier
        ? frontier > this.bestFrontier
        : pruned !== this.bestPruned
          ? !pruned
          : placed > this.bestPlaced || (placed === this.bestPlaced && this.depth < this.bestPrefix.length)
    if (better) {
      this.bestFrontier = frontier
      this.bestPruned = pruned
      this.bestPlaced = placed
      for (let d = this.agree; d < this.depth; d++) this.bestPrefix[d] = this.pathOperation[d]!
      this.bestPrefix.length = this.depth
      this.agree = this.depth
      this.bestBlocked = blocked
      this.bestState = this.state
    }
  }

  run(): { outcome: PartitionSearchOutcome<S>; cut: boolean } {
    const { next, head, entryOperation, entryTime, budget, readOnly } = this
    if (this.remaining === 0) return this.finish({ verdict: 'linearizable', order: [], statesExplored: this.cache.size })

    // Where the search is within the current node: first its read-only candidates, then the
    // other determined candidates in call order, then its optional children, then done.
    let phase = READ_ONLY
    let entry = next[head]!
    let poll = POLL_INTERVAL

    while (true) {
      if (--poll === 0) {
        poll = POLL_INTERVAL
        if (budget.steps >= budget.maxSteps) return this.finish({ verdict: 'unknown', reason: 'steps', statesExplored: this.cache.size })
        if (this.cache.size >= budget.maxStates) return this.finish({ verdict: 'unknown', reason: 'states', statesExplored: this.cache.size })
        if (budget.expired()) return this.finish({ verdict: 'unknown', reason: 'time', statesExplored: this.cache.size })
      }
      if (phase === READ_ONLY || phase === SCAN) {
        if ((entry & 1) === 0) {
          const i = entryOperation[entry]!
          // Read-only operations are tried in the first pass only; the rest in the second.
          const tried = (readOnly[i] === 1) === (phase === READ_ONLY) ? this.tryLinearize(i) : REJECTED
          if (tried === PUSHED) {
            if (this.remaining === 0) {
              return this.finish({ verdict: 'linearizable', order: Array.from(this.pathOperation.subarray(0, this.depth)), statesExplored: this.cache.size })
            }
            phase = READ_ONLY
            entry = next[head]!
          } else if ((tried === COVERED || tried === PRUNED) && phase === READ_ONLY) {
            // A read-only candidate that fits decides its parent (see below). Its node was
            // visited before, off the path (a node that adds a determined operation is never
            // an ancestor), so it failed, or it was just pruned: so does this one.
            phase = DONE
          } else {
            entry = next[entry]!
          }
          continue
        }
        if (phase === READ_ONLY) {
          phase = SCAN
          entry = next[head]!
          continue
        }
        // The first return entry: nothing called after it can come before it.
        this.prepareOptionalChildren(entryTime[entry]!)
        phase = OPTIONAL
        continue
      }
      if (phase === OPTIONAL) {
        if (this.pushNextOptionalChild()) {
          phase = READ_ONLY
          entry = next[head]!
        } else {
          phase = DONE
        }
        continue
      }
      // Dead end: no candidate leads to a new node. Blame the first pending return.
      let e = next[head]!
      while ((e & 1) === 0) e = next[e]!
      this.recordDeadEnd(entryOperation[e]!, false)
      if (this.depth === 0) {
        return this.finish({
          verdict: 'not-linearizable',
          prefix: this.bestPrefix,
          blocked: this.bestBlocked,
          stateAfterPrefix: this.bestState,
          statesExplored: this.cache.size,
        })
      }
      const i = this.backtrack()
      if (readOnly[i] === 1) {
        // A read-only candidate that fits can always go first (moving it earlier changes no
        // state and breaks no real-time order), so when it fails its parent fails too.
        phase = DONE
      } else if (this.determined[i] === 1) {
        phase = SCAN
        entry = next[2 * this.slot[i]!]!
      } else {
        phase = OPTIONAL
      }
    }
  }

  /**
   * Compute, record in the cache and queue the optional children of the current
   * node: the optional operations called by `limit` (the first pending return)
   * and within the horizon, whose nodes are new. Recording them all before
   * exploring any lets a node that adds two optional operations be covered by
   * its sibling that adds only the second, instead of exploring both.
   */
  private prepareOptionalChildren(limit: number): void {
    const depth = this.depth
    const start = this.childTop
    let end = start
    const { optionalNext, optionalOperation, optionalExpiry, calls, optionalBits } = this
    for (let u = optionalNext[this.optionalHead]!; u !== NIL && calls[optionalOperation[u]!]! <= limit; u = optionalNext[u]!) {
      if (optionalExpiry[u]! < this.latestCall) {
        this.cut = true
        continue
      }
      const i = optionalOperation[u]!
      this.budget.steps++
      const result = this.model.step(this.state, this.inputs[i], this.outputs[i])
      if (!result.ok) continue
      const key = this.model.key(result.state)
      optionalBits[u >>> 5]! |= 1 << (u & 31)
      if (!this.cache.covers(this.determinedSet, optionalBits, key)) {
        this.cache.add(this.determinedSet, optionalBits, key)
        if (end === this.childOperation.length) {
          const bigger = new Int32Array(end * 2)
          bigger.set(this.childOperation)
          this.childOperation = bigger
        }
        this.childOperation[end] = i
        this.childState[end] = result.state
        this.childKey[end] = key
        end++
      }
      optionalBits[u >>> 5]! &= ~(1 << (u & 31))
    }
    this.childStart[depth] = start
    this.childNext[depth] = start
    this.childEnd[depth] = end
    this.childTop = end
  }

  /** Push the current node's next queued optional child (already in the cache) that is not pruned; false when none is left. */
  private pushNextOptionalChild(): boolean {
    const depth = this.depth
    while (true) {
      const c = this.childNext[depth]!
      if (c === this.childEnd[depth]) return false
      this.childNext[depth] = c + 1
      const i = this.childOperation[c]!
      const state = this.childState[c]!
      this.childState[c] = undefined as S
      const u = this.slot[i]!
      this.optionalBits[u >>> 5]! |= 1 << (u & 31)
      this.push(i, state, this.childKey[c]!)
      if (!this.pruneAfterPush()) return true
    }
  }

  private finish(outcome: PartitionSearchOutcome<S>): { outcome: PartitionSearchOutcome<S>; cut: boolean } {
    return { outcome, cut: this.cut }
  }

  /**
   * Apply determined operation i. When the model accepts it and the node
   * reached is not covered by the cache, record the node, push i on the path
   * and return PUSHED, or PRUNED when a read can no longer fit there (the
   * node is left again); otherwise return REJECTED or COVERED.
   */
  private tryLinearize(i: number): number {
    this.budget.steps++
    const result = this.model.step(this.state, this.inputs[i], this.outputs[i])
    if (!result.ok) return REJECTED
    const key = this.model.key(result.state)
    const bit = this.slot[i]!
    this.determinedSet.add(bit)
    if (this.cache.covers(this.determinedSet, this.optionalBits, key)) {
      this.determinedSet.remove(bit)
      return COVERED
    }
    this.cache.add(this.determinedSet, this.optionalBits, key)
    this.push(i, result.state, key)
    return this.pruneAfterPush() ? PRUNED : PUSHED
  }

  /** Push operation i (already added to its set by the caller) on the path, moving to `state`, and lift it out of its list. */
  private push(i: number, state: S, key: string): void {
    const depth = this.depth++
    this.pathOperation[depth] = i
    this.pathState[depth] = this.state
    this.pathKey[depth] = this.stateKey
    this.pathLatestCall[depth] = this.latestCall
    this.state = state
    this.stateKey = key
    if (this.calls[i]! > this.latestCall) this.latestCall = this.calls[i]!
    const bit = this.slot[i]!
    if (this.determined[i] === 1) {
      lift(2 * bit, this.next, this.prev)
      this.remaining--
    } else {
      lift1(bit, this.optionalNext, this.optionalPrev)
    }
    for (let s = this.sourcedStart[i]!; s < this.sourcedStart[i + 1]!; s++) this.sourcesLeft[this.sourcedReads[s]!]!--
  }

  /** Pop the last operation of the path, restoring what it replaced; returns it. */
  private backtrack(): number {
    if (this.childStart[this.depth] !== -1) {
      // The node being left had queued optional children: free its list.
      this.childTop = this.childStart[this.depth]!
      this.childStart[this.depth] = -1
    }
    const depth = --this.depth
    if (this.agree > depth) this.agree = depth
    const i = this.pathOperation[depth]!
    for (let s = this.sourcedStart[i]!; s < this.sourcedStart[i + 1]!; s++) this.sourcesLeft[this.sourcedReads[s]!]!++
    this.state = this.pathState[depth]!
    this.stateKey = this.pathKey[depth]!
    this.latestCall = this.pathLatestCall[depth]!
    this.pathState[depth] = undefined as S
    const bit = this.slot[i]!
    if (this.determined[i] === 1) {
      this.determinedSet.remove(bit)
      unlift(2 * bit, this.next, this.prev)
      this.remaining++
    } else {
      this.optionalBits[bit >>> 5]! &= ~(1 << (bit & 31))
      unlift1(bit, this.optionalNext, this.optionalPrev)
    }
    return i
  }
}

function linkInOrder(order: readonly number[], head: number, next: Int32Array, prev: Int32Array): void {
  let last = head
  for (const node of order) {
    next[last] = node
    prev[node] = last
    last = node
  }
  next[last] = NIL
  prev[head] = NIL
}

/** Remove a call entry (even) and its return entry (the odd one after it) from the list. */
function lift(call: number, next: Int32Array, prev: Int32Array): void {
  lift1(call, next, prev)
  lift1(call + 1, next, prev)
}

/** Undo {@link lift}. Lifts are undone in reverse order, so the neighbours are as they were. */
function unlift(call: number, next: Int32Array, prev: Int32Array): void {
  unlift1(call + 1, next, prev)
  unlift1(call, next, prev)
}

function lift1(node: number, next: Int32Array, prev: Int32Array): void {
  next[prev[node]!] = next[node]!
  if (next[node] !== NIL) prev[next[node]!] = prev[node]!
}

function unlift1(node: number, next: Int32Array, prev: Int32Array): void {
  next[prev[node]!] = node
  if (next[node] !== NIL) prev[next[node]!] = node
}

/** The number of operations in `sorted` (by call time) called at or before `time`. */
function upperBound(sorted: readonly number[], time: number, calls: Float64Array): number {
  let low = 0
  let high = sorted.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (calls[sorted[middle]!]! <= time) low = middle + 1
    else high = middle
  }
  return low
}
