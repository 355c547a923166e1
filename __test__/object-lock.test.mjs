// S3 Object Lock: every write carries the configured retention (and a
// checksum), a bucket without Object Lock is refused before anything is
// written, the server refuses to delete locked versions, and
// verifyLog({ checkRetention }) finds versions not retained as required.
// On moto, SeaweedFS and LocalStack: all three
// implement Object Lock, retention and default retention rules (moto's
// GetObjectRetention answers with the object itself: the client reads
// retention from HeadObject there).
import { describe, test, after } from 'node:test'
import assert from 'node:assert/strict'
import { DeleteObjectCommand, HeadObjectCommand, PutObjectRetentionCommand } from '@aws-sdk/client-s3'
import * as helpers from './support/helpers.mjs'
import { MOTO, bucket, client, raw, rejection, snapshot, sleep } from './support/helpers.mjs'
import { LOCKING, lockedBucket } from './support/object-lock.mjs'
import { S3Proxy } from './support/proxy.mjs'

const DAY = 86_400_000

async function lockOf(server, Bucket, Key, VersionId) {
  const h = await raw(server.endpoint).send(new HeadObjectCommand({ Bucket, Key, VersionId }))
  return { mode: h.ObjectLockMode, until: h.ObjectLockRetainUntilDate?.getTime() }
}

const keyVersion = async (c, key) => {
  // The key object's version holding the entry: its history's cursor is that version.
  const [, cursor] = await c.history(key, undefined, 1)
  return cursor
}

