// ImmuKVClient: the public API over the native client. It owns only what is
// JavaScript's: argument types, the codec, AbortSignal wiring, error classes.

import { setMaxListeners } from 'node:events'
import type {
  NativeCancel,
  NativeClient,
  NativeDigest,
  NativeEntry,
  NativeFeed,
  NativeFeedBatch,
  NativeMemoryStore,
  NativeProgress,
  NativeStoreCheck,
} from '../index'
import { type Decoder, type Encoder, type JSONValue, decodeValue, encodeValue, jsView, parseStored } from './codec'
import { type Config, type MemoryOptions, type MemoryScope, type ObjectLock, memoryScope, nativeConfig, nativeMemoryConfig } from './config'
import { type ErrorCode, type ErrorInfo, ImmuKVError, expect, fromNative, immukvError } from './errors'
import { logVersionsInEvent } from './events'
import { native } from './native'

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
  | 'key_object_missing'
  | 'key_object_forged'
  | 'trusted_mismatch'
  | 'truncated'
  | 'unreadable'
  | 'hidden_head'
  | 'retention'

export interface VerifyFailure {
  /** The log entry concerned, when there is one. */
  sequence?: number
  /** The version concerned: of the log, or of the object at `path`. */
  versionId?: string
  /** The object concerned, when it is not the log entry itself (a key object). */
  path?: string
  kind: FailureKind
  detail: string
}

export interface VerifyReport {
  /** No failure, and the trusted digest, if given, was proven. */
  ok: boolean
  /** Log entries checked. */
  checked: number
  failures: VerifyFailure[]
  /** The head when checked: save it as the next `trusted`. */
  head?: Digest
  /**
   * True when there is no log here at all: no version of `_log.json` and no
   * delete marker under the prefix (never written, or a mistyped bucket or
   * prefix). `ok` is then true (nothing is wrong with an empty store), so an
   * audit of a store that must exist checks `empty` too.
   */
  empty: boolean
  /**
   * Where the verified range starts when the oldest log versions are gone
   * under the bucket's retention: a lifecycle rule that removes noncurrent
   * versions (`reason: 'lifecycle'`), or rules that could not be read to tell
   * (`'oldest_missing'`). Absent when the range starts at the first entry, or
   * when `limit` checked only the newest entries. Versions missing above it
   * are still failures.
   */
  horizon?: RetentionHorizon
  /**
   * What became of `trusted`, when given: `'verified'`; `'failed'` (see the
   * failures); or `'expired'`: the digest is older than the horizon, so its
   * entry can be neither proven nor refuted, and `ok` is false without a
   * failure.
   */
  trusted?: 'verified' | 'expired' | 'failed'
}

/** The start of the verified range when the oldest log versions expired. */
export interface RetentionHorizon {
  /** The oldest entry left: the verified range starts here. */
  sequence: number
  versionId: string
  reason: 'lifecycle' | 'oldest_missing'
  /** The rule and what it does, or why the rules could not be read. */
  detail: string
}

/** Lets a call be abandoned. */
export interface CallOptions {
  /**
   * Aborting rejects the call at once with an `AbortError` (an ImmuKVError, code `ABORTED`).
   * @defaultValue none (the call runs to its end or its `operationTimeoutMs`)
   */
  signal?: AbortSignal
}

export interface GetOptions extends CallOptions {
  /**
   * Also prove the entry is in the log: reads the log version the key object
   * names and checks it holds the same entry, intact (one more GET).
   * @defaultValue false
   */
  verify?: boolean
  /**
   * A digest saved earlier: also prove the entry is in the chain that extends
   * it (implies `verify`; one more GET per entry between the two).
   * @defaultValue none
   */
  trusted?: Digest
  /**
   * Point in time: the entry the key had once the entry with this sequence
   * was in the log (KeyNotFoundError if it had none yet; INVALID_ARGUMENT
   * beyond the log's head). Combines with `verify` and `trusted`.
   * @defaultValue none (the latest entry)
   */
  atSequence?: number
  /**
   * Point in time, by the entries' timestamps (the writers' clocks): the
   * key's newest entry stamped at or before this time.
   * @defaultValue none (the latest entry)
   */
  at?: Date
}

/** Where `watch()` starts, what it hands over, how often it looks. */
export interface WatchOptions<K extends string = string> extends CallOptions {
  /**
   * The first sequence to hand over (to resume: the last handled entry's
   * sequence + 1). Default: the entries after the log's head when `watch()`
   * is called (from the first entry when the log is empty): the head is read
   * at once, and an entry appended while that read is on its way may fall on
   * either side of the start; pass `fromSequence` for an exact one.
   * @defaultValue the head's sequence + 1 when `watch()` is called
   */
  fromSequence?: number
  /**
   * Resume after this entry (the last one handled, or the watcher's
   * `position`): the log must still hold it unchanged, else the watch fails.
   * Not with `fromSequence`.
   * @defaultValue none
   */
  after?: Digest
  /** Only entries of these keys are handed over (every entry is still read and verified). @defaultValue every key */
  keys?: readonly K[]
  /** Only entries whose key starts with this (with `keys`: entries matching either). @defaultValue every key */
  keyPrefix?: string
  /** Milliseconds between two looks at the log while nothing is new (at most a day). @defaultValue 1000 */
  pollIntervalMs?: number
}

/**
 * An async iterator over the log (see `watch()`). `return()` (a `break` out
 * of `for await`) stops it at once, also while it waits.
 */
export interface Watcher<K extends string = string, V = JSONValue> extends AsyncIterableIterator<Entry<K, V>> {
  /**
   * The last entry read and verified: handed over, or passed over by the key
   * filter. `watch({ after: position })` goes on from there. Undefined until
   * the watcher has started (or before the log's first entry).
   */
  readonly position: Digest | undefined
  next(): Promise<IteratorResult<Entry<K, V>, undefined>>
  return(): Promise<IteratorResult<Entry<K, V>, undefined>>
  [Symbol.asyncIterator](): Watcher<K, V>
}

export interface SetManyOptions<K extends string = string, V = JSONValue> extends CallOptions {
  /** Called for each committed entry, in order: its item's index, how many committed so far, the entry. @defaultValue none */
  onProgress?: (progress: { index: number; done: number; entry: Entry<K, V> }) => void
  /**
   * Sets overlapped at once (a count, 1-10000): enough to keep the pipeline
   * full, without holding a whole file in memory.
   * @defaultValue 64
   */
  inFlight?: number
}

/** What `setMany` committed. */
export interface SetManyResult<K extends string = string, V = JSONValue> {
  count: number
  first?: Entry<K, V>
  last?: Entry<K, V>
}

export interface VerifyProgress {
  phase: 'listing log' | 'checking log' | 'listing keys' | 'checking key objects'
  /** Log versions (listing, checking log), key objects listed, or keys checked ('checking key objects'). */
  done: number
  total?: number
}

