import type { ReplicaId, View } from '@lockstep/interface'

/** What a replica restarted from its disk reports: its last view, and how many requests it delivered. */
export interface RecoveryReport {
  readonly view: View
  readonly position: number
}

/** The view a whole-cluster recovery resumes in, and the replica whose state it resumes from. */
export interface RecoveryDecision {
  readonly view: View
  readonly source: ReplicaId
  readonly position: number
}

/**
 * Whole-cluster recovery, decided from the recovering replicas' reports alone, so every replica that has
 * the same reports decides alike. Undecided (undefined) until every configured replica reported: a view
 * installed by some may be remembered by one replica alone (the others crashed before syncing it). The
 * next view has every configured replica, is numbered after the newest view anyone remembers, and resumes
 * from the replica that delivered most (ties to the lowest id; delivered sequences are prefixes of one
 * another, so the longest holds every acknowledged request).
 */
export function decideRecovery(reports: ReadonlyMap<ReplicaId, RecoveryReport>, configuration: Iterable<ReplicaId>): RecoveryDecision | undefined {
  const members = [...configuration].sort()
  if (!members.every((r) => reports.has(r))) return undefined
  let latest: View | undefined
  let source: ReplicaId | undefined
  for (const [replica, report] of reports) {
    if (!latest || report.view.id > latest.id) latest = report.view
    const best = source === undefined ? -1 : reports.get(source)!.position
    if (report.position > best || (report.position === best && replica < source!)) source = replica
  }
  if (!latest || source === undefined) return undefined
  return { view: { id: latest.id + 1, members }, source, position: reports.get(source)!.position }
}
