import { readdirSync, existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { defineProject, type UserWorkspaceConfig } from 'vitest/config'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** Workspace imports resolve to sources, so unit tests run without a build. */
function workspaceAliases(): Record<string, string> {
  const aliases: Record<string, string> = {}
  for (const folder of ['packages', 'apps']) {
    const dir = join(root, folder)
    if (!existsSync(dir)) continue
    for (const name of readdirSync(dir)) {
      const entry = join(dir, name, 'src', 'index.ts')
      if (existsSync(entry)) aliases[`@lockstep/${name}`] = entry
    }
  }
  return aliases
}

/** A package's vitest project: `export default lockstepProject('core')`. */
export function lockstepProject(name: string, extra: UserWorkspaceConfig['test'] = {}) {
  return defineProject({
    resolve: { alias: workspaceAliases() },
    test: {
      name,
      include: ['test/**/*.test.ts'],
      testTimeout: 60_000,
      passWithNoTests: true,
      ...extra,
    },
  })
}
