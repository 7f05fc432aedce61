#!/usr/bin/env node
// `npm run publint [-- DIR]`: runs publint (https://publint.dev) on every tarball in DIR (default dist-packages/,
// written by `npm run pack`) and exits 1 on any error, warning or suggestion, printing each with its package.
import { readFileSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { publint } from 'publint'
import { formatMessage } from 'publint/utils'
import { workspaceRoot } from './publishable.mjs'

const dir = resolve(process.argv[2] ?? join(workspaceRoot, 'dist-packages'))
const tarballs = readdirSync(dir).filter((file) => file.endsWith('.tgz')).sort()
if (tarballs.length === 0) {
  console.error(`publint: no tarballs in ${dir}: run \`npm run pack\` first`)
  process.exit(1)
}

let problems = 0
for (const file of tarballs) {
  const bytes = readFileSync(join(dir, file))
  const tarball = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
  const { messages, pkg } = await publint({ pack: { tarball }, level: 'suggestion', strict: true })
  for (const message of messages) {
    problems++
    console.error(`${file}: ${message.type}: ${formatMessage(message, pkg) ?? message.code}`)
  }
}
if (problems > 0) {
  console.error(`publint: ${problems} problem(s) in ${tarballs.length} package(s)`)
  process.exit(1)
}
console.log(`publint: ${tarballs.length} package(s), no problems`)
