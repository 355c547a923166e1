// Buckets written by the earlier clients: every vector's stored objects read
// and verified through the JS API (both dialects), and a log that mixes a
// Python writer's entries (made by Python's own json module) with ours,
// verified, read and appended to.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { HeadObjectCommand } from '@aws-sdk/client-s3'
import { SERVERS, bucket, client, putRaw, raw } from './support/helpers.mjs'

const VECTORS = new URL('../core/tests/data/canonical-v1.json', import.meta.url)
const vectors = JSON.parse(readFileSync(VECTORS, 'utf8')).vectors

/** A log object as the Python writer stores it, made by Python's json module. */
function pythonLogObject(fields) {
  const script = `
import hashlib, json, sys
d = json.loads(sys.stdin.read())
value = json.loads(d["value_json"])
dump = lambda o: json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
h = {"key": d["key"], "previous_hash": d["previous_hash"], "sequence": d["sequence"], "timestamp_ms": d["timestamp_ms"], "value": value}
obj = dict(h, hash="sha256:" + hashlib.sha256(dump(h).encode()).hexdigest())
for k in ("previous_version_id", "previous_key_object_etag"):
    if d.get(k): obj[k] = d[k]
if value is None: del obj["value"]
sys.stdout.write(dump(obj))
`
  return execFileSync('python3', ['-c', script], { input: JSON.stringify(fields) }).toString()
}

for (const server of SERVERS) {
  describe(`interop on ${server.name}`, () => {
    test('every vector, both dialects, read and verified through the API', async () => {
      const b = await bucket(server)
      for (const v of vectors) {
        for (const side of ['js', 'python']) {
          // Each under a prefix of its own, at its key's path.
          const prefix = `${side}-${v.name}/`
          const c = client(server, b, { s3Prefix: prefix })
          await putRaw(server, b, `${prefix}keys/${v.entry.key}.json`, v[side].key_object)
          const e = await c.get(v.entry.key)
          assert.equal(e.hash, v[side].hash, `${prefix}`)
          assert.equal(e.key, v.entry.key)
          assert.equal(c.verify(e), true, `${prefix} verifies`)
          assert.equal(c.verify({ ...e, timestampMs: e.timestampMs + 1 }), false, `${prefix} altered fails`)
        }
      }
    })

    test('a value 950 deep written by Python is read, appended after and verified', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      const first = await c.set('before', 1)
      const depth = 950 // deeper than this client writes (900); Python's json gives up near 1000
      const py = pythonLogObject({
        key: 'py-deep',
        value_json: `${'['.repeat(depth)}1${']'.repeat(depth)}`,
        sequence: 1,
        timestamp_ms: 1700000000123,
        previous_hash: first.hash,
        previous_version_id: first.versionId,
        previous_key_object_etag: null,
      })
      await putRaw(server, b, '_log.json', py)
      const after = await c.set('after', 2)
      assert.equal(after.sequence, 2)
      const e = await c.get('py-deep')
      assert.equal(e.previousHash, first.hash)
      assert.equal(c.verify(e), true)
      let v = e.value
      let levels = 0
      while (Array.isArray(v)) {
        v = v[0]
        levels++
      }
      assert.equal(levels, depth)
      assert.deepEqual((await c.verifyLog()).failures, [])
    })

    test('a log mixing Python-written and our entries verifies, reads and takes appends', async () => {
      const b = await bucket(server)
      const genesis = vectors.find((v) => v.name === 'genesis-object')
      // The Python writer's first entry, byte for byte from the vectors.
      const p0 = await putRaw(server, b, '_log.json', genesis.python.log_object)
      await putRaw(server, b, `keys/${genesis.entry.key}.json`, genesis.python.key_object.replace(genesis.entry.log_version_id, p0.VersionId))
      const c = client(server, b)
      // Ours, on top of theirs.
      const ours = await c.set('cal/7', { gain: 1.5 })
      assert.equal(ours.sequence, 1)
      assert.equal(ours.previousHash, genesis.python.hash)
      // Python again, on top of ours: floats with .0, a big int, DEL, astral keys.
      const etag = (await raw(server.endpoint).send(new HeadObjectCommand({ Bucket: b, Key: 'keys/cal/7.json' }))).ETag
      const valueJson =
        '{"gain":2.0,"offsets":[1.0,2.50,1e16,1e-7],"serial":123456789012345678901234567890,"note":"a\\u007fb","\\uff21":1,"\\ud83d\\ude00":2,"z":3}'
      const py = pythonLogObject({
        key: 'cal/7',
        value_json: valueJson,
        sequence: 2,
        timestamp_ms: 1700000000123,
        previous_hash: ours.hash,
        previous_version_id: ours.versionId,
        previous_key_object_etag: etag,
      })
      assert.match(py, /"gain":2\.0/, 'Python kept its number text')
      const p2 = await putRaw(server, b, '_log.json', py)
      // No key object yet: the next write repairs it in the Python dialect.
      const next = await c.set('cal/8', null)
      assert.equal(next.sequence, 3)
      const stored = await c.get('cal/7')
      assert.equal(stored.versionId, p2.VersionId)
      assert.equal(stored.value.gain, 2)
      assert.equal(c.verify(stored), true, 'a Python entry verifies through the JS API')
      const [, , , first] = await c.logEntries()
      assert.equal(first.hash, genesis.python.hash)
      assert.equal(c.verify(first), true)
      const report = await c.verifyLog()
      assert.deepEqual(report.failures, [])
      assert.equal(report.checked, 4)
      assert.equal(await c.verifyLogChain(), true)
      const appended = await c.set('cal/7', { gain: 3 })
      assert.equal(appended.previousHash, (await c.logEntries(undefined, 2))[1].hash)
      const [h] = await c.history('cal/7')
      assert.deepEqual(
        h.map((e) => e.sequence),
        [4, 2, 1],
      )
      assert.equal(await c.verifyLogChain(), true)
    })
  })
}
