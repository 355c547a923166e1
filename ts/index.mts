// The ESM entry: the same classes as the CommonJS one (one module instance).
import cjs from './index.js'

export const { ImmuKVClient, ImmuKVError, KeyNotFoundError, ReadOnlyError, AbortedError, ERROR_CODES } = cjs
export type * from './index.js'
