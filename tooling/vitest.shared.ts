import { readdirSync, existsSync, readFileSync } from 'node:fs'
import { setPriority } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { defineProject, type UserWorkspaceConfig } from 'vitest/config'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** One alias: an exact import specifier and the source file it stands for. */
interface WorkspaceAlias {
  readonly find: RegExp
  readonly replacement: string
}

/**
 * Workspace imports resolve to sources, so unit tests run without a build. Every entry a package exports
 * (`@lockstep/testkit`, `@lockstep/testkit/compliance`) maps to the source its built file comes from
 * (`./dist/compliance/index.js` → `src/compliance/index.ts`). Each alias matches its specifier exactly:
 * a plain string alias would also rewrite every longer specifier it prefixes.
 */
export function workspaceAliases(): WorkspaceAlias[] {
  const aliases: WorkspaceAlias[] = []
  for (const folder of ['packages', 'apps']) {
    const dir = join(root, folder)
    if (!existsSync(dir)) continue
    for (const name of readdirSync(dir)) {
      for (const [subpath, source] of exportedSources(join(dir, name))) {
        aliases.push({ find: new RegExp(`^${escapeRegExp(`@lockstep/${name}${subpath}`)}$`), replacement: source })
      }
    }
  }
  return aliases
}

/** A package's exported subpaths ('' for the root) and the source file behind each. */
function exportedSources(packageDir: string): [subpath: string, source: string][] {
  const sources: [string, string][] = []
  const rootEntry = join(packageDir, 'src', 'index.ts')
  if (existsSync(rootEntry)) sources.push(['', rootEntry])
  const manifest = join(packageDir, 'package.json')
  if (!existsSync(manifest)) return sources
  const exportsField = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports?: unknown }).exports
  if (typeof exportsField !== 'object' || exportsField === null) return sources
  for (const [key, target] of Object.entries(exportsField as Record<string, unknown>)) {
    if (key === '.' || !key.startsWith('./')) continue
    const built = typeof target === 'string' ? target : (target as { import?: unknown }).import
    const match = typeof built === 'string' ? /^\.\/dist\/(.+)\.js$/.exec(built) : null
    if (!match) continue
    const source = join(packageDir, 'src', `${match[1]}.ts`)
    if (existsSync(source)) sources.push([key.slice(1), source])
  }
  return sources
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}

/**
 * A package whose tests are CPU-bound and deterministic (simulator seed sweeps, model checking: virtual time, no
 * process or socket whose timing matters): its test files run two at a time, at a lower CPU priority. `npm test`
 * runs two packages' tasks at once on two cores; such a suite then fills the cores the process-level tests of the
 * other packages leave idle (they wait on sockets and disks) without taking the CPU those tests wait for.
 */
export interface Background {
  readonly background?: boolean
}

/** How long a test of a background project may run before it counts as hung: its time depends on the load only. */
export const BACKGROUND_TIMEOUT_MS = 900_000

/** A package's vitest project: `export default lockstepProject('core')`. */
export function lockstepProject(name: string, extra: UserWorkspaceConfig['test'] = {}, { background = false }: Background = {}) {
  if (background) {
    try {
      setPriority(10) // this process; the workers it forks inherit it
    } catch {
      // Not permitted here (some containers): the tests run at the usual priority.
    }
  }
  return defineProject({
    resolve: { alias: workspaceAliases() },
    test: {
      name,
      include: ['test/**/*.test.ts'],
      testTimeout: 60_000,
      passWithNoTests: true,
      // A deterministic test's timeout only guards against a hang; at the lower priority, on a loaded machine, a
      // test of one minute took more than one (CI: the 8-in-flight witness seed of world-engine-bugs, 66 s).
      ...(background ? { maxWorkers: 2, testTimeout: BACKGROUND_TIMEOUT_MS } : {}),
      ...extra,
    },
  })
}
