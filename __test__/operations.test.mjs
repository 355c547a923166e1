// For the people who run it: cancellation with AbortSignal, logs switched on
// by IMMUKV_LOG, and per-client counters.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { SEAWEED, ImmuKVClient, AbortedError, ImmuKVError, bucket, client, rejection, runNode, sleep } from './support/helpers.mjs'
import { S3Proxy } from './support/proxy.mjs'

/** A TCP server that accepts and never answers. */
async function silentServer() {
  const sockets = []
  const srv = net.createServer((s) => sockets.push(s))
  await new Promise((r) => srv.listen(0, '127.0.0.1', r))
  return {
    endpoint: `http://127.0.0.1:${srv.address().port}`,
    close: () => {
      for (const s of sockets) s.destroy()
      srv.close()
    },
  }
}

describe('cancellation', () => {
  let silent
  before(async () => {
    silent = await silentServer()
  })
  after(() => silent.close())

  test('a get against a hung endpoint rejects at once when aborted, as an AbortError', async () => {
    const c = client({ endpoint: silent.endpoint }, 'b')
    const ac = new AbortController()
    const reason = new Error('user gave up')
    const t0 = Date.now()
    setTimeout(() => ac.abort(reason), 200)
    const err = await rejection(c.get('a', { signal: ac.signal }))
    const took = Date.now() - t0
    assert.ok(err instanceof AbortedError && err instanceof ImmuKVError)
    assert.equal(err.name, 'AbortError')
    assert.equal(err.code, 'ABORTED')
    assert.equal(err.cause, reason)
    assert.ok(took < 700, `${took} ms`)
  })

  test('an already aborted signal: rejected before any request', async () => {
    const c = ImmuKVClient.inMemory()
    const err = await rejection(c.set('a', 1, { signal: AbortSignal.abort() }))
    assert.equal(err.code, 'ABORTED')
    assert.equal(c.stats().requests.total, 0)
  })

  test('a process whose get hangs exits promptly once the call is aborted and the client closed', async () => {
    const t0 = Date.now()
    await runNode(`
      import { ImmuKVClient } from 'immukv'
      const c = new ImmuKVClient({ s3Bucket: 'b', s3Region: 'us-east-1', s3Prefix: '', overrides: { endpointUrl: ${JSON.stringify(silent.endpoint)}, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } } })
      const ac = new AbortController()
      setTimeout(() => ac.abort(), 200)
      await c.get('a', { signal: ac.signal }).catch((e) => console.log(e.code))
      await c.close()
    `)
    const took = Date.now() - t0
    assert.ok(took < 3000, `exited after ${took} ms`)
  })

  test('a set aborted mid-flight says whether it may have committed, truthfully', async () => {
    const proxy = await new S3Proxy(SEAWEED.endpoint).start()
    try {
      const b = await bucket(SEAWEED)
      const c = client({ endpoint: proxy.endpoint }, b)
      await c.set('warm', 0)
      // The log PUT is sent and never answered: it may have been applied.
      proxy.inject({ op: 'PUT', target: 'log', action: 'hang', times: 1 })
      const ac = new AbortController()
      const inFlight = c.set('k', 'maybe', { signal: ac.signal })
      // Queued behind it, not sent yet: certainly not committed.
      const ac2 = new AbortController()
      const queued = c.set('k', 'never', { signal: ac2.signal })
      const deadline = Date.now() + 5000
      while (!proxy.requests.some((r) => r.method === 'PUT' && r.target === 'log' && r.url.includes('_log.json')) && Date.now() < deadline) await sleep(10)
      await sleep(50)
      ac2.abort()
      ac.abort()
      const [e1, e2] = await Promise.all([rejection(inFlight), rejection(queued)])
      assert.equal(e1.code, 'ABORTED')
      assert.equal(e1.mayHaveCommitted, true)
      assert.equal(e2.code, 'ABORTED')
      assert.equal(e2.mayHaveCommitted, false)
      proxy.clearFaults()
      const values = (await client(SEAWEED, b).logEntries()).map((e) => e.value)
      assert.ok(!values.includes('never'), 'not committed, as promised')
    } finally {
      await proxy.stop()
    }
  })

  test('an abort that comes after the entry is in the log (its key object still being written) resolves with the entry', async () => {
    const proxy = await new S3Proxy(SEAWEED.endpoint).start()
    try {
      const b = await bucket(SEAWEED)
      const c = client({ endpoint: proxy.endpoint }, b, { requestTimeoutMs: 1000 })
      await c.set('warm', 0)
      proxy.inject({ op: 'PUT', target: 'key', action: 'hang', times: 1 })
      const ac = new AbortController()
      const set = c.set('k', 'committed', { signal: ac.signal })
      const deadline = Date.now() + 5000
      while (proxy.hits() === 0 && Date.now() < deadline) await sleep(5)
      assert.equal(proxy.hits(), 1, 'the key-object PUT is hanging')
      ac.abort()
      const entry = await set // resolves: too late to abort
      const [head] = await client(SEAWEED, b).logEntries(undefined, 1)
      assert.equal(head.versionId, entry.versionId)
      assert.equal(head.value, 'committed')
      proxy.clearFaults()
      await c.close()
    } finally {
      await proxy.stop()
    }
  })

  test('verifyLog is not bounded by operationTimeoutMs (its length grows with the log)', async () => {
    const proxied = await new S3Proxy(SEAWEED.endpoint, { latencyMs: 10 }).start()
    try {
      const b = await bucket(SEAWEED)
      const w = client(SEAWEED, b)
      await Promise.all(Array.from({ length: 120 }, (_, i) => w.set(`k${i % 9}`, i)))
      const timeout = 100
      const v = client({ endpoint: proxied.endpoint }, b, { operationTimeoutMs: timeout, readConcurrency: 4 })
      const t0 = Date.now()
      const r = await v.verifyLog()
      const took = Date.now() - t0
      assert.ok(took > 2 * timeout, `took ${took} ms: long enough to prove the point`)
      assert.equal(r.ok, true, JSON.stringify(r.failures))
      assert.equal(r.checked, 120)
      // Other calls still are bounded.
      const err = await rejection(v.logEntries(undefined, 120))
      assert.equal(err.code, 'STORAGE_ERROR')
      assert.match(err.message, /operationTimeoutMs/)
    } finally {
      await proxied.stop()
    }
  })

  test('a long verifyLog stops when aborted', async () => {
    const proxied = await new S3Proxy(SEAWEED.endpoint, { latencyMs: 20 }).start()
    try {
      const b = await bucket(SEAWEED)
      const w = client(SEAWEED, b)
      for (let i = 0; i < 60; i++) await w.set(`k${i % 7}`, i)
      const slow = client({ endpoint: proxied.endpoint }, b, { readConcurrency: 1 })
      const ac = new AbortController()
      let progressed = 0
      setTimeout(() => ac.abort(), 300)
      const t0 = Date.now()
      const err = await rejection(slow.verifyLog({ signal: ac.signal, onProgress: () => progressed++ }))
      const took = Date.now() - t0
      assert.equal(err.code, 'ABORTED')
      assert.ok(took < 800, `${took} ms (a full check takes seconds at 20 ms per request)`)
      assert.ok(progressed > 0, 'progress was reported before the abort')
      const requests = proxied.requests.length
      await sleep(300)
      assert.equal(proxied.requests.length, requests, 'no request after the abort')
    } finally {
      await proxied.stop()
    }
  })
})

