// `npm run mutants -- [--only ID,...] [--registry FILE] [--list] [--no-baseline] [--keep] [--json]`: takes each fix of
// tooling/mutants.json out again, one at a time, in a worktree of HEAD, and runs the tests that must then fail. A
// test that still passes with its fix out no longer guards it: a pinned simulator seed whose schedule moved (any
// change to what replicas or clients send moves them), or a test that never could fail. Before the mutants, each
// test runs once as committed (the baseline) and must pass, with at least one test run: a test that fails anyway,
// or a name that matches nothing, proves nothing.
//
// Exit 0 when every test failed without its fix; 1 when one passed (SURVIVED), its fix's code is no longer found
// exactly once (STALE), or a baseline failed; 2 for bad usage. Uncommitted changes are not in the worktree:
// commit first. Not part of `npm test` (a few minutes); mutants-registry.test.ts in conformance checks that the registry's
// code is still found.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = fileURLToPath(new URL('..', import.meta.url))
const PNPM = ['-y', 'pnpm@10.34.9']

/** The registry, checked: every mutant has an id, a file, a `find` and a `replace` that differ, and tests. */
export function loadRegistry(file = join(root, 'tooling', 'mutants.json')) {
  const registry = JSON.parse(readFileSync(file, 'utf8'))
  const ids = new Set()
  for (const [index, mutant] of (registry.mutants ?? []).entries()) {
    const where = `${file}: mutants[${index}]${typeof mutant.id === 'string' ? ` (${mutant.id})` : ''}`
    for (const field of ['id', 'fix', 'file', 'find', 'replace']) {
      if (typeof mutant[field] !== 'string' || mutant[field] === '') throw new Error(`${where}: '${field}' must be a non-empty string`)
    }
    if (mutant.find === mutant.replace) throw new Error(`${where}: 'replace' is the same as 'find'`)
    if (mutant.also !== undefined && !Array.isArray(mutant.also)) throw new Error(`${where}: 'also' must be a list of { file, find, replace }`)
    for (const edit of mutant.also ?? []) {
      for (const field of ['file', 'find', 'replace']) if (typeof edit[field] !== 'string' || edit[field] === '') throw new Error(`${where}: also.${field} must be a non-empty string`)
      if (edit.find === edit.replace) throw new Error(`${where}: an edit of 'also' replaces its 'find' with itself`)
    }
    if (ids.has(mutant.id)) throw new Error(`${where}: the id '${mutant.id}' is used twice`)
    ids.add(mutant.id)
    if (!Array.isArray(mutant.caughtBy) || mutant.caughtBy.length === 0) throw new Error(`${where}: 'caughtBy' must list at least one test`)
    for (const test of mutant.caughtBy) {
      for (const field of ['package', 'test', 'name']) if (typeof test[field] !== 'string' || test[field] === '') throw new Error(`${where}: caughtBy.${field} must be a non-empty string`)
    }
  }
  return registry.mutants
}

/**
 * The fixes the registry lists as known equivalent mutants (no test can tell them from their absence: defence in
 * depth), checked: each has a `fix`, a `file`, a `find` and the reasoning (`why`).
 */
export function loadEquivalents(file = join(root, 'tooling', 'mutants.json')) {
  const equivalent = JSON.parse(readFileSync(file, 'utf8')).equivalent ?? []
  for (const [index, known] of equivalent.entries()) {
    for (const field of ['fix', 'file', 'find', 'why']) {
      if (typeof known[field] !== 'string' || known[field] === '') throw new Error(`${file}: equivalent[${index}]: '${field}' must be a non-empty string`)
    }
  }
  return equivalent
}

/**
 * A mutant's edits: its own `find` → `replace` in `file`, then those of `also` (a fix of two halves, each of which
 * hides the other's absence, is taken out whole), all applied together.
 */
export function edits(mutant) {
  return [{ file: mutant.file, find: mutant.find, replace: mutant.replace }, ...(mutant.also ?? [])]
}

/** How many times an edit's `find` occurs in its file under `base` (1 when it can be applied). */
export function occurrences(edit, base = root) {
  return readFileSync(join(base, edit.file), 'utf8').split(edit.find).length - 1
}

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** Runs one test (by name) with vitest in `base`; returns the counts vitest reports. */
function runTest(base, test) {
  const report = join(base, '.mutants-report.json')
  rmSync(report, { force: true })
  const run = spawnSync('npx', ['vitest', 'run', test.test, '-t', escapeRegExp(test.name), '--reporter=json', `--outputFile=${report}`], {
    cwd: join(base, test.package),
    encoding: 'utf8',
    env: { ...process.env, CI: 'true' },
  })
  try {
    const json = JSON.parse(readFileSync(report, 'utf8'))
    return { passed: json.numPassedTests, failed: json.numFailedTests, status: run.status }
  } catch {
    // No report: vitest did not get to run (the last lines of its output say why).
    return { passed: 0, failed: 0, status: run.status, error: (run.stderr || run.stdout || '').trim().split('\n').slice(-5).join('\n') }
  }
}

const usage = 'usage: npm run mutants -- [--only ID,...] [--registry FILE] [--list] [--no-baseline] [--keep] [--json]'

function parseOptions(args) {
  const { values } = parseArgs({
    args,
    // `--only ID,...`: the ids of the fixes to take out.
    options: { 'only': { type: 'string' }, registry: { type: 'string' }, list: { type: 'boolean' }, 'no-baseline': { type: 'boolean' }, keep: { type: 'boolean' }, json: { type: 'boolean' } },
    strict: true,
    allowPositionals: false,
  })
  const { registry, list = false, keep = false, json = false } = values
  const chosen = values['only']
  return { ids: chosen === undefined ? undefined : new Set(chosen.split(',').filter(Boolean)), registry, list, baseline: values['no-baseline'] !== true, keep, json }
}

