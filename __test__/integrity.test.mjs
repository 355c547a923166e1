// The integrity rules: nothing stored can mislead a reader or wedge a writer.
// Each case here was once a reproduced defect; each runs on both servers
// where the server matters.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { DeleteObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3'
import { SERVERS_WITH_LOCALSTACK, SEAWEED, bucket, client, forgeNext, putRaw, raw, rejection, snapshot, keyObject } from './support/helpers.mjs'
import { S3Proxy } from './support/proxy.mjs'

const nest = (depth) => {
  let v = []
  for (let i = 1; i < depth; i++) v = [v]
  return v
}

async function listVersions(server, Bucket, Prefix) {
  const r = await raw(server.endpoint).send(new ListObjectVersionsCommand({ Bucket, Prefix }))
  return { versions: r.Versions || [], markers: r.DeleteMarkers || [] }
}

for (const server of SERVERS_WITH_LOCALSTACK) {
  describe(`integrity on ${server.name}`, () => {
    test('a value 900 deep is stored and read by every client; 901 is refused before any request', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      const e = await c.set('deep', nest(900))
      const other = client(server, b) // another client reads and appends after it
      assert.equal((await other.get('deep')).hash, e.hash)
      await other.set('after', 1)
      assert.equal((await other.logEntries()).length, 2)
      assert.deepEqual((await other.verifyLog()).failures, [])
      const before = await snapshot(server, b)
      for (const depth of [901, 5000]) {
        const err = await rejection(c.set('deeper', nest(depth)))
        assert.equal(err.code, 'INVALID_VALUE', `depth ${depth}`)
      }
      const objects = []
      let o = objects
      for (let i = 0; i < 950; i++) o = o[0] = [] // objects and arrays alike count
      assert.equal((await rejection(c.set('deeper', { a: objects }))).code, 'INVALID_VALUE')
      assert.deepEqual(await snapshot(server, b), before, 'nothing written')
    })

    test('a plain DeleteObject of the log: set refuses to start a new chain, says how to recover, writes nothing', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      await c.set('a', 1)
      const head = await c.set('a', 2)
      await putRaw(server, b, '_log.json.bak', 'a sibling that sorts after the log') // some servers list it first
      await raw(server.endpoint).send(new DeleteObjectCommand({ Bucket: b, Key: '_log.json' })) // aws s3 rm
      const before = await snapshot(server, b)
      for (const writer of [c, client(server, b)]) {
        const err = await rejection(writer.set('b', 3))
        assert.equal(err.code, 'LOG_DELETED')
        assert.equal(err.mayHaveCommitted, false)
        assert.match(err.message, /delete marker/)
        assert.match(err.message, /delete-object --bucket \S+ --key _log\.json --version-id \S+/)
      }
      assert.deepEqual(await snapshot(server, b), before, 'nothing written')
      // Recovery as the message says: delete the marker; the chain goes on.
      const { markers } = await listVersions(server, b, '_log.json')
      await raw(server.endpoint).send(new DeleteObjectCommand({ Bucket: b, Key: '_log.json', VersionId: markers[0].VersionId }))
      const next = await client(server, b).set('b', 3)
      assert.equal(next.sequence, 2)
      assert.equal(next.previousHash, head.hash)
      assert.deepEqual((await c.verifyLog()).failures, [])
    })

    test('read-your-writes: a key object PUT that fails after the log append', async () => {
      const proxy = await new S3Proxy(server.endpoint).start()
      try {
        const b = await bucket(server)
        const c = client({ endpoint: proxy.endpoint }, b, { repairCheckIntervalMs: 3_600_000, requestTimeoutMs: 2000 })
        await c.set('k', 'old')
        await c.get('k') // the hourly repair check is used up now
        // One 503 per attempt of the key-object PUT: set resolves (the entry
        // is in the log), the key object is behind.
        proxy.inject({ op: 'PUT', target: 'key', action: 503, times: 4 })
        const e = await c.set('k', 'new')
        assert.equal((await keyObject(server, b, 'keys/k.json')).value, 'old', 'the key object is behind')
        // While the key object keeps failing, the writer serves its own write.
        proxy.inject({ op: 'PUT', target: 'key', action: 503, times: 1000, pathContains: 'keys/k.json' })
        assert.equal((await c.get('k')).hash, e.hash, 'the writer reads its own write')
        const [h] = await c.history('k')
        assert.deepEqual(
          h.map((x) => x.value),
          ['new', 'old'],
        )
        proxy.clearFaults()
        // The next read repairs what it served.
        assert.equal((await c.get('k')).hash, e.hash)
        assert.equal((await keyObject(server, b, 'keys/k.json')).hash, e.hash)
        // A new key whose key object failed: listed and read by its writer.
        proxy.inject({ op: 'PUT', target: 'key', action: 503, times: 1000, pathContains: 'keys/fresh.json' })
        const fresh = await c.set('fresh', 'only in the log')
        assert.equal(await keyObject(server, b, 'keys/fresh.json'), undefined)
        assert.equal((await c.get('fresh')).hash, fresh.hash)
        assert.ok((await c.listKeys()).includes('fresh'))
        proxy.clearFaults()
        await c.set('z', 1) // repairs the head first
        assert.equal((await keyObject(server, b, 'keys/fresh.json')).hash, fresh.hash)
        assert.deepEqual((await c.verifyLog()).failures, [])
      } finally {
        await proxy.stop()
      }
    })

    test('forged key objects: plain get checks hash and key, get({ verify }) and verifyLog catch the rest', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      const a1 = await c.set('a', 1)
      await c.set('a', 2)
      // A self-consistent key object for a key never set, naming a log version that does not exist.
      const ghost = await forgeNext(a1, 'ghost', 'forged')
      const ghostBody = JSON.stringify({ ...JSON.parse(ghost.body), log_version_id: 'not-a-log-version' })
      await putRaw(server, b, 'keys/ghost.json', sortedJson(ghostBody))
      assert.equal((await c.get('ghost')).value, 'forged', 'a plain get cannot tell: its hash holds')
      const v = await rejection(c.get('ghost', { verify: true }))
      assert.equal(v.code, 'CORRUPT_ENTRY')
      assert.match(v.message, /not in the log/)
      // An older key-object version replaced by a forged one (the latest stays right).
      const r = await c.verifyLog()
      assert.ok(
        r.failures.some((f) => f.kind === 'key_object_forged' && f.path === 'keys/ghost.json'),
        JSON.stringify(r.failures),
      )
      const ok = await c.get('a', { verify: true })
      assert.equal(ok.value, 2)
      const d = await c.digest()
      assert.equal((await c.get('a', { trusted: d })).value, 2)
      const later = await c.set('b', 3)
      assert.equal((await c.get('b', { trusted: d })).hash, later.hash, 'a later entry links back to the trusted digest')
    })

    test("a key object holding another key's entry is refused by every read", async () => {
      const b = await bucket(server)
      const c = client(server, b)
      await c.set('x', 'one')
      const body = JSON.stringify(await keyObject(server, b, 'keys/x.json'))
      await putRaw(server, b, 'keys/y.json', body)
      for (const p of [() => c.get('y'), () => c.history('y')]) {
        const err = await rejection(p())
        assert.equal(err.code, 'CORRUPT_ENTRY')
        assert.match(err.message, /holds key "x", not "y"/)
      }
    })

    test('keys some servers cannot store, or store as another key, are refused up front', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      await c.set('x', 'one')
      const before = await snapshot(server, b)
      for (const key of [
        '\\x',
        'a\\b',
        '..\\x',
        'k'.repeat(242),
        'ü'.repeat(121),
        `${'d'.repeat(256)}/x`,
        'a\uFFFE',
        'a\uFFFF',
        'a\uFDD0',
        'a\u{10FFFF}',
        'x.json.versions/y',
      ]) {
        const err = await rejection(c.set(key, 'two'))
        assert.equal(err.code, 'INVALID_KEY', JSON.stringify(key))
      }
      assert.deepEqual(await snapshot(server, b), before, 'nothing written')
      assert.equal((await c.get('x')).value, 'one')
      // The longest accepted names work on this server.
      for (const key of ['k'.repeat(241), `${'d'.repeat(255)}/x`]) {
        await c.set(key, 1)
        assert.equal((await c.get(key)).value, 1)
      }
    })

    test('listing beside longer siblings: report and report.json, _log.json.bak', async () => {
      const b = await bucket(server)
      const c = client(server, b, { listPageSize: 1 })
      await c.set('report', 1)
      await c.set('report.json', 2)
      await c.set('report', 3)
      await putRaw(server, b, '_log.json.json', 'not the log')
      await putRaw(server, b, '_log.json.bak', 'not the log')
      await putRaw(server, b, 'keys/report.json.bak', 'not a key object')
      const [h, cursor] = await c.history('report', undefined, 1)
      assert.deepEqual(
        h.map((e) => e.value),
        [3],
      )
      const [h2] = await c.history('report', cursor, 1)
      assert.deepEqual(
        h2.map((e) => e.value),
        [1],
      )
      assert.equal((await c.logEntries(undefined, 3)).length, 3)
      const all = []
      for await (const e of c.entries(2)) all.push(e.sequence)
      assert.deepEqual(all, [2, 1, 0])
      assert.equal(await c.verifyLogChain(3), true)
      assert.deepEqual((await c.verifyLog()).failures, [])
    })

    test('verifyLog repairs nothing, even on a writing client', async () => {
      const b = await bucket(server)
      const w = client(server, b)
      await w.set('k', 'old')
      const { writeOrphan } = await import('./support/helpers.mjs')
      await writeOrphan(server, b, '', w, 'k', 'new')
      const before = await snapshot(server, b)
      const r = await client(server, b).verifyLog()
      assert.deepEqual(r.failures, [], 'an orphan head is the protocol working')
      assert.deepEqual(await snapshot(server, b), before, 'nothing written')
    })

    test('history pages over an orphan head served to a read-only client', async () => {
      const b = await bucket(server)
      const w = client(server, b)
      await w.set('k', 'old')
      const { writeOrphan } = await import('./support/helpers.mjs')
      const orphan = await writeOrphan(server, b, '', w, 'k', 'new')
      const ro = client(server, b, { readOnly: true })
      const [p1, cursor] = await ro.history('k', undefined, 1)
      assert.deepEqual(
        p1.map((e) => e.hash),
        [orphan.hash],
      )
      assert.ok(cursor, 'a cursor after the entry served from the log')
      const [p2, cursor2] = await ro.history('k', cursor, 1)
      assert.deepEqual(
        p2.map((e) => e.value),
        ['old'],
      )
      const [p3] = await ro.history('k', cursor2, 1)
      assert.deepEqual(p3, [])
    })

    test('a beforeVersionId of another object is refused', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      await c.set('a', 1)
      await c.set('a', 2)
      const [log] = await c.logEntries(undefined, 1)
      const [, keyCursor] = await c.history('a', undefined, 1)
      assert.equal((await rejection(c.history('a', log.versionId))).code, 'INVALID_ARGUMENT', 'a log version as a key cursor')
      assert.equal((await rejection(c.logEntries(keyCursor))).code, 'INVALID_ARGUMENT', 'a key-object version as a log cursor')
      assert.equal((await rejection(c.history('a', 'log:not-a-version'))).code, 'INVALID_ARGUMENT', 'a made-up log cursor')
    })

    test('a throwing decoder: set still resolves (it committed); reads reject with DECODER_ERROR and the cause', async () => {
      const b = await bucket(server)
      const boom = new Error('bad shape')
      const c = client(server, b, {}, () => {
        throw boom
      })
      const e = await c.set('k', { x: 1 })
      assert.deepEqual(e.value, { x: 1 }, 'the value it was given')
      const err = await rejection(c.get('k'))
      assert.equal(err.code, 'DECODER_ERROR')
      assert.equal(err.cause, boom)
      assert.equal((await client(server, b).get('k')).hash, e.hash, 'committed')
    })

    test('close: calls in flight finish, later ones are refused, forks close with their parent', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      const fork = c.withCodec(
        (j) => j,
        (v) => v,
      )
      const sets = [c.set('a', 1), c.set('b', 2), fork.set('c', 3)]
      const closed = c.close()
      const done = await Promise.allSettled(sets)
      assert.deepEqual(
        done.map((d) => d.status),
        ['fulfilled', 'fulfilled', 'fulfilled'],
        'started before close: finished',
      )
      await closed
      assert.equal((await rejection(c.get('a'))).code, 'CLIENT_CLOSED')
      assert.equal((await rejection(fork.get('a'))).code, 'CLIENT_CLOSED', 'the fork closed with its parent')
      const p = client(server, b)
      const f = p.withCodec(
        (j) => j,
        (v) => v,
      )
      await f.close()
      assert.equal((await p.get('a')).value, 1, 'closing a fork leaves the parent open')
      assert.equal((await rejection(f.get('a'))).code, 'CLIENT_CLOSED')
    })
  })
}

