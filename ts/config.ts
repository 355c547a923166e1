// The config: checked for unknown fields and wrong types here (the types
// are JavaScript's business), then handed to the core, which owns the value
// rules and every default. Each known field is read once, by plain property
// access (getters and inherited fields included), into a fresh object: what
// is checked is what is used.

import type { NativeConfig, NativeMemoryConfig } from '../index'
import { expect, immukvError, rememberProviderError } from './errors'

/** Credentials for S3 requests. */
export interface Credentials {
  accessKeyId: string
  secretAccessKey: string
  /** For temporary credentials (STS). @defaultValue none */
  sessionToken?: string
  /**
   * When they stop working (a `Date`, or milliseconds since the epoch); the
   * function is called again before then.
   * @defaultValue none: the function is called again every 15 minutes
   */
  expiration?: Date | number
}

/** Returns credentials; called again before the ones it returned expire. */
export type CredentialsProvider = () => Promise<Credentials>

export interface Overrides {
  /**
   * S3-compatible endpoint, e.g. `http://127.0.0.1:9000`.
   * @defaultValue AWS S3 (the region's endpoint)
   */
  endpointUrl?: string
  /**
   * Static credentials or a provider function. Static ones are never
   * refreshed, so they take no `expiration`.
   * @defaultValue AWS's default credential chain (environment, shared config/profile, web identity, container and instance roles)
   */
  credentials?: Omit<Credentials, 'expiration'> | CredentialsProvider
  /**
   * Path-style URLs (`endpoint/bucket/key`).
   * @defaultValue true when `endpointUrl` is set, else false
   */
  forcePathStyle?: boolean
}

/**
 * S3 Object Lock on every write: each log and key-object version is retained
 * in `mode` for `days` after it is written, so that the bucket itself refuses
 * to delete it until then. The bucket must have Object Lock enabled
 * (`OBJECT_LOCK_DISABLED` otherwise, before anything is written). A bucket
 * whose default retention rule should apply needs no `objectLock`.
 */
export interface ObjectLock {
  /**
   * `COMPLIANCE`: nobody, the account root included, can delete a version or
   * shorten its retention before the date. `GOVERNANCE`: users with
   * `s3:BypassGovernanceRetention` can.
   */
  mode: 'GOVERNANCE' | 'COMPLIANCE'
  /** Whole days, 1 to 36500, counted from each write (by the writer's clock). */
  days: number
}

/**
 * Protocol settings, also taken by in-memory clients. The numeric defaults
 * live in the Rust core (`core/src/defaults.rs`); a test checks the
 * `@defaultValue`s here against them.
 */
export interface StoreOptions {
  /**
   * Prepended verbatim to every object path; `""` allowed, normally ends in `/`.
   * Required in {@link Config}.
   * @defaultValue `""` (in-memory clients)
   */
  s3Prefix?: string
  /**
   * Readers check for (and repair) an orphan log head at most this often, in milliseconds.
   * @defaultValue 300000
   */
  repairCheckIntervalMs?: number
  /**
   * When true, no write of any kind is attempted (`set` rejects with `READ_ONLY`, no repair is written).
   * @defaultValue false
   */
  readOnly?: boolean
  /**
   * Budget of one call, retries included, in milliseconds; no call but
   * `verifyLog` and `verifyLogChain` takes longer.
   * @defaultValue 30000
   */
  operationTimeoutMs?: number
  /**
   * Object reads in flight at once in `history`, `logEntries`, `verifyLog` and verified reads (a count).
   * @defaultValue 32
   */
  readConcurrency?: number
  /**
   * Objects per list request, 1-1000 (a count).
   * @defaultValue 1000
   */
  listPageSize?: number
  /**
   * Largest value `set` accepts, in bytes of canonical JSON; at most
   * 67043328 (every client reads stored objects up to 64 MiB).
   * @defaultValue 4194304
   */
  maxValueBytes?: number
  /**
   * Log appends this client may send before the key objects of its earlier
   * entries are written, 1-64 (a count). 1 is the protocol shared with the
   * earlier TypeScript and Python clients. Above 1, overlapped sets commit at
   * up to one conditional log PUT each, but a crash can leave orphans below
   * the head that only clients of this package repair: use it only on a
   * store no earlier client writes or reads (README, "Pipelined writes").
   * @defaultValue 1
   */
  pipelineDepth?: number
}

