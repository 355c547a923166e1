// Faults injected by a loopback proxy in front of the real servers: before a
// request is forwarded, and after the server applied it (the client sees a
// failure although the write happened). Every set either returns an entry
// that is in the log exactly once, or rejects saying whether it may have
// committed, and the log then holds it at most once.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { GetObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3'
import { SERVERS, SEAWEED, bucket, client, keyObject, raw, rejection, runNode, sleep } from './support/helpers.mjs'
import { S3Proxy } from './support/proxy.mjs'

const FAST = { requestTimeoutMs: 1000, connectTimeoutMs: 500, operationTimeoutMs: 20000 }

/** Asserts the log is sound and holds each given hash exactly once. */
async function assertExactlyOnce(c, hashes) {
  const log = await c.logEntries()
  for (const h of hashes) assert.equal(log.filter((e) => e.hash === h).length, 1, `entry ${h} once`)
  assert.deepEqual(
    log.map((e) => e.sequence),
    [...Array(log.length).keys()].reverse(),
    'contiguous',
  )
  const report = await c.verifyLog()
  assert.deepEqual(report.failures, [])
  return log
}

async function countValue(c, value) {
  return (await c.logEntries()).filter((e) => JSON.stringify(e.value) === JSON.stringify(value)).length
}

for (const server of SERVERS) {
  describe(`faults on ${server.name}`, () => {
    let proxy,
      b,
      n = 0
    const via = () => ({ endpoint: proxy.endpoint })
    const fresh = (extra = {}) => client(via(), b, { ...FAST, s3Prefix: `f${n++}/`, ...extra })
    before(async () => {
      proxy = await new S3Proxy(server.endpoint).start()
      b = await bucket(server)
    })
    after(() => proxy.stop())

    for (const [what, fault] of [
      ['500 after apply', { action: 500, when: 'after' }],
      ['connection reset after apply', { action: 'reset', when: 'after' }],
      ['503 SlowDown after apply', { action: 503, when: 'after' }],
      ['delayed past the timeout, applied late', { action: 'delay', delayMs: 1500 }],
      ['500 before apply', { action: 500, when: 'before' }],
      ['reset before apply', { action: 'reset', when: 'before' }],
    ]) {
      test(`log append: ${what} -> committed exactly once`, async () => {
        const c = fresh()
        await c.set('k', 'first')
        proxy.inject({ op: 'PUT', target: 'log', ...fault })
        const e = await c.set('k', 'second')
        assert.equal(e.sequence, 1)
        if (fault.action === 'delay') await sleep(1000) // let the late request land
        await assertExactlyOnce(c, [e.hash])
        assert.equal(await countValue(c, 'second'), 1)
        assert.equal((await c.get('k')).hash, e.hash)
        proxy.clearFaults()
      })
    }

    // Some servers hold a conditional PUT that lost to a concurrent write of
    // the same object for a second or more. A key-object write is decided
    // once the object has moved on, without waiting for the held answer.
    test("a writer's held key-object write does not hold its set once a repairer wrote the object", async () => {
      const prefix = `f${n++}/`
      const writer = client(via(), b, { ...FAST, requestTimeoutMs: 10000, s3Prefix: prefix })
      await writer.set('k', 'first')
      proxy.inject({ op: 'PUT', target: 'key', action: 'delay', delayMs: 5000, pathContains: `${prefix}keys/k.json` })
      const t0 = Date.now()
      const pending = writer.set('k', 'second')
      // Its append has landed once its key-object write is held.
      while (proxy.hits() === 0 && Date.now() - t0 < 5000) await sleep(5)
      assert.equal(proxy.hits(), 1, 'the key-object write is held')
      const other = client(server, b, { ...FAST, s3Prefix: prefix })
      await other.set('other', 1) // repairs the head first: k's object gets 'second'
      const e = await pending
      const took = Date.now() - t0
      assert.ok(took < 3000, `set resolved in ${took} ms, not after the held write's 5 s`)
      assert.equal(e.value, 'second')
      assert.equal((await keyObject(server, b, `${prefix}keys/k.json`)).log_version_id, e.versionId)
      assert.equal((await writer.get('k')).hash, e.hash)
      // The held write reaches the server at last, and changes nothing.
      while (proxy.answered() === 0 && Date.now() - t0 < 20000) await sleep(20)
      assert.equal(proxy.answered(), 1, 'the held write was answered')
      proxy.clearFaults()
      assert.equal((await keyObject(server, b, `${prefix}keys/k.json`)).log_version_id, e.versionId)
      assert.equal((await other.get('k')).hash, e.hash)
      assert.deepEqual((await other.verifyLog()).failures, [])
    })

    test("a repairer's held key-object write does not hold its append once the writer wrote the object", async () => {
      const prefix = `f${n++}/`
      const second = await new S3Proxy(server.endpoint).start()
      try {
        const writer = client(via(), b, { ...FAST, requestTimeoutMs: 10000, s3Prefix: prefix })
        await writer.set('k', 'first')
        // The writer's key-object write lands late, so the next writer sees
        // its entry as an orphan and repairs it; that repair is held.
        proxy.inject({ op: 'PUT', target: 'key', action: 'delay', delayMs: 1500, pathContains: `${prefix}keys/k.json` })
        const pending = writer.set('k', 'second')
        const start = Date.now()
        while (proxy.hits() === 0 && Date.now() - start < 5000) await sleep(5)
        assert.equal(proxy.hits(), 1, "the writer's key-object write is held")
        const repairer = client({ endpoint: second.endpoint }, b, { ...FAST, requestTimeoutMs: 10000, s3Prefix: prefix })
        second.inject({ op: 'PUT', target: 'key', action: 'delay', delayMs: 8000, pathContains: `${prefix}keys/k.json` })
        const t0 = Date.now()
        const o = await repairer.set('other', 1)
        const took = Date.now() - t0
        assert.equal(second.hits(), 1, 'the repair was sent, and held')
        assert.ok(took < 5000, `set resolved in ${took} ms, not after the held repair's 8 s`)
        const e = await pending
        assert.equal(o.sequence, e.sequence + 1)
        assert.equal((await keyObject(server, b, `${prefix}keys/k.json`)).log_version_id, e.versionId)
        // The held repair reaches the server at last, and changes nothing.
        while (second.answered() === 0 && Date.now() - t0 < 20000) await sleep(20)
        assert.equal(second.answered(), 1, 'the held repair was answered')
        proxy.clearFaults()
        second.clearFaults()
        assert.equal((await keyObject(server, b, `${prefix}keys/k.json`)).log_version_id, e.versionId)
        assert.equal((await repairer.get('k')).hash, e.hash)
        assert.deepEqual((await repairer.verifyLog()).failures, [])
      } finally {
        await second.stop()
      }
    })

    test('log append answers lost on every attempt: still committed once', async () => {
      const c = fresh()
      await c.set('a', 0)
      proxy.inject({ op: 'PUT', target: 'log', action: 500, when: 'after', times: 3 })
      const e = await c.set('a', 'lost thrice')
      await assertExactlyOnce(c, [e.hash])
      proxy.clearFaults()
    })

    test('log append refused throughout: rejects, says it may have committed, log holds it at most once', async () => {
      const c = fresh({ operationTimeoutMs: 3000 })
      await c.set('a', 0)
      proxy.inject({ op: 'PUT', target: 'log', action: 500, when: 'before', times: 1000 })
      const err = await rejection(c.set('a', 'never'))
      proxy.clearFaults()
      assert.equal(err.code, 'STORAGE_ERROR')
      assert.equal(err.operation, 'PutObject')
      assert.equal(typeof err.mayHaveCommitted, 'boolean')
      assert.ok(err.mayHaveCommitted, 'a 500 may have been applied')
      assert.ok((await countValue(c, 'never')) <= 1)
      assert.equal(await countValue(c, 'never'), 0)
    })

    test('reads and HEADs retried through 5xx, SlowDown and resets', async () => {
      const prefix = `f${n++}/`
      const c = client(via(), b, { ...FAST, s3Prefix: prefix })
      await c.set('a', 1)
      await c.set('b', 2)
      proxy.inject({ op: 'GET', target: 'log', action: 503, times: 2 })
      proxy.inject({ op: 'HEAD', target: 'key', action: 500, times: 1 })
      proxy.inject({ op: 'LIST', action: 'reset', times: 1 })
      proxy.inject({ op: 'GET', target: 'key', action: 500, times: 2 })
      const fresh2 = client(via(), b, { ...FAST, s3Prefix: prefix }) // no cached head: reads the log
      const e = await fresh2.set('c', 3)
      assert.equal(e.sequence, 2)
      assert.equal((await fresh2.logEntries()).length, 3)
      assert.equal((await fresh2.get('a')).value, 1)
      assert.equal(proxy.hits(), 6)
      proxy.clearFaults()
    })

    test('key-object write fails: set succeeds, orphan repaired by the next operation of another process', async () => {
      const prefix = `f${n++}/`
      const c = client(via(), b, { ...FAST, s3Prefix: prefix })
      await c.set('k', 1)
      proxy.inject({ op: 'PUT', target: 'key', action: 500, times: 4 })
      const e = await c.set('k', 2)
      proxy.clearFaults()
      assert.equal((await keyObject(server, b, `${prefix}keys/k.json`)).sequence, 0, 'orphan: key object is behind')
      const out = await runNode(`
        import { client } from './support/helpers.mjs'
        const c = client({ endpoint: ${JSON.stringify(server.endpoint)} }, ${JSON.stringify(b)}, { s3Prefix: ${JSON.stringify(prefix)}, repairCheckIntervalMs: 0 })
        const e = await c.get('k')
        console.log(JSON.stringify({ hash: e.hash }))
      `)
      assert.equal(JSON.parse(out).hash, e.hash)
      assert.equal((await keyObject(server, b, `${prefix}keys/k.json`)).hash, e.hash, 'repaired by the other process')
    })

    test('repair write applied but answer lost: the retry sees 412 and treats it as done', async () => {
      const prefix = `f${n++}/`
      const w = client(via(), b, { ...FAST, s3Prefix: prefix })
      await w.set('a', 1)
      proxy.inject({ op: 'PUT', target: 'key', action: 500, times: 4 })
      const orphan = await w.set('o', 'orphan') // phase 2 fails: an orphan head
      proxy.clearFaults()
      proxy.inject({ op: 'PUT', target: 'key', action: 'reset', when: 'after', pathContains: 'keys/o.json' })
      const other = client(via(), b, { ...FAST, s3Prefix: prefix })
      const e = await other.set('z', 2) // its pre-flight repair's answer is lost
      proxy.clearFaults()
      assert.equal(e.previousHash, orphan.hash)
      assert.equal((await keyObject(server, b, `${prefix}keys/o.json`)).hash, orphan.hash)
      await assertExactlyOnce(other, [orphan.hash, e.hash])
    })

    test('an aborted set whose append goes unanswered does not hold the sets queued behind it', async () => {
      // Default request timeout (10 s): the held PUT is not timed out by the
      // client during the test; the queue must move on when its caller gives up.
      const c = client(via(), b, { s3Prefix: `f${n++}/` })
      await c.set('k', 1)
      proxy.inject({ op: 'PUT', target: 'log', action: 'hang' })
      const ac = new AbortController()
      setTimeout(() => ac.abort(), 300)
      const first = c.set('k', 2, { signal: ac.signal })
      const second = c.set('k', 3)
      const err = await rejection(first)
      assert.equal(err.code, 'ABORTED')
      assert.equal(err.mayHaveCommitted, true, 'its PUT was sent and never answered')
      const t0 = Date.now()
      const e = await second
      const took = Date.now() - t0
      proxy.clearFaults()
      assert.ok(took < 5000, `the next set waited ${took} ms behind the aborted one`)
      assert.equal(e.sequence, 1, 'the held PUT never reached the server')
      assert.deepEqual(
        (await c.logEntries()).map((x) => x.value),
        [3, 1],
      )
      await c.close()
    })

    test('history pages after an entry served before its key object is written: older entries, in order, no empty page', async () => {
      const prefix = `f${n++}/`
      const c = client(via(), b, { ...FAST, s3Prefix: prefix })
      const other = client(server, b, { s3Prefix: prefix })
      for (let i = 0; i < 3; i++) await c.set('k', `X${i}`)
      proxy.inject({ op: 'PUT', target: 'key', action: 'delay', delayMs: 800 })
      const pending = c.set('k', 'X3')
      while (proxy.hits() === 0) await sleep(5) // logged; its key-object PUT held
      const [page1, cursor1] = await c.history('k', undefined, 1)
      assert.deepEqual(
        page1.map((e) => e.value),
        ['X3'],
        'served from memory',
      )
      await pending
      await other.set('k', 'X4') // newer than the page before: must not come back
      const pages = []
      let cursor = cursor1
      while (cursor && pages.length < 8) {
        const [page, next] = await c.history('k', cursor, 1)
        pages.push(page.map((e) => e.value))
        cursor = next
      }
      proxy.clearFaults()
      assert.deepEqual(pages, [['X2'], ['X1'], ['X0'], []])
      await c.close()
      await other.close()
    })

    test('credentials that expire during verifyLog fail the audit; they are not reported as tampering', async () => {
      const c = fresh()
      for (let i = 0; i < 6; i++) await c.set(`k${i % 2}`, i)
      for (const target of ['log', 'key']) {
        // The listing went through; the versions' GETs answer what S3 answers once a session token expired.
        proxy.inject({ op: 'GET', target, action: 'expired-token', times: 1000, pathContains: 'versionId=' })
        const err = await rejection(c.verifyLog())
        proxy.clearFaults()
        assert.equal(err.code, 'STORAGE_ERROR', `${target}: ${err.message}`)
        assert.match(err.message, /ExpiredToken/)
      }
      assert.deepEqual((await c.verifyLog()).failures, [])
    })

    test('key-object write applied but answer lost: set succeeds, key object holds the entry', async () => {
      const c = fresh()
      proxy.inject({ op: 'PUT', target: 'key', action: 'reset', when: 'after' })
      const e = await c.set('k', 'x')
      proxy.clearFaults()
      assert.equal((await c.get('k')).hash, e.hash)
      await assertExactlyOnce(c, [e.hash])
    })
  })
}

