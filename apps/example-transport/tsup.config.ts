export { default } from '../../tooling/tsup.base'