export interface VerifyOptions extends CallOptions {
  /**
   * Newest entries to check (a count; `null` too means all).
   * @defaultValue all entries
   */
  limit?: number
  /**
   * A digest saved earlier: the log must still contain it, unchanged, and extend it.
   * @defaultValue none (nothing trusted)
   */
  trusted?: Digest
  /**
   * Check key objects too: every version must hold the log entry it names
   * (the same fields, a value that means the same), each key's latest object
   * must hold the key's latest entry, and every checked entry must be held by
   * a version of its key object.
   * @defaultValue true
   */
  checkKeyObjects?: boolean
  /**
   * Also check S3 Object Lock: every log version, and every key-object
   * version read, must be retained, not past its date, and at least as
   * strongly and as long as `objectLock` (or else the bucket's default
   * retention rule) asks, counted from when it was written; each that falls
   * short is a `retention` failure, and a bucket without Object Lock is one.
   * One GetObjectRetention per version.
   * @defaultValue false
   */
  checkRetention?: boolean
  /**
   * Called as the check goes (throttled), e.g. for a progress bar. If it
   * throws, the check stops and the call rejects (INVALID_ARGUMENT, `cause`
   * the callback's error).
   * @defaultValue none
   */
  onProgress?: (progress: VerifyProgress) => void
}

/** Counters since the client was made (forks share them). */
export interface Stats {
  /**
   * Requests sent, by operation: counted when sent, also those whose answer
   * the client stopped waiting for. `bucketConfig`: reads of the bucket's
   * lifecycle configuration (verifyLog reads it when the oldest log versions
   * are gone), Object Lock configuration and default encryption;
   * `getObjectRetention`: retention reads of `verifyLog({ checkRetention })`
   * and `checkStore()`.
   */
  requests: {
    get: number
    head: number
    put: number
    listVersions: number
    listObjects: number
    getBucketVersioning: number
    bucketConfig: number
    getObjectRetention: number
    total: number
  }
  /** Requests that failed (any reason, retried or not). */
  requestErrors: number
  bytesSent: number
  bytesReceived: number
  retries: number
  conflicts: number
  repairs: number
  repairsFailed: number
  commits: number
  settled: number
}

/** What a `checkStore()` finding is about. */
export type StoreCheckKind = 'bucket' | 'versioning' | 'object_lock' | 'lifecycle' | 'encryption' | 'permission' | 'conditional_writes' | 'log'

/**
 * How a finding bears on using the store: `blocking` (the store cannot be
 * used until it is fixed), `warning` (it works, but history or its audit is at
 * risk), `unknown` (could not be determined: not permitted, or the server does
 * not implement the request), `info`, `ok`.
 */
export type StoreCheckStatus = 'ok' | 'info' | 'warning' | 'blocking' | 'unknown'

export interface StoreFinding {
  check: StoreCheckKind
  status: StoreCheckStatus
  /** What was found, and what it means. */
  summary: string
  /** The command (usually `aws s3api ...`) that fixes it. */
  fix?: string
  /** The IAM action of a `permission` finding, the rule id of a `lifecycle` one. */
  subject?: string
}

/** What `checkStore()` found: the bucket and the credentials, checked for use as a store. */
export interface StoreCheck {
  /** Nothing blocks using the store (no `blocking` finding). */
  ok: boolean
  bucket: string
  prefix: string
  versioning: 'enabled' | 'suspended' | 'off' | 'unknown'
  objectLock: { state: 'enabled' | 'disabled' | 'unknown'; defaultRetention?: ObjectLock; detail?: string }
  encryption: { state: 'SSE-S3' | 'SSE-KMS' | 'none' | 'other' | 'unknown'; kmsKeyId?: string; detail?: string }
  /** The log under the prefix; `versionId` is the head's, or for `deleted` the delete marker's. */
  log: { state: 'present' | 'empty' | 'deleted' | 'unreadable' | 'unknown'; sequence?: number; versionId?: string; detail?: string }
  /** Every finding, `blocking` first, then `warning`, `unknown`, `info`, `ok`. */
  findings: StoreFinding[]
}

/** An IAM policy document (`Version` 2012-10-17). */
export interface PolicyDocument {
  Version: string
  Statement: { Sid: string; Effect: 'Allow'; Action: string[]; Resource: string; Condition?: Record<string, Record<string, string>> }[]
}

/** Drops `undefined`/`null` fields (the native side sends `null` for absent ones). */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null)) as T
}

function storeCheck(n: NativeStoreCheck): StoreCheck {
  const lock = n.objectLock
  return {
    ok: n.ok,
    bucket: n.bucket,
    prefix: n.prefix,
    versioning: n.versioning as StoreCheck['versioning'],
    objectLock: defined({
      state: lock.state as StoreCheck['objectLock']['state'],
      defaultRetention:
        lock.defaultMode != null && lock.defaultDays != null ? { mode: lock.defaultMode as ObjectLock['mode'], days: lock.defaultDays } : undefined,
      detail: lock.detail,
    }),
    encryption: defined({ ...n.encryption, state: n.encryption.state as StoreCheck['encryption']['state'] }),
    log: defined({ ...n.log, state: n.log.state as StoreCheck['log']['state'] }),
    findings: n.findings.map((f) => defined({ ...f, check: f.check as StoreCheckKind, status: f.status as StoreCheckStatus })),
  }
}

const FORK = Symbol('immukv.fork')
/** How inMemory() and withCodec() hand a shared native client to the constructor. */
type Fork = { [FORK]: Shared; root: boolean }

/** What a client and its `withCodec` forks share. */
interface Shared {
  native: NativeClient
  /** Calls of the client and its forks in flight (close() waits for them). */
  inFlight: Set<Promise<unknown>>
  /** The root client's close() was called: its forks refuse new calls too. */
  closed: boolean
}

// Value JSON exactly as stored, per entry object: lets verify() recompute a
// hash over the stored text (a Python writer's `1.0` is JavaScript's `1`, its
// `NaN` no JSON at all). `nonFinite`: the text holds NaN or Infinity.
const storedValue = new WeakMap<object, { json: string; nonFinite: boolean }>()

const identity = <T>(x: T): T => x

function checkKey(key: unknown, name = 'key'): asserts key is string {
  expect(typeof key === 'string', 'INVALID_KEY', `${name} must be a string, got ${typeof key}`)
  // Lone surrogates would silently become U+FFFD on the way to Rust.
  expect(key.isWellFormed(), 'INVALID_KEY', `${name} contains a lone surrogate (not valid Unicode)`)
}

/** A limit: a number, or undefined or null for none (the core checks its value). */
function checkLimit(limit: unknown, name = 'limit'): void {
  expect(limit === undefined || limit === null || typeof limit === 'number', 'INVALID_ARGUMENT', `${name} must be a number, got ${typeof limit}`)
}

/** A string argument: lone surrogates would silently become U+FFFD on the way to Rust. */
function checkString(v: unknown, name: string): asserts v is string {
  expect(typeof v === 'string', 'INVALID_ARGUMENT', `${name} must be a string`)
  expect(v.isWellFormed(), 'INVALID_ARGUMENT', `${name} contains a lone surrogate (not valid Unicode)`)
}

function checkCursor(v: unknown, name: string): void {
  if (v !== undefined && v !== null) checkString(v, name)
}

function checkOptions(o: unknown): void {
  expect(o === undefined || (typeof o === 'object' && o !== null), 'INVALID_ARGUMENT', 'options must be an object')
  const signal = (o as CallOptions | undefined)?.signal
  expect(
    signal === undefined ||
      (typeof signal === 'object' &&
        signal !== null &&
        typeof signal.aborted === 'boolean' &&
        typeof signal.addEventListener === 'function' &&
        typeof signal.removeEventListener === 'function'),
    'INVALID_ARGUMENT',
    'signal must be an AbortSignal',
  )
}