describe("one client's append pipeline under faults (SeaweedFS)", () => {
  test('50 concurrent sets with lost answers, resets and failing key objects: each exactly once, in call order', async () => {
    const proxy = await new S3Proxy(SEAWEED.endpoint).start()
    try {
      const b = await bucket(SEAWEED)
      const forever = 1e9
      proxy.inject({ op: 'PUT', target: 'log', action: 500, when: 'after', times: forever, probability: 0.15 })
      proxy.inject({ op: 'PUT', target: 'log', action: 'reset', when: 'before', times: forever, probability: 0.1 })
      proxy.inject({ op: 'PUT', target: 'key', action: 503, when: 'before', times: forever, probability: 0.15 })
      const { writeConcurrently } = await import('./support/writer-inline.mjs')
      const { acked, failed } = await writeConcurrently({ endpoint: proxy.endpoint, bucket: b, sets: 50, keys: 7, concurrent: true, requestTimeoutMs: 2000 })
      proxy.clearFaults()
      assert.deepEqual(failed, [])
      assert.equal(acked.length, 50)
      const c = client(SEAWEED, b)
      const log = await c.logEntries()
      assert.equal(log.length, 50, 'nothing appended twice')
      for (const a of acked) assert.equal(log.filter((e) => e.hash === a.hash).length, 1)
      // One client's sets are committed in the order they were made.
      assert.deepEqual(
        [...log].reverse().map((e) => e.value.i),
        [...Array(50).keys()],
      )
      await c.set('repair', 1) // the last entry's key object may have failed: repaired first
      assert.deepEqual((await c.verifyLog()).failures, [])
    } finally {
      await proxy.stop()
    }
  })

  test('the crash invariant: kill -9 mid-pipeline leaves at most the head an orphan, and the next writer repairs it', async () => {
    const proxy = await new S3Proxy(SEAWEED.endpoint).start()
    try {
      const b = await bucket(SEAWEED)
      // The 12th key-object write never answers: the pipeline holds there,
      // with the 12th entry committed and the sets after it queued.
      let keyPuts = 0
      const hangAt = 12
      const writer = spawn(process.execPath, [
        fileURLToPath(new URL('./support/writer.mjs', import.meta.url)),
        JSON.stringify({ endpoint: proxy.endpoint, bucket: b, clients: 1, sets: 30, keys: 9, concurrent: true, tag: 'crash', requestTimeoutMs: 60000 }),
      ])
      const deadline = Date.now() + 30000
      while (Date.now() < deadline) {
        keyPuts = proxy.requests.filter((r) => r.method === 'PUT' && r.target === 'key').length
        if (keyPuts >= hangAt - 1) break
        await sleep(2)
      }
      proxy.inject({ op: 'PUT', target: 'key', action: 'hang', times: 1000 })
      const hung = () => proxy.rules.reduce((n, r) => n + r.hits, 0)
      while (hung() === 0 && Date.now() < deadline) await sleep(10)
      assert.ok(hung() > 0, 'a key-object write is hanging')
      await sleep(300) // the pipeline is waiting for it: no further log append goes out
      const logPutsBefore = proxy.count('PUT', 'log')
      await sleep(300)
      assert.equal(proxy.count('PUT', 'log'), logPutsBefore, 'no log append while the previous key object is unanswered')
      writer.kill('SIGKILL')
      await new Promise((r) => writer.on('exit', r))
      proxy.clearFaults()
      const c = client(SEAWEED, b)
      const log = await c.logEntries()
      const [head, ...older] = log
      // Every entry but the head has its key-object version.
      const s3 = raw(SEAWEED.endpoint)
      for (const e of older) {
        const versions = (await s3.send(new ListObjectVersionsCommand({ Bucket: b, Prefix: `keys/${e.key}.json` }))).Versions || []
        const bodies = await Promise.all(
          versions
            .filter((v) => v.Key === `keys/${e.key}.json`)
            .map(async (v) =>
              JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: b, Key: v.Key, VersionId: v.VersionId }))).Body.transformToString()),
            ),
        )
        assert.ok(
          bodies.some((k) => k.log_version_id === e.versionId),
          `entry ${e.sequence} has its key object`,
        )
      }
      const headObject = await keyObject(SEAWEED, b, `keys/${head.key}.json`)
      assert.notEqual(headObject?.log_version_id, head.versionId, 'the head is the orphan')
      await client(SEAWEED, b).set('after', 1) // the next writer
      assert.equal((await keyObject(SEAWEED, b, `keys/${head.key}.json`)).log_version_id, head.versionId, 'repaired')
      assert.deepEqual((await c.verifyLog()).failures, [])
    } finally {
      await proxy.stop()
    }
  })
})

