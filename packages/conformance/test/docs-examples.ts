import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

/** The repository's root folder. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

/** Languages whose blocks are programs run with node, and those that are shell commands. */
const scriptLanguages = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs'])
const shellLanguages = new Set(['sh', 'bash', 'shell', 'console'])

/**
 * Documents whose blocks this test covers: the root README, every package's and app's README, and docs/*.md.
 * docs/getting-started.md is checked by its own test.
 */
export function documents(): string[] {
  const files = ['README.md']
  for (const folder of ['packages', 'apps']) {
    for (const name of readdirSync(join(repoRoot, folder)).sort()) {
      if (existsSync(join(repoRoot, folder, name, 'README.md'))) files.push(`${folder}/${name}/README.md`)
    }
  }
  for (const name of readdirSync(join(repoRoot, 'docs')).sort()) {
    if (name.endsWith('.md') && name !== 'getting-started.md') files.push(`docs/${name}`)
  }
  return files
}

/** Documents whose script blocks another test runs as written (with its own checks), instead of this one. */
export const runElsewhere: Readonly<Record<string, string>> = {
  'packages/voting/README.md': 'packages/voting/test/readme.test.ts',
}

/** One fenced code block of a document. */
export interface CodeBlock {
  /** `docs/storage.md:26`: the file and the line of the opening fence. */
  readonly where: string
  readonly file: string
  readonly line: number
  readonly language: string
  readonly kind: 'script' | 'shell'
  readonly code: string
  /** The reason given by a `<!-- not-run: reason -->` comment on the last non-blank line before the fence. */
  readonly notRun: string | undefined
}

/** The ts/js/sh blocks of a document (other languages, and blocks without one, are output or reference text). */
export function codeBlocks(file: string): CodeBlock[] {
  const lines = readFileSync(join(repoRoot, file), 'utf8').replace(/\r\n/g, '\n').split('\n')
  const blocks: CodeBlock[] = []
  let open: { line: number; language: string; indent: string; body: string[]; notRun: string | undefined } | undefined
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!
    const fence = /^(\s*)```(\S*)/.exec(text)
    if (!open) {
      if (!fence) continue
      let before = i - 1
      while (before >= 0 && lines[before]!.trim() === '') before--
      const marker = before >= 0 ? /^\s*<!--\s*not-run:(.*?)-->\s*$/.exec(lines[before]!) : null
      open = { line: i + 1, language: fence[2]!.toLowerCase(), indent: fence[1]!, body: [], notRun: marker ? marker[1]!.trim() : undefined }
      continue
    }
    if (fence && fence[2] === '') {
      const kind = scriptLanguages.has(open.language) ? 'script' : shellLanguages.has(open.language) ? 'shell' : undefined
      if (kind) {
        const code = open.body.map((l) => (l.startsWith(open!.indent) ? l.slice(open!.indent.length) : l)).join('\n')
        blocks.push({ where: `${file}:${open.line}`, file, line: open.line, language: open.language, kind, code, notRun: open.notRun })
      }
      open = undefined
      continue
    }
    open.body.push(text)
  }
  return blocks
}

/** A block compiled to an ES module (types stripped; nothing else changes). */
export function toModule(code: string, where: string): string {
  const output = ts.transpileModule(code, {
    fileName: where.replace(/[^\w.-]+/g, '_') + '.ts',
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
    reportDiagnostics: true,
  })
  const problems = output.diagnostics ?? []
  if (problems.length > 0) {
    throw new Error(`${where} does not parse: ${problems.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('; ')}`)
  }
  return output.outputText
}

/** What running a block printed and how its process ended. */
export interface Run {
  readonly exitCode: number | null
  readonly signal: NodeJS.Signals | null
  /** True if it had not exited by itself when the safety limit passed (it was killed then). */
  readonly hung: boolean
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs a block as an ES module in its own node process. The module sits in `scratch` (a folder of this package, so
 * `@lockstep/*` resolve to the built packages) and runs with a fresh working directory, so files it writes stay there.
 * A process still running after `safetyLimitMs` is killed and reported as hung: an example must exit by itself.
 */
export function runBlock(scratch: string, name: string, code: string, safetyLimitMs: number): Promise<Run> {
  const cwd = join(scratch, name)
  mkdirSync(cwd, { recursive: true })
  const file = join(scratch, `${name}.mjs`)
  writeFileSync(file, code)
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [relative(cwd, file)], { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    running.add(child)
    let stdout = ''
    let stderr = ''
    let hung = false
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const limit = setTimeout(() => {
      hung = true
      child.kill('SIGKILL')
    }, safetyLimitMs)
    child.on('error', (error) => {
      clearTimeout(limit)
      reject(error)
    })
    child.on('close', (exitCode, signal) => {
      running.delete(child)
      clearTimeout(limit)
      resolve({ exitCode, signal, hung, stdout, stderr })
    })
  })
}

/** Processes of {@link runBlock} still running. */
const running = new Set<ChildProcess>()

/** Kills every block process still running (after a test that timed out, say); none outlives the test file. */
export function killRunningBlocks(): void {
  for (const child of running) child.kill('SIGKILL')
  running.clear()
}

/** A file name for a block: `docs-storage-md-26`. */
export function slug(block: CodeBlock): string {
  return `${block.file}-${block.line}`.replace(/[^A-Za-z0-9]+/g, '-').toLowerCase()
}