function checkDigest(d: unknown, name: string): asserts d is Digest | undefined {
  if (d === undefined) return
  const t = d as Digest
  expect(
    typeof d === 'object' && d !== null && Number.isSafeInteger(t.sequence) && t.sequence >= 0 && typeof t.versionId === 'string' && typeof t.hash === 'string',
    'INVALID_ARGUMENT',
    `${name} must be a digest: { sequence, versionId, hash }`,
  )
  checkString(t.versionId, `${name}.versionId`)
  checkString(t.hash, `${name}.hash`)
}

function aborted(signal: AbortSignal, extra?: Partial<ErrorInfo>): ImmuKVError {
  return immukvError({ code: 'ABORTED', message: 'the operation was aborted', ...extra }, { cause: signal.reason })
}

/** Codes that mean a `set` was refused before its log append was sent. */
const NOT_SENT = new Set<ErrorCode>(['INVALID_CONFIG', 'INVALID_KEY', 'INVALID_VALUE', 'INVALID_ARGUMENT', 'READ_ONLY', 'CLIENT_CLOSED'])

/** A failed set says whether it may have committed (README): for these, it cannot have. */
function refusedSet(err: unknown): unknown {
  if (err instanceof ImmuKVError && err.mayHaveCommitted === undefined && NOT_SENT.has(err.code)) {
    ;(err as { mayHaveCommitted?: boolean }).mayHaveCommitted = false
  }
  return err
}

// The named in-memory stores of a JavaScript environment live on its global
// object: each worker thread, each Jest test file and each Vitest test file
// (its worker, or its vm context) has its own, while a module registry reset
// (jest.resetModules) keeps them. Test files run side by side in one process
// then never share a store by accident. Keyed by the native class as well,
// so that two copies of the package never mix their stores.
const ENVIRONMENT_STORES = Symbol.for('immukv.inMemoryStores')

function environmentStores(): Map<string, NativeMemoryStore> {
  const global = globalThis as unknown as Record<symbol, WeakMap<object, Map<string, NativeMemoryStore>> | undefined>
  let byBinding = global[ENVIRONMENT_STORES]
  if (byBinding === undefined) {
    byBinding = new WeakMap()
    Object.defineProperty(globalThis, ENVIRONMENT_STORES, { value: byBinding, configurable: true })
  }
  let stores = byBinding.get(native.NativeMemoryStore)
  if (stores === undefined) {
    stores = new Map()
    byBinding.set(native.NativeMemoryStore, stores)
  }
  return stores
}

/** The store `inMemory(name, { scope })` opens: private without a name. */
function memoryStore(name: string | undefined, scope: MemoryScope): NativeMemoryStore {
  if (name === undefined) {
    expect(scope === 'environment', 'INVALID_CONFIG', "scope 'process' shares a named store: give inMemory a name")
    return new native.NativeMemoryStore('memory')
  }
  if (scope === 'process') return native.NativeMemoryStore.processWide(name)
  const stores = environmentStores()
  let store = stores.get(name)
  if (store === undefined) {
    store = new native.NativeMemoryStore(name)
    stores.set(name, store)
  }
  return store
}

export class ImmuKVClient<K extends string = string, V = JSONValue> {
  readonly #shared: Shared
  readonly #decode: Decoder<V>
  readonly #encode: Encoder<V>
  readonly #isFork: boolean
  #closed = false
  readonly #inFlight = new Set<Promise<unknown>>()

  /**
   * A client on S3. `decoder` turns stored JSON into your `V` on every read;
   * `encoder` turns `V` into JSON on every write. Both default to the
   * identity. No request is made until the first call.
   * @throws {@link ImmuKVError} `INVALID_CONFIG`: an unknown field, a wrong type, a value out of range, no region found
   */
  constructor(config: Config, decoder?: Decoder<V>, encoder?: Encoder<V>) {
    expect(decoder === undefined || typeof decoder === 'function', 'INVALID_CONFIG', 'decoder must be a function')
    expect(encoder === undefined || typeof encoder === 'function', 'INVALID_CONFIG', 'encoder must be a function')
    const fork = config as unknown as Partial<Fork> | null
    if (fork?.[FORK]) {
      this.#shared = fork[FORK]
      this.#isFork = !fork.root
    } else {
      const { config: c, provider } = nativeConfig(config)
      try {
        this.#shared = { native: new native.NativeClient(c, provider), inFlight: new Set(), closed: false }
      } catch (err) {
        throw fromNative(err)
      }
      this.#isFork = false
    }
    this.#decode = decoder ?? (identity as unknown as Decoder<V>)
    this.#encode = encoder ?? (identity as unknown as Encoder<V>)
  }

  /**
   * A client on an in-memory store that behaves like a versioned S3 bucket
   * (conditional writes, versions, delete markers), with the same protocol
   * and verification. Without a `name` the store is private. Clients opened
   * with the same `name` in one JavaScript environment (a worker thread, a
   * Jest or Vitest test file) share one store; with `scope: 'process'`, every
   * thread of the process shares it. For tests and local development only:
   * nothing is persisted.
   * @param name - the shared store's name; @defaultValue a private store
   * @param options - protocol settings (see {@link StoreOptions} for each default) and `scope`
   * @throws {@link ImmuKVError} `INVALID_CONFIG`: a name that is not valid Unicode, an unknown option, a wrong type or value
   */
  static inMemory<K extends string = string, V = JSONValue>(name?: string, options?: MemoryOptions): ImmuKVClient<K, V> {
    expect(name === undefined || (typeof name === 'string' && name.isWellFormed()), 'INVALID_CONFIG', 'name must be a string (valid Unicode)')
    const { config: opts, scope } = nativeMemoryConfig(options)
    let n: NativeClient
    try {
      n = native.NativeClient.inMemory(memoryStore(name, scope), opts)
    } catch (err) {
      throw fromNative(err)
    }
    const root: Fork = { [FORK]: { native: n, inFlight: new Set(), closed: false }, root: true }
    return new ImmuKVClient<K, V>(root as unknown as Config)
  }

  /**
   * Forgets the named in-memory store of this JavaScript environment (or,
   * with `scope: 'process'`, the process-wide one): the next `inMemory(name)`
   * starts empty. Clients already open keep theirs.
   * @returns whether there was such a store
   * @throws {@link ImmuKVError} `INVALID_ARGUMENT`: `name` is not a string of valid Unicode, or a bad `scope`
   */
  static dropInMemory(name: string, options?: { scope?: MemoryScope }): boolean {
    checkString(name, 'name')
    expect(options === undefined || (typeof options === 'object' && options !== null), 'INVALID_ARGUMENT', 'options must be an object')
    if (memoryScope(options?.scope) === 'process') return native.NativeMemoryStore.dropProcessWide(name)
    return environmentStores().delete(name)
  }

