import { defineProject } from 'vitest/config'

// No workspace aliases (unlike the packages' configs): this example plays a third party's plug-in, so every
// `@lockstep/*` import resolves through the package's `exports` to its built `dist/`, as from npm.
export default defineProject({
  test: { name: 'example-transport', include: ['test/**/*.test.ts'], testTimeout: 60_000 },
})
