// The ESM entry: the same classes as the CommonJS entry (one module instance,
// one native binding).
import cjs from './index.js'

export const { ImmuKVClient, ImmuKVError, KeyNotFoundError, ReadOnlyError, AbortedError, ERROR_CODES } = cjs
export type * from './index.js'
