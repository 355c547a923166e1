// Bad input, table-driven: each answered with a typed error, and the
// bucket's objects and versions are exactly as before.
import { describe, test, before } from 'node:test'
import assert from 'node:assert/strict'
import { ADMIN, SERVERS, SEAWEED, bucket, client, config, ImmuKVClient, ImmuKVError, rejection, snapshot, logError } from './support/helpers.mjs'

const cyclic = { a: 1 }
cyclic.self = cyclic

const BAD_KEYS = [
  ['empty', ''],
  ['too long once prefixed', 'k'.repeat(1020)],
  ['lone high surrogate', 'a\ud800b'],
  ['lone low surrogate', '\udc00'],
  ['newline', 'a\nb'],
  ['NUL', 'a\u0000'],
  ['DEL', 'a\u007f'],
  ['.. segment', 'a/../b'],
  ['escapes keys/', '../_log'],
  ['. segment', './a'],
  ['leading slash', '/a'],
  ['trailing slash', 'a/'],
  ['double slash', 'a//b'],
  ['not a string', 42],
  ['undefined', undefined],
]

const BAD_VALUES = [
  ['undefined', undefined],
  ['function', () => 1],
  ['symbol', Symbol('s')],
  ['BigInt', 10n],
  ['nested BigInt', { n: 1n }],
  ['cycle', cyclic],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ['nested NaN', { a: [1, NaN] }],
  ['function in an array', [1, () => 2]],
  ['lone surrogate in a string', 'x\ud800'],
  ['lone surrogate in a property name', { '\udfff': 1 }],
  ['larger than maxValueBytes', 'x'.repeat(4 * 1024 * 1024 + 1)],
  // What JSON.stringify would change without a word: null, {} or nothing.
  ['undefined in an array', [1, undefined]],
  ['a hole in a sparse array', Object.assign(new Array(3), { 0: 1, 2: 3 })],
  ['a boxed NaN', Object(Number.NaN)],
  ['a boxed Infinity in an object', { a: Object(Number.POSITIVE_INFINITY) }],
  ['a Map', new Map([[1, 2]])],
  ['a Set in an object', { s: new Set([1]) }],
  ['toJSON returning undefined', { toJSON: () => undefined }],
  ['toJSON returning undefined in an array', [{ toJSON: () => undefined }]],
  ['toJSON returning a Map', { toJSON: () => new Map() }],
]

for (const server of SERVERS) {
  describe(`bad input on ${server.name}`, () => {
    let b, c, untouched
    before(async () => {
      b = await bucket(server)
      c = client(server, b)
      await c.set('existing', 1)
      untouched = await snapshot(server, b)
    })

    for (const [what, key] of BAD_KEYS) {
      test(`key: ${what}`, async () => {
        const err = await rejection(c.set(key, 1))
        assert.ok(err instanceof ImmuKVError)
        assert.equal(err.code, 'INVALID_KEY', err.message)
        assert.equal(err.mayHaveCommitted, false, 'a failed set says it did not commit')
        assert.equal((await rejection(c.get(key))).code, 'INVALID_KEY')
        assert.deepEqual(await snapshot(server, b), untouched)
      })
    }

    for (const [what, value] of BAD_VALUES) {
      test(`value: ${what}`, async () => {
        const err = await rejection(c.set('k', value))
        assert.ok(err instanceof ImmuKVError)
        assert.equal(err.code, 'INVALID_VALUE', err.message)
        assert.equal(err.mayHaveCommitted, false, 'a failed set says it did not commit')
        assert.deepEqual(await snapshot(server, b), untouched)
      })
    }

    test('bad arguments to reads', async () => {
      for (const call of [
        () => c.history('existing', undefined, 0),
        () => c.logEntries(undefined, -1),
        () => c.listKeys(undefined, 1.5),
        () => c.getLogVersion(''),
        () => c.history('existing', ''),
        () => c.get('existing', { verify: 'yes' }),
        () => c.listKeysWithPrefix('a\u0001'),
        () => c.listKeysWithPrefix('a\\b'),
        // Lone surrogates would silently become U+FFFD.
        () => c.listKeysWithPrefix('\ud800'),
        () => c.history('existing', 'v\ud800'),
        () => c.logEntries('\udc00'),
        () => c.getLogVersion('v\ud800'),
        () => c.get('existing', { trusted: { sequence: 0, versionId: '\ud800', hash: 'sha256:00' } }),
        () => c.verifyLog({ checkKeyObjects: 'no' }),
        () => c.verifyLogChain(1, 'options'),
        // A signal the client could not unsubscribe from.
        () => c.get('existing', { signal: { aborted: false, addEventListener() {} } }),
      ]) {
        const err = await rejection(call())
        assert.ok(err instanceof ImmuKVError, String(err))
        assert.equal(err.code, 'INVALID_ARGUMENT', err.message)
      }
      assert.throws(
        () => ImmuKVClient.dropInMemory(5),
        (err) => err instanceof ImmuKVError && err.code === 'INVALID_ARGUMENT',
      )
      assert.deepEqual(await snapshot(server, b), untouched)
    })

    test('a refused value rejects at once, also behind queued sets, and sends nothing for its key', async () => {
      const { S3Proxy } = await import('./support/proxy.mjs')
      const proxy = await new S3Proxy(server.endpoint, { latencyMs: 50 }).start()
      try {
        const q = client({ endpoint: proxy.endpoint }, b, { s3Prefix: 'queue/' })
        const queued = Array.from({ length: 6 }, (_, i) => q.set(`q${i}`, i))
        let deep = 0
        for (let i = 0; i < 901; i++) deep = [deep]
        const t0 = Date.now()
        const err = await rejection(q.set('refused', deep))
        const took = Date.now() - t0
        assert.equal(err.code, 'INVALID_VALUE', err.message)
        assert.equal(err.mayHaveCommitted, false)
        assert.ok(took < 200, `rejected after ${took} ms; the queue ahead takes > 600 ms`)
        await Promise.all(queued)
        assert.ok(!proxy.requests.some((r) => r.url.includes('refused')), 'no request names the refused key')
        untouched = await snapshot(server, b)
      } finally {
        await proxy.stop()
      }
    })

    test('a 1 MiB value is accepted and round-trips', async () => {
      const big = { blob: 'y'.repeat(1024 * 1024) }
      const e = await c.set('big', big)
      assert.equal((await c.get('big')).value.blob.length, big.blob.length)
      assert.equal(c.verify(e), true)
      untouched = await snapshot(server, b)
    })
  })
}

