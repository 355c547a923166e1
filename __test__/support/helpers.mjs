// Shared by the tests: the local servers (started by scripts/s3.sh), fresh
// buckets, raw S3 access for setting up cases, and client construction.
import {
  S3Client,
  CreateBucketCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3'
import { randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { appendFileSync } from 'node:fs'
import * as immukv from 'immukv'

// The package as users import it (its exports map, its ESM entry).
export { immukv }
export const { ImmuKVClient, ImmuKVError, KeyNotFoundError, ReadOnlyError, AbortedError, ERROR_CODES } = immukv

export const ADMIN = { accessKeyId: 'adminkey', secretAccessKey: 'adminsecret' }
export const READER = { accessKeyId: 'readerkey', secretAccessKey: 'readersecret' }

export const SERVERS = [
  { name: 'seaweedfs', endpoint: process.env.IMMUKV_WEED_ENDPOINT || 'http://127.0.0.1:19026', enforcesAuth: true },
  { name: 'moto', endpoint: process.env.IMMUKV_MOTO_ENDPOINT || 'http://127.0.0.1:19030', enforcesAuth: false },
]
export const SEAWEED = SERVERS[0]
export const MOTO = SERVERS[1]
/**
 * LocalStack's own S3 provider: conditional writes answered as AWS answers
 * them (a losing PUT's 412 at once, If-Match on a missing key 404
 * NoSuchKey), which neither SeaweedFS nor moto does. It checks no
 * credentials. Only the API, integrity and contention suites run on it.
 */
export const LOCALSTACK = {
  name: 'localstack',
  endpoint: process.env.IMMUKV_LOCALSTACK_ENDPOINT || 'http://127.0.0.1:19040',
  enforcesAuth: false,
}
/** The servers of the suites that also run on LocalStack. */
export const SERVERS_WITH_LOCALSTACK = [...SERVERS, LOCALSTACK]
/** The in-memory store (ImmuKVClient.inMemory): no server, same protocol. */
export const MEMORY = { name: 'memory', memory: true }
/** Every store the API suite runs on. */
export const STORES = [...SERVERS_WITH_LOCALSTACK, MEMORY]

/**
 * Options for a load suite's describe(): thousands of entries, or a fleet of
 * processes, through the Rust core. They test the protocol, which is the same
 * binary on every runtime, so CI runs them on its first Node major only
 * (scripts/test-node.sh --no-load on the others) and reports them skipped there.
 */
export const LOAD = {
  skip: process.env.IMMUKV_LOAD_TESTS === '0' && 'load suite: runs on the first Node major CI covers (IMMUKV_LOAD_TESTS=0)',
}

export function raw(endpoint, credentials = ADMIN) {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials, maxAttempts: 1 })
}

export function uniqueName(tag = 't') {
  return `${tag}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`.toLowerCase()
}

/** A new bucket, versioned unless told otherwise. */
export async function bucket(server, { versioning = true } = {}) {
  if (server.memory) return uniqueName('mem')
  const s3 = raw(server.endpoint)
  const name = uniqueName('b')
  await s3.send(new CreateBucketCommand({ Bucket: name }))
  if (versioning) {
    await s3.send(new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }))
  }
  return name
}

export function config(server, s3Bucket, extra = {}) {
  const { overrides, ...rest } = extra
  return {
    s3Bucket,
    s3Region: 'us-east-1',
    s3Prefix: '',
    ...rest,
    overrides: { endpointUrl: server.endpoint, credentials: ADMIN, ...overrides },
  }
}

export function client(server, s3Bucket, extra = {}, decoder, encoder) {
  if (server.memory) {
    const { overrides, requestTimeoutMs, connectTimeoutMs, kmsKeyId, ...options } = extra
    const c = ImmuKVClient.inMemory(s3Bucket, { s3Prefix: '', ...options })
    return decoder || encoder ? c.withCodec(decoder ?? ((x) => x), encoder ?? ((x) => x)) : c
  }
  return new ImmuKVClient(config(server, s3Bucket, extra), decoder, encoder)
}

export async function putRaw(server, Bucket, Key, Body, credentials) {
  return raw(server.endpoint, credentials).send(new PutObjectCommand({ Bucket, Key, Body, ContentType: 'application/json' }))
}

