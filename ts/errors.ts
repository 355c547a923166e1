// Errors: every rejection of this package is an ImmuKVError with a stable
// `code`. The native side rejects with a plain object describing the error
// (its cause chain as messages); this turns it into the right class, with the
// chain as real Error objects.

/** Every code, as the Rust core defines them (a test checks the two agree). */
export const ERROR_CODES = [
  'INVALID_CONFIG',
  'INVALID_KEY',
  'INVALID_VALUE',
  'INVALID_ARGUMENT',
  'KEY_NOT_FOUND',
  'VERSION_NOT_FOUND',
  'READ_ONLY',
  'VERSIONING_DISABLED',
  'OBJECT_LOCK_DISABLED',
  'WRITE_CONFLICT',
  'ACCESS_DENIED',
  'NO_SUCH_BUCKET',
  'CREDENTIALS_ERROR',
  'STORAGE_ERROR',
  'CORRUPT_ENTRY',
  'LOG_DELETED',
  'DECODER_ERROR',
  'ABORTED',
  'CLIENT_CLOSED',
  'INTERNAL_ERROR',
] as const

export type ErrorCode = (typeof ERROR_CODES)[number]

export interface ErrorInfo {
  code: ErrorCode
  message: string
  operation?: string
  bucket?: string
  path?: string
  mayHaveCommitted?: boolean
  index?: number
  committed?: number
}

/**
 * Every rejection of this package is an ImmuKVError with a stable `code`
 * (the README's "Errors" table says when each is used; each method's
 * `@throws` lists its codes). `cause` is the chain of underlying errors.
 */
export class ImmuKVError extends Error {
  /** Stable: branch on it rather than on the message. */
  readonly code: ErrorCode
  /** The S3 operation that failed, e.g. `PutObject` (storage errors only). */
  readonly operation?: string
  /** The bucket of the failed request (storage errors only). */
  readonly bucket?: string
  /** The object path of the failed request (storage errors only). */
  readonly path?: string
  /** For a failed `set`: whether the entry may be in the log all the same (`false` means it is not). */
  readonly mayHaveCommitted?: boolean
  /** For a failed `setMany`: the index of the item whose set failed. */
  readonly index?: number
  /** For a failed `setMany`: how many items committed (each reported to `onProgress`). */
  readonly committed?: number

  constructor(info: ErrorInfo, options?: { cause?: unknown }) {
    super(info.message, options)
    this.name = 'ImmuKVError'
    this.code = info.code
    if (info.operation !== undefined) this.operation = info.operation
    if (info.bucket !== undefined) this.bucket = info.bucket
    if (info.path !== undefined) this.path = info.path
    if (info.mayHaveCommitted !== undefined) this.mayHaveCommitted = info.mayHaveCommitted
    if (info.index !== undefined) this.index = info.index
    if (info.committed !== undefined) this.committed = info.committed
  }
}

/** `get` of a key that has no entry: code `KEY_NOT_FOUND`. */
export class KeyNotFoundError extends ImmuKVError {
  declare readonly code: 'KEY_NOT_FOUND'
  constructor(info: ErrorInfo, options?: { cause?: unknown }) {
    super(info, options)
    this.name = 'KeyNotFoundError'
  }
}

/** `set` on a client opened with `readOnly: true`: code `READ_ONLY`, `mayHaveCommitted: false`. */
export class ReadOnlyError extends ImmuKVError {
  declare readonly code: 'READ_ONLY'
  constructor(info: ErrorInfo, options?: { cause?: unknown }) {
    super(info, options)
    this.name = 'ReadOnlyError'
  }
}

/**
 * A call ended by its AbortSignal. Its `name` is `'AbortError'`, as for
 * the platform's own aborted calls; its `cause` is the signal's reason.
 */
export class AbortedError extends ImmuKVError {
  declare readonly code: 'ABORTED'
  constructor(info: ErrorInfo, options?: { cause?: unknown }) {
    super(info, options)
    this.name = 'AbortError'
  }
}

const CLASSES: Partial<Record<ErrorCode, typeof ImmuKVError>> = {
  KEY_NOT_FOUND: KeyNotFoundError,
  READ_ONLY: ReadOnlyError,
  ABORTED: AbortedError,
}

/** The error for `code`, of its class. */
export function immukvError(info: ErrorInfo, options?: { cause?: unknown }): ImmuKVError {
  const Cls = CLASSES[info.code] ?? ImmuKVError
  return new Cls(info, options)
}

/** What the native side rejects with. */
interface NativeErrorInfo extends ErrorInfo {
  immukv: true
  causes: string[]
  credentialsErrorId?: number
}

function isNativeError(x: unknown): x is NativeErrorInfo {
  return typeof x === 'object' && x !== null && (x as { immukv?: unknown }).immukv === true
}

/** Errors thrown by credentials functions, by the id the native side knows them by. */
const providerErrors = new Map<number, unknown>()
let nextProviderErrorId = 1

export function rememberProviderError(err: unknown): number {
  const id = nextProviderErrorId++
  providerErrors.set(id, err)
  // Keep only recent ones: a provider failing forever must not grow memory.
  if (providerErrors.size > 64) providerErrors.delete(providerErrors.keys().next().value as number)
  return id
}

/** A native rejection (or anything else thrown) as an ImmuKVError. */
export function fromNative(err: unknown, extra?: { abortReason?: unknown }): ImmuKVError {
  if (err instanceof ImmuKVError) return err
  if (!isNativeError(err)) {
    const message = err instanceof Error ? err.message : String(err)
    return new ImmuKVError({ code: 'INTERNAL_ERROR', message: `unexpected failure: ${message}` }, { cause: err })
  }
  let cause: unknown
  if (err.credentialsErrorId !== undefined && providerErrors.has(err.credentialsErrorId)) {
    cause = providerErrors.get(err.credentialsErrorId)
  } else if (err.code === 'ABORTED' && extra?.abortReason !== undefined) {
    cause = extra.abortReason
  } else {
    // The chain as real errors, innermost last.
    cause = err.causes.reduceRight<Error | undefined>((inner, message) => new Error(message, inner ? { cause: inner } : undefined), undefined)
  }
  const { code, message, operation, bucket, path, mayHaveCommitted } = err
  return immukvError({ code, message, operation, bucket, path, mayHaveCommitted }, cause === undefined ? undefined : { cause })
}

/** Throws an ImmuKVError for a failed argument check. */
export function expect(cond: unknown, code: ErrorCode, message: string): asserts cond {
  if (!cond) throw immukvError({ code, message })
}
