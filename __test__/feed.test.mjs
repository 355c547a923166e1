// Following the log (watch), point-in-time reads (get with atSequence / at)
// and the entries an S3 event names (entriesFromS3Event), on SeaweedFS, moto
// and in memory; faults and tampering through the proxy and raw S3 calls.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import {
  ADMIN,
  SERVERS,
  STORES,
  ImmuKVError,
  AbortedError,
  bucket,
  client,
  forgeNext,
  logError,
  putRaw,
  rejection,
  runNode,
  sleep,
  uniqueName,
} from './support/helpers.mjs'
import { S3Proxy } from './support/proxy.mjs'

const POLL = 20

/** Takes `n` entries from a watcher, then stops it (break: return()). */
async function take(watcher, n, { timeoutMs = 20000 } = {}) {
  const out = []
  const timer = setTimeout(() => watcher.return(), timeoutMs)
  try {
    for await (const e of watcher) {
      out.push(e)
      if (out.length >= n) break
    }
  } finally {
    clearTimeout(timer)
  }
  assert.equal(out.length, n, `took ${out.length} of ${n} entries before the timeout`)
  return out
}

/** The error a watcher ends with (it must end with one within `ms`). */
async function failure(watcher, ms = 10000) {
  const timer = setTimeout(() => watcher.return(), ms)
  try {
    const r = await watcher.next()
    assert.fail(`expected the watch to fail, it gave ${JSON.stringify(r)}`)
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err
    logError(err)
    return err
  } finally {
    clearTimeout(timer)
  }
}

/** Writers on separate clients (each its own pipeline), `sets` each, all at once. */
async function writers(server, b, count, sets, extra = {}) {
  const clients = Array.from({ length: count }, () => client(server, b, extra))
  const acked = await Promise.all(
    clients.map(async (c, w) => {
      const mine = []
      for (let i = 0; i < sets; i++) mine.push(await c.set(`w${w}`, { w, i }))
      return mine
    }),
  )
  await Promise.all(clients.map((c) => c.close()))
  return acked.flat()
}

const seqs = (es) => es.map((e) => e.sequence)
const range = (from, to) => Array.from({ length: to - from }, (_, i) => from + i)