for (const server of SERVERS) {
  describe(`a pipelined writer (pipelineDepth 8) killed mid-batch on ${server.name}`, () => {
    test('orphans stay among its newest 8 entries, readers serve them (point-in-time too), the next writer repairs all; no acknowledged set lost', async () => {
      const proxy = await new S3Proxy(server.endpoint).start()
      try {
        const b = await bucket(server)
        const depth = 8
        const writer = spawn(process.execPath, [
          fileURLToPath(new URL('./support/writer.mjs', import.meta.url)),
          JSON.stringify({
            endpoint: proxy.endpoint,
            bucket: b,
            clients: 1,
            sets: 40,
            keys: 40,
            concurrent: true,
            tag: 'pipe',
            pipelineDepth: depth,
            ackLines: true,
            requestTimeoutMs: 60000,
          }),
        ])
        let out = ''
        writer.stdout.on('data', (d) => (out += d))
        // A key per set: an entry waits for its key's previous key object, so
        // only entries of distinct keys can be orphans side by side.
        const deadline = Date.now() + 30000
        const keyPuts = () => proxy.requests.filter((r) => r.method === 'PUT' && r.target === 'key').length
        while (keyPuts() < 6 && Date.now() < deadline) await sleep(2)
        // From here no key-object write answers: the writer goes on appending
        // until its window is full, then waits; it is killed there.
        proxy.inject({ op: 'PUT', target: 'key', action: 'hang', times: 100000 })
        let logPuts = -1
        while (Date.now() < deadline) {
          await sleep(800)
          const now = proxy.count('PUT', 'log')
          if (now === logPuts) break
          logPuts = now
        }
        const closed = new Promise((r) => writer.on('close', r)) // its stdout read to the end
        writer.kill('SIGKILL')
        await closed
        proxy.clearFaults()
        const acked = out
          .split('\n')
          .filter((l) => l.startsWith('ACK '))
          .map((l) => JSON.parse(l.slice(4)))
        const reader = client(server, b, { readOnly: true })
        const log = await reader.logEntries()
        assert.deepEqual(
          log.map((e) => e.sequence),
          [...Array(log.length).keys()].reverse(),
          'contiguous',
        )
        for (const a of acked) assert.equal(log.filter((e) => e.hash === a.hash).length, 1, `acknowledged ${a.key} once`)
        const orphans = []
        for (const e of log) {
          const k = await keyObject(server, b, `keys/${e.key}.json`)
          if (k?.log_version_id !== e.versionId) orphans.push(e)
        }
        const head = log[0]
        assert.ok(orphans.length >= 2, `orphans below the head (found ${orphans.length}): the test exercises the window`)
        for (const o of orphans) assert.ok(o.sequence > head.sequence - depth, `orphan ${o.sequence} within the newest ${depth} (head ${head.sequence})`)
        // A reader that may not repair serves each orphan from the log.
        for (const o of orphans) {
          assert.equal((await reader.get(o.key)).hash, o.hash, `get ${o.key}`)
          assert.equal((await reader.get(o.key, { atSequence: head.sequence })).hash, o.hash, `get ${o.key} at the head`)
          assert.equal((await reader.get(o.key, { atSequence: o.sequence })).hash, o.hash, `get ${o.key} at its own sequence`)
          await assert.rejects(reader.get(o.key, { atSequence: o.sequence - 1 }), { code: 'KEY_NOT_FOUND' })
        }
        assert.equal((await reader.verifyLog()).ok, true, 'orphans in the window are the protocol working')
        // The next writer, at the default depth, repairs every one before it appends.
        const next = client(server, b)
        await next.set('after', 1)
        for (const o of orphans) assert.equal((await keyObject(server, b, `keys/${o.key}.json`)).log_version_id, o.versionId, `${o.key} repaired`)
        assert.deepEqual((await next.verifyLog()).failures, [])
        await Promise.all([reader.close(), next.close()])
      } finally {
        await proxy.stop()
      }
    })
  })
}