/** Every version of every object in the bucket: what a test asserts "untouched" on. */
export async function snapshot(server, Bucket) {
  const s3 = raw(server.endpoint)
  const out = []
  let KeyMarker, VersionIdMarker
  for (;;) {
    const r = await s3.send(new ListObjectVersionsCommand({ Bucket, KeyMarker, VersionIdMarker }))
    for (const v of r.Versions || []) out.push(`${v.Key}@${v.VersionId}`)
    for (const m of r.DeleteMarkers || []) out.push(`${m.Key}@${m.VersionId}(delete)`)
    if (!r.IsTruncated) break
    ;({ NextKeyMarker: KeyMarker, NextVersionIdMarker: VersionIdMarker } = r)
  }
  return out.sort()
}

export async function listObjects(server, Bucket) {
  const r = await raw(server.endpoint).send(new ListObjectsV2Command({ Bucket }))
  return (r.Contents || []).map((o) => o.Key)
}

/**
 * Rejection of `promise`, asserting it rejects. Every error is also appended
 * to $IMMUKV_ERROR_LOG, which scripts/test.sh searches for secrets.
 */
export async function rejection(promise) {
  try {
    await promise
  } catch (err) {
    logError(err)
    return err
  }
  throw new Error('expected a rejection')
}

export function logError(err) {
  if (!process.env.IMMUKV_ERROR_LOG) return
  const text = [err?.stack, err?.cause && String(err.cause.stack || err.cause), JSON.stringify({ ...err })].join('\n')
  appendFileSync(process.env.IMMUKV_ERROR_LOG, text + '\n---\n')
}

/**
 * The log object of the entry after `head` (an Entry, or undefined for the
 * first), built independently of the client for simple ASCII keys and values:
 * JS-dialect canonical JSON is then JSON.stringify with sorted keys.
 */
export async function forgeNext(head, key, value, previousKeyObjectEtag, timestampMs = Date.now()) {
  const { createHash } = await import('node:crypto')
  const sequence = head ? head.sequence + 1 : 0
  const previousHash = head ? head.hash : 'sha256:genesis'
  const input = JSON.stringify({ key, previousHash, sequence, timestampMs, value })
  const hash = 'sha256:' + createHash('sha256').update(input).digest('hex')
  const obj = { hash, key, previous_hash: previousHash }
  if (previousKeyObjectEtag) obj.previous_key_object_etag = previousKeyObjectEtag
  if (head) obj.previous_version_id = head.versionId
  Object.assign(obj, { sequence, timestamp_ms: timestampMs, value })
  return { body: JSON.stringify(obj), hash, sequence }
}

/**
 * An entry of a new key whose timestamp says `daysAgo` days ago: its log
 * version and key object, as that writer left them. (The server's clock says
 * now: a test of lifecycle rules makes the listings say otherwise, with
 * S3Proxy.backdateListings.)
 */
export async function writeAged(server, b, head, key, value, daysAgo) {
  const forged = await forgeNext(head, key, value, undefined, Date.now() - daysAgo * 86_400_000)
  const put = await putRaw(server, b, '_log.json', forged.body)
  const { hash, previous_hash, sequence, timestamp_ms } = JSON.parse(forged.body)
  const keyObject = { hash, key, log_version_id: put.VersionId, previous_hash, sequence, timestamp_ms, value }
  await putRaw(server, b, `keys/${key}.json`, JSON.stringify(keyObject))
  return { sequence, hash, versionId: put.VersionId, key }
}

/** Appends an orphan: a log version written with raw PutObject, no key object. */
export async function writeOrphan(server, Bucket, prefix, c, key, value) {
  const { HeadObjectCommand } = await import('@aws-sdk/client-s3')
  const [head] = await c.logEntries(undefined, 1)
  let etag
  try {
    etag = (await raw(server.endpoint).send(new HeadObjectCommand({ Bucket, Key: `${prefix}keys/${key}.json` }))).ETag
  } catch {
    etag = undefined
  }
  const forged = await forgeNext(head, key, value, etag)
  const put = await putRaw(server, Bucket, `${prefix}_log.json`, forged.body)
  return { ...forged, versionId: put.VersionId }
}

export async function keyObject(server, Bucket, path) {
  const { GetObjectCommand } = await import('@aws-sdk/client-s3')
  try {
    const r = await raw(server.endpoint).send(new GetObjectCommand({ Bucket, Key: path }))
    return JSON.parse(await r.Body.transformToString())
  } catch (err) {
    if (err.name === 'NoSuchKey' || err.$metadata?.httpStatusCode === 404) return undefined
    throw err
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Runs ESM source in a child node process (in __test__/, so `immukv` resolves); resolves with stdout. */
export function runNode(source, env = process.env) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', source], { cwd: fileURLToPath(new URL('..', import.meta.url)), env })
    let out = ''
    let errText = ''
    p.stdout.on('data', (d) => (out += d))
    p.stderr.on('data', (d) => (errText += d))
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${errText}`))))
  })
}