for (const server of STORES) {
  describe(`watch on ${server.name}`, () => {
    // One bucket, a prefix per test.
    let bucketName
    before(async () => {
      bucketName = await bucket(server)
    })
    test('3 writers, one watcher: every entry once, in order, verified, with the log’s own ids', async () => {
      const b = bucketName
      const o = { s3Prefix: `${uniqueName('feed')}/` }
      const w = client(server, b, o)
      await w.set('before', 0)
      const watcher = client(server, b, o)
      // An exact start: the writers below race the default start's head read
      // (in memory they can append before it lands).
      const feed = watcher.watch({ fromSequence: 1, pollIntervalMs: POLL })
      const got = take(feed, 45)
      const acked = await writers(server, b, 3, 15, o)
      const entries = await got
      assert.deepEqual(seqs(entries), range(1, 46))
      const log = (await w.logEntries()).reverse()
      for (const e of entries) {
        assert.equal(e.hash, log[e.sequence].hash)
        assert.equal(e.versionId, log[e.sequence].versionId)
        assert.equal(e.previousVersionId, log[e.sequence - 1].versionId)
        assert.ok(watcher.verify(e))
      }
      assert.deepEqual(new Set(entries.map((e) => e.hash)), new Set(acked.map((e) => e.hash)))
      assert.equal(feed.position.sequence, 45)
      await Promise.all([w.close(), watcher.close()])
    })

    test('restarted from a cursor (fromSequence, or after: position) it misses nothing and repeats nothing', async () => {
      const b = bucketName
      const o = { s3Prefix: `${uniqueName('feed')}/` }
      const w = client(server, b, o)
      for (let i = 0; i < 6; i++) await w.set(`k${i % 2}`, i)
      const c = client(server, b, o)
      const first = await take(c.watch({ fromSequence: 0, pollIntervalMs: POLL }), 4)
      assert.deepEqual(seqs(first), [0, 1, 2, 3])
      const last = first.at(-1)
      for (let i = 6; i < 9; i++) await w.set('k', i)
      const bySequence = await take(c.watch({ fromSequence: last.sequence + 1, pollIntervalMs: POLL }), 5)
      const byDigest = await take(c.watch({ after: { sequence: last.sequence, versionId: last.versionId, hash: last.hash }, pollIntervalMs: POLL }), 5)
      assert.deepEqual(seqs(bySequence), range(4, 9))
      assert.deepEqual(seqs(byDigest), range(4, 9))
      // A digest the log no longer holds unchanged ends the watch, typed.
      const forged = { sequence: last.sequence, versionId: last.versionId, hash: `sha256:${'0'.repeat(64)}` }
      const err = await rejection(take(c.watch({ after: forged }), 1))
      assert.equal(err.code, 'CORRUPT_ENTRY')
      // Beyond the log's next sequence: refused, not waited for.
      assert.equal((await failure(c.watch({ fromSequence: 99 }))).code, 'INVALID_ARGUMENT')
      await Promise.all([w.close(), c.close()])
    })

    test('a key filter hands over only its keys; the position covers what it passed over', async () => {
      const b = bucketName
      const o = { s3Prefix: `${uniqueName('feed')}/` }
      const c = client(server, b, o)
      const feed = c.watch({ fromSequence: 0, keys: ['exact'], keyPrefix: 'tenant/', pollIntervalMs: POLL })
      const got = take(feed, 3)
      for (const k of ['other', 'exact', 'tenant/a', 'exactly', 'x/tenant/a', 'tenant/b']) await c.set(k, k)
      assert.deepEqual(
        (await got).map((e) => e.key),
        ['exact', 'tenant/a', 'tenant/b'],
      )
      assert.equal(feed.position.sequence, 5)
      await c.close()
    })

    test('abort: ABORTED at once, also while it waits; break and return() stop it; close() ends it with CLIENT_CLOSED', async () => {
      const b = bucketName
      const o = { s3Prefix: `${uniqueName('feed')}/` }
      const c = client(server, b, o)
      await c.set('k', 1)
      const ac = new AbortController()
      const feed = c.watch({ signal: ac.signal, pollIntervalMs: 1000 })
      const pending = feed.next()
      await sleep(100)
      const t0 = performance.now()
      ac.abort(new Error('shutting down'))
      const err = await rejection(pending)
      assert.ok(performance.now() - t0 < 200, `aborted after ${performance.now() - t0} ms`)
      assert.ok(err instanceof AbortedError && err.code === 'ABORTED')
      assert.equal(err.cause.message, 'shutting down')
      assert.deepEqual(await feed.next(), { done: true, value: undefined })
      // return() while a next() waits: both settle done, at once.
      const other = c.watch({ pollIntervalMs: 1000 })
      const waiting = other.next()
      await sleep(50)
      assert.deepEqual(await other.return(), { done: true, value: undefined })
      assert.deepEqual(await waiting, { done: true, value: undefined })
      // close() ends a waiting watcher instead of waiting for it.
      const third = c.watch({ pollIntervalMs: 1000 })
      const third1 = third.next()
      await sleep(50)
      await c.close()
      assert.equal((await rejection(third1)).code, 'CLIENT_CLOSED')
      assert.equal((await failure(c.watch())).code, 'CLIENT_CLOSED')
    })

    test('idle: one request per poll (stats), and bad options refused with a typed error', async () => {
      const b = bucketName
      const o = { s3Prefix: `${uniqueName('feed')}/` }
      const c = client(server, b, o)
      await c.set('k', 1)
      const feed = c.watch({ pollIntervalMs: 50 })
      const pending = feed.next()
      await sleep(200) // started, first polls done
      const before = c.stats().requests.total
      await sleep(1000)
      const polls = c.stats().requests.total - before
      assert.ok(polls >= 15 && polls <= 21, `${polls} requests in 1 s at a 50 ms poll`)
      await feed.return()
      assert.deepEqual(await pending, { done: true, value: undefined })
      for (const [opts, code] of [
        [{ fromSequence: -1 }, 'INVALID_ARGUMENT'],
        [{ fromSequence: 1.5 }, 'INVALID_ARGUMENT'],
        [{ fromSequence: 1, after: { sequence: 0, versionId: 'v', hash: 'h' } }, 'INVALID_ARGUMENT'],
        [{ keys: 'k' }, 'INVALID_ARGUMENT'],
        [{ keys: ['a//b'] }, 'INVALID_KEY'],
        [{ keyPrefix: 'a\u0001' }, 'INVALID_ARGUMENT'],
        [{ pollIntervalMs: 0 }, 'INVALID_ARGUMENT'],
        [{ pollIntervalMs: 1e12 }, 'INVALID_ARGUMENT'],
        [{ signal: {} }, 'INVALID_ARGUMENT'],
      ]) {
        const err = await failure(c.watch(opts))
        assert.ok(err instanceof ImmuKVError, JSON.stringify(opts))
        assert.equal(err.code, code, `${JSON.stringify(opts)}: ${err.message}`)
      }
      await c.close()
    })

    test('point in time: get(key, { atSequence }) and { at: Date } match the history, for random points', async () => {
      const b = bucketName
      const o = { s3Prefix: `${uniqueName('feed')}/` }
      const a = client(server, b, o)
      const other = client(server, b, o)
      const written = []
      for (let i = 0; i < 40; i++) written.push(await (i % 3 ? a : other).set(['x', 'y', 'z'][((i * 7) % 5) % 3], i))
      const r = client(server, b, { ...o, readOnly: true })
      const expect = (key, s) => written.findLast((e) => e.key === key && e.sequence <= s)
      let seed = 12345
      const random = (n) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31
        return seed % n
      }
      for (let round = 0; round < 25; round++) {
        const s = random(40)
        const key = ['x', 'y', 'z'][round % 3]
        const want = expect(key, s)
        const got = r.get(key, { atSequence: s })
        if (want) assert.equal((await got).hash, want.hash, `${key} at ${s}`)
        else assert.equal((await rejection(got)).code, 'KEY_NOT_FOUND', `${key} at ${s}`)
      }
      // By time: the newest entry stamped at or before it.
      for (const e of [written[3], written[20], written[39]]) {
        const got = await r.get(e.key, { at: new Date(e.timestampMs) })
        assert.equal(got.hash, written.findLast((x) => x.key === e.key && x.timestampMs <= e.timestampMs).hash)
      }
      // Random moments between the entries (and after the last).
      const [t0, t1] = [written[0].timestampMs, written[39].timestampMs + 50]
      for (let round = 0; round < 12; round++) {
        const t = t0 + random(t1 - t0 + 1)
        const key = ['x', 'y', 'z'][round % 3]
        const want = written.findLast((e) => e.key === key && e.timestampMs <= t)
        const got = r.get(key, { at: new Date(t) })
        if (want) assert.equal((await got).hash, want.hash, `${key} at ${t}`)
        else assert.equal((await rejection(got)).code, 'KEY_NOT_FOUND', `${key} at ${t}`)
      }
      assert.equal((await rejection(r.get('x', { at: new Date(0) }))).code, 'KEY_NOT_FOUND')
      // Verified, and refused beyond the head or with bad input.
      const v = await r.get('y', { atSequence: 30, verify: true })
      assert.equal(v.hash, expect('y', 30).hash)
      assert.equal(v.previousVersionId !== undefined, true, 'a verified read carries the log entry')
      for (const opts of [{ atSequence: 40 }, { atSequence: -1 }, { atSequence: 2, at: new Date() }, { at: 'yesterday' }, { at: new Date(Number.NaN) }]) {
        assert.equal((await rejection(r.get('x', opts))).code, 'INVALID_ARGUMENT', JSON.stringify(opts))
      }
      await Promise.all([a.close(), other.close(), r.close()])
    })

    test('entriesFromS3Event: the log versions a notification names, verified, once each, in order; other records passed over', async () => {
      const b = bucketName
      const o = { s3Prefix: `${uniqueName('feed')}/` }
      const c = client(server, b, { s3Prefix: `${o.s3Prefix}app data/` })
      const es = []
      for (let i = 0; i < 5; i++) es.push(await c.set('k', i))
      const key = encodeURIComponent(`${o.s3Prefix}app data/_log.json`).replace(/%20/g, '+')
      const record = (e, extra = {}) => ({
        eventSource: 'aws:s3',
        eventName: 'ObjectCreated:Put',
        s3: { bucket: { name: b }, object: { key, versionId: e.versionId, sequencer: '00' }, ...extra },
      })
      const event = {
        Records: [
          record(es[3]),
          record(es[1]),
          record(es[3]), // delivered twice
          { ...record(es[2]), s3: { bucket: { name: 'another-bucket' }, object: { key, versionId: es[2].versionId } } },
          { ...record(es[2]), s3: { bucket: { name: b }, object: { key: key.replace('_log.json', 'keys/k.json'), versionId: 'x' } } },
          { ...record(es[4]), eventName: 'ObjectRemoved:DeleteMarkerCreated' },
        ],
      }
      assert.deepEqual(seqs(await c.entriesFromS3Event(event)), [1, 3])
      // Through SQS (of SNS), and EventBridge.
      const sns = { Type: 'Notification', Message: JSON.stringify({ Records: [record(es[0])] }) }
      const sqs = { Records: [{ body: JSON.stringify(sns) }, { body: 'not json' }, { Sns: { Message: JSON.stringify({ Records: [record(es[4])] }) } }] }
      assert.deepEqual(seqs(await c.entriesFromS3Event(sqs)), [0, 4])
      const bridge = {
        source: 'aws.s3',
        'detail-type': 'Object Created',
        detail: { bucket: { name: b }, object: { key: `${o.s3Prefix}app data/_log.json`, 'version-id': es[2].versionId } },
      }
      const got = await c.entriesFromS3Event(bridge)
      assert.deepEqual(
        got.map((e) => e.value),
        [2],
      )
      assert.deepEqual(await c.entriesFromS3Event({ Records: [] }), [])
      assert.equal((await rejection(c.entriesFromS3Event('event'))).code, 'INVALID_ARGUMENT')
      const noVersion = { Records: [{ ...record(es[0]), s3: { bucket: { name: b }, object: { key } } }] }
      assert.equal((await rejection(c.entriesFromS3Event(noVersion))).code, 'INVALID_ARGUMENT')
      assert.equal((await rejection(c.entriesFromS3Event({ Records: [record({ versionId: 'gone' })] }))).code, 'VERSION_NOT_FOUND')
      await c.close()
    })
  })
}

