'use strict'
// The public API: a thin layer over the native client (binding.js). It owns
// only what is JavaScript-specific: argument types, JSON encoding of values
// with the user's codec, and turning native errors into typed errors.

const native = require('./binding.js')

const ERROR_TAG = 'IMMUKV_ERROR:'
const FORK = Symbol('immukv.fork')
// Value JSON exactly as stored, per entry object: lets verify() recompute a
// Python writer's hash (its `1.0` is JavaScript's `1`).
const storedValue = new WeakMap()

class ImmuKVError extends Error {
  constructor(info) {
    super(info.message, info.cause ? { cause: new Error(info.cause) } : undefined)
    this.name = 'ImmuKVError'
    this.code = info.code
    for (const k of ['operation', 'bucket', 'path', 'mayHaveCommitted']) {
      if (info[k] !== undefined && info[k] !== null) this[k] = info[k]
    }
  }
}
class KeyNotFoundError extends ImmuKVError {
  constructor(info) {
    super(info)
    this.name = 'KeyNotFoundError'
  }
}
class ReadOnlyError extends ImmuKVError {
  constructor(info) {
    super(info)
    this.name = 'ReadOnlyError'
  }
}
const ERROR_CLASSES = { KEY_NOT_FOUND: KeyNotFoundError, READ_ONLY: ReadOnlyError }

function typedError(code, message) {
  const Cls = ERROR_CLASSES[code] || ImmuKVError
  return new Cls({ code, message })
}

function fromNative(err) {
  if (err && typeof err.message === 'string' && err.message.startsWith(ERROR_TAG)) {
    const info = JSON.parse(err.message.slice(ERROR_TAG.length))
    const Cls = ERROR_CLASSES[info.code] || ImmuKVError
    return new Cls(info)
  }
  return err
}

async function call(promise) {
  try {
    return await promise
  } catch (err) {
    throw fromNative(err)
  }
}

function callSync(fn) {
  try {
    return fn()
  } catch (err) {
    throw fromNative(err)
  }
}

const identity = (x) => x

// --- argument checks (types only; value rules live in the Rust core) ---

function expect(cond, code, message) {
  if (!cond) throw typedError(code, message)
}

function checkKey(key, name = 'key') {
  expect(typeof key === 'string', 'INVALID_KEY', `${name} must be a string, got ${typeof key}`)
  // Lone surrogates would silently become U+FFFD on the way to Rust.
  expect(key.isWellFormed(), 'INVALID_KEY', `${name} contains a lone surrogate (not valid Unicode)`)
}

function checkOptionalKey(key, name) {
  if (key !== undefined && key !== null) checkKey(key, name)
}

// Types only: the value rules (limit >= 1, non-empty version ids) are the core's.
function checkLimit(limit) {
  expect(limit === undefined || limit === null || typeof limit === 'number', 'INVALID_ARGUMENT', `limit must be a number, got ${typeof limit}`)
}

function checkVersionId(v, name) {
  expect(v === undefined || v === null || typeof v === 'string', 'INVALID_ARGUMENT', `${name} must be a string`)
}

/** JSON text of `encoder(value)`, refusing what JSON would silently change. */
function encodeValue(encoder, value) {
  let encoded
  try {
    encoded = encoder(value)
  } catch (err) {
    throw new ImmuKVError({ code: 'INVALID_VALUE', message: `encoder failed: ${err && err.message}`, cause: String(err) })
  }
  expect(encoded !== undefined, 'INVALID_VALUE', 'value is undefined: JSON cannot carry it')
  let text
  try {
    text = JSON.stringify(encoded, function (k, x) {
      const where = k === '' ? 'value' : `property ${JSON.stringify(k)}`
      switch (typeof x) {
        case 'number':
          if (!Number.isFinite(x)) throw typedError('INVALID_VALUE', `${where} is ${x}: JSON cannot carry NaN or Infinity`)
          break
        case 'bigint':
          throw typedError('INVALID_VALUE', `${where} is a BigInt: JSON cannot carry it (encode it as a string)`)
        case 'function':
        case 'symbol':
          throw typedError('INVALID_VALUE', `${where} is a ${typeof x}: JSON cannot carry it`)
        case 'string':
          if (!x.isWellFormed()) throw typedError('INVALID_VALUE', `${where} contains a lone surrogate`)
          break
      }
      if (!k.isWellFormed()) throw typedError('INVALID_VALUE', 'an object key contains a lone surrogate')
      return x
    })
  } catch (err) {
    if (err instanceof ImmuKVError) throw err
    throw new ImmuKVError({ code: 'INVALID_VALUE', message: `value cannot be stored as JSON: ${err.message}`, cause: String(err) })
  }
  return text
}

