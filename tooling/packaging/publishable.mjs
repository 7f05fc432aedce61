// The workspace packages that are published: every packages/* and apps/* folder whose package.json is not private.
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository's root folder. */
export const workspaceRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The pinned pnpm, run through npx (see CONTRIBUTING.md). */
export const PNPM = 'pnpm@10.34.9'

/** Every publishable package: `{ name, version, dir }`, sorted by name. */
export function publishablePackages() {
  const found = []
  for (const folder of ['packages', 'apps']) {
    const parent = join(workspaceRoot, folder)
    if (!existsSync(parent)) continue
    for (const entry of readdirSync(parent)) {
      const file = join(parent, entry, 'package.json')
      if (!existsSync(file)) continue
      const manifest = JSON.parse(readFileSync(file, 'utf8'))
      if (manifest.private === true) continue
      found.push({ name: manifest.name, version: manifest.version, dir: join(parent, entry) })
    }
  }
  return found.sort((a, b) => a.name.localeCompare(b.name))
}

/** The file name `pnpm pack` gives a package's tarball: `@lockstep/core` 0.1.0 → `lockstep-core-0.1.0.tgz`. */
export function tarballName(name, version) {
  return `${name.replace(/^@/, '').replace('/', '-')}-${version}.tgz`
}
