import { CHAOS_USAGE, formatResult, parseChaosArgs } from './report'
import { runChaos } from './run'

/**
 * `npm run chaos -- --duration 60 --replicas 3 --in-flight 1 --nemesis kill,pause,partition,reset,amnesia,disk --workload kv,register,lock --seed N`:
 * real replica processes under a nemesis (see {@link CHAOS_USAGE}, `--help`). Prints a table and one JSON line;
 * exits 1 on any violation (and prints the command that replays the same fault schedule), 2 on bad usage.
 */
async function main(): Promise<number> {
  const args = process.argv.slice(2)
  if (args.includes('--help') || args.includes('-h')) {
    console.log(CHAOS_USAGE)
    return 0
  }
  let options
  try {
    options = parseChaosArgs(args)
  } catch (error) {
    console.error(`chaos: ${(error as Error).message}\n\n${CHAOS_USAGE}`)
    return 2
  }
  const result = await runChaos({ ...options, log: (line) => console.log(line) })
  console.log(`\n${formatResult(result)}`)
  const { faultLog: _faultLog, workloads, ...summary } = result
  console.log(JSON.stringify({ chaos: summary, workloads: workloads.map(({ successes: _s, ...w }) => w) }))
  return result.violations.length === 0 ? 0 : 1
}

process.exitCode = await main()