async function main() {
  let options
  try {
    options = parseOptions(process.argv.slice(2))
  } catch (error) {
    console.error(`${error.message} (${usage})`)
    process.exit(2)
  }
  // Another registry (a candidate's, not committed yet) is read from the working tree; its fixes apply to HEAD's code.
  let mutants = loadRegistry(options.registry === undefined ? undefined : resolve(options.registry))
  if (options.ids) {
    const unknown = [...options.ids].filter((id) => !mutants.some((m) => m.id === id))
    if (unknown.length > 0) {
      console.error(`unknown mutant ${unknown.join(', ')} (known: ${mutants.map((m) => m.id).join(', ')})`)
      process.exit(2)
    }
    mutants = mutants.filter((m) => options.ids.has(m.id))
  }
  if (options.list) {
    for (const m of mutants) console.log(`${m.id}: ${m.fix}\n  ${m.file}\n${m.caughtBy.map((t) => `  caught by ${t.package}/${t.test} › ${t.name}`).join('\n')}`)
    return
  }

  const base = mkdtempSync(join(tmpdir(), 'lockstep-mutants-'))
  const tree = join(base, 'tree')
  const log = (line) => options.json || console.log(line)
  const results = []
  const baselines = []
  const removeWorktree = () => {
    spawnSync('git', ['worktree', 'remove', '--force', tree], { cwd: root, stdio: 'ignore' })
    rmSync(base, { recursive: true, force: true })
  }
  // Interrupted (Ctrl-C), the worktree goes too: a mutated copy of the sources is never left behind registered.
  const interrupted = () => {
    if (!options.keep) removeWorktree()
    process.exit(130)
  }
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted)
  try {
    execFileSync('git', ['worktree', 'add', '--detach', tree, 'HEAD'], { cwd: root, stdio: 'ignore' })
    log(`worktree of ${execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim()} at ${tree}; installing`)
    const install = (offline) => spawnSync('npx', [...PNPM, 'install', '--frozen-lockfile', ...(offline ? ['--offline'] : [])], { cwd: tree, stdio: 'ignore' }).status === 0
    if (!install(true) && !install(false)) throw new Error('pnpm install failed in the worktree')

    if (options.baseline) {
      const seen = new Set()
      for (const m of mutants) {
        for (const test of m.caughtBy) {
          const key = `${test.package}/${test.test} › ${test.name}`
          if (seen.has(key)) continue
          seen.add(key)
          const counts = runTest(tree, test)
          const ok = counts.failed === 0 && counts.passed > 0
          baselines.push({ test: key, ...counts, ok })
          log(`baseline ${ok ? 'passes' : counts.passed === 0 && counts.failed === 0 ? 'RAN NOTHING' : 'FAILS'}: ${key}${counts.error ? `\n${counts.error}` : ''}`)
        }
      }
    }

    for (const m of mutants) {
      const stale = edits(m).find((edit) => occurrences(edit, tree) !== 1)
      if (stale !== undefined) {
        const detail = `its code is found ${occurrences(stale, tree)} times in ${stale.file}, not once`
        results.push({ id: m.id, verdict: 'STALE', detail })
        log(`STALE    ${m.id}: ${detail}`)
        continue
      }
      // Each file as it was, to put back; edits to one file apply in turn.
      const originals = new Map()
      for (const edit of edits(m)) {
        const file = join(tree, edit.file)
        if (!originals.has(file)) originals.set(file, readFileSync(file, 'utf8'))
        writeFileSync(file, readFileSync(file, 'utf8').replace(edit.find, edit.replace))
      }
      try {
        const tests = m.caughtBy.map((test) => ({ test: `${test.package}/${test.test} › ${test.name}`, ...runTest(tree, test) }))
        const survivors = tests.filter((t) => t.failed === 0)
        const verdict = survivors.length === 0 ? 'caught' : 'SURVIVED'
        results.push({ id: m.id, verdict, tests })
        log(`${verdict.padEnd(8)} ${m.id}: ${m.fix}`)
        for (const t of tests) log(`           ${t.failed > 0 ? 'fails ' : 'PASSES'} ${t.test}`)
      } finally {
        for (const [file, text] of originals) writeFileSync(file, text)
      }
    }
  } finally {
    if (!options.keep) removeWorktree()
    else log(`kept the worktree at ${tree} (remove it with: git worktree remove --force ${tree})`)
  }
  const bad = results.filter((r) => r.verdict !== 'caught').length + baselines.filter((b) => !b.ok).length
  const summary = { mutants: results.length, caught: results.filter((r) => r.verdict === 'caught').length, survived: results.filter((r) => r.verdict === 'SURVIVED').map((r) => r.id), stale: results.filter((r) => r.verdict === 'STALE').map((r) => r.id), baselineFailures: baselines.filter((b) => !b.ok).map((b) => b.test) }
  if (options.json) console.log(JSON.stringify({ ...summary, results, baselines }))
  else console.log(`${bad === 0 ? 'ok' : 'FAILED'}: ${summary.caught}/${summary.mutants} mutants caught by every test listed${summary.survived.length ? `; survived: ${summary.survived.join(', ')}` : ''}${summary.stale.length ? `; stale: ${summary.stale.join(', ')}` : ''}${summary.baselineFailures.length ? `; baselines failing: ${summary.baselineFailures.length}` : ''}`)
  process.exitCode = bad === 0 ? 0 : 1
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main()
