// listKeys returns keys in S3's order (the UTF-8 bytes of keys/{key}.json),
// on every store, within a page and across pages: SeaweedFS, asked for
// URL-encoded names, sorts each page by the encoded names (non-ASCII first),
// and the client orders the page again.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { STORES, bucket, client } from './support/helpers.mjs'

// Characters whose UTF-8, UTF-16 and URL-encoded orders differ: non-ASCII
// (two, three and four bytes), a space, '+', '%', and U+FF5A, which UTF-16
// sorts after an emoji (a surrogate pair) and UTF-8 before it. No '/':
// SeaweedFS pages keys beside '/' apart (README, Guarantees and limits).
const KEYS = ['a', 'Z', 'z', 'é', '中', 'a b', 'a+b', '~', '%', 'b-c', 'ab', '😀', 'ｚ', 'Ä', '_x']

/** S3's order: the UTF-8 bytes of the key objects' paths. */
const s3Order = (keys) => [...keys].sort((a, b) => Buffer.compare(Buffer.from(`keys/${a}.json`), Buffer.from(`keys/${b}.json`)))

for (const server of STORES) {
  describe(`listKeys order on ${server.name}`, () => {
    test('every key in S3 order, in one page and page by page (afterKey and limit)', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      for (const k of [...KEYS].reverse()) await c.set(k, k)
      const expected = s3Order(KEYS)
      assert.notDeepEqual(expected, [...KEYS].sort(), 'the keys tell UTF-8 order from JavaScript order')
      assert.deepEqual(await c.listKeys(), expected)
      for (const limit of [1, 2, 4]) {
        const paged = []
        for (;;) {
          const page = await c.listKeys(paged.at(-1), limit)
          assert.ok(page.length <= limit)
          paged.push(...page)
          if (page.length < limit) break
        }
        assert.deepEqual(paged, expected, `pages of ${limit}`)
      }
      assert.deepEqual(await c.listKeys('ab'), expected.slice(expected.indexOf('ab') + 1), 'after a key')
      assert.deepEqual(
        await c.listKeysWithPrefix('a'),
        expected.filter((k) => k.startsWith('a')),
      )
      // A reader with a small listPageSize pages the listing itself.
      assert.deepEqual(await client(server, b, { listPageSize: 3 }).listKeys(), expected)
    })
  })
}