describe('logs and counters', () => {
  test('IMMUKV_LOG=debug writes a line for a retried request to stderr, with no secret; the counter agrees', async () => {
    const proxy = await new S3Proxy(SEAWEED.endpoint).start()
    try {
      const b = await bucket(SEAWEED)
      await client(SEAWEED, b).set('a', 1)
      proxy.inject({ op: 'GET', target: 'key', action: 503, times: 1 })
      const source = `
        import { ImmuKVClient } from 'immukv'
        const c = new ImmuKVClient({ s3Bucket: ${JSON.stringify(b)}, s3Region: 'us-east-1', s3Prefix: '', overrides: { endpointUrl: ${JSON.stringify(proxy.endpoint)}, credentials: { accessKeyId: 'adminkey', secretAccessKey: 'adminsecret' } } })
        await c.get('a')
        console.log(JSON.stringify(c.stats()))
      `
      const { spawn } = await import('node:child_process')
      const { fileURLToPath } = await import('node:url')
      const child = spawn(process.execPath, ['--input-type=module', '-e', source], {
        cwd: fileURLToPath(new URL('.', import.meta.url)),
        env: { ...process.env, IMMUKV_LOG: 'debug' },
      })
      let out = ''
      let err = ''
      child.stdout.on('data', (d) => (out += d))
      child.stderr.on('data', (d) => (err += d))
      const code = await new Promise((r) => child.on('exit', r))
      assert.equal(code, 0, err)
      assert.match(err, /immukv::retry.*retrying a transient failure.*GetObject/)
      assert.match(err, /DEBUG/)
      assert.ok(!err.includes('adminsecret'), 'no secret in the log')
      assert.ok(!/aws_smithy|aws_sdk/.test(err), "the SDK's own tracing stays out")
      const stats = JSON.parse(out)
      assert.ok(stats.retries >= 1, JSON.stringify(stats))
      assert.ok(stats.requests.get >= 2)
      assert.ok(stats.requestErrors >= 1)
    } finally {
      await proxy.stop()
    }
  })

  test('without IMMUKV_LOG nothing is printed', async () => {
    const out = await runNode(
      `
      import { ImmuKVClient } from 'immukv'
      const c = ImmuKVClient.inMemory()
      await c.set('a', 1)
      process.stderr.write('')
    `,
      { ...process.env, IMMUKV_LOG: '' },
    )
    assert.equal(out, '')
  })

  test('stats: requests by operation, bytes, commits and conflicts', async () => {
    const name = `stats-${Date.now()}`
    const a = ImmuKVClient.inMemory(name)
    const z = ImmuKVClient.inMemory(name)
    await a.set('k', { big: 'x'.repeat(1000) })
    await a.get('k')
    await z.set('k', 2) // a's chain is now stale
    await a.set('k', 3) // one lost race, then the full protocol
    const s = a.stats()
    assert.equal(s.commits, 2)
    assert.equal(s.conflicts, 1)
    assert.ok(s.requests.put >= 4 && s.requests.get >= 2 && s.requests.head >= 1, JSON.stringify(s))
    assert.equal(
      s.requests.total,
      s.requests.get + s.requests.head + s.requests.put + s.requests.listVersions + s.requests.listObjects + s.requests.getBucketVersioning + s.requests.bucketConfig,
    )
    assert.ok(s.bytesSent > 2000 && s.bytesReceived > 1000, JSON.stringify(s))
    assert.deepEqual(Object.keys(s).sort(), [
      'bytesReceived',
      'bytesSent',
      'commits',
      'conflicts',
      'repairs',
      'repairsFailed',
      'requestErrors',
      'requests',
      'retries',
      'settled',
    ])
  })
})