/**
 * Who shares a named in-memory store: the JavaScript environment that opened
 * it (`'environment'`, the default: a worker thread, a Jest test file, a
 * Vitest test file), or every thread of the process (`'process'`).
 */
export type MemoryScope = 'environment' | 'process'

/** Options of `ImmuKVClient.inMemory`: the protocol settings, and the store's scope. */
export interface MemoryOptions extends StoreOptions {
  scope?: MemoryScope
}

export interface Config extends StoreOptions {
  /** The bucket, with versioning enabled. Required. */
  s3Bucket: string
  /**
   * The bucket's region; refused (`INVALID_CONFIG`) when none is given or found.
   * @defaultValue `AWS_REGION`, `AWS_DEFAULT_REGION`, or the AWS profile's region
   */
  s3Region?: string
  /** Prepended verbatim to every object path; `""` allowed, normally ends in `/`. Required. */
  s3Prefix: string
  /**
   * When set, every write uses SSE-KMS with this key (id, ARN or alias).
   * @defaultValue none (the bucket's default encryption)
   */
  kmsKeyId?: string
  /**
   * S3 Object Lock retention on every log and key-object write (see {@link ObjectLock}).
   * @defaultValue none (writes carry no retention of their own; a bucket's default rule still applies)
   */
  objectLock?: ObjectLock
  /** Endpoint, credentials and addressing for S3-compatible servers or explicit credentials. @defaultValue none */
  overrides?: Overrides
  /**
   * One HTTP attempt, in milliseconds; a large value must upload within it.
   * @defaultValue 10000
   */
  requestTimeoutMs?: number
  /**
   * Connecting, in milliseconds.
   * @defaultValue 2000
   */
  connectTimeoutMs?: number
}

/** 'ignored': accepted and left out (fields of other tools' objects). */
type Spec = Record<string, 'string' | 'string?' | 'number' | 'number?' | 'boolean?' | 'object?' | 'any' | 'ignored'>

const STORE_OPTIONS: Spec = {
  s3Prefix: 'string?',
  repairCheckIntervalMs: 'number?',
  readOnly: 'boolean?',
  operationTimeoutMs: 'number?',
  readConcurrency: 'number?',
  listPageSize: 'number?',
  maxValueBytes: 'number?',
  pipelineDepth: 'number?',
}

const CONFIG: Spec = {
  ...STORE_OPTIONS,
  s3Bucket: 'string',
  s3Region: 'string?',
  s3Prefix: 'string',
  kmsKeyId: 'string?',
  objectLock: 'object?',
  overrides: 'object?',
  requestTimeoutMs: 'number?',
  connectTimeoutMs: 'number?',
}

const OBJECT_LOCK: Spec = { mode: 'string', days: 'number' }

const OVERRIDES: Spec = { endpointUrl: 'string?', forcePathStyle: 'boolean?', credentials: 'any' }

// The AWS SDK's credential objects also carry these (it adds $source to objects it was given).
const STATIC_CREDENTIALS: Spec = {
  accessKeyId: 'string',
  secretAccessKey: 'string',
  sessionToken: 'string?',
  accountId: 'ignored',
  credentialScope: 'ignored',
  $source: 'ignored',
}

/**
 * The known fields of `obj`, each read once, type-checked, in a fresh plain
 * object (undefined ones left out). Own fields that are not known are refused
 * (Object.hasOwn: `constructor` or `toString` are not options).
 */
function readFields(obj: object, spec: Spec, where: string): Record<string, unknown> {
  const known = Object.keys(spec).filter((n) => spec[n] !== 'ignored')
  for (const k of Object.keys(obj)) {
    expect(Object.hasOwn(spec, k), 'INVALID_CONFIG', `${where}${k} is not a known option (known: ${known.join(', ')})`)
  }
  const out: Record<string, unknown> = {}
  for (const [k, type] of Object.entries(spec)) {
    if (type === 'ignored') continue
    let v: unknown
    try {
      v = (obj as Record<string, unknown>)[k]
    } catch (err) {
      throw immukvError({ code: 'INVALID_CONFIG', message: `${where}${k} cannot be read: ${err instanceof Error ? err.message : String(err)}` }, { cause: err })
    }
    if (v === undefined) {
      expect(type === 'any' || type.endsWith('?'), 'INVALID_CONFIG', `${where}${k} is required`)
      continue
    }
    const base = type.replace('?', '')
    if (base !== 'any') {
      const ok = base === 'object' ? typeof v === 'object' && v !== null && !Array.isArray(v) : typeof v === base
      expect(ok, 'INVALID_CONFIG', `${where}${k} must be a ${base}, got ${v === null ? 'null' : typeof v}`)
      // Lone surrogates would silently become U+FFFD on the way to Rust (a prefix naming other objects).
      expect(typeof v !== 'string' || v.isWellFormed(), 'INVALID_CONFIG', `${where}${k} contains a lone surrogate (not valid Unicode)`)
    }
    out[k] = v
  }
  return out
}

