// The model checker on the seed mutex (`lockstep check` of apps/lock-service/specs/seed-mutex.sm),
// against its build (packages/dsl/dist):
//   cd packages/dsl && npx tsup && node ../../tooling/bench/dsl-check-bench.mjs [--quick]
// Measures, for 4 clients to depth 10: states/s with symmetry reduction (best of five runs after a
// warm-up), the states explored with and without it, and the memory each state explored keeps
// (see bytesPerState). LOCKSTEP_DSL_DIST=path/to/index.js measures another build of @lockstep/dsl
// (how the numbers of the old checker in docs/dsl.md were taken). Prints a table, then one JSON line.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { spawnSync } from 'node:child_process'
import { machineInfo, report } from './table.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const quick = process.argv.includes('--quick')
const dslDist = process.env.LOCKSTEP_DSL_DIST ?? join(root, 'packages', 'dsl', 'dist', 'index.js')
if (!existsSync(dslDist)) {
  console.error(`missing ${dslDist}: build it first (cd packages/dsl && npx tsup)`)
  process.exit(2)
}
const dsl = await import(pathToFileURL(dslDist).href)
const source = readFileSync(join(root, 'apps', 'lock-service', 'specs', 'seed-mutex.sm'), 'utf8')
const { machine } = dsl.compileOrThrow(source, { file: 'seed-mutex.sm' })
const clients = 4
const depth = quick ? 8 : 10

function timed(options) {
  const start = performance.now()
  const result = dsl.modelCheck(machine, { clients, depth, invariants: [], ...options })
  return { result, elapsedMs: performance.now() - start }
}

/**
 * The memory each explored state keeps: a child process runs the search once, and an invariant that
 * always holds (evaluated once for every new state, in any version of the checker) samples the memory
 * (heap and typed arrays, after a full collection) every `every` states; the peak over what the
 * process held before, divided by the states explored.
 */
function bytesPerState(symmetry) {
  const child = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--memory', String(symmetry), ...(quick ? ['--quick'] : [])], { encoding: 'utf8', env: process.env })
  if (child.status !== 0) throw new Error(`the memory run failed: ${child.stderr}`)
  return JSON.parse(child.stdout).bytesPerState
}

if (process.argv.includes('--memory')) {
  const symmetry = process.argv[process.argv.indexOf('--memory') + 1] === 'true'
  const used = () => {
    globalThis.gc()
    const memory = process.memoryUsage()
    return memory.heapUsed + memory.arrayBuffers
  }
  const every = symmetry ? 4096 : 65536
  let calls = 0
  let peak = 0
  const base = used()
  const sampler = { text: 'true', evaluate: () => {
    if (++calls % every === 0) peak = Math.max(peak, used() - base)
    return true
  } }
  const result = dsl.modelCheck(machine, { clients, depth, invariants: [sampler], symmetry })
  console.log(JSON.stringify({ bytesPerState: Math.round(peak / result.statesExplored) }))
  process.exit(0)
}

timed({ depth: 6 })
const runs = []
for (let i = 0; i < (quick ? 3 : 5); i++) runs.push(timed({}))
const best = runs.reduce((a, b) => (a.elapsedMs <= b.elapsedMs ? a : b))
const symmetric = best.result
const full = timed({ symmetry: false })
const rows = [
  {
    run: 'symmetry (default)',
    states: symmetric.statesExplored,
    transitions: symmetric.transitions,
    bestMs: Math.round(best.elapsedMs),
    statesPerSecond: Math.round(symmetric.statesExplored / (best.elapsedMs / 1000)),
    bytesPerState: bytesPerState(true),
    collisionProbability: symmetric.fingerprints?.collisionProbability ?? 'n/a',
  },
  {
    run: '--no-symmetry',
    states: full.result.statesExplored,
    transitions: full.result.transitions,
    bestMs: Math.round(full.elapsedMs),
    statesPerSecond: Math.round(full.result.statesExplored / (full.elapsedMs / 1000)),
    bytesPerState: bytesPerState(false),
    collisionProbability: full.result.fingerprints?.collisionProbability ?? 'n/a',
  },
]
report(`dsl-check: seed mutex, ${clients} clients, depth ${depth}`, rows, {
  machine: await machineInfo(),
  reduction: Math.round((full.result.statesExplored / symmetric.statesExplored) * 10) / 10,
})
