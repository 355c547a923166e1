// S3 requests per operation, counted at a proxy in front of SeaweedFS, and
// the safety of each request the fast path skips: other writers
// interleaving, a stale cached head, a failed phase 2.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { SEAWEED, bucket, client, keyObject } from './support/helpers.mjs'
import { S3Proxy } from './support/proxy.mjs'

describe('requests per operation (SeaweedFS)', () => {
  let proxy, b
  let n = 0
  const fresh = (extra = {}) => client({ endpoint: proxy.endpoint }, b, { s3Prefix: `r${n++}/`, ...extra })
  const counted = async (fn) => {
    proxy.requests = []
    await fn()
    return proxy.requests.map((r) => `${r.op} ${r.target}`)
  }
  before(async () => {
    proxy = await new S3Proxy(SEAWEED.endpoint).start()
    b = await bucket(SEAWEED)
  })
  after(() => proxy.stop())

  test('set by the writer of the head: 2 requests for a key it wrote, 3 for a new key', async () => {
    const c = fresh()
    await c.set('a', 1)
    assert.deepEqual(await counted(() => c.set('a', 2)), ['PUT log', 'PUT key'])
    assert.deepEqual(await counted(() => c.set('b', 1)), ['HEAD key', 'PUT log', 'PUT key'])
    assert.deepEqual((await c.verifyLog()).failures, [])
  })

  test('other writers: a stale cached head costs one 412, then at most 5 per attempt', async () => {
    const prefix = `r${n++}/`
    const a = client({ endpoint: proxy.endpoint }, b, { s3Prefix: prefix })
    const z = client({ endpoint: proxy.endpoint }, b, { s3Prefix: prefix })
    await a.set('k', 'a1')
    await z.set('k', 'z1') // a's cached head and its ETag for k are now stale
    const first = await counted(() => a.set('k', 'a2'))
    assert.equal(first[0], 'PUT log', 'the fast path tried')
    assert.ok(first.length <= 6, first.join(', '))
    for (let i = 0; i < 4; i++) {
      await z.set('k', `z${i + 2}`)
      const reqs = await counted(() => a.set(i % 2 ? 'k' : 'other', `a${i + 3}`))
      assert.ok(reqs.length <= 5, reqs.join(', '))
      assert.equal(reqs[0], 'GET log', 'fast path stays off while others write')
    }
    const report = await a.verifyLog() // includes every key object against its latest entry
    assert.deepEqual(report.failures, [])
    assert.equal((await a.get('k')).value, 'a6')
  })

  test('the fast path comes back when this client is the only writer again', async () => {
    const prefix = `r${n++}/`
    const a = client({ endpoint: proxy.endpoint }, b, { s3Prefix: prefix })
    const z = client({ endpoint: proxy.endpoint }, b, { s3Prefix: prefix })
    await a.set('k', 1)
    await z.set('k', 2)
    await a.set('k', 3) // miss: fast path off
    await a.set('k', 4) // reads the head: its own, so the fast path is on again
    assert.deepEqual(await counted(() => a.set('k', 5)), ['PUT log', 'PUT key'])
  })

  test('a failed phase 2 is repaired from the cache by the next set', async () => {
    const prefix = `r${n++}/`
    const c = client({ endpoint: proxy.endpoint }, b, { s3Prefix: prefix })
    await c.set('k', 1)
    proxy.inject({ op: 'PUT', target: 'key', action: 500, times: 4 })
    const orphan = await c.set('k', 2)
    proxy.clearFaults()
    assert.equal((await keyObject(SEAWEED, b, `${prefix}keys/k.json`)).sequence, 0)
    const reqs = await counted(() => c.set('j', 3))
    assert.deepEqual(reqs, ['PUT key', 'HEAD key', 'PUT log', 'PUT key'])
    assert.equal((await keyObject(SEAWEED, b, `${prefix}keys/k.json`)).hash, orphan.hash)
    assert.deepEqual((await c.verifyLog()).failures, [])
  })

  test('settling a lost append answer costs one listing page and a GET, however long the log', async () => {
    const c = fresh()
    await Promise.all(Array.from({ length: 300 }, (_, i) => c.set(`k${i % 7}`, i)))
    proxy.inject({ op: 'PUT', target: 'log', action: 500, when: 'after' }) // applied, answer lost
    const reqs = await counted(() => c.set('lost', 'answer'))
    const count = (what) => reqs.filter((r) => r === what).length
    assert.equal(count('PUT log'), 1, `settled, not appended again: ${reqs.join(', ')}`)
    assert.equal(count('LIST log'), 1, reqs.join(', '))
    assert.ok(count('GET log') <= 2, reqs.join(', '))
    const [head] = await c.logEntries(undefined, 1)
    assert.equal(head.sequence, 300)
    assert.equal(head.value, 'answer')
  })

  test('reads: get 1 request (3 when the repair check is due); history and logEntries 1 list + N gets', async () => {
    const c = fresh({ repairCheckIntervalMs: 60000 })
    for (let i = 0; i < 5; i++) await c.set('k', i)
    const firstGet = await counted(() => c.get('k'))
    assert.equal(firstGet.length, 3, firstGet.join(', ')) // key object, and the check: log head + HEAD
    assert.deepEqual(await counted(() => c.get('k')), ['GET key'])
    const h = await counted(() => c.history('k'))
    assert.deepEqual(h.sort(), ['GET key', 'GET key', 'GET key', 'GET key', 'GET key', 'LIST key'])
    const l = await counted(() => c.logEntries())
    assert.deepEqual(l.sort(), ['GET log', 'GET log', 'GET log', 'GET log', 'GET log', 'LIST log'])
  })
})
