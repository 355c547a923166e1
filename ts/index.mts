// The ESM entry: the same classes as the CommonJS entry (one module instance,
// one native binding). Re-exported by name, not as consts, so that the
// declarations keep them classes: usable as types in ESM projects too. Node
// finds the names in index.js (cjs-module-lexer reads tsc's export getters).
export { AbortedError, ERROR_CODES, ImmuKVClient, ImmuKVError, KeyNotFoundError, ReadOnlyError } from './index.js'
export type * from './index.js'
