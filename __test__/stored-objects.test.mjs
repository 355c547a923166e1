// Objects anyone who may write to the bucket can leave beside ImmuKV's own:
// odd names, giant or unreadable versions, copies of genuine ones. Reads and
// writers are not misled or wedged by them, and verifyLog reports them where
// they stand instead of failing or passing the whole check.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { LOAD, MOTO, SEAWEED, SERVERS, bucket, client, putRaw, raw, rejection } from './support/helpers.mjs'

async function bodyOf(server, Bucket, Key) {
  const r = await raw(server.endpoint).send(new GetObjectCommand({ Bucket, Key }))
  return r.Body.transformToString()
}

/** `count` objects named `${base}.00001`...: foreign names the prefix listing also returns. */
async function nearMissNames(server, Bucket, base, count) {
  const s3 = raw(server.endpoint)
  const names = Array.from({ length: count }, (_, i) => `${base}.${String(i).padStart(5, '0')}`)
  for (let i = 0; i < names.length; i += 50) {
    await Promise.all(names.slice(i, i + 50).map((Key) => s3.send(new PutObjectCommand({ Bucket, Key, Body: 'x' }))))
  }
}

for (const server of SERVERS) {
  describe(`objects left beside the store on ${server.name}`, () => {
    test('names with a control character beside the log and a key object: every listing and verifyLog go on', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      for (let i = 0; i < 3; i++) await c.set('acct', { i })
      await c.set('a b+c', 'spaces and plus signs survive the listing encoding')
      // Listings ask for URL-encoded names (S3 puts them in XML as they are).
      await putRaw(server, b, 'keys/zz\u0001.json', 'x')
      if (server === MOTO) {
        // moto encodes ListObjectsV2 names but not ListObjectVersions ones (S3
        // encodes both): only the key listing can be checked here.
        assert.deepEqual(await c.listKeys(), ['a b+c', 'acct'])
        return
      }
      await putRaw(server, b, '_log.json\u0001', 'x')
      await putRaw(server, b, 'keys/acct.json\u0001', 'x')
      const r = await c.verifyLog()
      // (What is said of keys/zz\u0001.json, no key, differs by server.)
      assert.deepEqual(
        r.failures.filter((f) => !f.path?.startsWith('keys/zz')),
        [],
      )
      assert.equal(r.checked, 4)
      assert.deepEqual(
        (await c.logEntries()).map((e) => e.sequence),
        [3, 2, 1, 0],
      )
      assert.deepEqual(
        (await c.history('acct'))[0].map((e) => e.value.i),
        [2, 1, 0],
      )
      assert.deepEqual(await c.listKeys(), ['a b+c', 'acct'])
      assert.equal((await c.history('a b+c'))[0].length, 1)
      await c.close()
    })

    test('names that break the key rules under keys/ are not listed as keys', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      await c.set('real', 1)
      await putRaw(server, b, 'keys/.json', '{}')
      await putRaw(server, b, 'keys/e/.json', '{}')
      assert.deepEqual(await c.listKeys(), ['real'])
      await c.close()
    })

    test('objects larger than any entry: reads refuse them (CORRUPT_ENTRY, no crash), verifyLog reports them', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      await c.set('acct', 1)
      await c.set('other', 2)
      // A JSON array of zeros, 65 MiB: past the 64 MiB a reader takes.
      const giant = Buffer.alloc(65 * 1024 * 1024, '0,')
      giant[0] = 0x5b // [
      giant[giant.length - 1] = 0x5d // ]
      await putRaw(server, b, 'keys/acct.json', giant)
      const got = await rejection(c.get('acct'))
      assert.equal(got.code, 'CORRUPT_ENTRY', got.message)
      assert.match(got.message, /larger than any entry/)
      const put = await putRaw(server, b, '_log.json', giant)
      const set = await rejection(client(server, b).set('other', 3))
      assert.equal(set.code, 'CORRUPT_ENTRY', set.message)
      assert.equal(set.mayHaveCommitted, false)
      const r = await c.verifyLog()
      assert.equal(r.ok, false)
      const at = r.failures.filter((f) => f.kind === 'unreadable').map((f) => [f.path, f.versionId === put.VersionId])
      assert.deepEqual(
        at.sort(),
        [
          ['_log.json', true],
          ['keys/acct.json', false],
        ].sort(),
        JSON.stringify(r.failures),
      )
      await c.close()
    })

    test('a key-object version written again by hand is reported (an entry is written once)', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      for (let i = 0; i < 3; i++) await c.set('acct', { i })
      const copy = await putRaw(server, b, 'keys/acct.json', await bodyOf(server, b, 'keys/acct.json'))
      const r = await c.verifyLog()
      assert.deepEqual(
        r.failures.map((f) => [f.kind, f.path, f.versionId, f.sequence]),
        [['key_object_forged', 'keys/acct.json', copy.VersionId, 2]],
      )
      assert.match(r.failures[0].detail, /written again/)
      await c.close()
    })

    test('a log head that is not an entry: set refuses, writes nothing, and says how to recover', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      await c.set('acct', 1)
      const put = await putRaw(server, b, '_log.json', 'not an entry')
      const err = await rejection(client(server, b).set('acct', 2))
      assert.equal(err.code, 'CORRUPT_ENTRY')
      assert.equal(err.mayHaveCommitted, false)
      assert.ok(err.message.includes(`delete-object --bucket ${b} --key _log.json --version-id ${put.VersionId}`), err.message)
      await c.close()
    })
  })
}

