// The smoke suite for JavaScript runtimes other than Node.js (Bun; Deno when
// asked): the package loaded the way users load it (import and require), the
// API against SeaweedFS, the in-memory store, and the CLI run by the same
// runtime. Plain asserts and its own tiny runner, so that it needs nothing of
// a runtime's test framework:
//   bun __test__/runtimes/smoke.mjs
//   deno run -A __test__/runtimes/smoke.mjs
//   node __test__/runtimes/smoke.mjs
// Needs the built package (npm run build) and SeaweedFS (bash scripts/s3.sh
// start weed). Ends with "N passed, N failed"; exits 1 on any failure.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { CreateBucketCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3'
import * as immukv from 'immukv'

const { ImmuKVClient, ImmuKVError, KeyNotFoundError, ReadOnlyError, AbortedError } = immukv
const root = fileURLToPath(new URL('../..', import.meta.url))
const endpoint = process.env.IMMUKV_WEED_ENDPOINT || 'http://127.0.0.1:19026'
const credentials = { accessKeyId: 'adminkey', secretAccessKey: 'adminsecret' }

const runtime = globalThis.Deno ? `deno ${Deno.version.deno}` : globalThis.Bun ? `bun ${Bun.version}` : `node ${process.versions.node}`
/** How this runtime runs a script: [executable, ...arguments before the script]. */
const runner = globalThis.Deno ? [Deno.execPath(), 'run', '-A'] : [process.execPath]

async function newBucket() {
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials, maxAttempts: 1 })
  const Bucket = `smoke-${Date.now().toString(36)}-${Math.random().toString(16).slice(2, 8)}`
  await s3.send(new CreateBucketCommand({ Bucket }))
  await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }))
  return Bucket
}

function s3Client(s3Bucket, extra = {}) {
  return new ImmuKVClient({ s3Bucket, s3Region: 'us-east-1', s3Prefix: 'smoke/', ...extra, overrides: { endpointUrl: endpoint, credentials } })
}

async function rejection(promise) {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

/** Runs the CLI (dist/cli.js) with this runtime; resolves { code, stdout, stderr }. */
function cli(args, env = {}, input) {
  return new Promise((resolve, reject) => {
    const [exe, ...pre] = runner
    const p = spawn(exe, [...pre, `${root}/dist/cli.js`, ...args], {
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL: endpoint,
        ...env,
      },
    })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d) => (stdout += d))
    p.stderr.on('data', (d) => (stderr += d))
    p.on('error', reject)
    p.on('close', (code) => resolve({ code, stdout, stderr }))
    p.stdin.end(input ?? '')
  })
}

const tests = []
const test = (name, fn) => tests.push({ name, fn })

test('the package loads by import and by require, with the same classes', () => {
  const required = createRequire(import.meta.url)('immukv')
  assert.equal(required.ImmuKVClient, ImmuKVClient)
  assert.equal(typeof immukv.ERROR_CODES.length, 'number')
  assert.ok(new ImmuKVError('x', 'STORAGE_ERROR') instanceof Error)
})

test('in-memory store: set, get, history, digest, verified reads, verifyLog', async () => {
  const c = ImmuKVClient.inMemory()
  const e1 = await c.set('device-42', { gain: 1.02 })
  const e2 = await c.set('device-42', { gain: 1.03 })
  assert.equal(e2.previousHash, e1.hash)
  assert.deepEqual((await c.get('device-42')).value, { gain: 1.03 })
  const digest = await c.digest()
  assert.equal(digest.sequence, 1)
  assert.equal((await c.get('device-42', { trusted: digest })).hash, e2.hash)
  assert.equal((await c.get('device-42', { verify: true })).hash, e2.hash)
  const [history] = await c.history('device-42')
  assert.deepEqual(
    history.map((e) => e.value.gain),
    [1.03, 1.02],
  )
  const report = await c.verifyLog()
  assert.equal(report.ok, true)
  assert.equal(report.checked, 2)
  assert.equal(c.verify(e2), true)
  const missing = await rejection(c.get('nope'))
  assert.ok(missing instanceof KeyNotFoundError)
  assert.equal(missing.code, 'KEY_NOT_FOUND')
  await c.close()
  assert.equal((await rejection(c.get('device-42'))).code, 'CLIENT_CLOSED')
})

