import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cliBinPath, requireBuiltCli } from './processes'

// A resolve hook that writes every module URL the process resolves (ESM imports, the CLI's own chunks and its
// packages) to the file named by MODULES_FILE. It runs on the loader's thread.
const HOOKS = `
import { appendFileSync } from 'node:fs'
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context)
  appendFileSync(process.env.MODULES_FILE, resolved.url + '\\n')
  return resolved
}
`
const REGISTER = `import { register } from 'node:module'\nregister(new URL('./hooks.mjs', import.meta.url))\n`

/** The runtime of a replica: a process that only talks to a cluster has no use for it. */
const REPLICA_RUNTIME = ['packages/core/', 'packages/storage-file/', 'packages/order-lamport/', 'packages/order-realtime/', 'packages/testkit/', '/ajv/dist/ajv.js']

let dir: string

beforeAll(async () => {
  requireBuiltCli()
  dir = await mkdtemp(join(tmpdir(), 'lockstep-client-start-'))
  await writeFile(join(dir, 'hooks.mjs'), HOOKS)
  await writeFile(join(dir, 'register.mjs'), REGISTER)
  // Nobody listens on ports 1 to 3: the client is refused by every replica at once (UNREACHABLE).
  const replicas = ['r1', 'r2', 'r3'].map((id, i) => ({ id, host: '127.0.0.1', port: 1 + i }))
  const config = { replicas, machine: 'kv', security: { clientSecret: { value: 'client-secret-0123456789abcdef' } } }
  await writeFile(join(dir, 'cluster.json'), JSON.stringify(config))
})

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** Runs `lockstep ARGS` with the hook; returns its exit code, its stderr and the module URLs it resolved. */
async function modulesOf(args: string[]): Promise<{ status: number | null; stderr: string; modules: string[] }> {
  const modulesFile = join(dir, `modules-${args[0]}.txt`)
  await writeFile(modulesFile, '')
  const run = spawnSync(process.execPath, ['--import', pathToFileURL(join(dir, 'register.mjs')).href, cliBinPath, ...args], {
    env: { ...process.env, MODULES_FILE: modulesFile },
    encoding: 'utf8',
    timeout: 60_000,
  })
  const modules = (await readFile(modulesFile, 'utf8')).split('\n').filter((line) => line !== '')
  return { status: run.status, stderr: run.stderr, modules }
}

describe('a process that only talks to a cluster does not load the replica runtime', () => {
  it.each([
    ['client', ['get', '{"key":"a"}']],
    ['bench', ['--workload', 'put', '--clients', '1', '--duration', '1']],
  ])('lockstep %s: loads the client and the TCP transport, not the engine, the orderers, file storage or ajv', async (command, args) => {
    const { status, stderr, modules } = await modulesOf([command, '--cluster', join(dir, 'cluster.json'), ...args])
    // It ran as far as talking to the cluster: every replica refused the connection.
    expect(stderr).toMatch(/UNREACHABLE: .*every replica refused it/)
    expect(status).not.toBe(0)
    expect(modules.some((url) => url.includes('packages/client/'))).toBe(true)
    expect(modules.some((url) => url.includes('packages/transport-tcp/'))).toBe(true)
    expect(modules.filter((url) => REPLICA_RUNTIME.some((part) => url.includes(part)))).toEqual([])
  })
})
