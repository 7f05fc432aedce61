import { lockstepTsup } from '../../tooling/tsup.base'

export default lockstepTsup({ entry: ["src/index.ts", "src/bin.ts"], splitting: true })
