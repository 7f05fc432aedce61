/** A serving replica's state at the end of a run. */
export interface ReplicaState {
  readonly replica: string
  readonly position: number
  readonly digest: string
}

/** Equal state: every replica serving at the end holds the same state digest. */
export function checkStateDigests(replicas: readonly ReplicaState[]): string[] {
  if (new Set(replicas.map((r) => r.digest)).size <= 1) return []
  return [`state digests differ across replicas: ${replicas.map((r) => `${r.replica}@${r.position}=${r.digest}`).join(', ')}`]
}
