// @ts-check
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

/**
 * Determinism is sacred: the engine, the orderers, the state machines, the DSL
 * and the simulator read time only through an injected Clock and randomness only
 * through an injected seeded source. These folders may not touch wall clocks,
 * timers, Math.random or Node's I/O modules.
 */
export const deterministicFiles = [
  'packages/core/src/engine/**/*.ts',
  'packages/order-*/src/**/*.ts',
  'packages/machines/src/**/*.ts',
  'packages/dsl/src/**/*.ts',
  'packages/testkit/src/sim/**/*.ts',
  'packages/testkit/src/lincheck/**/*.ts',
  'packages/transport-memory/src/**/*.ts',
]

/** Nondeterministic globals: banned in deterministic code. */
const bannedGlobals = [
  'Date', 'setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval',
  'clearImmediate', 'queueMicrotask', 'performance', 'process', 'crypto', 'fetch',
].map((name) => ({
  name,
  message: `Deterministic code must not use '${name}': read time through the injected Clock, randomness through the injected seeded source, and leave I/O to the host.`,
}))

/** Node's globals, for the scripts under tooling/ (eslint's recommended `no-undef` knows only the language's). */
const nodeGlobals = [
  'AbortController', 'AbortSignal', 'Buffer', 'TextDecoder', 'TextEncoder', 'URL', 'URLSearchParams', 'clearImmediate',
  'clearInterval', 'clearTimeout', 'console', 'fetch', 'global', 'performance', 'process', 'queueMicrotask',
  'setImmediate', 'setInterval', 'setTimeout', 'structuredClone',
]

const ioModules = ['fs', 'fs/promises', 'net', 'tls', 'dgram', 'http', 'https', 'http2', 'child_process', 'cluster', 'worker_threads', 'os', 'dns', 'perf_hooks', 'timers', 'timers/promises', 'crypto', 'readline', 'process']

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.turbo/**', '**/coverage/**', '**/*.generated.ts', 'tooling/bench/out/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // The repository's own scripts (benchmarks, the demo, packaging, a package's helper scripts and fixtures) are Node
    // programs in plain JavaScript.
    files: ['**/*.mjs', 'tooling/**/*.js', '*.js', 'packages/*/bin/*.js'],
    languageOptions: { globals: Object.fromEntries(nodeGlobals.map((name) => [name, 'readonly'])) },
  },
  {
    // Type-aware rules: a promise nobody awaits or handles turns an error into an unhandled rejection
    // (a disk error in the host, for one), so every promise must be awaited, returned, or voided on purpose.
    files: ['packages/*/src/**/*.ts', 'apps/*/src/**/*.ts', 'packages/*/test/**/*.ts', 'apps/*/test/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: false }],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
    },
  },
  {
    files: deterministicFiles,
    rules: {
      'no-restricted-globals': ['error', ...bannedGlobals],
      'no-restricted-properties': ['error',
        { object: 'Math', property: 'random', message: 'Deterministic code must not use Math.random: use the injected seeded random source.' },
        { object: 'Date', property: 'now', message: 'Deterministic code must not read the wall clock: use the injected Clock.' },
        { object: 'performance', property: 'now', message: 'Deterministic code must not read the wall clock: use the injected Clock.' },
        { object: 'globalThis', property: 'setTimeout', message: 'Deterministic code must not set timers.' },
        { object: 'globalThis', property: 'Date', message: 'Deterministic code must not read the wall clock.' },
      ],
      'no-restricted-imports': ['error', {
        paths: ioModules.flatMap((m) => [
          { name: `node:${m}`, message: `Deterministic code must not import node:${m}: I/O and time belong to the host.` },
          { name: m, message: `Deterministic code must not import ${m}: I/O and time belong to the host.` },
        ]),
      }],
    },
  },
)
