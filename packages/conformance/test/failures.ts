import type { SimulationResult } from '@lockstep/testkit'

/** The first five failed runs of a seed loop: each seed's first two violations and its rerun command. */
export const describeFailures = (failures: readonly SimulationResult[]): string =>
  failures
    .slice(0, 5)
    .map((f) => `seed ${f.seed}: ${f.violations.slice(0, 2).join('; ')}\n  rerun: ${f.rerun}`)
    .join('\n')