describe('bad configs are refused at construction', () => {
  const good = config(SEAWEED, 'bucket-name')
  const cases = [
    ['not an object', null],
    ['missing bucket', { ...good, s3Bucket: undefined }],
    ['empty bucket', { ...good, s3Bucket: '' }],
    ['bucket with a slash', { ...good, s3Bucket: 'a/b' }],
    ['missing region', { ...good, s3Region: undefined }],
    ['empty region', { ...good, s3Region: '' }],
    ['missing prefix', { ...good, s3Prefix: undefined }],
    ['prefix with a leading slash', { ...good, s3Prefix: '/audit/' }],
    ['prefix with a double slash', { ...good, s3Prefix: 'audit//' }],
    ['prefix with a backslash', { ...good, s3Prefix: 'a\\b/' }],
    ['prefix with a .. segment', { ...good, s3Prefix: 'a/../' }],
    ['bucket of the wrong type', { ...good, s3Bucket: 5 }],
    ['readOnly of the wrong type', { ...good, readOnly: 'yes' }],
    ['interval as a string', { ...good, repairCheckIntervalMs: '100' }],
    ['negative interval', { ...good, repairCheckIntervalMs: -1 }],
    ['NaN interval', { ...good, repairCheckIntervalMs: NaN }],
    ['malformed endpoint', { ...good, overrides: { ...good.overrides, endpointUrl: 'not a url' } }],
    ['endpoint without host', { ...good, overrides: { ...good.overrides, endpointUrl: 'http://' } }],
    ['ftp endpoint', { ...good, overrides: { ...good.overrides, endpointUrl: 'ftp://127.0.0.1' } }],
    ['credentials in the endpoint', { ...good, overrides: { ...good.overrides, endpointUrl: 'http://user:pw@127.0.0.1:1' } }],
    ['incomplete credentials', { ...good, overrides: { ...good.overrides, credentials: { accessKeyId: 'a' } } }],
    ['credentials of the wrong type', { ...good, overrides: { ...good.overrides, credentials: 'key:secret' } }],
    ['unknown option (typo)', { ...good, s3bucket: 'x' }],
    ['constructor as an option', { ...good, constructor: 1 }],
    ['toString as an option', { ...good, toString: () => 'x' }],
    ['unknown credentials field', { ...good, overrides: { ...good.overrides, credentials: { ...ADMIN, secretKey: 'x' } } }],
    ['expiration on static credentials', { ...good, overrides: { ...good.overrides, credentials: { ...ADMIN, expiration: Date.now() + 1000 } } }],
    ['prefix with a lone surrogate', { ...good, s3Prefix: 'tenant-\ud800/' }],
    ['endpoint with a lone surrogate', { ...good, overrides: { ...good.overrides, endpointUrl: 'http://127.0.0.1/\udc00' } }],
    ['an inherited field of the wrong type', Object.assign(Object.create({ readOnly: 'yes' }), good)],
    [
      'a getter that throws',
      Object.defineProperty({ ...good }, 'readOnly', {
        enumerable: true,
        get() {
          throw new Error('no')
        },
      }),
    ],
    ['page size 0', { ...good, listPageSize: 0 }],
    ['page size above 1000', { ...good, listPageSize: 5000 }],
    ['fractional concurrency', { ...good, readConcurrency: 1.5 }],
    // Every client reads objects up to 64 MiB: a larger value would lock the others out.
    ['maxValueBytes past what every client reads', { ...good, maxValueBytes: 64 * 1024 * 1024 }],
    ['decoder not a function', good, 'decoder'],
  ]
  for (const [what, cfg, extra] of cases) {
    test(what, () => {
      let err
      try {
        extra ? new ImmuKVClient(cfg, 'decoder') : new ImmuKVClient(cfg)
      } catch (e) {
        err = e
        logError(e)
      }
      assert.ok(err instanceof ImmuKVError, `${what}: threw ${err}`)
      assert.equal(err.code, 'INVALID_CONFIG', err.message)
    })
  }

  test('accepted: fields read through getters and the prototype, credentials objects the AWS SDK has seen', async () => {
    class Settings {
      get s3Bucket() {
        return 'bucket-name'
      }
      get s3Prefix() {
        return ''
      }
      get s3Region() {
        return 'us-east-1'
      }
    }
    await new ImmuKVClient(new Settings()).close()
    await new ImmuKVClient(Object.create(good)).close()
    // The SDK adds $source to a credentials object it was handed; its own identities carry accountId and credentialScope.
    const seen = { ...ADMIN, $source: {}, accountId: '123456789012', credentialScope: 'us-east-1' }
    await new ImmuKVClient({ ...good, overrides: { ...good.overrides, credentials: seen } }).close()
  })
})