test('in-memory store: shared by name, codecs, read-only, abort signals', async () => {
  const writer = ImmuKVClient.inMemory('smoke-shared')
  const reader = ImmuKVClient.inMemory('smoke-shared', { readOnly: true })
  await writer.set('when', { iso: '2024-01-02T03:04:05.000Z' })
  const dates = reader.withCodec(
    (json) => new Date(json.iso),
    (d) => ({ iso: d.toISOString() }),
  )
  assert.ok((await dates.get('when')).value instanceof Date)
  const ro = await rejection(reader.set('x', 1))
  assert.ok(ro instanceof ReadOnlyError)
  assert.equal(ro.mayHaveCommitted, false)
  const aborted = await rejection(writer.set('y', 1, { signal: AbortSignal.abort() }))
  assert.ok(aborted instanceof AbortedError)
  assert.equal(aborted.name, 'AbortError')
  await writer.close()
  await reader.close()
  ImmuKVClient.dropInMemory('smoke-shared')
})

test('on SeaweedFS: set, get, history, logEntries, listKeys, getLogVersion, verifyLog, digest', async () => {
  const b = await newBucket()
  const c = s3Client(b)
  const written = []
  for (const [key, value] of [
    ['a', 1],
    ['b', { x: [1, 2.5, 'z'] }],
    ['a', 2],
    ['ключ 😀', null],
  ])
    written.push(await c.set(key, value))
  assert.deepEqual(
    written.map((e) => e.sequence),
    [0, 1, 2, 3],
  )
  assert.equal((await c.get('a')).value, 2)
  assert.equal((await c.get('a', { verify: true })).hash, written[2].hash)
  assert.equal((await c.getLogVersion(written[1].versionId)).key, 'b')
  const [history, cursor] = await c.history('a', undefined, 1)
  assert.deepEqual(
    history.map((e) => e.value),
    [2],
  )
  assert.deepEqual(
    (await c.history('a', cursor))[0].map((e) => e.value),
    [1],
  )
  assert.equal((await c.logEntries()).length, 4)
  assert.deepEqual(await c.listKeys(), ['a', 'b', 'ключ 😀'])
  const digest = await c.digest()
  assert.equal(digest.hash, written[3].hash)
  const reader = s3Client(b, { readOnly: true })
  const report = await reader.verifyLog({ trusted: digest })
  assert.deepEqual(report.failures, [])
  assert.equal(report.checked, 4)
  assert.equal((await rejection(reader.set('c', 1))).code, 'READ_ONLY')
  assert.equal((await rejection(c.get('missing'))).code, 'KEY_NOT_FOUND')
  assert.ok(c.stats().requests.total > 0)
  await c.close()
  await reader.close()
})

test('the CLI: set, get, history --json, digest, verify --trusted, exit codes', async () => {
  const b = await newBucket()
  const env = { IMMUKV_BUCKET: b }
  const version = await cli(['--version'])
  assert.equal(version.code, 0, version.stderr)
  assert.match(version.stdout, /^\d+\.\d+\.\d+/)
  let r = await cli(['set', 'device-42', '{"gain": 1.02}'], env)
  assert.equal(r.code, 0, r.stderr)
  r = await cli(['set', 'note', '--string'], env, 'hello\n')
  assert.equal(r.code, 0, r.stderr)
  r = await cli(['get', 'device-42', '--json'], env)
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout).value, { gain: 1.02 })
  r = await cli(['get', 'note', '--json'], env)
  assert.equal(JSON.parse(r.stdout).value, 'hello')
  r = await cli(['history', 'device-42', '--json'], env)
  assert.equal(r.code, 0, r.stderr)
  r = await cli(['digest'], env)
  assert.equal(r.code, 0, r.stderr)
  assert.equal(JSON.parse(r.stdout).sequence, 1)
  r = await cli(['verify', '--trusted', '-'], env, r.stdout)
  assert.equal(r.code, 0, r.stdout + r.stderr)
  r = await cli(['get', 'missing'], env)
  assert.equal(r.code, 3, r.stderr)
  r = await cli(['frobnicate'], env)
  assert.equal(r.code, 64, r.stderr)
})

let passed = 0
let failed = 0
console.log(`# immukv smoke suite on ${runtime}`)
for (const { name, fn } of tests) {
  const t0 = Date.now()
  try {
    await fn()
    passed++
    console.log(`ok - ${name} (${Date.now() - t0} ms)`)
  } catch (err) {
    failed++
    console.log(`not ok - ${name}\n${String(err?.stack || err).replace(/^/gm, '  ')}`)
  }
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