const CONFIG_KEYS = {
  s3Bucket: 'string',
  s3Region: 'string',
  s3Prefix: 'string',
  kmsKeyId: 'string?',
  repairCheckIntervalMs: 'number?',
  readOnly: 'boolean?',
  overrides: 'object?',
  requestTimeoutMs: 'number?',
  connectTimeoutMs: 'number?',
  operationTimeoutMs: 'number?',
  readConcurrency: 'number?',
  listPageSize: 'number?',
  maxValueBytes: 'number?',
}
const OVERRIDE_KEYS = { endpointUrl: 'string?', forcePathStyle: 'boolean?', credentials: 'any' }

function checkFields(obj, spec, where) {
  for (const k of Object.keys(obj)) {
    expect(k in spec, 'INVALID_CONFIG', `${where}${k} is not a known option (known: ${Object.keys(spec).join(', ')})`)
  }
  for (const [k, type] of Object.entries(spec)) {
    const v = obj[k]
    if (type === 'any') continue
    const optional = type.endsWith('?')
    const base = type.replace('?', '')
    if (v === undefined && optional) continue
    expect(v !== undefined, 'INVALID_CONFIG', `${where}${k} is required`)
    const ok = base === 'object' ? typeof v === 'object' && v !== null && !Array.isArray(v) : typeof v === base
    expect(ok, 'INVALID_CONFIG', `${where}${k} must be a ${base}, got ${v === null ? 'null' : typeof v}`)
  }
}

function checkKeyPair(c, where) {
  expect(typeof c === 'object' && c !== null, 'INVALID_CONFIG', `${where} must be an object with accessKeyId and secretAccessKey`)
  for (const k of ['accessKeyId', 'secretAccessKey']) {
    expect(typeof c[k] === 'string' && c[k] !== '', 'INVALID_CONFIG', `${where}.${k} must be a non-empty string`)
  }
  expect(c.sessionToken === undefined || typeof c.sessionToken === 'string', 'INVALID_CONFIG', `${where}.sessionToken must be a string`)
}

function nativeConfig(config) {
  expect(typeof config === 'object' && config !== null, 'INVALID_CONFIG', 'config must be an object')
  checkFields(config, CONFIG_KEYS, '')
  const o = config.overrides || {}
  checkFields(o, OVERRIDE_KEYS, 'overrides.')
  const out = { ...config, ...o }
  delete out.overrides
  delete out.credentials
  let provider
  const c = o.credentials
  if (typeof c === 'function') {
    provider = async () => {
      const got = await c()
      checkKeyPair(got, 'the credentials function result')
      const exp = got.expiration instanceof Date ? got.expiration.getTime() : got.expiration
      return JSON.stringify({ ...got, expiration: typeof exp === 'number' ? exp : undefined })
    }
  } else if (c !== undefined) {
    checkKeyPair(c, 'overrides.credentials')
    Object.assign(out, { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken })
  }
  return { config: out, provider }
}

class ImmuKVClient {
  #native
  #decode
  #encode

  constructor(config, decoder, encoder) {
    expect(decoder === undefined || typeof decoder === 'function', 'INVALID_CONFIG', 'decoder must be a function')
    expect(encoder === undefined || typeof encoder === 'function', 'INVALID_CONFIG', 'encoder must be a function')
    if (config && config[FORK]) {
      this.#native = config[FORK]
    } else {
      const { config: c, provider } = nativeConfig(config)
      this.#native = callSync(() => new native.NativeClient(c, provider))
    }
    this.#decode = decoder || identity
    this.#encode = encoder || identity
  }

