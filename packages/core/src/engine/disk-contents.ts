import type { ReplicaId, Request, View } from '@lockstep/interface'
import type { EngineSnapshot, RecoveredEntry } from './engine-types'
import type { ViewValue } from './peer-messages'
import type { AcceptorState } from './view-change/acceptor'

/** What a replica's disk says, read in order: the last view and configuration, the votes, the requests to replay. */
export interface DiskContents {
  readonly view: View
  readonly configuration: readonly ReplicaId[] | undefined
  readonly votes: AcceptorState | undefined
  /** The value that installed `view`, when the disk has it. */
  readonly commit: ViewValue | undefined
  /** The requests delivered after the snapshot, in order. */
  readonly requests: readonly Request[]
}

/** Reads a snapshot and the log records after it: later records override what the snapshot said. */
export function readDisk(snapshot: EngineSnapshot | undefined, log: readonly RecoveredEntry[], initialView: View): DiskContents {
  let view = snapshot?.view ?? initialView
  let configuration = snapshot?.configuration
  let votes = snapshot?.votes
  let commit = snapshot?.commit
  const requests: Request[] = []
  for (const entry of log) {
    if ('view' in entry) {
      view = entry.view
      configuration = entry.configuration ?? configuration
      commit = entry.commit ?? (commit?.view.id === entry.view.id ? commit : undefined)
    } else if ('votes' in entry) votes = entry.votes
    else requests.push(entry.request)
  }
  return { view, configuration, votes, commit: commit?.view.id === view.id ? commit : undefined, requests }
}