describe('crash between the two phases (SeaweedFS)', () => {
  test('kill -9 of a writer after its log append leaves an orphan that the next writer repairs', async () => {
    const proxy = await new S3Proxy(SEAWEED.endpoint).start()
    try {
      const b = await bucket(SEAWEED)
      const c = client(SEAWEED, b)
      await c.set('k', 'before')
      proxy.inject({ op: 'PUT', target: 'key', action: 'hang', pathContains: 'crash-c0' }) // its phase 2 never completes
      const writer = spawn(process.execPath, [
        fileURLToPath(new URL('./support/writer.mjs', import.meta.url)),
        JSON.stringify({ endpoint: proxy.endpoint, bucket: b, clients: 1, sets: 1, tag: 'crash' }),
      ])
      const deadline = Date.now() + 20000
      const phase2 = () => proxy.requests.filter((r) => r.method === 'PUT' && r.url.includes('crash-c0')).length
      while (phase2() === 0 && Date.now() < deadline) await sleep(20)
      assert.equal(phase2(), 1, 'the writer reached phase 2')
      writer.kill('SIGKILL')
      await new Promise((r) => writer.on('exit', r))
      const [head] = await c.logEntries(undefined, 1)
      assert.deepEqual(head.value, { tag: 'crash', c: 0, i: 0 }, 'phase 1 committed')
      assert.equal(await keyObject(SEAWEED, b, 'keys/crash-c0.json'), undefined, 'phase 2 never happened')
      const other = client(SEAWEED, b) // the next writer, another client
      await other.set('k', 'after')
      assert.equal((await keyObject(SEAWEED, b, 'keys/crash-c0.json')).hash, head.hash)
      assert.deepEqual((await other.verifyLog()).failures, [])
    } finally {
      await proxy.stop()
    }
  })
})

