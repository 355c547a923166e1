// Verdicts that must hold in the buckets users really run: an acknowledged
// set never leaves its key's history, and the audit tells tampering from
// what the protocol and the bucket's own rules leave behind.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { DeleteObjectCommand, ListObjectVersionsCommand, PutBucketLifecycleConfigurationCommand } from '@aws-sdk/client-s3'
import { LOAD, SEAWEED, SERVERS, bucket, client, putRaw, raw, writeAged } from './support/helpers.mjs'
import { S3Proxy } from './support/proxy.mjs'

for (const server of SERVERS) {
  describe(`verdicts on ${server.name}`, () => {
    test('a set after its key object was deleted stays in the key history and is read back', async () => {
      const b = await bucket(server)
      const writer = client(server, b)
      await writer.set('k', 1)
      // Someone deletes the key object (a delete marker); the writer's chain
      // still knows its old ETag.
      await raw(server.endpoint).send(new DeleteObjectCommand({ Bucket: b, Key: 'keys/k.json' }))
      const acked = await writer.set('k', 2)
      assert.equal((await writer.get('k')).sequence, acked.sequence, 'the writer reads its own set')
      const reader = client(server, b, { readOnly: true })
      assert.equal((await reader.get('k')).sequence, acked.sequence, 'a fresh reader reads it')
      await writer.set('k', 3)
      const [history] = await reader.history('k')
      assert.deepEqual(
        history.map((e) => e.sequence),
        [2, 1, 0],
      )
      await writer.close()
      await reader.close()
    })
  })
}

describe('bulk writes through one client', LOAD, () => {
  // The README says: keep one client and let its sets overlap. With the
  // default config, 6000 overlapped sets lost a sixth of them to
  // operationTimeoutMs spent waiting in the client's own queue.
  test('10 000 overlapped sets with the default config all commit, once each, in call order', async () => {
    const b = await bucket(SEAWEED)
    const c = client(SEAWEED, b)
    const n = 10_000
    const started = Date.now()
    const out = await Promise.allSettled(Array.from({ length: n }, (_, i) => c.set(`bulk/${i % 500}`, { i })))
    const failed = out.filter((r) => r.status === 'rejected')
    assert.equal(failed.length, 0, `${failed.length} failed, first: ${failed[0]?.reason?.message}`)
    // Sets commit in the order they were called: sequence i is set i.
    assert.deepEqual(
      out.map((r) => r.value.sequence),
      out.map((_, i) => i),
    )
    assert.equal(c.stats().commits, n)
    console.log(`# ${n} sets through one client: ${((Date.now() - started) / 1000).toFixed(1)} s`)
    await c.close()
  })
})

async function deleteVersion(server, Bucket, Key, VersionId) {
  await raw(server.endpoint).send(new DeleteObjectCommand({ Bucket, Key, VersionId }))
}

const EXPIRE_AFTER_30_DAYS = {
  Rules: [{ ID: 'expire-history', Filter: { Prefix: '' }, Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 30 } }],
}