  #entry(n) {
    const entry = {
      key: n.key,
      value: this.#decode(JSON.parse(n.valueJson)),
      timestampMs: n.timestampMs,
      versionId: n.versionId,
      sequence: n.sequence,
      hash: n.hash,
      previousHash: n.previousHash,
    }
    if (n.previousVersionId != null) entry.previousVersionId = n.previousVersionId
    if (n.previousKeyObjectEtag != null) entry.previousKeyObjectEtag = n.previousKeyObjectEtag
    storedValue.set(entry, n.valueJson)
    return entry
  }

  async set(key, value) {
    checkKey(key)
    const json = encodeValue(this.#encode, value)
    return this.#entry(await call(this.#native.set(key, json)))
  }

  async get(key) {
    checkKey(key)
    return this.#entry(await call(this.#native.get(key)))
  }

  async getLogVersion(versionId) {
    expect(typeof versionId === 'string', 'INVALID_ARGUMENT', 'versionId must be a string')
    return this.#entry(await call(this.#native.getLogVersion(versionId)))
  }

  async history(key, beforeVersionId, limit) {
    checkKey(key)
    checkVersionId(beforeVersionId, 'beforeVersionId')
    checkLimit(limit)
    const h = await call(this.#native.history(key, beforeVersionId, limit))
    return [h.entries.map((e) => this.#entry(e)), h.oldestVersionId ?? undefined]
  }

  async logEntries(beforeVersionId, limit) {
    checkVersionId(beforeVersionId, 'beforeVersionId')
    checkLimit(limit)
    const entries = await call(this.#native.logEntries(beforeVersionId, limit))
    return entries.map((e) => this.#entry(e))
  }

  /** Every log entry, newest first, fetched a page at a time. */
  async *entries(pageSize = 100) {
    checkLimit(pageSize)
    let before
    for (;;) {
      const page = await this.logEntries(before, pageSize)
      yield* page
      if (page.length < pageSize) return
      before = page[page.length - 1].versionId
    }
  }

  async listKeys(afterKey, limit) {
    return this.listKeysWithPrefix('', afterKey, limit)
  }

  async listKeysWithPrefix(prefix, afterKey, limit) {
    expect(typeof prefix === 'string', 'INVALID_ARGUMENT', 'prefix must be a string')
    checkOptionalKey(afterKey, 'afterKey')
    checkLimit(limit)
    return call(this.#native.listKeys(prefix, afterKey, limit))
  }

  verify(entry) {
    if (typeof entry !== 'object' || entry === null) return false
    let valueJson
    try {
      valueJson = encodeValue(this.#encode, entry.value)
    } catch {
      return false
    }
    const n = {
      key: String(entry.key),
      valueJson,
      timestampMs: Number(entry.timestampMs),
      versionId: String(entry.versionId ?? ''),
      sequence: Number(entry.sequence),
      hash: String(entry.hash),
      previousHash: String(entry.previousHash),
    }
    return callSync(() => native.verifyEntry(n, storedValue.get(entry)))
  }

  async verifyLogChain(limit) {
    checkLimit(limit)
    const r = await call(this.#native.verifyLog({ limit, checkKeyObjects: false }))
    return r.ok
  }

  async verifyLog(options = {}) {
    expect(typeof options === 'object' && options !== null, 'INVALID_ARGUMENT', 'options must be an object')
    const { limit, trusted, checkKeyObjects } = options
    checkLimit(limit)
    if (trusted !== undefined) {
      expect(
        typeof trusted === 'object' && trusted !== null && Number.isInteger(trusted.sequence) &&
          typeof trusted.versionId === 'string' && typeof trusted.hash === 'string',
        'INVALID_ARGUMENT',
        'trusted must be a digest: { sequence, versionId, hash }',
      )
    }
    const r = await call(this.#native.verifyLog({ limit, trusted, checkKeyObjects }))
    return {
      ok: r.ok,
      checked: r.checked,
      failures: r.failures.map((f) => ({ sequence: f.sequence ?? undefined, versionId: f.versionId ?? undefined, kind: f.kind, detail: f.detail })),
      head: r.head ?? undefined,
    }
  }

  async digest() {
    return (await call(this.#native.digest())) ?? undefined
  }

  withCodec(decoder, encoder) {
    expect(typeof decoder === 'function' && typeof encoder === 'function', 'INVALID_ARGUMENT', 'withCodec needs a decoder and an encoder function')
    return new ImmuKVClient({ [FORK]: this.#native.fork() }, decoder, encoder)
  }

  async close() {
    this.#native.close()
  }
}

module.exports = { ImmuKVClient, ImmuKVError, KeyNotFoundError, ReadOnlyError }