/** JSON with keys sorted, as the JS dialect writes simple ASCII objects. */
function sortedJson(text) {
  const o = JSON.parse(text)
  return JSON.stringify(
    Object.fromEntries(
      Object.keys(o)
        .sort()
        .map((k) => [k, o[k]]),
    ),
  )
}

describe('an unwritable head does not wedge the writers (SeaweedFS)', () => {
  test('a log head whose key SeaweedFS cannot store (written by an older client) is reported and passed over', async () => {
    const server = SEAWEED
    const b = await bucket(server)
    const c = client(server, b)
    const head = await c.set('a', 1)
    const forged = await forgeNext(head, 'k'.repeat(242), 'too long a name')
    await putRaw(server, b, '_log.json', forged.body)
    const first = client(server, b)
    const e = await first.set('b', 2)
    assert.equal(e.previousHash, forged.hash, 'appended after it')
    assert.equal(first.stats().repairsFailed, 1, 'the repair it could not do is counted')
    const second = client(server, b)
    assert.equal((await second.set('c', 3)).sequence, 3)
    assert.equal(second.stats().repairsFailed, 0)
    assert.equal((await c.logEntries()).length, 4, 'the log keeps growing')
  })
})

describe('a wrong endpoint does not look like an empty store', () => {
  test('a plain HTTP server answering 404 to everything: STORAGE_ERROR that says so, for get and digest', async () => {
    const srv = http.createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<html>Not Found</html>'))
    await new Promise((r) => srv.listen(0, '127.0.0.1', r))
    try {
      const c = client({ endpoint: `http://127.0.0.1:${srv.address().port}` }, 'b')
      for (const p of [() => c.get('a'), () => c.digest(), () => c.history('a')]) {
        const err = await rejection(p())
        assert.equal(err.code, 'STORAGE_ERROR')
        assert.match(err.message, /does not look like an S3 server/)
      }
    } finally {
      srv.close()
    }
  })
})

describe('operationTimeoutMs bounds every call', () => {
  test('get and set against a server that never answers', async () => {
    const sockets = []
    const silent = http.createServer(() => {})
    silent.on('connection', (s) => sockets.push(s))
    await new Promise((r) => silent.listen(0, '127.0.0.1', r))
    try {
      const c = client({ endpoint: `http://127.0.0.1:${silent.address().port}` }, 'b', { operationTimeoutMs: 1500 })
      for (const [what, p] of [
        ['get', () => c.get('a')],
        ['set', () => c.set('a', 1)],
      ]) {
        const t0 = Date.now()
        const err = await rejection(p())
        const took = Date.now() - t0
        assert.equal(err.code, 'STORAGE_ERROR', what)
        assert.ok(took >= 1400 && took < 2500, `${what} took ${took} ms`)
      }
    } finally {
      for (const s of sockets) s.destroy()
      silent.close()
    }
  })
})
