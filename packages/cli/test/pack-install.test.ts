import { execFile } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { builtinModules } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, isAbsolute, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBuiltCli } from './processes'

// Packs every published package as `npm run pack` does (tooling/packaging/pack.mjs: `pnpm pack`, which rewrites
// `workspace:` ranges), lints the tarballs with publint, then follows docs/getting-started.md word for word in a
// scratch folder outside the workspace: its shell blocks run as written (the clone is a folder `lockstep` holding the
// tarballs in `dist-packages/`), its `title="…"` blocks are the files it saves, and the output it shows is compared.
// The doc is the script: it cannot drift from what works.

const workspaceRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
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

/** The packages a built file imports by bare name (`pino`, `@lockstep/core`), node builtins left out. */
function importedPackages(file: string): Set<string> {
  const names = new Set<string>()
  const text = readFileSync(file, 'utf8')
  for (const match of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])([^'"\s]+)\1/g)) {
    const specifier = match[2]!
    if (specifier.startsWith('.') || specifier.startsWith('node:') || builtinModules.includes(specifier)) continue
    // A package name, not text in a message that happens to follow `from` ('… from ${from}').
    if (!/^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*(\/[\w./-]+)?$/.test(specifier)) continue
    names.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!)
  }
  return names
}

/** Every `.js` file under a folder. */
function jsFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.js')).map((file) => join(dir, file))
}

/** The environment for the npm, npx and pnpm children, without the outer run's npm_* and pnpm settings. */
function childEnv(): NodeJS.ProcessEnv {
  // Quiet, and from npm's cache when it can: the doc's `npm install` as a user runs it, minus the noise.
  const env: NodeJS.ProcessEnv = { npm_config_audit: 'false', npm_config_fund: 'false', npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' }
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

/** One fenced block of a Markdown document: its language, its `title="…"` (the file it is saved as), its text. */
interface CodeBlock {
  readonly lang: string
  readonly title: string | undefined
  readonly text: string
}

/** The fenced code blocks of a Markdown document, in order. */
function codeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = []
  for (const match of markdown.matchAll(/^```(\w*)(?: title="([^"]+)")?\n([\s\S]*?)^```$/gm)) {
    blocks.push({ lang: match[1]!, title: match[2], text: match[3]! })
  }
  return blocks
}

const packages = workspacePackages()
const published = [...packages.values()].filter(({ manifest }) => manifest.private !== true).map(({ manifest }) => manifest.name).sort()
const guide = codeBlocks(readFileSync(join(workspaceRoot, 'docs', 'getting-started.md'), 'utf8'))
const shellBlocks = guide.filter((block) => block.lang === 'sh')
let scratch: string
let tarballs: string
let project: string
/** What each shell block of the guide printed, by its index in `guide`. */
const printed = new Map<number, Ran>()

beforeAll(async () => {
  requireBuiltCli()
  for (const name of published) {
    const { dir } = packages.get(name)!
    if (!existsSync(join(dir, 'dist'))) throw new Error(`${relative(workspaceRoot, dir)}/dist is missing: build first (npx -y pnpm@10.34.9 exec turbo run build)`)
  }
  scratch = await mkdtemp(join(tmpdir(), 'lockstep-pack-'))
  const fromWorkspace = relative(workspaceRoot, scratch)
  if (!fromWorkspace.startsWith('..') && !isAbsolute(fromWorkspace)) throw new Error(`the scratch directory ${scratch} lies inside the workspace; set TMPDIR elsewhere`)
  // The guide's clone: a folder `lockstep` beside the new project, holding what `npm run pack` writes.
  tarballs = join(scratch, 'lockstep', 'dist-packages')
  await mkdir(tarballs, { recursive: true })
  expectSuccess(await run(process.execPath, [join(workspaceRoot, 'tooling', 'packaging', 'pack.mjs'), '--out', tarballs], workspaceRoot), 'tooling/packaging/pack.mjs')

  // Block 1 makes the project and installs the tarballs, verbatim, from the folder that holds the clone.
  const [, install] = shellBlocks
  expectSuccess(await run('sh', ['-ec', install!.text], scratch), `the guide's block\n${install!.text}`)
  project = join(scratch, 'counter-service')
  for (const block of guide) if (block.title !== undefined) await writeFile(join(project, block.title), block.text)
  // The guide's own commands, in order, in the project (each starts where the previous left the shell).
  for (const [index, block] of guide.entries()) {
    if (block.lang !== 'sh' || shellBlocks.indexOf(block) < 2) continue
    printed.set(index, await run('sh', ['-ec', block.text], project, 240_000))
  }
}, 600_000)

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true })
})