for (const server of SERVERS) {
  describe(`retention on ${server.name}`, () => {
    test('log versions expired by a lifecycle rule are a horizon, not tampering; without the rule they are', async (t) => {
      // The versions are written today, by the server's clock: a proxy makes
      // the listings say 40 days earlier, as if they had been written then
      // (a rule counts from the server's time, never from an entry's).
      const proxy = await new S3Proxy(server.endpoint).start()
      t.after(() => proxy.stop())
      proxy.backdateListings(40 * 86_400_000)
      const b = await bucket(server)
      // Six entries written 40 days ago (each of its own key), then three by
      // this client today.
      let head
      const aged = []
      for (let i = 0; i < 6; i++) {
        head = await writeAged(server, b, head, `old${i}`, i, 40)
        aged.push(head)
      }
      const c = client(server, b)
      for (let i = 0; i < 3; i++) await c.set(`new${i}`, i)
      const reader = client({ ...server, endpoint: proxy.endpoint }, b, { readOnly: true })
      assert.equal((await reader.verifyLog()).ok, true)
      const trusted = await reader.digest()
      // What the rule did: the three oldest log versions are gone.
      for (const e of aged.slice(0, 3)) await deleteVersion(server, b, '_log.json', e.versionId)

      // No lifecycle rule: deleted, and reported.
      let r = await reader.verifyLog()
      assert.equal(r.ok, false)
      const genesis = r.failures.find((f) => f.kind === 'bad_genesis')
      assert.ok(genesis, JSON.stringify(r.failures))
      assert.match(genesis.detail, /no enabled lifecycle rule/)
      assert.equal(r.horizon, undefined)

      // The rule: verified from the oldest entry left.
      await raw(server.endpoint).send(new PutBucketLifecycleConfigurationCommand({ Bucket: b, LifecycleConfiguration: EXPIRE_AFTER_30_DAYS }))
      r = await reader.verifyLog()
      assert.deepEqual(r.failures, [])
      assert.equal(r.ok, true)
      assert.equal(r.checked, 6)
      assert.equal(r.horizon.sequence, 3)
      assert.equal(r.horizon.versionId, aged[3].versionId)
      assert.equal(r.horizon.reason, 'lifecycle')
      assert.match(r.horizon.detail, /expire-history/)
      assert.equal(await reader.verifyLogChain(), true)
      assert.ok(reader.stats().requests.bucketConfig >= 1)

      // By the server's own clock those versions became noncurrent minutes
      // ago: entries' timestamps (40 days ago) were their writer's choice,
      // and a rule of 30 days could not have removed them. Deleted.
      const direct = client(server, b, { readOnly: true })
      const now = await direct.verifyLog({ checkKeyObjects: false })
      const early = now.failures.find((f) => f.kind === 'bad_genesis')
      assert.ok(early, JSON.stringify(now.failures))
      assert.match(early.detail, /30 days/)
      await direct.close()

      // A trusted digest inside the range is verified; one older than the
      // horizon cannot be checked: neither intact nor tampered.
      r = await reader.verifyLog({ trusted })
      assert.equal(r.trusted, 'verified')
      assert.equal(r.ok, true)
      r = await reader.verifyLog({ trusted: { sequence: aged[1].sequence, versionId: aged[1].versionId, hash: aged[1].hash } })
      assert.equal(r.trusted, 'expired')
      assert.equal(r.ok, false)
      assert.deepEqual(r.failures, [])

      // A version missing above the horizon is still tampering.
      await deleteVersion(server, b, '_log.json', aged[4].versionId)
      r = await reader.verifyLog()
      assert.ok(
        r.failures.some((f) => f.kind === 'sequence_gap' && f.sequence === 5),
        JSON.stringify(r.failures),
      )
      await c.close()
      await reader.close()
    })

    test('a rule whose days have not passed does not explain missing versions', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      for (let i = 0; i < 4; i++) await c.set('k', i)
      const [oldest] = (await c.logEntries()).slice(-1)
      await deleteVersion(server, b, '_log.json', oldest.versionId)
      await raw(server.endpoint).send(new PutBucketLifecycleConfigurationCommand({ Bucket: b, LifecycleConfiguration: EXPIRE_AFTER_30_DAYS }))
      const r = await c.verifyLog({ checkKeyObjects: false })
      const genesis = r.failures.find((f) => f.kind === 'bad_genesis')
      assert.ok(genesis, JSON.stringify(r.failures))
      assert.match(genesis.detail, /30 days/)
      await c.close()
    })
  })
}

describe('retention rules that cannot be read', () => {
  test('a horizon that says the oldest versions are missing', async () => {
    const proxy = await new S3Proxy(SEAWEED.endpoint).start()
    try {
      const b = await bucket(SEAWEED)
      const c = client(SEAWEED, b)
      for (let i = 0; i < 4; i++) await c.set('k', i)
      const [oldest] = (await c.logEntries()).slice(-1)
      await deleteVersion(SEAWEED, b, '_log.json', oldest.versionId)
      const reader = client({ ...SEAWEED, endpoint: proxy.endpoint }, b, { readOnly: true })
      proxy.inject({ op: 'GET', target: 'bucket', action: 'access-denied', pathContains: 'lifecycle', times: 100 })
      const r = await reader.verifyLog({ checkKeyObjects: false })
      assert.equal(r.ok, true, JSON.stringify(r.failures))
      assert.equal(r.horizon.reason, 'oldest_missing')
      assert.equal(r.horizon.sequence, 1)
      assert.match(r.horizon.detail, /could not be read/)
      await c.close()
      await reader.close()
    } finally {
      await proxy.stop()
    }
  })
})