function checkKeyPair(c: unknown, where: string): asserts c is Credentials {
  expect(typeof c === 'object' && c !== null, 'INVALID_CONFIG', `${where} must be an object with accessKeyId and secretAccessKey`)
  const o = c as Record<string, unknown>
  for (const k of ['accessKeyId', 'secretAccessKey']) {
    expect(typeof o[k] === 'string' && o[k] !== '', 'INVALID_CONFIG', `${where}.${k} must be a non-empty string`)
  }
  expect(o.sessionToken === undefined || typeof o.sessionToken === 'string', 'INVALID_CONFIG', `${where}.sessionToken must be a string`)
}

/**
 * A credentials function for the native side: called once per refresh,
 * what it returns is checked here; when it throws, its error object is kept
 * to become the `cause` of the CREDENTIALS_ERROR the call fails with.
 */
function credentialsFunction(f: CredentialsProvider): () => Promise<string> {
  return async () => {
    try {
      const got: unknown = await f()
      try {
        checkKeyPair(got, 'what the credentials function returned')
      } catch (err) {
        return JSON.stringify({ errorId: rememberProviderError(err), message: (err as Error).message })
      }
      const exp = got.expiration instanceof Date ? got.expiration.getTime() : got.expiration
      return JSON.stringify({
        accessKeyId: got.accessKeyId,
        secretAccessKey: got.secretAccessKey,
        sessionToken: got.sessionToken,
        expiration: typeof exp === 'number' ? exp : undefined,
      })
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      return JSON.stringify({ errorId: rememberProviderError(err), message })
    }
  }
}

export function nativeConfig(config: unknown): { config: NativeConfig; provider?: () => Promise<string> } {
  expect(typeof config === 'object' && config !== null, 'INVALID_CONFIG', 'config must be an object')
  const { overrides, objectLock, ...rest } = readFields(config, CONFIG, '') as unknown as Config
  const o = readFields(overrides ?? {}, OVERRIDES, 'overrides.') as Overrides
  const out: NativeConfig = { ...rest, endpointUrl: o.endpointUrl, forcePathStyle: o.forcePathStyle }
  // Mode and days are the core's to check (the message lists the modes).
  if (objectLock !== undefined) out.objectLock = readFields(objectLock, OBJECT_LOCK, 'objectLock.') as unknown as ObjectLock
  const cred = o.credentials
  if (typeof cred === 'function') return { config: out, provider: credentialsFunction(cred as CredentialsProvider) }
  if (cred !== undefined) {
    expect(
      typeof cred === 'object' && cred !== null,
      'INVALID_CONFIG',
      'overrides.credentials must be an object with accessKeyId and secretAccessKey, or a function',
    )
    expect(
      !Object.hasOwn(cred, 'expiration'),
      'INVALID_CONFIG',
      'overrides.credentials.expiration: static credentials are never refreshed; for expiring ones pass a function that returns them with their expiration',
    )
    const c = readFields(cred, STATIC_CREDENTIALS, 'overrides.credentials.')
    checkKeyPair(c, 'overrides.credentials')
    Object.assign(out, { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken })
  }
  return { config: out }
}

/** The scope of a named in-memory store (README "Testing without S3"). */
export function memoryScope(scope: unknown): MemoryScope {
  expect(scope === undefined || scope === 'environment' || scope === 'process', 'INVALID_CONFIG', "scope must be 'environment' or 'process'")
  return (scope as MemoryScope | undefined) ?? 'environment'
}

export function nativeMemoryConfig(options: unknown): { config: NativeMemoryConfig; scope: MemoryScope } {
  if (options === undefined) return { config: {}, scope: 'environment' }
  expect(typeof options === 'object' && options !== null, 'INVALID_CONFIG', 'options must be an object')
  const { scope, ...config } = readFields(options, { ...STORE_OPTIONS, scope: 'string?' }, '')
  return { config: config as StoreOptions, scope: memoryScope(scope) }
}
