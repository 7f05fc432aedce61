#!/usr/bin/env node
// `npm run pack`: writes the tarball of every publishable package into dist-packages/ (or `--out DIR`), as
// `pnpm pack` makes it: `workspace:` ranges become the real versions, and only the `files` of each package go in.
// Build first (`npm run pack` does); a package without its dist/ is an error, never a tarball without code.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { PNPM, publishablePackages, tarballName, workspaceRoot } from './publishable.mjs'

const { values } = parseArgs({ options: { out: { type: 'string', default: join(workspaceRoot, 'dist-packages') } } })
const out = resolve(values.out)
const packages = publishablePackages()

const unbuilt = packages.filter((p) => !existsSync(join(p.dir, 'dist')))
if (unbuilt.length > 0) {
  console.error(`pack: ${unbuilt.map((p) => relative(workspaceRoot, p.dir)).join(', ')} not built: run \`npx -y ${PNPM} exec turbo run build\` first (\`npm run pack\` does)`)
  process.exit(1)
}

mkdirSync(out, { recursive: true })
// Old tarballs (another version, a package since made private) would be installed with `*.tgz`.
for (const file of readdirSync(out)) if (file.endsWith('.tgz')) rmSync(join(out, file))

const filters = packages.flatMap((p) => ['--filter', p.name])
const packed = spawnSync('npx', ['-y', PNPM, ...filters, 'pack', '--pack-destination', out], { cwd: workspaceRoot, stdio: ['ignore', 'ignore', 'inherit'] })
if (packed.status !== 0) {
  console.error(`pack: pnpm pack exited ${packed.status ?? packed.signal}`)
  process.exit(1)
}
const missing = packages.filter((p) => !existsSync(join(out, tarballName(p.name, p.version))))
if (missing.length > 0) {
  console.error(`pack: no tarball for ${missing.map((p) => p.name).join(', ')} in ${out}`)
  process.exit(1)
}
for (const p of packages) console.log(relative(process.cwd(), join(out, tarballName(p.name, p.version))))