for (const server of SERVERS) {
  describe(`watch on ${server.name}, through the proxy`, () => {
    let proxy, bucketName
    before(async () => {
      proxy = await new S3Proxy(server.endpoint).start()
      bucketName = await bucket(server)
    })
    after(() => proxy.stop())
    const via = () => ({ endpoint: proxy.endpoint })

    test('transient 5xx and resets during the watch: no gap, no duplicate', async () => {
      const b = bucketName
      const o = { s3Prefix: `${uniqueName('feed')}/` }
      const w = client(server, b, o)
      await w.set('k', 0)
      const watcher = client(via(), b, { ...o, requestTimeoutMs: 1000 })
      // From sequence 1: the head "at the call" is the head its first
      // successful read finds, and that read meets the faults too.
      const feed = watcher.watch({ fromSequence: 1, pollIntervalMs: POLL })
      const got = take(feed, 30)
      for (let i = 1; i <= 30; i++) {
        if (i % 5 === 1) {
          proxy.inject({ op: 'GET', target: 'log', action: 500, times: 6, probability: 0.7 })
          proxy.inject({ op: 'LIST', target: 'log', action: 503, times: 4, probability: 0.7 })
          proxy.inject({ op: 'GET', target: 'log', action: 'reset', times: 2, probability: 0.5 })
        }
        await w.set('k', i)
      }
      const entries = await got
      const hits = proxy.hits()
      proxy.clearFaults()
      assert.deepEqual(seqs(entries), range(1, 31))
      assert.ok(hits > 0 && watcher.stats().requestErrors > 0, 'faults were hit')
      await Promise.all([w.close(), watcher.close()])
    })

    test('idle: at most one request per poll, a conditional GET answered 304', async () => {
      const b = bucketName
      const o = { s3Prefix: `${uniqueName('feed')}/` }
      const w = client(server, b, o)
      await w.set('k', 0)
      const watcher = client(via(), b, o)
      const feed = watcher.watch({ pollIntervalMs: 100 })
      const pending = feed.next()
      await sleep(300)
      proxy.reset()
      await sleep(2000)
      const requests = proxy.requests.length
      assert.ok(requests <= 21 && requests >= 15, `${requests} requests in 2 s at a 100 ms poll`)
      assert.ok(proxy.requests.every((r) => r.method === 'GET' && r.headers['if-none-match']))
      await w.set('k', 1)
      assert.equal((await pending).value.sequence, 1)
      await feed.return()
      await Promise.all([w.close(), watcher.close()])
    })
  })

  describe(`tampering under the watch on ${server.name}`, () => {
    let bucketName
    before(async () => {
      bucketName = await bucket(server)
    })
    test('a forged version in the range: the verified entries, then CORRUPT_ENTRY', async () => {
      const b = bucketName
      const o = { s3Prefix: `${uniqueName('feed')}/` }
      const w = client(server, b, o)
      for (let i = 0; i < 3; i++) await w.set('k', i)
      const c = client(server, b, o)
      const feed = c.watch({ pollIntervalMs: POLL })
      await sleep(200) // started at sequence 2
      const genuine = await w.set('k', 3)
      // A genuine older entry PUT again on top: hash and link hold, but it
      // is not what the log lists below it.
      const [e1] = (await c.logEntries()).filter((e) => e.sequence === 1)
      const replay = await forgeNext({ sequence: 0, hash: e1.previousHash, versionId: e1.previousVersionId }, 'k', 1, e1.previousKeyObjectEtag, e1.timestampMs)
      assert.equal(replay.hash, e1.hash, 'the copy is the genuine entry')
      await putRaw(server, b, `${o.s3Prefix}_log.json`, replay.body)
      const handed = []
      const timer = setTimeout(() => feed.return(), 15000)
      const err = await rejection(
        (async () => {
          for await (const e of feed) handed.push(e)
        })(),
      )
      clearTimeout(timer)
      assert.deepEqual(seqs(handed), [genuine.sequence])
      assert.ok(err instanceof ImmuKVError)
      assert.equal(err.code, 'CORRUPT_ENTRY')
      assert.match(err.message, /broken at version/)
      // An S3 event naming the forged version is refused the same way.
      const [forged] = await c.logEntries(undefined, 1)
      const event = {
        Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: b }, object: { key: `${o.s3Prefix}_log.json`, versionId: forged.versionId } } }],
      }
      assert.equal((await rejection(c.entriesFromS3Event(event))).code, 'CORRUPT_ENTRY')
      await Promise.all([w.close(), c.close()])
    })
  })
}

