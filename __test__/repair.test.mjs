// Orphans (a log version without its key object): seen and repaired by set,
// by get after the repair interval, served by read-only clients (by config,
// and by SeaweedFS's read-only identity answering 403).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { SERVERS, SEAWEED, READER, bucket, client, writeOrphan, keyObject, snapshot, sleep, rejection, forgeNext, putRaw } from './support/helpers.mjs'

for (const server of SERVERS) {
  describe(`orphans on ${server.name}`, () => {
    test('set repairs the orphan head before appending', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      await c.set('a', 1)
      const orphan = await writeOrphan(server, b, '', c, 'lost', 'never written')
      assert.equal(await keyObject(server, b, 'keys/lost.json'), undefined)
      const e = await c.set('b', 2)
      assert.equal(e.sequence, orphan.sequence + 1, 'appended after the orphan')
      assert.equal(e.previousHash, orphan.hash)
      const k = await keyObject(server, b, 'keys/lost.json')
      assert.equal(k.hash, orphan.hash, 'key object written by the pre-flight repair')
      assert.equal(k.log_version_id, orphan.versionId)
      assert.equal((await c.verifyLog()).ok, true)
    })

    test('set of the same key repairs, then appends with the repaired ETag', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      await c.set('k', 1)
      const orphan = await writeOrphan(server, b, '', c, 'k', 'orphaned')
      const other = client(server, b) // a different process: no cached head
      const e = await other.set('k', 3)
      assert.equal(e.previousHash, orphan.hash)
      const [h] = await other.history('k')
      assert.deepEqual(
        h.map((x) => x.value),
        [3, 'orphaned', 1],
      )
      assert.equal((await other.verifyLog()).ok, true)
    })

    test('a repair whose If-Match names a missing object (AWS and moto: 404, SeaweedFS: 412) counts as handled', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      await c.set('a', 1)
      const [head] = await c.logEntries(undefined, 1)
      const forged = await forgeNext(head, 'ghost', 'x', '"0123456789abcdef0123456789abcdef"')
      await putRaw(server, b, '_log.json', forged.body)
      const e = await client(server, b).set('b', 2)
      assert.equal(e.previousHash, forged.hash, 'appended after the head whose repair was refused by the condition')
      assert.equal(await keyObject(server, b, 'keys/ghost.json'), undefined)
    })

    test('get repairs at most once per interval', async () => {
      const b = await bucket(server)
      const w = client(server, b)
      await w.set('a', 1)
      const reader = client(server, b, { repairCheckIntervalMs: 1500 })
      assert.equal((await reader.get('a')).value, 1) // uses this interval's check
      const orphan = await writeOrphan(server, b, '', w, 'late', 'x')
      await reader.get('a')
      assert.equal(await keyObject(server, b, 'keys/late.json'), undefined, 'not checked again within the interval')
      await sleep(1600)
      await reader.get('a')
      assert.equal((await keyObject(server, b, 'keys/late.json')).hash, orphan.hash, 'repaired after the interval')
    })

    test('a read-only client serves the orphan from the log and writes nothing', async () => {
      const b = await bucket(server)
      const w = client(server, b)
      await w.set('k', 'old')
      const orphan = await writeOrphan(server, b, '', w, 'k', 'new')
      const before = await snapshot(server, b)
      const ro = client(server, b, { readOnly: true })
      const got = await ro.get('k')
      assert.equal(got.value, 'new')
      assert.equal(got.hash, orphan.hash)
      assert.equal(got.versionId, orphan.versionId)
      const [h] = await ro.history('k')
      assert.deepEqual(
        h.map((e) => e.value),
        ['new', 'old'],
      )
      assert.deepEqual(await snapshot(server, b), before, 'no write of any kind')
      assert.equal(ro.verify(got), true)
    })
  })
}

describe('403 read-only path on SeaweedFS', () => {
  test('a reader identity whose repair is refused serves the orphan from the log', async () => {
    const server = SEAWEED
    const b = await bucket(server)
    const w = client(server, b)
    await w.set('k', 'old')
    const orphan = await writeOrphan(server, b, '', w, 'fresh', 'only in the log')
    const before = await snapshot(server, b)
    const reader = client(server, b, { overrides: { credentials: READER } })
    const got = await reader.get('fresh')
    assert.equal(got.value, 'only in the log')
    assert.equal(got.hash, orphan.hash)
    const [h] = await reader.history('fresh')
    assert.equal(h[0].hash, orphan.hash)
    assert.ok((await reader.listKeys()).includes('fresh'), 'the orphan key is listed')
    const err = await rejection(reader.set('k', 'nope'))
    assert.equal(err.code, 'ACCESS_DENIED')
    assert.equal(err.operation, 'PutObject')
    assert.equal(err.mayHaveCommitted, false)
    assert.deepEqual(await snapshot(server, b), before, 'storage untouched')
    // A writer then repairs it.
    await w.set('k', 'new')
    assert.equal((await keyObject(server, b, 'keys/fresh.json')).hash, orphan.hash)
  })
})
