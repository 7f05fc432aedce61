import { formatResult, parseChaosArgs } from './report'
import { runChaos } from './run'

/**
 * `npm run chaos -- --duration 60 --replicas 3 --nemesis kill,pause,partition,reset,amnesia,disk --workload kv,register,lock --seed N`:
 * real replica processes under a nemesis. Prints a table and one JSON line; exits 1 on any violation (and
 * prints the command that replays the same fault schedule), 2 on bad usage.
 */
async function main(): Promise<number> {
  let options
  try {
    options = parseChaosArgs(process.argv.slice(2))
  } catch (error) {
    console.error(`chaos: ${(error as Error).message}`)
    return 2
  }
  const result = await runChaos({ ...options, log: (line) => console.log(line) })
  console.log(`\n${formatResult(result)}`)
  const { faultLog: _faultLog, workloads, ...summary } = result
  console.log(JSON.stringify({ chaos: summary, workloads: workloads.map(({ successes: _s, ...w }) => w) }))
  return result.violations.length === 0 ? 0 : 1
}

process.exitCode = await main()
