import { ErrorCodes, LockstepError } from '@lockstep/interface'
import type { EngineOptions } from './engine-types'
import type { StartAs } from './membership'

/** Checks options that do not fit together and says how the replica starts. */
export function startAsFor(options: EngineOptions<unknown>): StartAs {
  const { self, view, membership, join } = options
  if (!view.members.includes(self) && !join) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${self}' is not a member of its initial view (${view.members.join(', ')}); start it with join: true to add it`)
  }
  if (join && !membership) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${self}': join needs membership options (failure detection and view changes)`)
  if (options.durableReplies && !membership) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${self}': durable replies need membership options`)
  const { stateDigestEvery, evidenceWindow } = options
  if (stateDigestEvery !== undefined && !(Number.isSafeInteger(stateDigestEvery) && stateDigestEvery >= 0)) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${self}': stateDigestEvery must be a whole number of deliveries (0 turns the checks off), not ${String(stateDigestEvery)}`)
  }
  if (evidenceWindow !== undefined && !(Number.isSafeInteger(evidenceWindow) && evidenceWindow >= 1)) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${self}': evidenceWindow must be a whole number of positions >= 1, not ${String(evidenceWindow)}`)
  }
  if (options.incarnation !== undefined && !Number.isFinite(options.incarnation)) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${self}': incarnation must be a finite number (see newIncarnation), not ${String(options.incarnation)}`)
  }
  return !membership ? 'member' : join ? 'joiner' : (options.startAs ?? 'fresh')
}