describe('watch in a process of its own', () => {
  // The process must exit by itself: nothing (no timer, no pending native
  // call) keeps it alive once the watcher is aborted, broken out of, or
  // left, on the in-memory store and on SeaweedFS.
  const script = (store, how) => `
    import { ImmuKVClient } from 'immukv'
    const c = ${
      store === 'memory'
        ? 'ImmuKVClient.inMemory()'
        : `new ImmuKVClient({ s3Bucket: process.env.B, s3Region: 'us-east-1', s3Prefix: process.env.P, overrides: { endpointUrl: process.env.E, credentials: { accessKeyId: 'adminkey', secretAccessKey: 'adminsecret' } } })`
    }
    await c.set('k', 1)
    const ac = new AbortController()
    const feed = c.watch({ signal: ac.signal, pollIntervalMs: 50 })
    ${
      how === 'abort'
        ? `setTimeout(() => { ac.abort(); console.log('aborted ' + performance.now()) }, 300)
           try { for await (const e of feed) {} } catch (err) { console.log(err.code) }`
        : `setTimeout(() => c.set('k', 2), 300)
           for await (const e of feed) { console.log('got ' + e.value); break }
           console.log('aborted ' + performance.now())`
    }
  `
  let weedBucket
  before(async () => {
    weedBucket = await bucket(SERVERS[0])
  })
  for (const store of ['memory', 'seaweedfs']) {
    for (const how of ['abort', 'break']) {
      test(`${store}: after ${how}, the process exits by itself, promptly`, async () => {
        const env = { ...process.env }
        if (store !== 'memory') Object.assign(env, { B: weedBucket, E: SERVERS[0].endpoint, P: `${uniqueName('feed')}/` })
        const cwd = fileURLToPath(new URL('.', import.meta.url))
        const p = spawn(process.execPath, ['--input-type=module', '-e', script(store, how)], { cwd, env })
        let out = ''
        let stoppedAt
        p.stdout.on('data', (d) => {
          out += d
          if (stoppedAt === undefined && out.includes('aborted')) stoppedAt = performance.now()
        })
        p.stderr.on('data', (d) => (out += d))
        const code = await new Promise((resolve) => p.on('exit', resolve))
        const lingered = performance.now() - stoppedAt
        assert.equal(code, 0, out)
        if (how === 'abort') assert.match(out, /ABORTED/)
        else assert.match(out, /got 2/)
        assert.ok(lingered < 1000, `exited ${lingered} ms after the watch stopped: ${out}`)
      })
    }
  }
})

