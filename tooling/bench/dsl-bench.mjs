// Benchmarks for @lockstep/dsl, run against its build (packages/dsl/dist):
//   cd packages/dsl && npx tsup && node ../../tooling/bench/dsl-bench.mjs [--quick]
// Measures compile time of the seed mutex, interpreted vs generated commands/s,
// and model-checker states/s. Prints a table, then one JSON line.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createRequire } from 'node:module'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const quick = process.argv.includes('--quick')
const dslDist = join(root, 'packages', 'dsl', 'dist', 'index.js')
const interfaceDist = join(root, 'packages', 'interface', 'dist', 'index.js')
for (const file of [dslDist, interfaceDist]) {
  if (!existsSync(file)) {
    console.error(`missing ${file}: build it first (cd ${dirname(dirname(file))} && npx tsup)`)
    process.exit(2)
  }
}
const dsl = await import(pathToFileURL(dslDist).href)
const ts = createRequire(join(root, 'package.json'))('typescript')

const specs = join(root, 'apps', 'lock-service', 'specs')
const seedSource = readFileSync(join(specs, 'seed-mutex.sm'), 'utf8')
const safeSource = readFileSync(join(specs, 'safe-mutex.sm'), 'utf8')

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

/** Compile time: median of many runs after a warm-up (the first, cold, run is reported too). */
function benchCompile(source, file) {
  const coldStart = performance.now()
  dsl.compile(source, { file })
  const coldMs = performance.now() - coldStart
  for (let i = 0; i < 50; i++) dsl.compile(source, { file })
  const times = []
  for (let i = 0; i < (quick ? 100 : 500); i++) {
    const start = performance.now()
    dsl.compile(source, { file })
    times.push(performance.now() - start)
  }
  return { coldMs, medianMs: median(times) }
}

/** A fixed command pattern that keeps the queue short: three acquires, three releases. */
const pattern = [['c1', 'acquire'], ['c2', 'acquire'], ['c3', 'acquire'], ['c1', 'release'], ['c2', 'release'], ['c3', 'release']]
  .map(([client, name]) => ({ ctx: { client, position: 0 }, command: { name } }))

function benchApply(machine, count) {
  const state = machine.init()
  for (let i = 0; i < 20_000; i++) machine.apply(state, pattern[i % 6].command, pattern[i % 6].ctx)
  const start = performance.now()
  for (let i = 0; i < count; i++) machine.apply(state, pattern[i % 6].command, pattern[i % 6].ctx)
  const elapsedMs = performance.now() - start
  return { commands: count, elapsedMs, commandsPerSecond: Math.round(count / (elapsedMs / 1000)) }
}

async function loadGenerated(program, directory) {
  const code = dsl.emitTypeScript(program, { interfaceModule: pathToFileURL(interfaceDist).href })
  const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
  const file = join(directory, `${program.name}.generated.mjs`)
  writeFileSync(file, js)
  return (await import(pathToFileURL(file).href))[program.name]
}

/**
 * Model checking: three runs; the best is reported (the machine may be shared), with the median beside it.
 * Without symmetry reduction, so the state counts stay comparable across versions (dsl-check-bench.mjs
 * measures the reduction).
 */
function benchModelCheck(machine, given) {
  const options = { symmetry: false, ...given }
  dsl.modelCheck(machine, { ...options, depth: Math.min(options.depth, 6) })
  const runs = []
  let result
  for (let i = 0; i < 3; i++) {
    const start = performance.now()
    result = dsl.modelCheck(machine, options)
    runs.push(performance.now() - start)
  }
  const elapsedMs = Math.min(...runs)
  return {
    clients: options.clients,
    depth: options.depth,
    states: result.statesExplored,
    transitions: result.transitions,
    elapsedMs,
    medianElapsedMs: median(runs),
    statesPerSecond: Math.round(result.statesExplored / (elapsedMs / 1000)),
    medianStatesPerSecond: Math.round(result.statesExplored / (median(runs) / 1000)),
    transitionsPerSecond: Math.round(result.transitions / (elapsedMs / 1000)),
    ok: result.ok,
  }
}

