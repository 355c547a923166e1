// Names a listing must carry through URL encoding and page markers: keys and a
// prefix with spaces, '+' and non-ASCII characters, read back page by page
// (history, logEntries, entries, listKeys, verifyLog) with the smallest pages,
// so that every page boundary falls on such a name. On every server: each
// spells these names differently in its listings and markers (LocalStack's
// version-listing markers are not encoded, and it compares them with encoded
// names; its ListObjectsV2 continuation tokens fail on non-ASCII names).
import { describe, test, before } from 'node:test'
import assert from 'node:assert/strict'
import { SERVERS_WITH_LOCALSTACK, MEMORY, bucket, client } from './support/helpers.mjs'

const PREFIX = 'tenant+1 é/'
// In S3's (UTF-8 byte) order, which listKeys keeps.
const KEYS = ['a b', 'a+b', 'a-b', 'café', 'z', 'ключ', '漢字 😀']
const VERSIONS = 3

for (const server of [...SERVERS_WITH_LOCALSTACK, MEMORY]) {
  describe(`names that need encoding in listings, on ${server.name}`, () => {
    let b
    let written
    before(async () => {
      b = await bucket(server)
      const c = client(server, b, { s3Prefix: PREFIX })
      written = []
      for (let v = 0; v < VERSIONS; v++) for (const key of KEYS) written.push(await c.set(key, { key, v }))
      await c.close()
    })

    test('history of each key, one entry a page, with the cursor', async () => {
      const c = client(server, b, { s3Prefix: PREFIX })
      for (const key of KEYS) {
        const seen = []
        let cursor
        for (let pages = 0; pages < 10; pages++) {
          const [page, next] = await c.history(key, cursor, 1)
          seen.push(...page.map((e) => e.value.v))
          if (next === undefined) break
          cursor = next
        }
        assert.deepEqual(seen, [2, 1, 0], `history of ${JSON.stringify(key)}`)
      }
      await c.close()
    })

    test('logEntries page by page, entries(1), and verifyLog with one-name list pages', async () => {
      const c = client(server, b, { s3Prefix: PREFIX, listPageSize: 1 })
      const expected = written.map((e) => e.hash).reverse()
      const paged = []
      let before
      for (let pages = 0; pages < 3 * expected.length; pages++) {
        const page = await c.logEntries(before, 2)
        if (page.length === 0) break
        paged.push(...page.map((e) => e.hash))
        before = page.at(-1).versionId
      }
      assert.deepEqual(paged, expected)
      const all = []
      for await (const e of c.entries(1)) all.push(e.hash)
      assert.deepEqual(all, expected)
      const report = await c.verifyLog()
      assert.deepEqual(report.failures, [])
      assert.equal(report.checked, expected.length)
      await c.close()
    })

    test('listKeys with one-name pages, and from each key on', async () => {
      const c = client(server, b, { s3Prefix: PREFIX, listPageSize: 1 })
      assert.deepEqual(await c.listKeys(), KEYS)
      for (const [i, key] of KEYS.entries()) {
        assert.deepEqual(await c.listKeys(key, 2), KEYS.slice(i + 1, i + 3), `after ${JSON.stringify(key)}`)
      }
      assert.deepEqual(await c.listKeysWithPrefix('a'), ['a b', 'a+b', 'a-b'])
      await c.close()
    })
  })
}