describe('versions listed but not readable are reported, not fatal', () => {
  test('moto: a log version archived to Glacier', async () => {
    const b = await bucket(MOTO)
    const c = client(MOTO, b)
    await c.set('acct', 1)
    await c.set('acct', 2)
    const body = await bodyOf(MOTO, b, '_log.json')
    const put = await raw(MOTO.endpoint).send(new PutObjectCommand({ Bucket: b, Key: '_log.json', Body: body, StorageClass: 'GLACIER' }))
    const r = await c.verifyLog({ checkKeyObjects: false })
    assert.ok(
      r.failures.some((f) => f.kind === 'unreadable' && f.versionId === put.VersionId && /InvalidObjectState/.test(f.detail)),
      JSON.stringify(r.failures),
    )
    await c.close()
  })

  test('SeaweedFS: a key-object version encrypted with a key the client does not hold (SSE-C)', async () => {
    const b = await bucket(SEAWEED)
    const c = client(SEAWEED, b)
    await c.set('acct', 1)
    await c.set('other', 1)
    const key = randomBytes(32)
    const put = await raw(SEAWEED.endpoint).send(
      new PutObjectCommand({
        Bucket: b,
        Key: 'keys/acct.json',
        Body: await bodyOf(SEAWEED, b, 'keys/acct.json'),
        SSECustomerAlgorithm: 'AES256',
        SSECustomerKey: key.toString('base64'),
        SSECustomerKeyMD5: createHash('md5').update(key).digest('base64'),
      }),
    )
    const r = await c.verifyLog()
    assert.ok(
      r.failures.some((f) => f.kind === 'unreadable' && f.path === 'keys/acct.json' && f.versionId === put.VersionId),
      JSON.stringify(r.failures),
    )
    await c.close()
  })
})

describe('a thousand names that sort before the log (SeaweedFS lists them first)', LOAD, () => {
  for (const server of SERVERS) {
    test(`${server.name}: the log's versions are listed, or the listing fails; never an intact, empty log`, async () => {
      const b = await bucket(server)
      const c = client(server, b)
      for (let i = 0; i < 3; i++) await c.set('acct', { i })
      await nearMissNames(server, b, '_log.json', 1001)
      const listed = await c.logEntries().then(
        (entries) => entries.map((e) => e.sequence),
        (err) => err,
      )
      const audit = await c.verifyLog({ checkKeyObjects: false }).then(
        (r) => r,
        (err) => err,
      )
      if (Array.isArray(listed)) {
        assert.deepEqual(listed, [2, 1, 0])
        assert.equal(audit.checked, 3)
        assert.deepEqual(audit.failures, [])
      } else {
        assert.equal(listed.code, 'STORAGE_ERROR')
        assert.match(listed.message, /cannot be listed/)
        assert.equal(audit.code, 'STORAGE_ERROR', 'verifyLog must not pass an unlisted log')
      }
      if (server === SEAWEED) assert.ok(!Array.isArray(listed), 'SeaweedFS loses these versions: the listing must fail')
      await c.close()
    })
  }

  test("moto (S3's order): paging a key's history to its end, past a thousand longer names, ends with an empty page", async () => {
    const b = await bucket(MOTO)
    const c = client(MOTO, b)
    await c.set('a', 0)
    await c.set('a', 1)
    await nearMissNames(MOTO, b, 'keys/a.json', 1001)
    const pages = []
    let cursor
    do {
      const [page, next] = await c.history('a', cursor, 1)
      pages.push(page.map((e) => e.value))
      cursor = next
    } while (cursor && pages.length < 5)
    assert.deepEqual(pages, [[1], [0], []])
    await c.close()
  })
})