describe('unreachable and silent endpoints fail fast', () => {
  test('connection refused: clear STORAGE_ERROR within seconds', async () => {
    const c = client({ endpoint: 'http://127.0.0.1:1' }, 'b', FAST)
    const t0 = Date.now()
    const err = await rejection(c.get('a'))
    assert.equal(err.code, 'STORAGE_ERROR')
    assert.match(err.message, /GetObject s3:\/\/b\/keys\/a\.json failed: .*(onnect|refused)/)
    assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`)
  })

  test('a server that accepts and never answers: request timeout, no hang', async () => {
    const sockets = []
    const silent = net.createServer((s) => sockets.push(s))
    await new Promise((r) => silent.listen(0, '127.0.0.1', r))
    try {
      const c = client({ endpoint: `http://127.0.0.1:${silent.address().port}` }, 'b', { requestTimeoutMs: 300, operationTimeoutMs: 5000 })
      const t0 = Date.now()
      const err = await rejection(c.set('a', 1))
      assert.equal(err.code, 'STORAGE_ERROR')
      assert.match(err.message, /timeout|timed out/i)
      assert.ok(Date.now() - t0 < 6000, `${Date.now() - t0} ms`)
    } finally {
      for (const s of sockets) s.destroy()
      silent.close()
    }
  })
})