for (const server of SERVERS) {
  describe(`key-object history on ${server.name}`, () => {
    test('an entry that no key-object version holds is reported', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      await c.set('a', 1)
      const lost = await c.set('a', 2)
      await c.set('a', 3)
      await c.set('b', 4)
      const [, versions] = await Promise.all([c.verifyLog(), keyObjectVersions(server, b, 'keys/a.json')])
      // versions newest first: 3, 2, 1
      await deleteVersion(server, b, 'keys/a.json', versions[1])
      const r = await c.verifyLog()
      assert.deepEqual(
        r.failures.map((f) => [f.kind, f.sequence, f.path]),
        [['key_object_missing', lost.sequence, 'keys/a.json']],
      )
      await c.close()
    })
  })
}

async function keyObjectVersions(server, Bucket, Key) {
  const r = await raw(server.endpoint).send(new ListObjectVersionsCommand({ Bucket, Prefix: Key }))
  return (r.Versions ?? []).filter((v) => v.Key === Key).map((v) => v.VersionId)
}

describe('what an audit costs', () => {
  test('verifyLog with a limit reads the key objects of the checked entries, not whole histories', async () => {
    const b = await bucket(SEAWEED)
    const c = client(SEAWEED, b)
    for (let round = 0; round < 20; round++) await Promise.all(Array.from({ length: 10 }, (_, k) => c.set(`k${k}`, round)))
    const reader = client(SEAWEED, b, { readOnly: true })
    const r = await reader.verifyLog({ limit: 10 })
    assert.equal(r.ok, true, JSON.stringify(r.failures))
    const s = reader.stats().requests
    // The head, the 10 entries, then per key the version holding its entry
    // and the one before it: 31 GETs, not the 200 key-object versions.
    assert.ok(s.get <= 31, `${s.get} GETs`)
    assert.ok(s.listVersions <= 11, `${s.listVersions} version listings`)
    assert.equal(s.listObjects, 0)
    await c.close()
    await reader.close()
  })
})

describe('names the server cannot list exactly', () => {
  test('an object under keys/ with ESC in its name is reported, not passed over (SeaweedFS)', async () => {
    const b = await bucket(SEAWEED)
    const c = client(SEAWEED, b)
    await c.set('a', 1)
    await putRaw(SEAWEED, b, 'keys/x\u001b[2Jy.json', '{}')
    const r = await c.verifyLog()
    const f = r.failures.find((f) => f.path === 'keys/x\u001b[2Jy.json')
    assert.ok(f, JSON.stringify(r.failures))
    assert.equal(f.kind, 'unreadable')
    await c.close()
  })
})

for (const server of SERVERS) {
  describe(`an audit beside writers on ${server.name}`, () => {
    // A nightly audit runs while services write: the sets committed after it
    // read the log are newer than what it checks, not forgeries.
    test('verifyLog while a writer keeps setting: intact every time', async () => {
      const b = await bucket(server)
      const writer = client(server, b)
      for (let i = 0; i < 20; i++) await writer.set(`k${i % 4}`, i)
      let writing = true
      const sets = (async () => {
        for (let i = 0; writing; i++) await writer.set(`k${i % 4}`, { i })
      })()
      const reader = client(server, b, { readOnly: true })
      try {
        for (let round = 0; round < 4; round++) {
          const r = await reader.verifyLog()
          assert.deepEqual(r.failures, [], `round ${round}`)
        }
      } finally {
        writing = false
        await sets
      }
      assert.equal((await reader.verifyLog()).ok, true)
      await writer.close()
      await reader.close()
    })
  })
}
