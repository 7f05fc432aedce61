import { ErrorCodes, LockstepError } from '@lockstep/interface'
import type { SeededRandom } from './prng'

/** The kinds of fault the simulator can inject. */
export const faultKinds = ['crash', 'restart', 'partition', 'slow', 'delay', 'blackout'] as const

/**
 * One kind of fault. `restart` brings crashed replicas back (with no state, or with their disks in a
 * durable run). `blackout` (durable runs only) kills every replica at once and restarts all from their disks.
 */
export type FaultKind = (typeof faultKinds)[number]

/** One scheduled fault: it starts at `atMs` and ends (heals, restarts) `durationMs` later. */
export interface FaultEvent {
  readonly atMs: number
  readonly durationMs: number
  readonly kind: 'crash' | 'partition' | 'slow' | 'delay' | 'blackout'
  /** The replicas it hits (crash, partition, slow). */
  readonly replicas: readonly string[]
  /** For `slow` and `delay`: the extra delay in ms. */
  readonly extraMs: number
}

/** Parses `--faults none|crash,restart,…`. */
export function parseFaults(spec: string): FaultKind[] {
  if (spec === 'none' || spec === '') return []
  const kinds = spec.split(',').map((s) => s.trim())
  for (const kind of kinds) {
    if (!(faultKinds as readonly string[]).includes(kind)) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `unknown fault '${kind}': choose from none, ${faultKinds.join(', ')}`)
    }
  }
  return kinds as FaultKind[]
}

/**
 * Draws a fault schedule from the seed: faults one after another during
 * `windowMs`, each hitting at most F = ⌊(n−1)/2⌋ replicas, so a majority stays
 * up and connected between faults and after the window. Without `restart`,
 * crashed replicas stay down, and at most F crash in the whole run.
 */
export function drawFaultSchedule(random: SeededRandom, kinds: readonly FaultKind[], replicaIds: readonly string[], windowMs: number): FaultEvent[] {
  const active = kinds.filter((k) => k !== 'restart') as FaultEvent['kind'][]
  if (active.length === 0) return []
  const f = Math.floor((replicaIds.length - 1) / 2)
  const restart = kinds.includes('restart')
  const events: FaultEvent[] = []
  let crashedForGood = 0
  let at = random.int(10, 100)
  while (at < windowMs) {
    const kind = random.pick(active)
    const durationMs = random.int(30, 400)
    const count = f === 0 ? 0 : random.int(1, f)
    const shuffled = shuffle(random, replicaIds)
    if (kind === 'crash') {
      const budget = restart ? f : f - crashedForGood
      const victims = shuffled.slice(0, Math.min(count, budget))
      if (victims.length > 0) {
        events.push({ atMs: at, durationMs, kind, replicas: victims, extraMs: 0 })
        if (!restart) crashedForGood += victims.length
      }
    } else if (kind === 'partition' && count > 0) {
      events.push({ atMs: at, durationMs, kind, replicas: shuffled.slice(0, count), extraMs: 0 })
    } else if (kind === 'slow') {
      events.push({ atMs: at, durationMs, kind, replicas: shuffled.slice(0, 1), extraMs: random.int(20, 200) })
    } else if (kind === 'delay') {
      events.push({ atMs: at, durationMs, kind, replicas: [], extraMs: random.int(20, 100) })
    } else if (kind === 'blackout') {
      events.push({ atMs: at, durationMs, kind, replicas: [...replicaIds], extraMs: 0 })
    }
    at += durationMs + random.int(20, 200)
  }
  return events
}

/** A Fisher–Yates shuffle driven by the seeded source. */
function shuffle<T>(random: SeededRandom, items: readonly T[]): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(0, i)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}
