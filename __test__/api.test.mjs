// The whole JS API end to end, against SeaweedFS, moto and the in-memory
// store (ImmuKVClient.inMemory: same protocol and checks, no server).
import { describe, test, before } from 'node:test'
import assert from 'node:assert/strict'
import { STORES, bucket, client, config, ImmuKVClient, ImmuKVError, KeyNotFoundError, ReadOnlyError, rejection, snapshot } from './support/helpers.mjs'

for (const server of STORES) {
  describe(`API on ${server.name}`, () => {
    let b
    before(async () => {
      b = await bucket(server)
    })

    test('set, get, getLogVersion, verify', async () => {
      const c = client(server, b, { s3Prefix: 'basic/' })
      const e1 = await c.set('sensor-1', { alpha: 0.15, beta: 2.8 })
      const e2 = await c.set('sensor-1', { alpha: 0.16, beta: 2.9 })
      assert.equal(e1.sequence, 0)
      assert.equal(e1.previousHash, 'sha256:genesis')
      assert.equal(e2.sequence, 1)
      assert.equal(e2.previousHash, e1.hash)
      assert.equal(e2.previousVersionId, e1.versionId)
      assert.match(e2.hash, /^sha256:[0-9a-f]{64}$/)
      assert.ok(e2.timestampMs > 1.7e12)
      const got = await c.get('sensor-1')
      assert.deepEqual(got.value, { alpha: 0.16, beta: 2.9 })
      assert.equal(got.versionId, e2.versionId)
      assert.equal(got.hash, e2.hash)
      const logged = await c.getLogVersion(e1.versionId)
      assert.deepEqual(logged.value, { alpha: 0.15, beta: 2.8 })
      assert.equal(logged.sequence, 0)
      assert.equal(c.verify(got), true)
      assert.equal(c.verify(logged), true)
      assert.equal(c.verify({ ...got, value: { alpha: 9 } }), false, 'an altered value fails verification')
      assert.equal(c.verify({ ...got, sequence: 7 }), false)
      assert.equal(await c.verifyLogChain(), true)
      assert.equal(await c.verifyLogChain(1), true)
    })

    test('values of every JSON type round-trip', async () => {
      const c = client(server, b, { s3Prefix: 'types/' })
      const values = [null, true, false, 0, -1.5, 1e21, 'x', '', 'ключ 漢字 😀', [], {}, [1, [2, { a: null }]], { 10: 1, 2: 2, b: 3 }]
      for (const [i, v] of values.entries()) {
        const e = await c.set(`k${i}`, v)
        assert.deepEqual(e.value, v)
        assert.deepEqual((await c.get(`k${i}`)).value, v)
      }
      assert.equal(await c.verifyLogChain(), true)
    })

    test('get of a missing key rejects with KeyNotFoundError', async () => {
      const c = client(server, b, { s3Prefix: 'missing/' })
      const err = await rejection(c.get('nope'))
      assert.ok(err instanceof KeyNotFoundError)
      assert.ok(err instanceof ImmuKVError)
      assert.ok(err instanceof Error)
      assert.equal(err.code, 'KEY_NOT_FOUND')
      const v = await rejection(c.getLogVersion('no-such-version'))
      assert.equal(v.code, 'VERSION_NOT_FOUND')
    })

    test('history, logEntries and listKeys page beyond one S3 page', async () => {
      const c = client(server, b, { s3Prefix: 'paging/', listPageSize: 3 })
      const written = []
      for (let i = 0; i < 11; i++) written.push(await c.set(i % 2 ? 'odd' : 'even', i))
      for (let i = 0; i < 8; i++) await c.set(`key-${String(i).padStart(2, '0')}`, i)

      const [all, oldest] = await c.history('even')
      assert.deepEqual(
        all.map((e) => e.value),
        [10, 8, 6, 4, 2, 0],
      )
      assert.ok(oldest)
      const [p1, cursor1] = await c.history('even', undefined, 4)
      assert.deepEqual(
        p1.map((e) => e.value),
        [10, 8, 6, 4],
      )
      const [p2, cursor2] = await c.history('even', cursor1, 4)
      assert.deepEqual(
        p2.map((e) => e.value),
        [2, 0],
      )
      assert.equal(cursor2, oldest)

      const log = await c.logEntries()
      assert.deepEqual(
        log.map((e) => e.sequence),
        [...Array(19).keys()].reverse(),
      )
      const l1 = await c.logEntries(undefined, 5)
      const l2 = await c.logEntries(l1[4].versionId, 5)
      assert.deepEqual(
        l2.map((e) => e.sequence),
        [13, 12, 11, 10, 9],
      )
      const streamed = []
      for await (const e of c.entries(4)) streamed.push(e.sequence)
      assert.deepEqual(
        streamed,
        log.map((e) => e.sequence),
      )

      const keys = await c.listKeys()
      assert.deepEqual(keys, ['even', ...[...Array(8).keys()].map((i) => `key-${String(i).padStart(2, '0')}`), 'odd'])
      assert.deepEqual(await c.listKeys('key-03', 3), ['key-04', 'key-05', 'key-06'])
      assert.deepEqual(await c.listKeysWithPrefix('key-0', 'key-05'), ['key-06', 'key-07'])
      assert.deepEqual(await c.listKeysWithPrefix('zzz'), [])
      assert.equal(await c.verifyLogChain(), true)
      assert.equal((await c.verifyLog()).ok, true)
    })

    test('prefixes isolate two stores in one bucket', async () => {
      const a = client(server, b, { s3Prefix: 'tenant-a/' })
      const z = client(server, b, { s3Prefix: 'tenant-b/' })
      await a.set('shared', 'from a')
      await z.set('shared', 'from b')
      await z.set('only-b', 1)
      assert.equal((await a.get('shared')).value, 'from a')
      assert.equal((await z.get('shared')).value, 'from b')
      assert.deepEqual(await a.listKeys(), ['shared'])
      assert.deepEqual(await z.listKeys(), ['only-b', 'shared'])
      assert.equal((await a.logEntries()).length, 1)
      assert.equal((await z.logEntries()).length, 2)
      assert.equal((await z.get('shared')).sequence, 0)
      await rejection(a.get('only-b')).then((e) => assert.ok(e instanceof KeyNotFoundError))
    })

    test('keys with slashes and non-ASCII characters', async () => {
      const c = client(server, b, { s3Prefix: 'keys/' })
      for (const k of ['tenant-1/devices/a b', 'ключ-é', 'emoji-😀']) {
        await c.set(k, { k })
        assert.deepEqual((await c.get(k)).value, { k })
      }
      assert.deepEqual((await c.listKeysWithPrefix('tenant-1/')).sort(), ['tenant-1/devices/a b'])
    })

    test('withCodec shares the connection and decodes/encodes', async () => {
      const c = client(server, b, { s3Prefix: 'codec/' })
      const dates = c.withCodec(
        (json) => new Date(json.iso),
        (d) => ({ iso: d.toISOString() }),
      )
      const when = new Date('2024-01-02T03:04:05.000Z')
      const e = await dates.set('when', when)
      assert.ok(e.value instanceof Date)
      assert.equal((await dates.get('when')).value.getTime(), when.getTime())
      assert.deepEqual((await c.get('when')).value, { iso: '2024-01-02T03:04:05.000Z' }, 'stored as the encoder made it')
      assert.equal(dates.verify(await dates.get('when')), true)
      const [h] = await dates.history('when')
      assert.ok(h[0].value instanceof Date)
      await dates.close()
      assert.equal((await c.get('when')).key, 'when', 'closing the codec client leaves the parent open')
      // Closing the parent closes its forks at once, before its in-flight calls end.
      const fork = c.withCodec(
        (j) => j,
        (v) => v,
      )
      const inFlight = c.set('last', 1)
      const closing = c.close()
      const err = await rejection(fork.set('after-close', 1))
      assert.equal(err.code, 'CLIENT_CLOSED')
      await inFlight
      await closing
      assert.equal((await rejection(fork.get('last'))).code, 'CLIENT_CLOSED')
      assert.equal((await rejection(client(server, b, { s3Prefix: 'codec/' }).get('after-close'))).code, 'KEY_NOT_FOUND')
    })

    test('both constructor forms; close rejects later calls', { skip: server.memory && 'the S3 constructor' }, async () => {
      const plain = new ImmuKVClient(config(server, b, { s3Prefix: 'ctor/' }))
      await plain.set('a', 1)
      const coded = new ImmuKVClient(
        config(server, b, { s3Prefix: 'ctor/' }),
        (j) => ({ wrapped: j }),
        (v) => v.wrapped,
      )
      assert.deepEqual((await coded.get('a')).value, { wrapped: 1 })
      await coded.set('b', { wrapped: 2 })
      assert.equal((await plain.get('b')).value, 2)
      await plain.close()
      const err = await rejection(plain.get('a'))
      assert.equal(err.code, 'CLIENT_CLOSED')
    })

    test('readOnly config: reads work, set rejects with ReadOnlyError and writes nothing', async () => {
      const w = client(server, b, { s3Prefix: 'ro/' })
      await w.set('a', 1)
      const before = server.memory ? w.stats().commits : await snapshot(server, b)
      const ro = client(server, b, { s3Prefix: 'ro/', readOnly: true })
      assert.equal((await ro.get('a')).value, 1)
      const err = await rejection(ro.set('a', 2))
      assert.ok(err instanceof ReadOnlyError)
      assert.equal(err.code, 'READ_ONLY')
      assert.equal(err.mayHaveCommitted, false)
      if (server.memory) assert.equal((await ro.logEntries()).length, 1)
      else assert.deepEqual(await snapshot(server, b), before)
    })

    test('a config is read once through getters and the prototype: an inherited readOnly is obeyed', async () => {
      const w = client(server, b, { s3Prefix: 'ro-inherited/' })
      await w.set('a', 1)
      const before = server.memory ? undefined : await snapshot(server, b)
      const ro = server.memory
        ? ImmuKVClient.inMemory(b, Object.create({ readOnly: true, s3Prefix: 'ro-inherited/' }))
        : new ImmuKVClient(Object.assign(Object.create({ readOnly: true }), config(server, b, { s3Prefix: 'ro-inherited/' })))
      const err = await rejection(ro.set('a', 2))
      assert.equal(err.code, 'READ_ONLY', err.message)
      if (server.memory) assert.equal((await w.logEntries()).length, 1)
      else assert.deepEqual(await snapshot(server, b), before)
    })

    test('a set refused before it is sent says mayHaveCommitted: false (aborted signal, closed client)', async () => {
      const c = client(server, b, { s3Prefix: 'refused/' })
      const ac = new AbortController()
      ac.abort(new Error('gave up'))
      const aborted = await rejection(c.set('a', 1, { signal: ac.signal }))
      assert.equal(aborted.code, 'ABORTED')
      assert.equal(aborted.mayHaveCommitted, false)
      await c.close()
      const closed = await rejection(c.set('a', 1))
      assert.equal(closed.code, 'CLIENT_CLOSED')
      assert.equal(closed.mayHaveCommitted, false)
      assert.equal(await client(server, b, { s3Prefix: 'refused/' }).digest(), undefined, 'nothing written')
    })

    test('verifyLog: an onProgress that throws stops the check and rejects the call, its error the cause', async () => {
      const c = client(server, b, { s3Prefix: 'progress/' })
      for (let i = 0; i < 3; i++) await c.set(`k${i}`, i)
      const bug = new Error('progress bar bug')
      let calls = 0
      const err = await rejection(
        c.verifyLog({
          onProgress: () => {
            calls++
            throw bug
          },
        }),
      )
      assert.ok(err instanceof ImmuKVError)
      assert.equal(err.code, 'INVALID_ARGUMENT', err.message)
      assert.equal(err.cause, bug)
      assert.match(err.message, /onProgress threw.*progress bar bug/)
      assert.equal(calls, 1, 'not called again once it threw')
      assert.equal((await c.verifyLog({ onProgress: () => {} })).ok, true, 'the client is still usable')
    })

    test('null limits mean no limit, as for history and logEntries: verifyLog, verifyLogChain, entries', async () => {
      const c = client(server, b, { s3Prefix: 'null-limits/' })
      for (let i = 0; i < 3; i++) await c.set(`k${i}`, i)
      const r = await c.verifyLog({ limit: null })
      assert.equal(r.ok, true)
      assert.equal(r.checked, 3)
      assert.equal(await c.verifyLogChain(null), true)
      const all = []
      for await (const e of c.entries(null)) all.push(e.sequence)
      assert.deepEqual(all, [2, 1, 0])
    })

    test('verifyLog report and digest', async () => {
      const c = client(server, b, { s3Prefix: 'report/' })
      assert.equal(await c.digest(), undefined)
      await c.set('a', 1)
      const d = await c.digest()
      await c.set('b', 2)
      const r = await c.verifyLog({ trusted: d })
      assert.equal(r.ok, true)
      assert.equal(r.checked, 2)
      assert.deepEqual(r.failures, [])
      assert.equal(r.head.sequence, 1)
    })
  })
}

