// SSE-KMS on every write when kmsKeyId is set; a bucket without versioning
// refused before anything is written.
import { describe, test, after } from 'node:test'
import assert from 'node:assert/strict'
import { HeadObjectCommand } from '@aws-sdk/client-s3'
import { SERVERS, MOTO, bucket, client, raw, rejection, snapshot } from './support/helpers.mjs'
import { S3Proxy } from './support/proxy.mjs'

describe('kmsKeyId on moto', () => {
  const proxy = new S3Proxy(MOTO.endpoint)
  after(() => proxy.stop())

  test('every PUT asks for SSE-KMS with the key, and the server records it', async () => {
    await proxy.start()
    const b = await bucket(MOTO)
    const kmsKeyId = 'arn:aws:kms:us-east-1:123456789012:key/immukv-test'
    const c = client({ endpoint: proxy.endpoint }, b, { kmsKeyId })
    await c.set('a', 1)
    await c.set('a', 2)
    const puts = proxy.requests.filter((r) => r.method === 'PUT')
    assert.ok(puts.length >= 4)
    for (const p of puts) {
      assert.equal(p.headers['x-amz-server-side-encryption'], 'aws:kms')
      assert.equal(p.headers['x-amz-server-side-encryption-aws-kms-key-id'], kmsKeyId)
    }
    for (const Key of ['_log.json', 'keys/a.json']) {
      const h = await raw(MOTO.endpoint).send(new HeadObjectCommand({ Bucket: b, Key }))
      assert.equal(h.ServerSideEncryption, 'aws:kms')
      assert.equal(h.SSEKMSKeyId, kmsKeyId)
    }
    assert.equal((await c.get('a')).value, 2)
    assert.equal((await c.verifyLog()).ok, true)
  })
})

for (const server of SERVERS) {
  describe(`unversioned bucket on ${server.name}`, () => {
    test('the first write is refused with VERSIONING_DISABLED and nothing is written', async () => {
      const b = await bucket(server, { versioning: false })
      const c = client(server, b)
      const err = await rejection(c.set('a', 1))
      assert.equal(err.code, 'VERSIONING_DISABLED')
      assert.match(err.message, /put-bucket-versioning/)
      assert.equal(err.mayHaveCommitted, false)
      assert.deepEqual(await snapshot(server, b), [])
    })
  })
}
