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
  /** The order digest version the first of `requests` was delivered with (see `RecoveredEntry`); 1 when its record does not say. */
  readonly orderDigestVersion: number
}

/** Reads a snapshot and the log records after it: later records override what the snapshot said. */
export function readDisk(snapshot: EngineSnapshot | undefined, log: readonly RecoveredEntry[], initialView: View): DiskContents {
  let view = snapshot?.view ?? initialView
  let configuration = snapshot?.configuration
  let votes = snapshot?.votes
  let commit = snapshot?.commit
  const requests: Request[] = []
  let orderDigestVersion = 1
  for (const entry of log) {
    if ('view' in entry) {
      view = entry.view
      configuration = entry.configuration ?? configuration
      commit = entry.commit ?? (commit?.view.id === entry.view.id ? commit : undefined)
    } else if ('votes' in entry) votes = entry.votes
    else {
      if (requests.length === 0) orderDigestVersion = entry.dv ?? 1
      requests.push(entry.request)
    }
  }
  return { view, configuration, votes, commit: commit?.view.id === view.id ? commit : undefined, requests, orderDigestVersion }
}

/** A log record of a damaged disk, read around the damage, with its log position. */
export interface PositionedEntry {
  readonly logPosition: number
  readonly entry: RecoveredEntry
}

/** What a disk damaged in the middle of its log still holds: its snapshot, the records around the damage, the holes. */
export interface DamagedDisk {
  readonly snapshot: EngineSnapshot | undefined
  /** The valid records before and after the damage, in log order. */
  readonly entries: readonly PositionedEntry[]
  /** Between the records at log positions `after` and `before`, the records were lost. */
  readonly holes: readonly { readonly after: number; readonly before: number }[]
}

/** What a damaged disk tells for sure: everything but the lost requests' contents, or why it cannot tell. */
export type DamagedDiskReading =
  | { readonly certain: true; readonly contents: DiskContents; readonly position: number }
  | { readonly certain: false; readonly reason: string }

/**
 * Reads a disk damaged in the middle of its log. Its view, configuration and votes are certain only if every
 * lost record was a delivered request (a lost vote could let the replica vote twice in one view change): a
 * hole that lost k records, followed by a request delivered at position p when the last one before it was at
 * q, lost only requests when k = p - q - 1. Then the disk is exactly a disk holding its view and the order up
 * to its last request, minus the lost requests' contents: the replica may report that much in a view change
 * (so a majority of reports still bounds every acknowledged request), but never serve from it.
 */
export function readDamagedDisk(disk: DamagedDisk, initialView: View): DamagedDiskReading {
  const holes = [...disk.holes].sort((a, b) => a.after - b.after)
  let position = disk.snapshot?.position ?? 0
  let hole = 0
  // The delivery position before the hole being crossed, and how many records it lost.
  let open: { readonly before: number; readonly lost: number; readonly at: number } | undefined
  for (const { logPosition, entry } of disk.entries) {
    while (hole < holes.length && holes[hole]!.before <= logPosition) {
      if (open) return { certain: false, reason: `nothing delivered follows the damage after log position ${open.at}, so what it lost is unknown` }
      open = { before: position, lost: holes[hole]!.before - holes[hole]!.after - 1, at: holes[hole]!.after }
      hole++
    }
    if (!('request' in entry)) continue
    if (entry.at === undefined) return { certain: false, reason: `its log was written by an earlier version (requests without their positions)` }
    if (open) {
      const lostRequests = entry.at - open.before - 1
      if (lostRequests !== open.lost) {
        return { certain: false, reason: `the damage after log position ${open.at} lost ${open.lost} record(s) but ${lostRequests} delivered request(s): it may have held votes or a view` }
      }
      open = undefined
    } else if (entry.at !== position + 1) return { certain: false, reason: `its log jumps from position ${position} to ${entry.at} outside the damage` }
    position = entry.at
  }
  if (open || hole < holes.length) return { certain: false, reason: 'nothing delivered follows the last damage, so what it lost is unknown' }
  const contents = readDisk(disk.snapshot, disk.entries.map((e) => e.entry), initialView)
  return { certain: true, contents, position }
}
