import { ErrorCodes, LockstepError, type ReplicaId } from '@lockstep/interface'

/** A replica's digest of its state at a position of the total order (as `ReplicaEngine.stateDigest()` gives it). */
export interface StateDigestReport {
  readonly replicaId: ReplicaId
  readonly position: number
  readonly digest: string
}

/** The verdict of {@link compareStateDigests}. */
export type StateDigestComparison =
  | {
      readonly agreed: true
      readonly position: number
      /** The digest more than half of the n replicas reported. */
      readonly digest: string
      /** The replicas that reported it (and nothing else), in report order. */
      readonly agreeing: readonly ReplicaId[]
      /** The replicas that reported another digest, or two different ones, in report order. */
      readonly minority: readonly ReplicaId[]
    }
  | { readonly agreed: false; readonly reason: string }

/**
 * Compares the state digests replicas reported for one position: the digest more than half of the cluster's `n`
 * replicas hold (⌊n/2⌋ + 1 of them, counted by distinct replica id) is the agreed one; every other reporting replica
 * is in the minority (a replica that reported two different digests is in the minority and counts for none).
 * Without such a digest, or with reports from several positions, it says why and agrees on nothing.
 * Throws `INVALID_ARGUMENT` when `n` is not a positive integer.
 */
export function compareStateDigests(reports: readonly StateDigestReport[], n: number): StateDigestComparison {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new LockstepError(ErrorCodes.INVALID_ARGUMENT, `compareStateDigests: n (the number of replicas in the cluster) must be a positive integer, got ${String(n)}`)
  }
  if (reports.length === 0) return { agreed: false, reason: 'no digest reports to compare' }
  const positions = [...new Set(reports.map((report) => report.position))]
  if (positions.length > 1) {
    return { agreed: false, reason: `the reports are from different positions (${positions.join(', ')}); compare digests taken at one position` }
  }
  const position = positions[0]!
  const digestByReplica = new Map<ReplicaId, string>()
  const contradicting = new Set<ReplicaId>()
  for (const { replicaId, digest } of reports) {
    const earlier = digestByReplica.get(replicaId)
    if (earlier === undefined) digestByReplica.set(replicaId, digest)
    else if (earlier !== digest) contradicting.add(replicaId)
  }
  if (digestByReplica.size > n) {
    return { agreed: false, reason: `${digestByReplica.size} distinct replicas reported, more than the cluster's ${n}` }
  }
  const holders = new Map<string, ReplicaId[]>()
  for (const [replicaId, digest] of digestByReplica) {
    if (contradicting.has(replicaId)) continue
    holders.set(digest, [...(holders.get(digest) ?? []), replicaId])
  }
  const needed = Math.floor(n / 2) + 1
  for (const [digest, agreeing] of holders) {
    if (agreeing.length >= needed) {
      return { agreed: true, position, digest, agreeing, minority: [...digestByReplica.keys()].filter((replica) => !agreeing.includes(replica)) }
    }
  }
  const groups = [...holders].map(([digest, replicas]) => `${digest.slice(0, 12)}… by ${replicas.join(', ')}`)
  if (contradicting.size > 0) groups.push(`two different digests from ${[...contradicting].join(', ')}`)
  return {
    agreed: false,
    reason: `no digest at position ${position} is held by a majority of the ${n} replicas (${needed} needed): ${groups.join('; ')}`,
  }
}
