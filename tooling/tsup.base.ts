import { defineConfig, type Options } from 'tsup'

/** The one build configuration every package uses: ESM, type declarations, Node 20. */
export function lockstepTsup(overrides: Options = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    dts: true,
    sourcemap: true,
    clean: true,
    splitting: false,
    treeshake: true,
    ...overrides,
  })
}

export default lockstepTsup()
