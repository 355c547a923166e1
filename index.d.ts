/** Any value JSON can carry. */
export type JSONValue = null | boolean | number | string | JSONValue[] | { [key: string]: JSONValue }

/** Credentials for S3 requests. */
export interface Credentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
  /** When they stop working; the function is called again before then (every 15 minutes when absent). */
  expiration?: Date | number
}

/** Returns credentials; called again when the ones it returned expire. */
export type CredentialsProvider = () => Promise<Credentials>

export interface Overrides {
  /** S3-compatible endpoint, e.g. `http://127.0.0.1:9000`. */
  endpointUrl?: string
  /** Static credentials or a provider function. Default: AWS's default credential chain. */
  credentials?: Credentials | CredentialsProvider
  /** Path-style URLs. Default: true when `endpointUrl` is set, else false. */
  forcePathStyle?: boolean
}

export interface Config {
  s3Bucket: string
  s3Region: string
  /** Prepended verbatim to every object path; `""` allowed, normally ends in `/`. */
  s3Prefix: string
  /** When set, every write uses SSE-KMS with this key. */
  kmsKeyId?: string
  /** Readers check for (and repair) an orphan log head at most this often. Default 300000. */
  repairCheckIntervalMs?: number
  /** When true, no write of any kind is attempted. Default false. */
  readOnly?: boolean
  overrides?: Overrides
  /** Timeout of one HTTP attempt (a large value must upload within it). Default 10000. */
  requestTimeoutMs?: number
  /** Timeout of connecting. Default 2000. */
  connectTimeoutMs?: number
  /** Budget of one call, retries included (a contended `set` retries until it runs out). Default 30000. */
  operationTimeoutMs?: number
  /** Object reads in flight at once in `history`, `logEntries`, `verifyLog`. Default 32. */
  readConcurrency?: number
  /** Objects per list request, 1-1000. Default 1000. */
  listPageSize?: number
  /** Largest value `set` accepts, in bytes of canonical JSON. Default 4194304 (4 MiB). */
  maxValueBytes?: number
}

export interface Entry<K extends string = string, V = JSONValue> {
  key: K
  value: V
  timestampMs: number
  /** S3 version id of the log version holding this entry. */
  versionId: string
  sequence: number
  /** Log version id of the previous entry (log reads only; key objects do not carry it). */
  previousVersionId?: string
  hash: string
  previousHash: string
  /** ETag of the key object before this entry (log reads only). */
  previousKeyObjectEtag?: string
}

/** The log head at some moment. Save it; pass it later as `trusted`. */
export interface Digest {
  sequence: number
  versionId: string
  hash: string
}

export type FailureKind =
  | 'hash_mismatch'
  | 'broken_link'
  | 'sequence_gap'
  | 'wrong_previous_version'
  | 'bad_genesis'
  | 'key_object_mismatch'
  | 'trusted_mismatch'
  | 'truncated'
  | 'unreadable'
  | 'hidden_head'

export interface VerifyFailure {
  sequence?: number
  versionId?: string
  kind: FailureKind
  detail: string
}

export interface VerifyReport {
  ok: boolean
  /** Log entries checked. */
  checked: number
  failures: VerifyFailure[]
  /** The head when checked: save it as the next `trusted`. */
  head?: Digest
}

export interface VerifyOptions {
  /** Newest entries to check; all when omitted. */
  limit?: number
  /** A digest saved earlier: the log must still contain it, unchanged, and extend it. */
  trusted?: Digest
  /** Compare each key's latest entry with its key object. Default true. */
  checkKeyObjects?: boolean
}

export type ErrorCode =
  | 'INVALID_CONFIG'
  | 'INVALID_KEY'
  | 'INVALID_VALUE'
  | 'INVALID_ARGUMENT'
  | 'KEY_NOT_FOUND'
  | 'VERSION_NOT_FOUND'
  | 'READ_ONLY'
  | 'VERSIONING_DISABLED'
  | 'WRITE_CONFLICT'
  | 'ACCESS_DENIED'
  | 'NO_SUCH_BUCKET'
  | 'STORAGE_ERROR'
  | 'CORRUPT_ENTRY'
  | 'CLIENT_CLOSED'

/** Every rejection of this package is an ImmuKVError with a stable `code`. */
export declare class ImmuKVError extends Error {
  readonly code: ErrorCode
  /** The S3 operation that failed, e.g. `PutObject`. */
  readonly operation?: string
  readonly bucket?: string
  readonly path?: string
  /** For a failed `set`: whether the entry may be in the log all the same (`false` means it is not). */
  readonly mayHaveCommitted?: boolean
}
export declare class KeyNotFoundError extends ImmuKVError {
  readonly code: 'KEY_NOT_FOUND'
}
export declare class ReadOnlyError extends ImmuKVError {
  readonly code: 'READ_ONLY'
}

export declare class ImmuKVClient<K extends string = string, V = JSONValue> {
  constructor(config: Config, decoder?: (json: JSONValue) => V, encoder?: (value: V) => JSONValue)
  /** Appends `key = value` to the log and updates the key object. */
  set(key: K, value: V): Promise<Entry<K, V>>
  /** The latest entry of `key`; rejects with KeyNotFoundError when absent. */
  get(key: K): Promise<Entry<K, V>>
  /** One log entry by its S3 version id. */
  getLogVersion(versionId: string): Promise<Entry<K, V>>
  /** Entries of `key`, newest first; the second item is the oldest key-object version id returned, for paging. */
  history(key: K, beforeVersionId?: string, limit?: number): Promise<[Entry<K, V>[], string | undefined]>
  /** Log entries, newest first, across all keys. */
  logEntries(beforeVersionId?: string, limit?: number): Promise<Entry<K, V>[]>
  /** Every log entry, newest first, read a page at a time. */
  entries(pageSize?: number): AsyncGenerator<Entry<K, V>, void, undefined>
  listKeys(afterKey?: K, limit?: number): Promise<K[]>
  listKeysWithPrefix(prefix: string, afterKey?: K, limit?: number): Promise<K[]>
  /** Recomputes this entry's hash (either writer dialect). */
  verify(entry: Entry<K, V>): boolean | Promise<boolean>
  /** Hashes and links of the newest `limit` entries (all when omitted). */
  verifyLogChain(limit?: number): Promise<boolean>
  /** Detailed verification: every failure located by sequence and version id. */
  verifyLog(options?: VerifyOptions): Promise<VerifyReport>
  /** The current log head, or undefined for an empty log. */
  digest(): Promise<Digest | undefined>
  /** A client on the same connection pool, with its own codec and repair state. */
  withCodec<K2 extends string, V2>(decoder: (json: JSONValue) => V2, encoder: (value: V2) => JSONValue): ImmuKVClient<K2, V2>
  close(): Promise<void>
}
