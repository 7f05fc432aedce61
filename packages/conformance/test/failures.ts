import type { SimulationResult } from '@lockstep/testkit'

/** The first five failed runs of a seed loop: each seed's first two violations and its rerun command. */
export const describeFailures = (failures: readonly SimulationResult[]): string =>
  failures
    .slice(0, 5)
    .map((f) => `seed ${f.seed}: ${f.violations.slice(0, 2).join('; ')}\n  rerun: ${f.rerun}`)
    .join('\n')

/** Runs `run` on seeds `first` … `first + count - 1`, one after another: every result, and the failed ones. */
export async function runSeeds(first: number, count: number, run: (seed: number) => Promise<SimulationResult>): Promise<{ results: SimulationResult[]; failures: SimulationResult[] }> {
  const results: SimulationResult[] = []
  for (let seed = first; seed < first + count; seed++) results.push(await run(seed))
  return { results, failures: results.filter((result) => !result.ok) }
}
