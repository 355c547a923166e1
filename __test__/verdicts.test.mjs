// Verdicts that must hold in the buckets users really run: an acknowledged
// set never leaves its key's history, and the audit tells tampering from
// what the protocol and the bucket's own rules leave behind.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { DeleteObjectCommand } from '@aws-sdk/client-s3'
import { SEAWEED, SERVERS, bucket, client, raw } from './support/helpers.mjs'

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

describe('bulk writes through one client', () => {
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