describe('the in-memory store', () => {
  test('clients opened with the same name share one store; unnamed ones are private; dropInMemory starts anew', async () => {
    const name = `shared-${Date.now()}`
    const a = ImmuKVClient.inMemory(name)
    const b = ImmuKVClient.inMemory(name, { s3Prefix: '' })
    const first = await a.set('k', 1)
    assert.equal((await b.get('k')).value, 1)
    assert.equal((await b.set('k', 2)).previousHash, first.hash, 'one chain')
    const lonely = ImmuKVClient.inMemory()
    await rejection(lonely.get('k')).then((e) => assert.equal(e.code, 'KEY_NOT_FOUND'))
    assert.equal(ImmuKVClient.dropInMemory(name), true)
    const fresh = ImmuKVClient.inMemory(name)
    assert.equal(await fresh.digest(), undefined)
    assert.equal((await a.get('k')).value, 2, 'clients already open keep their store')
  })

  test('a stored value JavaScript cannot parse (a RangeError) is CORRUPT_ENTRY, its error the cause', async () => {
    const c = ImmuKVClient.inMemory()
    await c.set('k', { big: 'value' })
    // A value too large for the engine cannot be made here; JSON.parse failing on the stored text stands in for it.
    const parse = JSON.parse
    const tooBig = new RangeError('Invalid string length')
    JSON.parse = (text, ...rest) => {
      if (text === '{"big":"value"}') throw tooBig
      return parse(text, ...rest)
    }
    let err
    try {
      err = await rejection(c.get('k'))
    } finally {
      JSON.parse = parse
    }
    assert.ok(err instanceof ImmuKVError)
    assert.equal(err.code, 'CORRUPT_ENTRY')
    assert.match(err.message, /cannot be read by JavaScript: Invalid string length/)
    assert.equal(err.cause, tooBig)
  })

  test('same checks as S3: tampering through another client is caught; bad options refused', async () => {
    const c = ImmuKVClient.inMemory()
    for (let i = 0; i < 3; i++) await c.set(`k${i}`, i)
    assert.equal((await c.verifyLog()).ok, true)
    for (const bad of [{ listPageSize: 0 }, { s3Bucket: 'x' }, { readOnly: 'yes' }, 'opts']) {
      let err
      try {
        ImmuKVClient.inMemory('x', bad)
      } catch (e) {
        err = e
      }
      assert.equal(err?.code, 'INVALID_CONFIG', JSON.stringify(bad))
    }
  })
})