for (const server of LOCKING) {
  describe(`Object Lock on ${server.name}`, () => {
    const proxy = new S3Proxy(server.endpoint)
    after(() => proxy.stop())

    test('both objects of a set are retained with the configured mode and date; the PUTs carry a checksum', async () => {
      await proxy.start()
      const b = await lockedBucket(server)
      const c = client({ ...server, endpoint: proxy.endpoint }, b, { objectLock: { mode: 'COMPLIANCE', days: 2 } })
      const before = Date.now()
      const e = await c.set('device-42', { gain: 1.02 })
      const after = Date.now()
      for (const [Key, VersionId] of [
        ['_log.json', e.versionId],
        ['keys/device-42.json', await keyVersion(c, 'device-42')],
      ]) {
        const lock = await lockOf(server, b, Key, VersionId)
        assert.equal(lock.mode, 'COMPLIANCE', Key)
        // Servers keep whole seconds.
        assert.ok(lock.until >= before + 2 * DAY - 1000 && lock.until <= after + 2 * DAY + 1000, `${Key}: ${new Date(lock.until).toISOString()}`)
      }
      const puts = proxy.requests.filter((r) => r.method === 'PUT')
      assert.equal(puts.length, 2)
      for (const p of puts) {
        assert.equal(p.headers['x-amz-object-lock-mode'], 'COMPLIANCE')
        assert.ok(p.headers['x-amz-object-lock-retain-until-date'])
        assert.ok(p.headers['x-amz-checksum-crc32'], 'S3 refuses Object Lock PUTs without a checksum')
        assert.equal(p.headers['x-amz-sdk-checksum-algorithm'], 'CRC32')
      }
      const r = await c.verifyLog({ checkRetention: true })
      assert.deepEqual(r.failures, [])
      assert.equal(c.stats().requests.getObjectRetention, 2)
      await c.close()
    })

    test("a repair of another writer's orphan is retained as the writer's own key objects", async () => {
      const b = await lockedBucket(server)
      const c = client(server, b, { objectLock: { mode: 'GOVERNANCE', days: 1 } })
      await c.set('k', 0)
      // A writer that died between its two PUTs: the head has no key object.
      await helpers.writeOrphan(server, b, '', c, 'orphaned', { i: 1 })
      assert.equal(await helpers.keyObject(server, b, 'keys/orphaned.json'), undefined)
      const next = client(server, b, { objectLock: { mode: 'GOVERNANCE', days: 1 } })
      await next.set('after', 2) // repairs the orphan head first
      const repaired = await keyVersion(next, 'orphaned')
      assert.ok(repaired, 'repaired')
      const lock = await lockOf(server, b, 'keys/orphaned.json', repaired)
      assert.equal(lock.mode, 'GOVERNANCE')
      assert.ok(lock.until > Date.now() + DAY - 60_000, new Date(lock.until).toISOString())
      await Promise.all([c.close(), next.close()])
    })

    test('the server refuses to delete a locked version (COMPLIANCE), and verifyLog stays intact', async () => {
      const b = await lockedBucket(server)
      const c = client(server, b, { objectLock: { mode: 'COMPLIANCE', days: 1 } })
      const entries = []
      for (let i = 0; i < 3; i++) entries.push(await c.set('k', i))
      for (const BypassGovernanceRetention of [false, true]) {
        const err = await rejection(
          raw(server.endpoint).send(new DeleteObjectCommand({ Bucket: b, Key: '_log.json', VersionId: entries[1].versionId, BypassGovernanceRetention })),
        )
        assert.equal(err.$metadata?.httpStatusCode, 403, String(err))
      }
      const r = await c.verifyLog({ checkRetention: true })
      assert.equal(r.ok, true, JSON.stringify(r.failures))
      assert.equal(r.checked, 3)
      await c.close()
    })

    test('a bucket without Object Lock is refused with OBJECT_LOCK_DISABLED before anything is written', async () => {
      const b = await bucket(server)
      const c = client(server, b, { objectLock: { mode: 'GOVERNANCE', days: 1 } })
      const err = await rejection(c.set('k', 1))
      assert.equal(err.code, 'OBJECT_LOCK_DISABLED')
      assert.equal(err.mayHaveCommitted, false)
      assert.match(err.message, /put-object-lock-configuration --bucket/)
      assert.deepEqual(await snapshot(server, b), [])
      // And verifyLog({ checkRetention }) on it: one failure, not one per version.
      const plain = client(server, b)
      await plain.set('k', 1)
      await plain.set('k', 2)
      const r = await plain.verifyLog({ checkRetention: true })
      assert.deepEqual(
        r.failures.map((f) => [f.kind, f.path]),
        [['retention', '_log.json']],
      )
      assert.match(r.failures[0].detail, /has no Object Lock/)
      assert.equal(plain.stats().requests.getObjectRetention, 0)
      await c.close()
      await plain.close()
    })

    test("a bucket's default retention rule needs no config, and the audit holds versions to it", async () => {
      const b = await lockedBucket(server, { Mode: 'GOVERNANCE', Days: 1 })
      const c = client(server, b)
      const e = await c.set('k', 1)
      const lock = await lockOf(server, b, '_log.json', e.versionId)
      assert.equal(lock.mode, 'GOVERNANCE')
      assert.ok(Math.abs(lock.until - (Date.now() + DAY)) < 60_000)
      assert.deepEqual((await c.verifyLog({ checkRetention: true })).failures, [])
      // Held to COMPLIANCE for 30 days by the config, the same versions fall short.
      const strict = client(server, b, { objectLock: { mode: 'COMPLIANCE', days: 30 }, readOnly: true })
      const r = await strict.verifyLog({ checkRetention: true })
      assert.deepEqual(r.failures.map((f) => [f.kind, f.path ?? '_log.json', f.sequence]).sort(), [
        ['retention', '_log.json', 0],
        ['retention', 'keys/k.json', 0],
      ])
      assert.ok(r.failures.every((f) => /weaker than the required COMPLIANCE/.test(f.detail)))
      await c.close()
      await strict.close()
    })

    test('checkRetention reports a version without retention, and one whose retention is over', async () => {
      const b = await lockedBucket(server)
      const locked = client(server, b, { objectLock: { mode: 'GOVERNANCE', days: 1 } })
      const first = await locked.set('k', 1)
      // A writer without objectLock: its versions have no retention at all.
      const unlocked = client(server, b)
      const second = await unlocked.set('k', 2)
      // Someone with s3:BypassGovernanceRetention cuts the first one short.
      await raw(server.endpoint).send(
        new PutObjectRetentionCommand({
          Bucket: b,
          Key: '_log.json',
          VersionId: first.versionId,
          BypassGovernanceRetention: true,
          Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date(Date.now() + 1500) },
        }),
      )
      await sleep(2500)
      const r = await locked.verifyLog({ checkRetention: true })
      const at = (sequence, path) => r.failures.find((f) => f.kind === 'retention' && f.sequence === sequence && f.path === path)
      assert.match(at(0, undefined)?.detail ?? '', /retention \(GOVERNANCE until .*\) is over/, JSON.stringify(r.failures))
      assert.match(at(1, undefined)?.detail ?? '', /no Object Lock retention/)
      assert.match(at(1, 'keys/k.json')?.detail ?? '', /no Object Lock retention/)
      assert.match(at(1, undefined).detail, /put-object-retention --bucket .* --version-id /)
      assert.equal(at(1, undefined).versionId, second.versionId)
      assert.equal(r.failures.length, 3, JSON.stringify(r.failures))
      assert.equal(r.ok, false)
      // Not asked for: the same log is intact.
      assert.equal((await locked.verifyLog()).ok, true)
      await locked.close()
      await unlocked.close()
    })
  })
}

describe('objectLock in the config', () => {
  test('a bad mode or days is INVALID_CONFIG when the client is made', async () => {
    const { ImmuKVClient } = helpers
    const base = helpers.config(MOTO, 'b')
    for (const objectLock of [
      { mode: 'compliance', days: 1 },
      { mode: 'COMPLIANCE', days: 0 },
      { mode: 'COMPLIANCE', days: 1.5 },
      { mode: 'COMPLIANCE' },
      { mode: 'COMPLIANCE', days: 1, years: 1 },
      'COMPLIANCE',
    ]) {
      let err
      try {
        new ImmuKVClient({ ...base, objectLock })
      } catch (e) {
        err = e
      }
      assert.equal(err?.code, 'INVALID_CONFIG', JSON.stringify(objectLock))
      assert.match(err.message, /objectLock/)
    }
    const ok = new ImmuKVClient({ ...base, objectLock: { mode: 'GOVERNANCE', days: 36500 } })
    await ok.close()
  })
})