const directory = mkdtempSync(join(tmpdir(), 'lockstep-dsl-bench-'))
try {
  const compileSeed = benchCompile(seedSource, 'seed-mutex.sm')
  const compileSafe = benchCompile(safeSource, 'safe-mutex.sm')
  const seed = dsl.compile(seedSource, { file: 'seed-mutex.sm' })
  const generated = await loadGenerated(seed.program, directory)
  const count = quick ? 300_000 : 2_000_000
  const interpreted = benchApply(seed.machine, count)
  const generatedRun = benchApply(generated, count)
  let handWritten
  const machinesDist = join(root, 'packages', 'machines', 'dist', 'index.js')
  if (existsSync(machinesDist)) handWritten = benchApply((await import(pathToFileURL(machinesDist).href)).mutex, count)
  const safe = dsl.compile(safeSource, { file: 'safe-mutex.sm' })
  const checkSeed = benchModelCheck(seed.machine, { clients: 3, depth: quick ? 9 : 11, invariants: [] })
  const checkSeedInvariant = benchModelCheck(seed.machine, { clients: 3, depth: quick ? 9 : 11, invariants: ['len(waiting) < 20'] })
  const checkSafe = benchModelCheck(safe.machine, { clients: quick ? 5 : 6, depth: quick ? 16 : 18, invariants: ['not (user in waiting)', 'user ≠ Φ or waiting = Φ'] })

  const rows = [
    ['compile seed mutex (median, warm)', `${compileSeed.medianMs.toFixed(3)} ms`, `cold ${compileSeed.coldMs.toFixed(1)} ms`],
    ['compile safe mutex (median, warm)', `${compileSafe.medianMs.toFixed(3)} ms`, `cold ${compileSafe.coldMs.toFixed(1)} ms`],
    ['interpreter: seed mutex', `${interpreted.commandsPerSecond.toLocaleString('en')} commands/s`, `${interpreted.commands.toLocaleString('en')} commands`],
    ['generated TypeScript: seed mutex', `${generatedRun.commandsPerSecond.toLocaleString('en')} commands/s`, `${(generatedRun.commandsPerSecond / interpreted.commandsPerSecond).toFixed(2)}× the interpreter`],
    ...(handWritten ? [['hand-written mutex (@lockstep/machines)', `${handWritten.commandsPerSecond.toLocaleString('en')} commands/s`, '']] : []),
    ...[['model check seed mutex', checkSeed], ['  … with an invariant', checkSeedInvariant], ['model check safe mutex, 2 invariants', checkSafe]].map(([label, r]) => [
      label, `${r.statesPerSecond.toLocaleString('en')} states/s`, `median ${r.medianStatesPerSecond.toLocaleString('en')}/s; ${r.states.toLocaleString('en')} states, ${r.transitions.toLocaleString('en')} transitions, ${r.clients} clients, depth ${r.depth}, best ${r.elapsedMs.toFixed(0)} ms`,
    ]),
  ]
  const width = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)))
  console.log(`@lockstep/dsl benchmarks (node ${process.version}${quick ? ', --quick' : ''})`)
  for (const row of rows) console.log(`  ${row[0].padEnd(width[0])}  ${row[1].padStart(width[1])}  ${row[2]}`)
  console.log(JSON.stringify({
    node: process.version,
    compile: { seedMutex: compileSeed, safeMutex: compileSafe },
    apply: { interpreter: interpreted, generated: generatedRun, ...(handWritten ? { handWritten } : {}) },
    modelCheck: { seedMutex: checkSeed, seedMutexWithInvariant: checkSeedInvariant, safeMutex: checkSafe },
  }))
} finally {
  rmSync(directory, { recursive: true, force: true })
}
