// Copies the seed's mutex, byte for byte, from the seed document into seed-mutex.sm.
// Usage: node extract-seed.mjs [SEED.txt] [OUT.sm]
// The block is everything between the first pair of ``` fence lines, each line with its line break.
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const seedPath = process.argv[2] ?? '/work/shared/seed/000_d8a79fcf084990d5.txt'
const outPath = process.argv[3] ?? join(here, 'seed-mutex.sm')

const text = readFileSync(seedPath, 'utf8')
const open = text.indexOf('```\n')
if (open < 0) throw new Error(`no opening \`\`\` fence in ${seedPath}`)
const start = open + 4
const close = text.indexOf('\n```', start - 1)
if (close < 0) throw new Error(`no closing \`\`\` fence in ${seedPath}`)
const block = text.slice(start, close + 1)
writeFileSync(outPath, block)
console.log(`wrote ${outPath} (${Buffer.byteLength(block)} bytes)`)
