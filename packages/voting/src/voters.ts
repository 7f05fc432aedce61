import { ErrorCodes, LockstepError, type ReplicaId } from '@lockstep/interface'
import { VoteTally, type Tally } from './tally'

/**
 * A voting rule bound to the replicas of one cluster. Make it once (it checks the configuration), then open one
 * {@link Tally} per pending request, and per expected output, with {@link Voter.tally}.
 */
export interface Voter {
  /** The rule, for messages: `first`, `majority`, `byzantine(1)`. */
  readonly rule: string
  /** The replicas whose ballots count, each once. */
  readonly replicas: readonly ReplicaId[]
  /** How many distinct replicas must agree on a value to decide it. */
  readonly needed: number
  /** A fresh tally for one request (or one output). */
  tally<V = unknown>(): Tally<V>
}

/**
 * A voting rule, configured first and bound to the replicas second:
 * `const voter = byzantine(1)(['r1', 'r2', 'r3'])`. Binding throws `INVALID_CONFIG` when the rule cannot work with
 * those replicas.
 */
export type VoterFactory = (replicas: readonly ReplicaId[]) => Voter

function bind(rule: string, replicas: readonly ReplicaId[], needed: (n: number) => number): Voter {
  if (!Array.isArray(replicas) || replicas.length === 0) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `voter ${rule}: no replicas given; list the cluster's replica ids`)
  }
  const seen = new Set<ReplicaId>()
  for (const replica of replicas) {
    if (typeof replica !== 'string' || replica === '') {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `voter ${rule}: replica ids must be non-empty strings, got ${JSON.stringify(replica)}`)
    }
    if (seen.has(replica)) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `voter ${rule}: replica '${replica}' is listed twice; each replica votes once`)
    seen.add(replica)
  }
  const list = Object.freeze([...replicas])
  const threshold = needed(list.length)
  return {
    rule,
    replicas: list,
    needed: threshold,
    tally: <V>() => new VoteTally<V>(rule, list, threshold),
  }
}

/**
 * Fail-stop voting: the first reply decides. Right when replicas may crash but never compute a wrong output
 * (Schneider §4); one lying replica whose reply arrives first wins.
 */
export function first(): VoterFactory {
  return (replicas) => bind('first', replicas, () => 1)
}

/** Decides a value once more than half of the n replicas sent it (⌊n/2⌋ + 1 identical ballots). */
export function majority(): VoterFactory {
  return (replicas) => bind('majority', replicas, (n) => Math.floor(n / 2) + 1)
}

/**
 * Byzantine voting (Schneider §4): decides a value once t+1 distinct replicas sent it, so at least one of them is
 * correct when at most t replicas are faulty. Needs n ≥ 2t+1 replicas, so that the t+1 correct ones always decide
 * even when the t faulty ones never answer; binding fewer throws `INVALID_CONFIG`.
 */
export function byzantine(t: number): VoterFactory {
  const rule = `byzantine(${String(t)})`
  if (!Number.isSafeInteger(t) || t < 0) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `voter ${rule}: t (the number of faulty replicas tolerated) must be a non-negative integer`)
  }
  return (replicas) =>
    bind(rule, replicas, (n) => {
      if (n < 2 * t + 1) {
        throw new LockstepError(
          ErrorCodes.INVALID_CONFIG,
          `voter ${rule}: ${n} replicas cannot outvote ${t} faulty one${t === 1 ? '' : 's'}; byzantine(t) needs at least 2t+1 = ${2 * t + 1} replicas (or a smaller t)`,
          { replicas: n, t },
        )
      }
      return t + 1
    })
}
