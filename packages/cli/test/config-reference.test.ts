import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { clusterConfigSchema } from '../src/cluster-config'
import { configReferenceMarkdown } from '../src/config-reference'
import { specs } from './io'

/** docs/operations.md holds the configuration reference generated from the schema, between two markers. */
const operations = join(specs, '..', '..', '..', 'docs', 'operations.md')
const START = '<!-- config-reference:start -->'
const END = '<!-- config-reference:end -->'

describe('the configuration reference of docs/operations.md', () => {
  it('is the table generated from the JSON Schema the validation uses', () => {
    const text = readFileSync(operations, 'utf8')
    const start = text.indexOf(START)
    const end = text.indexOf(END)
    expect(start, `${operations} has ${START}`).toBeGreaterThanOrEqual(0)
    expect(end, `${operations} has ${END} after it`).toBeGreaterThan(start)
    const generated = configReferenceMarkdown(clusterConfigSchema)
    if (process.env.LOCKSTEP_REWRITE === '1') writeFileSync(operations, `${text.slice(0, start + START.length)}\n${generated}\n${text.slice(end)}`)
    else expect(text.slice(start + START.length, end).trim(), 'regenerate: LOCKSTEP_REWRITE=1 npx vitest run test/config-reference.test.ts').toBe(generated)
  })

  it('lists every field of the schema, nested ones and array items included', () => {
    const table = configReferenceMarkdown(clusterConfigSchema)
    for (const path of ['/clusterId', '/replicas/N/port', '/replicas/N/tls/cert', '/security/replicaSecret/file', '/timeouts/suspectAfterMs', '/storage/sync']) expect(table).toContain(`| \`${path}\` |`)
  })
})