describe('the Lambda example (examples/lambda/handler.mjs)', () => {
  test('given an S3 notification of two new log versions, delivered twice, it logs the two entries in order', async () => {
    const server = SERVERS[0]
    const b = await bucket(server)
    const prefix = `${uniqueName('lambda')}/`
    const w = client(server, b, { s3Prefix: prefix })
    const es = []
    for (let i = 0; i < 3; i++) es.push(await w.set(`device-${i}`, { gain: i }))
    const key = encodeURIComponent(`${prefix}_log.json`).replace(/%20/g, '+')
    const record = (e) => ({ eventName: 'ObjectCreated:Put', s3: { bucket: { name: b }, object: { key, versionId: e.versionId } } })
    const event = { Records: [record(es[2]), record(es[1]), record(es[2])] }
    const script = `
      const { handler } = await import(${JSON.stringify(new URL('../examples/lambda/handler.mjs', import.meta.url).href)})
      console.log(JSON.stringify(await handler(${JSON.stringify(event)})))`
    const env = {
      ...process.env,
      IMMUKV_BUCKET: b,
      IMMUKV_PREFIX: prefix,
      IMMUKV_ENDPOINT: server.endpoint,
      AWS_ACCESS_KEY_ID: ADMIN.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
    }
    const lines = (await runNode(script, env))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    assert.deepEqual(
      lines.slice(0, -1).map((l) => [l.sequence, l.key, l.versionId]),
      [
        [1, 'device-1', es[1].versionId],
        [2, 'device-2', es[2].versionId],
      ],
    )
    assert.deepEqual(lines.at(-1), { entries: 2 })
    await w.close()
  })
})
