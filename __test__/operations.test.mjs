// For the people who run it: cancellation with AbortSignal, logs switched on
// by IMMUKV_LOG, and per-client counters.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { SEAWEED, MOTO, ImmuKVClient, AbortedError, ImmuKVError, bucket, client, rejection, runNode, sleep } from './support/helpers.mjs'
import { S3Proxy } from './support/proxy.mjs'

/** Waits until `done()` holds (at most 10 s). */
async function until(done, what = 'condition') {
  const deadline = Date.now() + 10_000
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

/** Runs ESM `source` (immukv importable) with IMMUKV_LOG=`level`; resolves with stdout and stderr. */
async function logged(source, level) {
  const { spawn } = await import('node:child_process')
  const { fileURLToPath } = await import('node:url')
  const child = spawn(process.execPath, ['--input-type=module', '-e', source], {
    cwd: fileURLToPath(new URL('.', import.meta.url)),
    env: { ...process.env, IMMUKV_LOG: level },
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err += d))
  const code = await new Promise((r) => child.on('exit', r))
  assert.equal(code, 0, err)
  return { out, err }
}

/** The fields of the log lines whose message is `message`, e.g. `call`. */
function lines(text, message) {
  return text
    .split('\n')
    .filter((l) => l.includes(`: ${message} `))
    .map((l) => Object.fromEntries([...l.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)].map(([, k, v]) => [k, v.startsWith('"') ? JSON.parse(v) : v])))
}

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
      s.requests.get +
        s.requests.head +
        s.requests.put +
        s.requests.listVersions +
        s.requests.listObjects +
        s.requests.getBucketVersioning +
        s.requests.bucketConfig,
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

  test('IMMUKV_LOG=debug: one line per call (operation, key, sequence, requests, duration), each counting the requests it caused, also among concurrent calls; trace: every request with its status and duration', async () => {
    const b = await bucket(SEAWEED)
    const { out, err } = await logged(
      `
      import { ImmuKVClient } from 'immukv'
      const c = new ImmuKVClient({ s3Bucket: ${JSON.stringify(b)}, s3Region: 'us-east-1', s3Prefix: '', repairCheckIntervalMs: 600000, overrides: { endpointUrl: ${JSON.stringify(SEAWEED.endpoint)}, credentials: { accessKeyId: 'adminkey', secretAccessKey: 'adminsecret' } } })
      await c.set('k0', 0)
      await c.get('k0')
      // Concurrent: each get sends one GET; the sets queue, the second one's HEAD fetched ahead.
      await Promise.all([c.set('k1', 1), c.set('k2', 2), ...Array.from({ length: 8 }, () => c.get('k0'))])
      await c.get('absent').catch(() => {})
      console.log(JSON.stringify(c.stats()))
    `,
      'trace',
    )
    const stats = JSON.parse(out)
    const calls = lines(err, 'call')
    assert.equal(calls.length, 13, err)
    for (const c of calls) {
      assert.ok(['set', 'get'].includes(c.operation), JSON.stringify(c))
      assert.match(c.requests, /^\d+$/)
      assert.match(c.duration_ms, /^\d+(\.\d+)?$/)
    }
    const sets = calls.filter((c) => c.operation === 'set')
    assert.deepEqual(
      sets.map((c) => [c.key, c.sequence, c.outcome]),
      [
        ['k0', '0', 'ok'],
        ['k1', '1', 'ok'],
        ['k2', '2', 'ok'],
      ],
    )
    // The first set of a new log: GET and list the log, versioning and HEAD,
    // two PUTs (and a HEAD of the log now and then while SeaweedFS is slow to
    // answer the first append).
    assert.ok(Number(sets[0].requests) >= 6, JSON.stringify(sets[0]))
    const gets = calls.filter((c) => c.operation === 'get' && c.key === 'k0')
    assert.equal(gets.length, 9)
    // The first get also checks the log head for an orphan; the concurrent ones send one GET each.
    assert.ok(Number(gets[0].requests) >= 2, JSON.stringify(gets[0]))
    for (const g of gets.slice(1)) assert.deepEqual([g.sequence, g.requests, g.outcome], ['0', '1', 'ok'], JSON.stringify(g))
    assert.deepEqual(
      calls.filter((c) => c.key === 'absent').map((c) => [c.requests, c.outcome, c.sequence]),
      [['1', 'KEY_NOT_FOUND', undefined]],
    )
    const sum = calls.reduce((n, c) => n + Number(c.requests), 0)
    assert.equal(sum, stats.requests.total, 'every request is counted for the call that caused it, once')
    const requests = lines(err, 'request')
    assert.equal(requests.length, stats.requests.total)
    for (const r of requests) {
      assert.match(r.operation, /^(GetObject|HeadObject|PutObject|ListObjectVersions|ListObjectsV2|GetBucketVersioning)$/)
      assert.match(r.status, /^(200|404)$/, JSON.stringify(r))
      assert.match(r.duration_ms, /^\d+(\.\d+)?$/)
    }
    assert.ok(!err.includes('adminsecret'))
    // At debug, the calls and not the requests.
    const debug = await logged(`import { ImmuKVClient } from 'immukv'; const c = ImmuKVClient.inMemory(); await c.set('a', 1); await c.get('a')`, 'debug')
    assert.deepEqual(
      lines(debug.err, 'call').map((c) => [c.operation, c.key, c.sequence]),
      [
        ['set', 'a', '0'],
        ['get', 'a', '0'],
      ],
    )
    assert.equal(lines(debug.err, 'request').length, 0)
  })

  for (const server of [SEAWEED, MOTO]) {
    test(`${server.name}: stats count every request sent, also one whose call was aborted and an append the client stopped waiting for; they match what the server received`, async () => {
      const proxy = await new S3Proxy(server.endpoint).start()
      try {
        const b = await bucket(server)
        const a = client({ endpoint: proxy.endpoint }, b)
        const other = client(server, b)
        await a.set('a', 1)
        await a.get('a') // its check for an orphan head is done: the next get sends one GET
        // A get whose GET is never answered, aborted.
        proxy.inject({ op: 'GET', target: 'key', action: 'hang', times: 1 })
        const ac = new AbortController()
        const got = a.get('a', { signal: ac.signal })
        await until(() => proxy.hits() === 1, 'the GET')
        ac.abort()
        assert.equal((await rejection(got)).code, 'ABORTED')
        // An append held by the server while another writer takes its slot:
        // the client reads the head and stops waiting for the answer.
        proxy.inject({ op: 'PUT', target: 'log', action: 'delay', delayMs: 4000, times: 1 })
        const t0 = Date.now()
        const set = a.set('a', 3)
        await until(() => proxy.hits() === 2, 'the held append')
        await other.set('b', 2)
        assert.equal((await set).sequence, 2)
        assert.ok(Date.now() - t0 < 4000, 'the held append was not waited for')
        const s = a.stats()
        assert.equal(s.requests.get, proxy.count('GET'), JSON.stringify(s))
        assert.equal(s.requests.head, proxy.count('HEAD'))
        assert.equal(s.requests.put, proxy.count('PUT'))
        assert.equal(s.requests.listVersions + s.requests.listObjects + s.requests.getBucketVersioning, proxy.count('LIST'))
        assert.equal(s.requests.total, proxy.requests.length)
        assert.equal(s.conflicts, 1)
      } finally {
        await proxy.stop()
      }
    })
  }
})
