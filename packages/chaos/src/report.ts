import { parseArgs } from 'node:util'
import { NEMESES, UNAVAILABLE_NEMESES, WORKLOADS, type ChaosOptions, type ChaosResult, type Nemesis, type Workload } from './run'

/** The command line of `npm run chaos`, as options; throws an Error with a usage message on bad input. */
export function parseChaosArgs(args: readonly string[]): ChaosOptions {
  const { values } = parseArgs({
    args: [...args],
    options: {
      duration: { type: 'string', default: '60' },
      nemesis: { type: 'string' },
      seed: { type: 'string' },
      workload: { type: 'string', default: WORKLOADS.join(',') },
      replicas: { type: 'string', default: '3' },
      dir: { type: 'string' },
    },
    strict: true,
  })
  const durationS = Number(values.duration)
  if (!Number.isFinite(durationS) || durationS <= 0) throw new Error(`--duration must be a positive number of seconds, not '${values.duration}'`)
  const available = NEMESES.filter((n) => UNAVAILABLE_NEMESES[n] === undefined)
  const nemeses = (values.nemesis ?? available.join(',')).split(',').filter((n) => n !== '')
  for (const n of nemeses) {
    if (!(NEMESES as readonly string[]).includes(n)) throw new Error(`--nemesis: unknown nemesis '${n}'; choose from ${NEMESES.join(', ')}`)
    const why = UNAVAILABLE_NEMESES[n as Nemesis]
    if (why) throw new Error(`--nemesis: '${n}' is not available: ${why}`)
  }
  const workloads = (values.workload ?? '').split(',').filter((w) => w !== '')
  for (const w of workloads) if (!(WORKLOADS as readonly string[]).includes(w)) throw new Error(`--workload: unknown workload '${w}'; choose from ${WORKLOADS.join(', ')}`)
  if (workloads.length === 0) throw new Error('--workload: name at least one workload')
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed)
  if (!Number.isSafeInteger(seed)) throw new Error(`--seed must be an integer, not '${values.seed}'`)
  const replicas = Number(values.replicas)
  if (!Number.isSafeInteger(replicas) || replicas < 3 || replicas % 2 === 0) throw new Error(`--replicas must be an odd number of at least 3, not '${values.replicas}'`)
  return { durationS, nemeses: nemeses as Nemesis[], seed, workloads: workloads as Workload[], replicas, ...(values.dir ? { dir: values.dir } : {}) }
}

/** The run as a table, then the command that replays its fault schedule. */
export function formatResult(result: ChaosResult): string {
  const rows: [string, string][] = [
    ['seed', String(result.seed)],
    ['duration', `${result.durationS} s`],
    ['replicas', `${result.replicas} (up to ${Math.floor((result.replicas - 1) / 2)} faulty at once)`],
    ['workloads', result.workloads.map((w) => w.workload).join(', ')],
    ['operations ok / failed / unknown', `${result.operations.ok} / ${result.operations.failed} / ${result.operations.unknown}`],
    ...result.workloads.map((w): [string, string] => [`  ${w.workload}`, `${w.operations.ok} / ${w.operations.failed} / ${w.operations.unknown}`]),
    ['faults injected', Object.entries(result.faults).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'],
    ['violations', String(result.violations.length)],
    ['lost acknowledged writes', String(result.lostWrites)],
    ['longest unavailability', `${(result.longestUnavailableMs / 1000).toFixed(2)} s`],
    ...Object.entries(result.longestUnavailableByNemesis).map(([k, ms]): [string, string] => [`  during ${k}`, `${(ms / 1000).toFixed(2)} s`]),
  ]
  const width = Math.max(...rows.map(([k]) => k.length))
  const lines = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`)
  for (const v of result.violations) lines.push(`VIOLATION: ${v}`)
  if (result.violations.length > 0) {
    lines.push(`logs and result.json: ${result.dir}`)
    lines.push(`replay: npm run chaos -- --duration ${result.durationS} --replicas ${result.replicas} --nemesis ${result.nemeses.join(',')} --workload ${result.workloads.map((w) => w.workload).join(',')} --seed ${result.seed}`)
  }
  return lines.join('\n')
}
