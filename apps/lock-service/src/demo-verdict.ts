import { checkMutualExclusion, type WorkloadEvent } from '@lockstep/testkit'

/** One write to the resource the lock protects: the holder writes its fencing token (undefined: the grant had none). */
export interface ResourceWrite {
  readonly client: string
  readonly token: number | undefined
}

/** The demo's safety verdict on a recorded history. */
export interface SafetyVerdict {
  /** True when both checks found nothing. */
  readonly holds: boolean
  /** Times two clients held the lock at once, from the clients' grants and releases (empty: mutual exclusion held). */
  readonly mutualExclusion: readonly string[]
  /** Writes to the resource whose fencing token was missing or not higher than the write before (empty: strictly increasing). */
  readonly fencing: readonly string[]
}

/**
 * The safety verdict of a run of the lock service: no two holders at once in the recorded grants and releases
 * (`checkMutualExclusion`), and fencing tokens strictly increasing in the order the holders wrote them to the
 * protected resource, so that a resource that refuses a token not higher than the last it saw would never have
 * refused one of them.
 */
export function safetyVerdict(events: readonly WorkloadEvent[], resourceLog: readonly ResourceWrite[]): SafetyVerdict {
  const mutualExclusion = checkMutualExclusion(events)
  const fencing: string[] = []
  let previous: ResourceWrite | undefined
  for (const [index, write] of resourceLog.entries()) {
    if (write.token === undefined) {
      fencing.push(`write ${index + 1} to the resource, by '${write.client}', carries no fencing token`)
      continue
    }
    if (previous?.token !== undefined && write.token <= previous.token) {
      fencing.push(`write ${index + 1} to the resource, by '${write.client}', carries fencing token ${write.token}, not higher than ${previous.token} of the write before (by '${previous.client}')`)
    }
    previous = write
  }
  return { holds: mutualExclusion.length === 0 && fencing.length === 0, mutualExclusion, fencing }
}