describe('the published packages, packed as `npm run pack` packs them', () => {
  it('packs every package that is not private, and `npm run pack` builds first and runs the same script', async () => {
    const files = (await readdir(tarballs)).filter((file) => file.endsWith('.tgz')).sort()
    expect(files).toEqual(published.map((name) => `${name.replace('@', '').replace('/', '-')}-${packages.get(name)!.manifest.version}.tgz`).sort())
    expect(published).toContain('@lockstep/cli')
    const rootScripts = (JSON.parse(readFileSync(join(workspaceRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts
    expect(rootScripts.pack).toMatch(/turbo run build && node tooling\/packaging\/pack\.mjs$/)
  })

  it('declares every package its built code imports as a dependency or peer dependency (no dev-only package at run time)', () => {
    for (const name of published) {
      const { dir, manifest } = packages.get(name)!
      const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})])
      const undeclared = new Set<string>()
      for (const file of jsFiles(join(dir, 'dist'))) for (const imported of importedPackages(file)) if (!declared.has(imported) && imported !== name) undeclared.add(imported)
      expect([...undeclared], `${name}'s dist imports packages it does not declare in dependencies or peerDependencies`).toEqual([])
    }
  })

  it('passes publint (errors, warnings and suggestions) for every tarball', async () => {
    const lint = await run(process.execPath, [join(workspaceRoot, 'tooling', 'packaging', 'publint.mjs'), tarballs], workspaceRoot)
    expectSuccess(lint, 'publint')
    expect(lint.stdout).toContain(`publint: ${published.length} package(s), no problems`)
  })

  it('declares for each: exports with types first, types, files, engines, license and repository with its folder', () => {
    const engines = new Set<string>()
    for (const name of published) {
      const { dir, manifest } = packages.get(name)!
      const full = manifest as Manifest & { types?: string; files?: string[]; engines?: { node?: string }; license?: string; repository?: { directory?: string } }
      for (const [subpath, target] of Object.entries(full.exports ?? {})) {
        expect(typeof target === 'object' && Object.keys(target)[0], `${name} exports ${subpath}: types must come first`).toBe('types')
      }
      expect(full.types, `${name}: types`).toMatch(/\.d\.ts$/)
      expect(full.files, `${name}: files`).toContain('dist')
      expect(full.license, `${name}: license`).toBe('MIT')
      expect(full.repository?.directory, `${name}: repository.directory`).toBe(relative(workspaceRoot, dir))
      engines.add(full.engines?.node ?? `${name} has no engines.node`)
    }
    // One minimum for all: zlib.crc32 (transport-tcp) arrived in Node 20.15.
    expect([...engines]).toEqual(['>=20.15.0'])
  })
})

describe('docs/getting-started.md, followed in a new project outside the workspace', () => {
  it('starts with `npm run pack` in the clone and `npm install` of its tarballs in a new folder', () => {
    expect(shellBlocks[0]?.text).toBe('cd lockstep\nnpm run pack\ncd ..\n')
    expect(shellBlocks[1]?.text).toMatch(/^npm install \.\.\/lockstep\/dist-packages\/\*\.tgz$/m)
    expect(guide.findIndex((block) => block.lang === 'js')).toBeGreaterThan(guide.indexOf(shellBlocks[1]!))
  })

  it('installs manifests with real version ranges, and every file their exports name', () => {
    for (const name of published) {
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

  it('type-checks the files it saves against the installed packages\' declarations', async () => {
    const files = guide.flatMap((block) => (block.title === undefined ? [] : [block.title]))
    expect(files).toEqual(['counter.mjs', 'main.mjs', 'sim.mjs'])
    const tsc = join(workspaceRoot, 'node_modules', 'typescript', 'bin', 'tsc')
    const typeRoots = join(workspaceRoot, 'node_modules', '@types')
    const check = await run(process.execPath, [tsc, '--noEmit', '--allowJs', '--checkJs', '--strict', '--module', 'nodenext', '--target', 'es2022', '--typeRoots', typeRoots, '--types', 'node', ...files], project)
    expectSuccess(check, 'tsc on the guide\'s files')
  })

  it('runs each of its commands, printing what it shows', () => {
    expect(printed.size).toBeGreaterThanOrEqual(3)
    for (const [index, ran] of printed) {
      expectSuccess(ran, `the guide's block\n${guide[index]!.text}`)
      const next = guide[index + 1]
      if (next?.lang === 'text') expect(ran.stdout, `the output of\n${guide[index]!.text}`).toBe(next.text)
    }
  })

  it('gives a simulation result whose rerun command works from the shell', async () => {
    const simIndex = guide.findIndex((block) => block.lang === 'sh' && block.text === 'node sim.mjs\n')
    const rerun = printed.get(simIndex)?.stdout.split('\n')[1]
    expect(rerun).toMatch(/^npx lockstep sim /)
    const again = await run('sh', ['-ec', rerun!], project, 120_000)
    expectSuccess(again, rerun!)
    expect(again.stdout).toMatch(/^ok: 1\/1 seeds passed/)
  })

  it('runs `npx lockstep --help`', async () => {
    const help = await run('npx', ['lockstep', '--help'], project, 60_000)
    expectSuccess(help, 'npx lockstep --help')
    expect(help.stdout).toMatch(/Usage: lockstep <command>/)
    expect(help.stdout).toMatch(/\bsim\b/)
  })
})
