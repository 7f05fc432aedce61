import { fileURLToPath } from 'node:url'

/** The lock service's DSL specs (in `specs/`). */
export type LockSpec = 'seed-mutex.sm' | 'safe-mutex.sm' | 'leased-mutex.sm' | 'named-mutex.sm'

/**
 * The path of one of the lock service's specs, for `upLocalCluster({ machine })` of @lockstep/cli or
 * `lockstep cluster up --spec`: the seed's mutex, the safe mutex (fencing tokens), the leased mutex (the
 * demo's), or named locks (many safe mutexes, `LockClient`'s `lock` option).
 */
export function lockSpec(name: LockSpec): string {
  return fileURLToPath(new URL(`../specs/${name}`, import.meta.url))
}