  /**
   * Runs one native call: refused once closed, tracked for close(), wired to
   * the signal. `refused` is added to the errors of a call refused here;
   * `cancellable` hands `run` a cancel token even without a signal.
   */
  #call<T>(
    options: CallOptions | undefined,
    run: (cancel: NativeCancel | undefined) => Promise<T>,
    { refused, cancellable = false, untracked = false }: { refused?: Partial<ErrorInfo>; cancellable?: boolean; untracked?: boolean } = {},
  ): Promise<T> {
    if (this.#closed || this.#shared.closed) return Promise.reject(immukvError({ code: 'CLIENT_CLOSED', message: 'the client is closed', ...refused }))
    const signal = options?.signal
    if (signal?.aborted) return Promise.reject(aborted(signal, refused))
    let cancel: NativeCancel | undefined
    let onAbort: (() => void) | undefined
    if (signal || cancellable) cancel = new native.NativeCancel()
    if (signal && cancel) {
      const c = cancel
      onAbort = () => c.cancel()
      signal.addEventListener('abort', onAbort, { once: true })
    }
    const p = run(cancel)
      .catch((err: unknown) => {
        throw fromNative(err, { abortReason: signal?.reason })
      })
      .finally(() => {
        if (onAbort) signal?.removeEventListener('abort', onAbort)
        this.#inFlight.delete(p)
        this.#shared.inFlight.delete(p)
      })
    // A watcher waiting for entries never ends by itself: close() ends it
    // (the native close wakes it), so close() must not wait for it first.
    if (!untracked) {
      this.#inFlight.add(p)
      this.#shared.inFlight.add(p)
    }
    return p
  }

  #entry(n: NativeEntry, value?: V): Entry<K, V> {
    const entry: Entry<K, V> = {
      key: n.key as K,
      value: value === undefined ? decodeValue(this.#decode, n.valueJson ?? 'null', n.valueNonFinite) : value,
      timestampMs: n.timestampMs,
      versionId: n.versionId,
      sequence: n.sequence,
      hash: n.hash,
      previousHash: n.previousHash,
    }
    if (n.previousVersionId != null) entry.previousVersionId = n.previousVersionId
    if (n.previousKeyObjectEtag != null) entry.previousKeyObjectEtag = n.previousKeyObjectEtag
    if (n.valueJson != null) storedValue.set(entry, { json: n.valueJson, nonFinite: n.valueNonFinite })
    return entry
  }

  /**
   * Appends `key = value` to the log, then writes the key object. Resolves
   * once the entry is committed; a failure says in `mayHaveCommitted`
   * whether the entry may be in the log all the same.
   * @throws {@link ImmuKVError} `INVALID_KEY`, `INVALID_VALUE`, `INVALID_ARGUMENT` before any request (`mayHaveCommitted: false`)
   * @throws {@link ReadOnlyError} `READ_ONLY` on a `readOnly` client
   * @throws {@link ImmuKVError} `VERSIONING_DISABLED` (the bucket does not version), `WRITE_CONFLICT` (other writers kept winning for `operationTimeoutMs`), `LOG_DELETED` (a delete marker hides a log that has entries), `CORRUPT_ENTRY` (the head fails its hash: never extended)
   * @throws {@link ImmuKVError} `STORAGE_ERROR` (5xx, throttling, timeouts, network, after retries; `operationTimeoutMs` ran out), `ACCESS_DENIED`, `NO_SUCH_BUCKET`, `CREDENTIALS_ERROR`
   * @throws {@link AbortedError} `ABORTED` when `signal` fires; {@link ImmuKVError} `CLIENT_CLOSED` after `close()`, `INTERNAL_ERROR` for a bug in ImmuKV
   */
  async set(key: K, value: V, options?: CallOptions): Promise<Entry<K, V>> {
    let json: string
    try {
      checkKey(key)
      checkOptions(options)
      json = encodeValue(this.#encode, value)
    } catch (err) {
      throw refusedSet(err)
    }
    const n = await this.#call(options, (cancel) => this.#shared.native.set(key, json, cancel), { refused: { mayHaveCommitted: false } }).catch(
      (err: unknown) => {
        throw refusedSet(err) // READ_ONLY, CLIENT_CLOSED from the core
      },
    )
    // Committed: the caller's value is the answer, whatever a decoder would make of it.
    return this.#entry(n, value)
  }

  /**
   * Sets every `[key, value]` of `items` (an array, any iterable, or an async
   * iterable, read as it goes), in order, keeping up to `inFlight` sets
   * overlapped through this client's one pipeline: a bulk load at the
   * pipeline's pace (with `pipelineDepth` above 1, about one conditional log
   * PUT per entry). Each committed entry is reported to `onProgress`, in
   * order. Resolves with the count and the first and last entries.
   *
   * On the first failed set it stops reading `items`, aborts the sets still
   * queued behind it (one already in the log is kept, and reported), and
   * rejects with that set's error, carrying `index` (the failed item) and
   * `committed` (how many items committed; all of them were reported). The
   * failed item itself says `mayHaveCommitted`. A set sent behind the failed
   * one may still have committed: it was reported to `onProgress` (and
   * counted in `committed`). To resume, start again from `index`, leaving
   * out the items reported after it, when `mayHaveCommitted` is false;
   * otherwise read the log first (`immukv import` does this for you).
   * @throws {@link ImmuKVError} what `set` throws, with `index` and `committed`; `INVALID_ARGUMENT` for items that are not `[key, value]` pairs or bad options (nothing sent)
   */
  async setMany(items: Iterable<readonly [K, V]> | AsyncIterable<readonly [K, V]>, options: SetManyOptions<K, V> = {}): Promise<SetManyResult<K, V>> {
    expect(typeof options === 'object' && options !== null, 'INVALID_ARGUMENT', 'options must be an object')
    checkOptions({ signal: options.signal })
    const { onProgress, inFlight = 64, signal } = options
    expect(onProgress === undefined || typeof onProgress === 'function', 'INVALID_ARGUMENT', 'onProgress must be a function')
    expect(Number.isSafeInteger(inFlight) && inFlight >= 1 && inFlight <= 10_000, 'INVALID_ARGUMENT', 'inFlight must be a whole number from 1 to 10000')
    expect(
      items !== null && typeof items === 'object' && (Symbol.iterator in items || Symbol.asyncIterator in items),
      'INVALID_ARGUMENT',
      'items must be an iterable of [key, value] pairs',
    )
    // Aborting the caller's signal, or a failed set, aborts the queued sets.
    const stop = new AbortController()
    // Every set in flight listens on it.
    setMaxListeners(inFlight + 8, stop.signal)
    const onAbort = () => stop.abort(signal?.reason)
    signal?.addEventListener('abort', onAbort, { once: true })
    if (signal?.aborted) onAbort()
    const queue: { index: number; set: Promise<Entry<K, V>> }[] = []
    let done = 0
    let first: Entry<K, V> | undefined
    let last: Entry<K, V> | undefined
    let failure: { index: number; error: unknown } | undefined
    const settleOldest = async (): Promise<void> => {
      const { index, set } = queue.shift() as { index: number; set: Promise<Entry<K, V>> }
      try {
        const entry = await set
        done += 1
        first ??= entry
        last = entry
        onProgress?.({ index, done, entry })
      } catch (error) {
        if (failure === undefined) {
          failure = { index, error }
          stop.abort(error)
        }
      }
    }
    let index = 0
    try {
      for await (const item of items as AsyncIterable<readonly [K, V]>) {
        if (failure !== undefined || stop.signal.aborted) break
        if (!Array.isArray(item) || item.length !== 2) {
          failure = { index, error: immukvError({ code: 'INVALID_ARGUMENT', message: `item ${index} is not a [key, value] pair`, mayHaveCommitted: false }) }
          stop.abort(failure.error)
          break
        }
        const [key, value] = item
        const set = this.set(key, value, { signal: stop.signal })
        set.catch(() => {}) // handled in order by settleOldest
        queue.push({ index, set })
        index += 1
        if (queue.length >= inFlight) await settleOldest()
      }
    } catch (error) {
      // The items themselves failed (an async source): stop, as after a failed set.
      if (failure === undefined) {
        failure = { index, error }
        stop.abort(error)
      }
    }
    try {
      while (queue.length > 0) await settleOldest()
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
    if (failure === undefined && signal?.aborted) failure = { index: done, error: aborted(signal, { mayHaveCommitted: false }) }
    if (failure !== undefined) {
      const e = failure.error
      if (e instanceof ImmuKVError) {
        throw immukvError(
          {
            code: e.code,
            message: `setMany: item ${failure.index} failed: ${e.message}`,
            mayHaveCommitted: e.mayHaveCommitted,
            index: failure.index,
            committed: done,
          },
          { cause: e },
        )
      }
      throw e
    }
    return { count: done, first, last }
  }

  /**
   * The latest entry of `key`; rejects with KeyNotFoundError when absent.
   * Checks the entry's hash and key. With `verify` (or `trusted`), also
   * proves it is in the log (see GetOptions). With `atSequence` or `at`, the
   * entry the key had at that point of the log (README, "Point-in-time reads").
   * @throws {@link KeyNotFoundError} `KEY_NOT_FOUND` when the key has no entry (at that point)
   * @throws {@link ImmuKVError} `INVALID_KEY`, `INVALID_ARGUMENT` before any request (also `atSequence` beyond the log's head); `CORRUPT_ENTRY` (the object is not the key's intact entry, or a verified read failed), `DECODER_ERROR` (your decoder threw)
   * @throws {@link ImmuKVError} `STORAGE_ERROR` (5xx, throttling, timeouts, network, after retries; `operationTimeoutMs` ran out), `ACCESS_DENIED`, `NO_SUCH_BUCKET`, `CREDENTIALS_ERROR`
   * @throws {@link AbortedError} `ABORTED` when `signal` fires; {@link ImmuKVError} `CLIENT_CLOSED` after `close()`, `INTERNAL_ERROR` for a bug in ImmuKV
   */
  async get(key: K, options?: GetOptions): Promise<Entry<K, V>> {
    checkKey(key)
    checkOptions(options)
    expect(options?.verify === undefined || typeof options.verify === 'boolean', 'INVALID_ARGUMENT', 'verify must be a boolean')
    checkDigest(options?.trusted, 'trusted')
    const { atSequence, at } = options ?? {}
    if (atSequence !== undefined || at !== undefined) {
      expect(atSequence === undefined || at === undefined, 'INVALID_ARGUMENT', 'give atSequence or at, not both')
      expect(atSequence === undefined || (Number.isSafeInteger(atSequence) && atSequence >= 0), 'INVALID_ARGUMENT', 'atSequence must be a non-negative integer')
      expect(
        at === undefined || (at instanceof Date && Number.isFinite(at.getTime()) && at.getTime() >= 0),
        'INVALID_ARGUMENT',
        'at must be a valid Date (not before 1970)',
      )
      const n = await this.#call(options, (cancel) =>
        this.#shared.native.getAt(key, atSequence, at === undefined ? undefined : Math.floor(at.getTime()), options?.verify === true, options?.trusted, cancel),
      )
      return this.#entry(n)
    }
    const n = await this.#call(options, (cancel) => this.#shared.native.get(key, options?.verify === true, options?.trusted, cancel))
    return this.#entry(n)
  }

  /**
   * Follows the log: every entry after the starting point, exactly once, in
   * sequence order, each verified (its hash, and its link to the entry before
   * it), whatever the number of writers. `for await (const e of
   * client.watch())`. It looks at the log every `pollIntervalMs` (one
   * conditional GET while nothing changes) and waits until something follows.
   * It ends with AbortedError on its `signal`, CLIENT_CLOSED on `close()`,
   * CORRUPT_ENTRY on a broken chain (after the verified entries before it);
   * transient failures are retried, and end it (STORAGE_ERROR) only when no
   * look succeeded for `operationTimeoutMs`. Every failure, bad options
   * included, comes out of the loop; the starting point is read at once.
   * Nothing is thrown by this call itself: the iterator's `next()` rejects.
   * @throws {@link ImmuKVError} `INVALID_KEY`, `INVALID_ARGUMENT` (bad options; `fromSequence` past the head's next sequence); `CORRUPT_ENTRY` (a broken chain, or `after` no longer the log's entry), `VERSION_NOT_FOUND` (the start's entries are no longer in the log), `LOG_DELETED`, `DECODER_ERROR`
   * @throws {@link ImmuKVError} `STORAGE_ERROR` (no poll succeeded for `operationTimeoutMs`), `ACCESS_DENIED`, `NO_SUCH_BUCKET`, `CREDENTIALS_ERROR`
   * @throws {@link AbortedError} `ABORTED` when `signal` fires; {@link ImmuKVError} `CLIENT_CLOSED` after `close()`, `INTERNAL_ERROR` for a bug in ImmuKV
   */
  watch(options: WatchOptions<K> = {}): Watcher<K, V> {
    let feed: NativeFeed | undefined
    let failure: unknown
    try {
      expect(typeof options === 'object' && options !== null, 'INVALID_ARGUMENT', 'options must be an object')
      checkOptions({ signal: options.signal })
      const { fromSequence, after, keys, keyPrefix, pollIntervalMs } = options
      expect(
        fromSequence === undefined || (Number.isSafeInteger(fromSequence) && fromSequence >= 0),
        'INVALID_ARGUMENT',
        'fromSequence must be a non-negative integer',
      )
      checkDigest(after, 'after')
      expect(keys === undefined || Array.isArray(keys), 'INVALID_ARGUMENT', 'keys must be an array of keys')
      for (const k of keys ?? []) checkKey(k, 'keys[]')
      if (keyPrefix !== undefined) checkString(keyPrefix, 'keyPrefix')
      expect(
        pollIntervalMs === undefined || (typeof pollIntervalMs === 'number' && pollIntervalMs >= 1),
        'INVALID_ARGUMENT',
        'pollIntervalMs must be a number of milliseconds, at least 1',
      )
      expect(!this.#closed && !this.#shared.closed, 'CLIENT_CLOSED', 'the client is closed')
      feed = this.#shared.native.watch({ fromSequence, after, keys: keys === undefined ? undefined : [...keys], keyPrefix, pollIntervalMs })
    } catch (err) {
      failure = fromNative(err)
    }
    return new LogWatcher<K, V>(feed, failure, {
      call: (run) => this.#call(options, run, { cancellable: true }),
      wait: (run) => this.#call(options, run, { cancellable: true, untracked: true }),
      entry: (n) => this.#entry(n),
    })
  }

  /**
   * The entries an S3 event notification names (ObjectCreated on this
   * client's `<prefix>_log.json`, with `versionId`), for a Lambda function:
   * each verified (intact, and linked to the log version below it), once each
   * (S3 delivers at least once: duplicates are dropped), in sequence order,
   * whether the event holds one record or a batch. Direct, SNS, SQS and
   * EventBridge deliveries are understood; records of other buckets and
   * objects, and other events, are passed over. See README, "Following the log".
   * @throws {@link ImmuKVError} `INVALID_ARGUMENT` (not an event; a record of the log without a version id); `CORRUPT_ENTRY` (a version that is not an intact entry linked to the version below it), `VERSION_NOT_FOUND` (a version no longer in the log), `DECODER_ERROR`
   * @throws {@link ImmuKVError} `STORAGE_ERROR` (5xx, throttling, timeouts, network, after retries; `operationTimeoutMs` ran out), `ACCESS_DENIED`, `NO_SUCH_BUCKET`, `CREDENTIALS_ERROR`
   * @throws {@link AbortedError} `ABORTED` when `signal` fires; {@link ImmuKVError} `CLIENT_CLOSED` after `close()`, `INTERNAL_ERROR` for a bug in ImmuKV
   */
  async entriesFromS3Event(event: unknown, options?: CallOptions): Promise<Entry<K, V>[]> {
    checkOptions(options)
    const ids = logVersionsInEvent(event, this.#shared.native.logLocation())
    if (ids.length === 0) return []
    const entries = await this.#call(options, (cancel) => this.#shared.native.verifiedLogVersions(ids, cancel))
    return entries.map((e) => this.#entry(e))
  }

  /**
   * One log entry by its S3 version id.
   * @throws {@link ImmuKVError} `VERSION_NOT_FOUND` when the log has no such version; `INVALID_ARGUMENT` before any request; `CORRUPT_ENTRY`, `DECODER_ERROR`
   * @throws {@link ImmuKVError} `STORAGE_ERROR` (5xx, throttling, timeouts, network, after retries; `operationTimeoutMs` ran out), `ACCESS_DENIED`, `NO_SUCH_BUCKET`, `CREDENTIALS_ERROR`
   * @throws {@link AbortedError} `ABORTED` when `signal` fires; {@link ImmuKVError} `CLIENT_CLOSED` after `close()`, `INTERNAL_ERROR` for a bug in ImmuKV
   */
  async getLogVersion(versionId: string, options?: CallOptions): Promise<Entry<K, V>> {
    checkString(versionId, 'versionId')
    checkOptions(options)
    return this.#entry(await this.#call(options, (cancel) => this.#shared.native.getLogVersion(versionId, cancel)))
  }

  /**
   * Entries of `key`, newest first. The second item is the cursor of the
   * next page (pass it as `beforeVersionId`): the oldest key-object version
   * returned; undefined when the page is empty (the end).
   * @param beforeVersionId - the cursor of the page before; @defaultValue the newest entry
   * @param limit - entries in this page (a count); @defaultValue all (one call reads every version: page long histories)
   * @throws {@link ImmuKVError} `INVALID_KEY`, `INVALID_ARGUMENT` (also a `beforeVersionId` of another object); `CORRUPT_ENTRY`, `DECODER_ERROR`
   * @throws {@link ImmuKVError} `STORAGE_ERROR` (5xx, throttling, timeouts, network, after retries; `operationTimeoutMs` ran out), `ACCESS_DENIED`, `NO_SUCH_BUCKET`, `CREDENTIALS_ERROR`
   * @throws {@link AbortedError} `ABORTED` when `signal` fires; {@link ImmuKVError} `CLIENT_CLOSED` after `close()`, `INTERNAL_ERROR` for a bug in ImmuKV
   */
  async history(key: K, beforeVersionId?: string, limit?: number, options?: CallOptions): Promise<[Entry<K, V>[], string | undefined]> {
    checkKey(key)
    checkCursor(beforeVersionId, 'beforeVersionId')
    checkLimit(limit)
    checkOptions(options)
    const h = await this.#call(options, (cancel) => this.#shared.native.history(key, beforeVersionId, limit, cancel))
    return [h.entries.map((e) => this.#entry(e)), h.nextCursor ?? undefined]
  }

  /**
   * Log entries across all keys, newest first; page with the last entry's `versionId`.
   * @param beforeVersionId - list entries older than this log version; @defaultValue the newest entry
   * @param limit - entries (a count); @defaultValue all (one call reads every version: page long logs)
   * @throws {@link ImmuKVError} `INVALID_ARGUMENT` before any request; `CORRUPT_ENTRY`, `DECODER_ERROR`
   * @throws {@link ImmuKVError} `STORAGE_ERROR` (5xx, throttling, timeouts, network, after retries; `operationTimeoutMs` ran out), `ACCESS_DENIED`, `NO_SUCH_BUCKET`, `CREDENTIALS_ERROR`
   * @throws {@link AbortedError} `ABORTED` when `signal` fires; {@link ImmuKVError} `CLIENT_CLOSED` after `close()`, `INTERNAL_ERROR` for a bug in ImmuKV
   */
  async logEntries(beforeVersionId?: string, limit?: number, options?: CallOptions): Promise<Entry<K, V>[]> {
    checkCursor(beforeVersionId, 'beforeVersionId')
    checkLimit(limit)
    checkOptions(options)
    const entries = await this.#call(options, (cancel) => this.#shared.native.logEntries(beforeVersionId, limit, cancel))
    return entries.map((e) => this.#entry(e))
  }

  /**
   * Every log entry, newest first, fetched a page at a time.
   * @param pageSize - entries per request page (a count; `null` is the default too); @defaultValue 100
   * @throws {@link ImmuKVError} (from the iteration) `INVALID_ARGUMENT`, `CORRUPT_ENTRY`, `DECODER_ERROR`
   * @throws {@link ImmuKVError} `STORAGE_ERROR` (5xx, throttling, timeouts, network, after retries; `operationTimeoutMs` ran out), `ACCESS_DENIED`, `NO_SUCH_BUCKET`, `CREDENTIALS_ERROR`
   * @throws {@link AbortedError} `ABORTED` when `signal` fires; {@link ImmuKVError} `CLIENT_CLOSED` after `close()`, `INTERNAL_ERROR` for a bug in ImmuKV
   */
  async *entries(pageSize = 100, options?: CallOptions): AsyncGenerator<Entry<K, V>, void, undefined> {
    checkLimit(pageSize, 'pageSize')
    checkOptions(options)
    const size = pageSize ?? 100
    let before: string | undefined
    for (;;) {
      const page = await this.logEntries(before, size, options)
      yield* page
      if (page.length === 0 || page.length < size) return
      before = page[page.length - 1].versionId
    }
  }

  /**
   * Keys in S3 order (UTF-8 bytes of `keys/{key}.json`), after `afterKey`.
   * @param afterKey - @defaultValue the first key
   * @param limit - keys (a count); @defaultValue all
   * @throws {@link ImmuKVError} `INVALID_KEY` (`afterKey`), `INVALID_ARGUMENT` before any request
   * @throws {@link ImmuKVError} `STORAGE_ERROR` (5xx, throttling, timeouts, network, after retries; `operationTimeoutMs` ran out), `ACCESS_DENIED`, `NO_SUCH_BUCKET`, `CREDENTIALS_ERROR`
   * @throws {@link AbortedError} `ABORTED` when `signal` fires; {@link ImmuKVError} `CLIENT_CLOSED` after `close()`, `INTERNAL_ERROR` for a bug in ImmuKV
   */
  async listKeys(afterKey?: K, limit?: number, options?: CallOptions): Promise<K[]> {
    return this.listKeysWithPrefix('', afterKey, limit, options)
  }

  /**
   * Keys starting with `prefix`, in S3 order, after `afterKey`.
   * @param afterKey - @defaultValue the first key
   * @param limit - keys (a count); @defaultValue all
   * @throws {@link ImmuKVError} `INVALID_KEY` (`afterKey`), `INVALID_ARGUMENT` before any request
   * @throws {@link ImmuKVError} `STORAGE_ERROR` (5xx, throttling, timeouts, network, after retries; `operationTimeoutMs` ran out), `ACCESS_DENIED`, `NO_SUCH_BUCKET`, `CREDENTIALS_ERROR`
   * @throws {@link AbortedError} `ABORTED` when `signal` fires; {@link ImmuKVError} `CLIENT_CLOSED` after `close()`, `INTERNAL_ERROR` for a bug in ImmuKV
   */
  async listKeysWithPrefix(prefix: string, afterKey?: K, limit?: number, options?: CallOptions): Promise<K[]> {
    checkString(prefix, 'prefix')
    if (afterKey !== undefined && afterKey !== null) checkKey(afterKey, 'afterKey')
    checkLimit(limit)
    checkOptions(options)
    return (await this.#call(options, (cancel) => this.#shared.native.listKeys(prefix, afterKey, limit, cancel))) as K[]
  }

  /**
   * Recomputes this entry's hash (either writer dialect) from its value as
   * the encoder writes it, or, while the value still means what was read, from
   * the stored text. Synchronous; no request.
   * @returns false for anything that is not an intact entry (never throws)
   */
  verify(entry: Entry<K, V>): boolean {
    if (typeof entry !== 'object' || entry === null) return false
    const fields = {
      key: String(entry.key),
      timestampMs: Number(entry.timestampMs),
      sequence: Number(entry.sequence),
      previousHash: String(entry.previousHash),
      hash: String(entry.hash),
    }
    let encoded: JSONValue | undefined
    try {
      encoded = this.#encode(entry.value)
    } catch {
      return false
    }
    const stored = storedValue.get(entry)
    if (stored !== undefined && jsView(parseStored(stored.json, stored.nonFinite)) === jsView(encoded)) return native.verifyEntry(fields, stored.json)
    let text: string
    try {
      text = encodeValue(identity, encoded)
    } catch {
      return false
    }
    return native.verifyEntry(fields, text)
  }

  /**
   * Hashes and links of the newest `limit` entries (all when omitted).
   * Like verifyLog, not bounded by operationTimeoutMs: each request has its
   * timeout; end it early with the `signal`.
   * @param limit - entries (a count; `null` too means all); @defaultValue all
   * @throws {@link ImmuKVError} `INVALID_ARGUMENT` before any request
   * @throws {@link ImmuKVError} `STORAGE_ERROR` (5xx, throttling, timeouts, network, after retries; `operationTimeoutMs` ran out), `ACCESS_DENIED`, `NO_SUCH_BUCKET`, `CREDENTIALS_ERROR`
   * @throws {@link AbortedError} `ABORTED` when `signal` fires; {@link ImmuKVError} `CLIENT_CLOSED` after `close()`, `INTERNAL_ERROR` for a bug in ImmuKV
   */
  async verifyLogChain(limit?: number, options?: CallOptions): Promise<boolean> {
    checkOptions(options)
    return (await this.verifyLog({ signal: options?.signal, limit, checkKeyObjects: false })).ok
  }

  /**
   * Detailed verification: every failure located by entry, version and
   * object. Not bounded by operationTimeoutMs (its length grows with the
   * log): each request has its timeout; end it early with the `signal`.
   * Failures of the log are reported in the result, not thrown.
   * @throws {@link ImmuKVError} `INVALID_ARGUMENT` before any request, or when `onProgress` throws (`cause` its error)
   * @throws {@link ImmuKVError} `STORAGE_ERROR` (5xx, throttling, timeouts, network, after retries; `operationTimeoutMs` ran out), `ACCESS_DENIED`, `NO_SUCH_BUCKET`, `CREDENTIALS_ERROR`
   * @throws {@link AbortedError} `ABORTED` when `signal` fires; {@link ImmuKVError} `CLIENT_CLOSED` after `close()`, `INTERNAL_ERROR` for a bug in ImmuKV
   */
  async verifyLog(options: VerifyOptions = {}): Promise<VerifyReport> {
    expect(typeof options === 'object' && options !== null, 'INVALID_ARGUMENT', 'options must be an object')
    const { limit, trusted, checkKeyObjects, checkRetention, onProgress } = options
    checkLimit(limit)
    checkDigest(trusted, 'trusted')
    expect(checkKeyObjects === undefined || typeof checkKeyObjects === 'boolean', 'INVALID_ARGUMENT', 'checkKeyObjects must be a boolean')
    expect(checkRetention === undefined || typeof checkRetention === 'boolean', 'INVALID_ARGUMENT', 'checkRetention must be a boolean')
    checkOptions({ signal: options.signal })
    expect(onProgress === undefined || typeof onProgress === 'function', 'INVALID_ARGUMENT', 'onProgress must be a function')
    // The callback runs from the native side: what it throws would be uncaught.
    // It stops the check instead, and the call rejects with it as the cause.
    const callback: { stop?: NativeCancel; failed: boolean; error?: unknown } = { failed: false }
    const progress = onProgress
      ? (p: NativeProgress) => {
          if (callback.failed) return
          try {
            onProgress({ phase: p.phase as VerifyProgress['phase'], done: p.done, total: p.total ?? undefined })
          } catch (error) {
            Object.assign(callback, { failed: true, error })
            callback.stop?.cancel()
          }
        }
      : undefined
    const run = (cancel: NativeCancel | undefined) => {
      callback.stop = cancel
      return this.#shared.native.verifyLog({ limit: limit ?? undefined, trusted, checkKeyObjects, checkRetention }, progress, cancel)
    }
    let r: Awaited<ReturnType<NativeClient['verifyLog']>> | undefined
    try {
      r = await this.#call(options, run, { cancellable: progress !== undefined })
    } catch (err) {
      if (!callback.failed) throw err
    }
    if (callback.failed || r === undefined) {
      const why = callback.error instanceof Error ? callback.error.message : String(callback.error)
      throw immukvError({ code: 'INVALID_ARGUMENT', message: `onProgress threw, so the check was stopped: ${why}` }, { cause: callback.error })
    }
    return {
      ok: r.ok,
      checked: r.checked,
      failures: r.failures.map((f) => {
        const out: VerifyFailure = { kind: f.kind as FailureKind, detail: f.detail }
        if (f.sequence != null) out.sequence = f.sequence
        if (f.versionId != null) out.versionId = f.versionId
        if (f.path != null) out.path = f.path
        return out
      }),
      head: r.head ?? undefined,
      empty: r.empty,
      ...(r.horizon ? { horizon: { ...r.horizon, reason: r.horizon.reason as RetentionHorizon['reason'] } } : {}),
      ...(r.trusted ? { trusted: r.trusted as VerifyReport['trusted'] } : {}),
    }
  }

  /**
   * The current log head, or undefined for an empty log.
   * @throws {@link ImmuKVError} `LOG_DELETED` (a delete marker hides a log that has entries), `CORRUPT_ENTRY` (the head is not an entry), `INVALID_ARGUMENT`
   * @throws {@link ImmuKVError} `STORAGE_ERROR` (5xx, throttling, timeouts, network, after retries; `operationTimeoutMs` ran out), `ACCESS_DENIED`, `NO_SUCH_BUCKET`, `CREDENTIALS_ERROR`
   * @throws {@link AbortedError} `ABORTED` when `signal` fires; {@link ImmuKVError} `CLIENT_CLOSED` after `close()`, `INTERNAL_ERROR` for a bug in ImmuKV
   */
  async digest(options?: CallOptions): Promise<Digest | undefined> {
    checkOptions(options)
    return (await this.#call(options, (cancel) => this.#shared.native.digest(cancel))) ?? undefined
  }

  /**
   * The bucket doctor: checks the bucket and this client's credentials for
   * use as a store (versioning, Object Lock, lifecycle rules, default
   * encryption, each permission the store needs, the log under the prefix),
   * with requests that change nothing: reads, and one PUT whose If-Match
   * cannot hold (not sent by a `readOnly` client). Rejects only when it could
   * not look at all (credentials, network, not an S3 server); everything
   * else, a missing bucket or a denied permission too, is a finding.
   */
  async checkStore(options?: CallOptions): Promise<StoreCheck> {
    checkOptions(options)
    return storeCheck(await this.#call(options, (cancel) => this.#shared.native.checkStore(cancel)))
  }

  /**
   * The least-privilege IAM policy document for this client's bucket, prefix,
   * `kmsKeyId` and `objectLock`: exactly the actions the client sends, never
   * a Delete action. `readOnly` leaves out the writes. No request; S3 clients
   * only (INVALID_ARGUMENT in memory).
   */
  policy(options?: { readOnly?: boolean }): PolicyDocument {
    expect(options === undefined || (typeof options === 'object' && options !== null), 'INVALID_ARGUMENT', 'options must be an object')
    const readOnly = options?.readOnly
    expect(readOnly === undefined || typeof readOnly === 'boolean', 'INVALID_ARGUMENT', 'readOnly must be a boolean')
    let doc: PolicyDocument
    try {
      doc = JSON.parse(this.#shared.native.policy(readOnly === true)) as PolicyDocument
    } catch (err) {
      throw fromNative(err)
    }
    // Fields in the order IAM's own documents use (the core's JSON sorts them).
    return {
      Version: doc.Version,
      Statement: doc.Statement.map(({ Sid, Effect, Action, Resource, Condition }) =>
        Condition === undefined ? { Sid, Effect, Action, Resource } : { Sid, Effect, Action, Resource, Condition },
      ),
    }
  }

  /**
   * Counters since the client was made: requests by operation, bytes, retries, conflicts, repairs.
   * Never throws, also after `close()`.
   */
  stats(): Stats {
    return this.#shared.native.stats()
  }

  /**
   * A client on the same connection, append pipeline and caches, with its
   * own codec. It closes with this client.
   * @throws {@link ImmuKVError} `INVALID_ARGUMENT`: `decoder` or `encoder` is not a function
   */
  withCodec<K2 extends string, V2>(decoder: Decoder<V2>, encoder: Encoder<V2>): ImmuKVClient<K2, V2> {
    expect(typeof decoder === 'function' && typeof encoder === 'function', 'INVALID_ARGUMENT', 'withCodec needs a decoder and an encoder function')
    const fork: Fork = { [FORK]: this.#shared, root: false }
    return new ImmuKVClient<K2, V2>(fork as unknown as Config, decoder, encoder)
  }

  /**
   * Refuses new calls (CLIENT_CLOSED); calls in flight finish, then this
   * resolves. Closing a client closes its forks; closing a fork leaves the
   * client open. Never rejects; calling it again is harmless.
   */
  async close(): Promise<void> {
    this.#closed = true
    if (this.#isFork) {
      await Promise.allSettled([...this.#inFlight])
      return
    }
    // Calls started before close() finish, forks' too; then the native
    // client refuses everything and waits for its own work (queued appends).
    this.#shared.closed = true
    await Promise.allSettled([...this.#shared.inFlight])
    await this.#shared.native.close()
  }
}

/** What a watcher needs of its client. */
interface WatcherHooks<K extends string, V> {
  /** A native call, tracked by close(). */
  call<T>(run: (cancel: NativeCancel | undefined) => Promise<T>): Promise<T>
  /** A native call that may wait for ever (ended by close(), not waited for). */
  wait<T>(run: (cancel: NativeCancel | undefined) => Promise<T>): Promise<T>
  entry(n: NativeEntry): Entry<K, V>
}

const DONE = { done: true, value: undefined } as const

class LogWatcher<K extends string, V> implements Watcher<K, V> {
  readonly #feed: NativeFeed | undefined
  readonly #hooks: WatcherHooks<K, V>
  /** Read and verified, not yet handed over, with the position after the last of them. */
  #buffer: NativeEntry[] = []
  #bufferEnd: NativeDigest | null | undefined
  #position: Digest | undefined
  #started: Promise<void>
  #done = false
  /** The native call in flight, to cancel on return(). */
  #cancel: NativeCancel | undefined
  /** next() calls run one after another, as a generator's do. */
  #queue: Promise<unknown> = Promise.resolve()

  constructor(feed: NativeFeed | undefined, failure: unknown, hooks: WatcherHooks<K, V>) {
    this.#feed = feed
    this.#hooks = hooks
    if (feed === undefined) {
      this.#started = Promise.reject(failure)
    } else {
      // Started now: "the head at the call" is the head when watch() was called.
      this.#started = hooks
        .call((cancel) => {
          this.#cancel = cancel
          return feed.start(cancel)
        })
        .then((position) => {
          this.#position = position ?? undefined
        })
    }
    // Reported by the first next(), never as an unhandled rejection.
    this.#started.catch(() => {})
  }

  get position(): Digest | undefined {
    return this.#position
  }

  [Symbol.asyncIterator](): Watcher<K, V> {
    return this
  }

  next(): Promise<IteratorResult<Entry<K, V>, undefined>> {
    const step = this.#queue.then(() => this.#step())
    this.#queue = step.catch(() => {})
    return step
  }

  async #step(): Promise<IteratorResult<Entry<K, V>, undefined>> {
    try {
      if (this.#done) return DONE
      await this.#started
      while (this.#buffer.length === 0) {
        if (this.#done) return DONE
        const feed = this.#feed as NativeFeed
        const batch: NativeFeedBatch = await this.#hooks.wait((cancel) => {
          this.#cancel = cancel
          return feed.next(cancel)
        })
        if (this.#done) return DONE
        this.#buffer = batch.entries
        this.#bufferEnd = batch.position
      }
      const n = this.#buffer[0]
      const entry = this.#hooks.entry(n) // a decoder failure leaves the position before it
      this.#buffer.shift()
      this.#position = this.#buffer.length === 0 && this.#bufferEnd ? this.#bufferEnd : { sequence: n.sequence, versionId: n.versionId, hash: n.hash }
      return { done: false, value: entry }
    } catch (err) {
      if (this.#done) return DONE // cancelled by return()
      this.#done = true
      throw err
    }
  }

  async return(): Promise<IteratorResult<Entry<K, V>, undefined>> {
    if (!this.#done) {
      this.#done = true
      this.#buffer = []
      this.#cancel?.cancel()
    }
    return DONE
  }

  async throw(err?: unknown): Promise<IteratorResult<Entry<K, V>, undefined>> {
    await this.return()
    throw err
  }
}

export type { JSONValue, Decoder, Encoder }
