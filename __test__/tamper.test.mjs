// Tampering made with raw S3 calls, each detected and located by verifyLog.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { DeleteObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3'
import { SERVERS, bucket, client, forgeNext, putRaw, raw, rejection } from './support/helpers.mjs'

/** A store with 5 entries over keys k0..k2, and its digest. */
async function store(server) {
  const b = await bucket(server)
  const c = client(server, b)
  const entries = []
  for (let i = 0; i < 5; i++) entries.push(await c.set(`k${i % 3}`, { i }))
  return { b, c, entries, digest: await c.digest() }
}

const kinds = (report) => report.failures.map((f) => `${f.sequence}:${f.kind}`).sort()

async function deleteVersion(server, b, Key, VersionId) {
  await raw(server.endpoint).send(new DeleteObjectCommand({ Bucket: b, Key, VersionId }))
}

async function allVersions(server, b) {
  const r = await raw(server.endpoint).send(new ListObjectVersionsCommand({ Bucket: b }))
  return [...(r.Versions || []), ...(r.DeleteMarkers || [])]
}

for (const server of SERVERS) {
  describe(`tamper detection on ${server.name}`, () => {
    test('untampered: ok, also against the trusted digest', async () => {
      const { c, digest } = await store(server)
      const r = await c.verifyLog({ trusted: digest })
      assert.deepEqual(r.failures, [])
      assert.equal(r.checked, 5)
    })

    test('forged version with a wrong hash', async () => {
      const { b, c, entries } = await store(server)
      const forged = await forgeNext(entries[4], 'k1', { i: 'forged' })
      await putRaw(server, b, '_log.json', forged.body.replace(forged.hash, 'sha256:' + '0'.repeat(64)))
      const r = await c.verifyLog({ checkKeyObjects: false })
      assert.deepEqual(kinds(r), ['5:hash_mismatch'])
      assert.equal(await c.verifyLogChain(), false)
    })

    test('forged version with a correct hash but a broken link', async () => {
      const { b, c, entries } = await store(server)
      const forged = await forgeNext({ ...entries[4], hash: 'sha256:' + 'f'.repeat(64) }, 'k1', { i: 'forged' })
      await putRaw(server, b, '_log.json', forged.body)
      const r = await c.verifyLog({ checkKeyObjects: false })
      assert.deepEqual(kinds(r), ['5:broken_link'])
    })

    test('skipped sequence', async () => {
      const { b, c, entries } = await store(server)
      const forged = await forgeNext({ ...entries[4], sequence: 5 }, 'k1', { i: 'skipped' })
      await putRaw(server, b, '_log.json', forged.body)
      const r = await c.verifyLog({ checkKeyObjects: false })
      assert.deepEqual(kinds(r), ['6:sequence_gap'])
    })

    test('wrong previous_version_id', async () => {
      const { b, c, entries } = await store(server)
      const forged = await forgeNext({ ...entries[4], versionId: entries[2].versionId }, 'k1', { i: 'x' })
      await putRaw(server, b, '_log.json', forged.body)
      const r = await c.verifyLog({ checkKeyObjects: false })
      assert.deepEqual(kinds(r), ['5:wrong_previous_version'])
      assert.match(r.failures[0].detail, new RegExp(entries[4].versionId))
    })

    test('deleted log version (DeleteObject with VersionId)', async () => {
      const { b, c, entries, digest } = await store(server)
      await deleteVersion(server, b, '_log.json', entries[2].versionId)
      const r = await c.verifyLog({ trusted: digest, checkKeyObjects: false })
      assert.deepEqual(kinds(r), ['3:broken_link', '3:sequence_gap', '3:wrong_previous_version'])
      assert.equal(r.failures[0].versionId, entries[3].versionId)
    })

    test('key object overwritten outside the client', async () => {
      const { b, c, entries } = await store(server)
      // k0's latest entry is sequence 3; put back its older, well-formed key
      // object. (The head's key object put back is an orphan by definition:
      // the protocol repairs it, so it is not reported.)
      const older = await c.getLogVersion(entries[0].versionId)
      const body = JSON.stringify({
        hash: older.hash,
        key: 'k0',
        log_version_id: older.versionId,
        previous_hash: older.previousHash,
        sequence: older.sequence,
        timestamp_ms: older.timestampMs,
        value: older.value,
      })
      await putRaw(server, b, 'keys/k0.json', body)
      const r = await c.verifyLog()
      assert.deepEqual(kinds(r), ['3:key_object_mismatch'])
      assert.equal((await c.get('k0')).sequence, 0, 'get shows what is stored; verifyLog says it is wrong')
    })

    test('key object with its value altered', async () => {
      const { b, c } = await store(server)
      const k = await c.get('k2')
      const body = JSON.stringify({
        hash: k.hash,
        key: 'k2',
        log_version_id: k.versionId,
        previous_hash: k.previousHash,
        sequence: k.sequence,
        timestamp_ms: k.timestampMs,
        value: { i: 'altered' },
      })
      await putRaw(server, b, 'keys/k2.json', body)
      const r = await c.verifyLog()
      assert.deepEqual(kinds(r), ['2:key_object_forged'])
      assert.equal(r.failures.find((f) => f.kind === 'key_object_forged').path, 'keys/k2.json')
      const err = await rejection(c.get('k2'))
      assert.equal(err.code, 'CORRUPT_ENTRY', 'a plain get checks the hash')
      assert.match(err.message, /hash/)
    })

    test('key object deleted', async () => {
      const { b, c } = await store(server)
      await raw(server.endpoint).send(new DeleteObjectCommand({ Bucket: b, Key: 'keys/k0.json' }))
      assert.deepEqual(kinds(await c.verifyLog()), ['3:key_object_mismatch'])
    })

    test('head entry replaced by an altered copy with its hash recomputed', async () => {
      const { b, c, entries, digest } = await store(server)
      await deleteVersion(server, b, '_log.json', entries[4].versionId)
      const forged = await forgeNext(entries[3], 'k1', { i: 'rewritten' }, entries[4].previousKeyObjectEtag, entries[4].timestampMs)
      await putRaw(server, b, '_log.json', forged.body)
      assert.deepEqual((await c.verifyLog({ checkKeyObjects: false })).failures, [], 'the chain alone cannot tell')
      const r = await c.verifyLog({ trusted: digest })
      // The key object of the original head now names a log version that is gone.
      assert.deepEqual(kinds(r), ['4:key_object_mismatch', '4:trusted_mismatch', 'undefined:key_object_forged'])
      assert.equal(r.failures.find((f) => f.kind === 'key_object_forged').path, 'keys/k1.json')
    })

    test('middle entry replaced by an altered copy with its hash recomputed', async () => {
      const { b, c, entries } = await store(server)
      await deleteVersion(server, b, '_log.json', entries[2].versionId)
      const forged = await forgeNext(entries[1], 'k2', { i: 'rewritten' }, entries[2].previousKeyObjectEtag, entries[2].timestampMs)
      await putRaw(server, b, '_log.json', forged.body)
      const r = await c.verifyLog({ checkKeyObjects: false })
      assert.ok(kinds(r).includes('3:broken_link'), kinds(r).join(' '))
      assert.ok(
        r.failures.some((f) => f.sequence === 2),
        'the altered entry itself is named',
      )
    })

    test('newest entries deleted (truncation): caught with the trusted digest', async () => {
      const { b, c, entries, digest } = await store(server)
      await deleteVersion(server, b, '_log.json', entries[4].versionId)
      await deleteVersion(server, b, '_log.json', entries[3].versionId)
      assert.deepEqual((await c.verifyLog({ checkKeyObjects: false })).failures, [])
      const r = await c.verifyLog({ trusted: digest, checkKeyObjects: false })
      assert.deepEqual(kinds(r), ['4:truncated'])
    })

    test('a log version that is not an entry is reported where it stands', async () => {
      const { b, c } = await store(server)
      const put = await putRaw(server, b, '_log.json', 'not an entry {')
      const r = await c.verifyLog({ checkKeyObjects: false })
      assert.deepEqual(
        r.failures.map((f) => [f.versionId, f.kind]),
        [[put.VersionId, 'unreadable']],
      )
      assert.equal(r.checked, 5)
    })

    test('a delete marker hiding the log', async () => {
      const { b, c, digest } = await store(server)
      await raw(server.endpoint).send(new DeleteObjectCommand({ Bucket: b, Key: '_log.json' }))
      const err = await rejection(c.digest())
      assert.equal(err.code, 'LOG_DELETED', 'a reader is not told the log is empty')
      const r = await c.verifyLog({ trusted: digest, checkKeyObjects: false })
      assert.deepEqual(
        r.failures.map((f) => f.kind),
        ['hidden_head'],
      )
    })

    test('a crafted sequence beyond 2^53 - 1: writers refuse to extend it, verifyLog locates it (no crash)', async () => {
      const { b, c, entries } = await store(server)
      const forged = await forgeNext(entries[4], 'k1', { i: 'forged' })
      // Same hash input but a sequence no client holds exactly.
      const body = forged.body.replace(`"sequence":${forged.sequence}`, '"sequence":18446744073709551615')
      await putRaw(server, b, '_log.json', body)
      const err = await rejection(client(server, b).set('k0', 'after'))
      assert.equal(err.code, 'CORRUPT_ENTRY', err.message)
      assert.match(err.message, /2\^53/)
      await putRaw(server, b, '_log.json', (await forgeNext({ ...entries[4], sequence: 6 }, 'k2', 'next')).body)
      const r = await c.verifyLog()
      assert.equal(r.ok, false)
      assert.ok(
        r.failures.some((f) => f.kind === 'unreadable' && /2\^53/.test(f.detail)),
        JSON.stringify(r.failures),
      )
    })

    test("the head's key object rolled back to its previous bytes: verifyLog reports it", async () => {
      const { b, c, entries } = await store(server)
      const head = entries[4] // k1, whose previous entry is entries[1]
      const { GetObjectCommand } = await import('@aws-sdk/client-s3')
      const s3 = raw(server.endpoint)
      const versions = (await s3.send(new ListObjectVersionsCommand({ Bucket: b, Prefix: 'keys/k1.json' }))).Versions
      const older = versions.find((v) => !v.IsLatest)
      const body = await (await s3.send(new GetObjectCommand({ Bucket: b, Key: 'keys/k1.json', VersionId: older.VersionId }))).Body.transformToString()
      await putRaw(server, b, 'keys/k1.json', body) // same bytes, same ETag as the head recorded
      const r = await c.verifyLog()
      assert.ok(
        r.failures.some((f) => f.kind === 'key_object_mismatch' && f.sequence === head.sequence),
        JSON.stringify(r.failures),
      )
    })

    test('whole log deleted and rewritten consistently: caught only with the trusted digest', async () => {
      const { b, c, entries, digest } = await store(server)
      for (const v of await allVersions(server, b)) await deleteVersion(server, b, v.Key, v.VersionId)
      const forger = client(server, b)
      for (const e of entries) await forger.set(e.key, e.value)
      assert.equal(await c.verifyLogChain(), true)
      assert.deepEqual((await c.verifyLog()).failures, [])
      const r = await c.verifyLog({ trusted: digest })
      assert.deepEqual(kinds(r), ['4:trusted_mismatch'])
      assert.match(r.failures[0].detail, /no longer in the log/)
    })
  })
}
