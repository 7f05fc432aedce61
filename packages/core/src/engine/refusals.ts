import { ErrorCodes, isLockstepError, type LockstepError } from '@lockstep/interface'

/**
 * The input was refused (a bad message, an unknown replica): a LockstepError other than INTERNAL, for whoever sent
 * it to hear. Any other error (INTERNAL: a machine's method that threw, a broken invariant; or not a LockstepError at
 * all: a bug) is this replica's own failure, which must reach `ReplicaHost` and stop the replica.
 */
export function isRefusal(error: unknown): error is LockstepError {
  return isLockstepError(error) && error.code !== ErrorCodes.INTERNAL
}

/** INTERNAL: this replica's own failure as it says it (a machine's method that threw, an invariant), not a storage's error. */
export function isInternal(error: unknown): error is LockstepError {
  return isLockstepError(error) && error.code === ErrorCodes.INTERNAL
}
