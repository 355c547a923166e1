// The config: checked for unknown fields and wrong types here (the types
// are JavaScript's business), then handed to the core, which owns the value
// rules and every default.

import type { NativeConfig, NativeMemoryConfig } from '../index'
import { expect, rememberProviderError } from './errors'

/** Credentials for S3 requests. */
export interface Credentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
  /** When they stop working; the function is called again before then (every 15 minutes when absent). */
  expiration?: Date | number
}

/** Returns credentials; called again before the ones it returned expire. */
export type CredentialsProvider = () => Promise<Credentials>

export interface Overrides {
  /** S3-compatible endpoint, e.g. `http://127.0.0.1:9000`. */
  endpointUrl?: string
  /** Static credentials or a provider function. Default: AWS's default credential chain. */
  credentials?: Credentials | CredentialsProvider
  /** Path-style URLs. Default: true when `endpointUrl` is set, else false. */
  forcePathStyle?: boolean
}

/** Protocol settings, also taken by in-memory clients. */
export interface StoreOptions {
  /** Prepended verbatim to every object path; `""` allowed, normally ends in `/`. */
  s3Prefix?: string
  /** Readers check for (and repair) an orphan log head at most this often (ms). */
  repairCheckIntervalMs?: number
  /** When true, no write of any kind is attempted. */
  readOnly?: boolean
  /** Budget of one call, retries included (ms); no call but `verifyLog` takes longer. */
  operationTimeoutMs?: number
  /** Object reads in flight at once in `history`, `logEntries`, `verifyLog`. */
  readConcurrency?: number
  /** Objects per list request, 1-1000. */
  listPageSize?: number
  /** Largest value `set` accepts, in bytes of canonical JSON. */
  maxValueBytes?: number
}

export interface Config extends StoreOptions {
  s3Bucket: string
  /** Default: `AWS_REGION`, `AWS_DEFAULT_REGION`, or the AWS profile's region. */
  s3Region?: string
  s3Prefix: string
  /** When set, every write uses SSE-KMS with this key. */
  kmsKeyId?: string
  overrides?: Overrides
  /** One HTTP attempt (ms); a large value must upload within it. */
  requestTimeoutMs?: number
  /** Connecting (ms). */
  connectTimeoutMs?: number
}

type Spec = Record<string, 'string' | 'string?' | 'number?' | 'boolean?' | 'object?' | 'any'>

const STORE_OPTIONS: Spec = {
  s3Prefix: 'string?',
  repairCheckIntervalMs: 'number?',
  readOnly: 'boolean?',
  operationTimeoutMs: 'number?',
  readConcurrency: 'number?',
  listPageSize: 'number?',
  maxValueBytes: 'number?',
}

const CONFIG: Spec = {
  ...STORE_OPTIONS,
  s3Bucket: 'string',
  s3Region: 'string?',
  s3Prefix: 'string',
  kmsKeyId: 'string?',
  overrides: 'object?',
  requestTimeoutMs: 'number?',
  connectTimeoutMs: 'number?',
}

const OVERRIDES: Spec = { endpointUrl: 'string?', forcePathStyle: 'boolean?', credentials: 'any' }

function checkFields(obj: object, spec: Spec, where: string): void {
  for (const k of Object.keys(obj)) {
    expect(k in spec, 'INVALID_CONFIG', `${where}${k} is not a known option (known: ${Object.keys(spec).join(', ')})`)
  }
  for (const [k, type] of Object.entries(spec)) {
    const v = (obj as Record<string, unknown>)[k]
    if (type === 'any') continue
    const optional = type.endsWith('?')
    const base = type.replace('?', '')
    if (v === undefined && optional) continue
    expect(v !== undefined, 'INVALID_CONFIG', `${where}${k} is required`)
    const ok = base === 'object' ? typeof v === 'object' && v !== null && !Array.isArray(v) : typeof v === base
    expect(ok, 'INVALID_CONFIG', `${where}${k} must be a ${base}, got ${v === null ? 'null' : typeof v}`)
  }
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
  checkFields(config, CONFIG, '')
  const c = config as Config
  const o = c.overrides ?? {}
  checkFields(o, OVERRIDES, 'overrides.')
  const { overrides: _o, ...rest } = c
  const out: NativeConfig = { ...rest, endpointUrl: o.endpointUrl, forcePathStyle: o.forcePathStyle }
  const cred = o.credentials
  if (typeof cred === 'function') return { config: out, provider: credentialsFunction(cred) }
  if (cred !== undefined) {
    checkKeyPair(cred, 'overrides.credentials')
    Object.assign(out, { accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey, sessionToken: cred.sessionToken })
  }
  return { config: out }
}

export function nativeMemoryConfig(options: unknown): NativeMemoryConfig {
  if (options === undefined) return {}
  expect(typeof options === 'object' && options !== null, 'INVALID_CONFIG', 'options must be an object')
  checkFields(options, STORE_OPTIONS, '')
  return { ...(options as StoreOptions) }
}
