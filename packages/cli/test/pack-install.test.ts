import { execFile } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, isAbsolute, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBuiltCli } from './processes'

// Packs @lockstep/cli and every workspace package it needs at runtime the way they are published
// (`pnpm pack` rewrites `workspace:` ranges), installs the tarballs with npm into a project outside the
// workspace that has no vitest, and runs the installed `lockstep` there, as a user would.

const workspaceRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const PNPM = 'pnpm@10.34.9'
/** npm settings a CI may need to reach its registry; every other npm_* variable from the outer run is dropped. */
const keptNpmSettings = new Set(['npm_config_registry', 'npm_config_cache', 'npm_config_userconfig', 'npm_config_cafile', 'npm_config_strict_ssl', 'npm_config_proxy', 'npm_config_https_proxy', 'npm_config_noproxy'])

interface Manifest {
  readonly name: string
  readonly version: string
  readonly private?: boolean
  readonly dependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly optionalDependencies?: Record<string, string>
  readonly exports?: Record<string, string | Record<string, string>>
}

/** Every package of the workspace, by name. */
function workspacePackages(): Map<string, { dir: string; manifest: Manifest }> {
  const packages = new Map<string, { dir: string; manifest: Manifest }>()
  for (const folder of ['packages', 'apps']) {
    const parent = join(workspaceRoot, folder)
    if (!existsSync(parent)) continue
    for (const name of readdirSync(parent)) {
      const file = join(parent, name, 'package.json')
      if (!existsSync(file)) continue
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as Manifest
      packages.set(manifest.name, { dir: join(parent, name), manifest })
    }
  }
  return packages
}

/** `root` and the workspace packages it needs installed, transitively: dependencies, peer and optional dependencies (not devDependencies). */
function runtimeClosure(root: string, packages: Map<string, { manifest: Manifest }>): string[] {
  const needed = new Set<string>()
  const queue = [root]
  while (queue.length > 0) {
    const name = queue.shift()!
    if (needed.has(name)) continue
    needed.add(name)
    const { manifest } = packages.get(name)!
    for (const field of [manifest.dependencies, manifest.peerDependencies, manifest.optionalDependencies]) {
      for (const dependency of Object.keys(field ?? {})) if (packages.has(dependency)) queue.push(dependency)
    }
  }
  return [...needed].sort()
}

/** The environment for the npm, npx and pnpm children, without the outer run's npm_* and pnpm settings. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    const lower = key.toLowerCase()
    if ((lower.startsWith('npm_') || lower.startsWith('pnpm_')) && !keptNpmSettings.has(lower)) continue
    env[key] = value
  }
  return env
}

interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command to completion (a non-zero exit is a result, not an error). */
function run(command: string, args: readonly string[], cwd: string, timeoutMs = 180_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, env: childEnv(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(new Error(`${command} ${args.join(' ')} (in ${cwd}) failed to run: ${error.message}\n${stderr}`))
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr })
    })
  })
}

/** Fails with the command's output unless it exited 0. */
function expectSuccess(ran: Ran, what: string): void {
  expect(ran.code, `${what} exited ${ran.code}\n--- stdout\n${ran.stdout}\n--- stderr\n${ran.stderr}`).toBe(0)
}

const packages = workspacePackages()
const packed = runtimeClosure('@lockstep/cli', packages)
let scratch: string
let project: string

beforeAll(async () => {
  requireBuiltCli()
  for (const name of packed) {
    const { dir } = packages.get(name)!
    if (!existsSync(join(dir, 'dist'))) throw new Error(`${relative(workspaceRoot, dir)}/dist is missing: build first (npx -y pnpm@10.34.9 exec turbo run build --filter=@lockstep/cli...)`)
  }
  scratch = await mkdtemp(join(tmpdir(), 'lockstep-pack-'))
  const fromWorkspace = relative(workspaceRoot, scratch)
  if (!fromWorkspace.startsWith('..') && !isAbsolute(fromWorkspace)) throw new Error(`the scratch directory ${scratch} lies inside the workspace; set TMPDIR elsewhere`)
  const tarballs = join(scratch, 'tarballs')
  project = join(scratch, 'project')
  await mkdir(tarballs)
  await mkdir(project)

  // One pnpm run packs them all, each as `pnpm pack` in its folder would.
  const pack = await run('npx', ['-y', PNPM, ...packed.flatMap((name) => ['--filter', name]), 'pack', '--pack-destination', tarballs], workspaceRoot)
  expectSuccess(pack, 'pnpm pack')
  const files = (await readdir(tarballs)).filter((file) => file.endsWith('.tgz')).sort()
  expect(files).toEqual(packed.map((name) => `${name.replace('@', '').replace('/', '-')}-${packages.get(name)!.manifest.version}.tgz`).sort())

  await writeFile(join(project, 'package.json'), `${JSON.stringify({ name: 'lockstep-pack-check', private: true, type: 'module' }, null, 2)}\n`)
  const install = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', '--no-package-lock', ...files.map((file) => join(tarballs, file))], project)
  expectSuccess(install, 'npm install of the tarballs')
}, 300_000)

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true })
})

describe('the packed CLI, installed with npm outside the workspace', () => {
  it('packs @lockstep/cli with every workspace package it needs, and no private one', () => {
    expect(packed).toContain('@lockstep/cli')
    expect(packed).toContain('@lockstep/testkit')
    expect(packed.filter((name) => packages.get(name)!.manifest.private)).toEqual([])
  })

  it('installs manifests with real version ranges, and every file their exports name', () => {
    for (const name of packed) {
      const dir = join(project, 'node_modules', ...name.split('/'))
      const text = readFileSync(join(dir, 'package.json'), 'utf8')
      expect(text, `${name}'s packed package.json`).not.toContain('workspace:')
      const manifest = JSON.parse(text) as Manifest
      for (const [subpath, target] of Object.entries(manifest.exports ?? {})) {
        for (const file of typeof target === 'string' ? [target] : Object.values(target)) {
          expect(existsSync(join(dir, file)), `${name} exports ${subpath} as ${file}, which the tarball lacks`).toBe(true)
        }
      }
    }
  })

  it('has no vitest to resolve', async () => {
    expect(existsSync(join(project, 'node_modules', 'vitest'))).toBe(false)
    const probe = await run(process.execPath, ['--input-type=module', '-e', "try { import.meta.resolve('vitest'); console.log('resolved') } catch { console.log('missing') }"], project)
    expect(probe.stdout.trim()).toBe('missing')
  })

  it('runs `lockstep --help`', async () => {
    // `--no`: never fetch a package called lockstep from the registry; `--`: the flags are lockstep's, not npx's.
    const help = await run('npx', ['--no', '--', 'lockstep', '--help'], project, 60_000)
    expectSuccess(help, 'lockstep --help')
    expect(help.stdout).toMatch(/Usage: lockstep <command>/)
    expect(help.stdout).toMatch(/\bsim\b/)
  })

  it('runs `lockstep sim` over 10 seeds, every check passing', async () => {
    const sim = await run('npx', ['--no', '--', 'lockstep', 'sim', '--seeds', '10'], project, 120_000)
    expectSuccess(sim, 'lockstep sim')
    expect(sim.stdout).toMatch(/^ok: 10\/10 seeds passed; \d+ operations on 3 replicas \(lamport\)/)
  })
})
