// Buckets written by the earlier clients: every vector's stored objects read
// and verified through the JS API (both dialects), and a log that mixes a
// Python writer's entries (made by Python's own json module) with ours,
// verified, read and appended to. Mixed fleets: the earlier Python client
// itself (PyPI immukv 0.1.30) writing, repairing and reading alongside this
// package, its NaN and Infinity included, and the earlier TypeScript
// client's repairs (emulated: support/fleet.mjs).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { HeadObjectCommand } from '@aws-sdk/client-s3'
import { SAMPLES, getText, orphanize, python, pythonSet, typescriptRepair, valueText } from './support/fleet.mjs'
import { ADMIN, SERVERS, bucket, client, putRaw, raw, rejection, snapshot } from './support/helpers.mjs'

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

    test("the earlier Python client's NaN, Infinity and -Infinity are read, verified, repaired and appended after", async () => {
      const b = await bucket(server)
      const mixedJson = '{"a":[Infinity,-Infinity,1.5],"n":{"deep":[[NaN]]},"s":"NaN"}'
      const mixed = { a: [Infinity, -Infinity, 1.5], n: { deep: [[NaN]] }, s: 'NaN' }
      // Python's first two entries: the head holds NaN.
      await pythonSet(server, b, '', [
        ['py/nan', 'NaN'],
        ['py/mixed', mixedJson],
      ])
      const c = client(server, b)
      const d = await c.digest()
      assert.equal(d.sequence, 1)
      const ours = await c.set('ours', { gain: 1e-5 })
      assert.equal(ours.sequence, 2)
      assert.equal(ours.previousHash, d.hash, 'appended after the NaN head')
      // Python appends past ours; then its last entry is left an orphan (its
      // key-object write lost), and this package repairs it before appending.
      await pythonSet(server, b, '', [
        ['py/inf', 'Infinity'],
        ['py/orphan', '[NaN, -Infinity]'],
      ])
      await orphanize(server, b, '', 'py/orphan')
      const after = await client(server, b).set('after', 2)
      assert.equal(after.sequence, 5)
      const repaired = await getText(server, b, 'keys/py/orphan.json')
      assert.equal(valueText(repaired.text), '[NaN,-Infinity]', "repaired in the entry's own (Python) dialect")
      const orphan = (await c.logEntries(undefined, 2))[1]
      assert.equal(valueText(repaired.text), valueText((await getText(server, b, '_log.json', orphan.versionId)).text))
      // JavaScript readers get NaN, Infinity and -Infinity numbers.
      const r = client(server, b)
      const nan = await r.get('py/nan')
      assert.ok(Number.isNaN(nan.value))
      assert.equal(r.verify(nan), true)
      assert.equal(r.verify({ ...nan, value: Infinity }), false)
      const m = await r.get('py/mixed', { verify: true })
      assert.deepEqual(m.value, mixed)
      assert.equal(r.verify(m), true)
      assert.deepEqual((await r.get('py/orphan', { trusted: d })).value, [NaN, -Infinity])
      assert.equal((await r.get('py/inf')).value, Infinity)
      const [h] = await r.history('py/orphan')
      assert.deepEqual(
        h.map((e) => e.value),
        [[NaN, -Infinity]],
      )
      const log = await r.logEntries()
      assert.deepEqual(
        log.map((e) => e.value),
        [2, [NaN, -Infinity], Infinity, { gain: 1e-5 }, mixed, NaN],
      )
      assert.deepEqual((await r.getLogVersion(log[4].versionId)).value, mixed)
      // A decoder sees the numbers too.
      const typed = r.withCodec(
        (v) => ({ isNaN: Number.isNaN(v) }),
        (x) => x,
      )
      assert.deepEqual((await typed.get('py/nan')).value, { isNaN: true })
      const report = await r.verifyLog()
      assert.deepEqual(report.failures, [])
      assert.equal(report.checked, 6)
      // The CLI prints them as the log holds them (null would misstate them),
      // strings untouched, with or without --json.
      const cli = (args) =>
        execFileSync(process.execPath, [fileURLToPath(new URL('../dist/cli.js', import.meta.url)), ...args], {
          encoding: 'utf8',
          env: {
            PATH: process.env.PATH,
            HOME: tmpdir(),
            IMMUKV_BUCKET: b,
            AWS_ACCESS_KEY_ID: ADMIN.accessKeyId,
            AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
            AWS_REGION: 'us-east-1',
            AWS_ENDPOINT_URL: server.endpoint,
            AWS_EC2_METADATA_DISABLED: 'true',
          },
        })
      assert.match(cli(['get', 'py/mixed']), /^value +\{"a":\[Infinity,-Infinity,1\.5\],"n":\{"deep":\[\[NaN\]\]\},"s":"NaN"\}$/m)
      const doc = cli(['get', 'py/mixed', '--json'])
      assert.match(doc, /"a": \[\n +Infinity,\n +-Infinity,\n +1\.5\n +\]/)
      assert.match(doc, /"deep": \[\n +\[\n +NaN\n/)
      assert.match(doc, /"s": "NaN"/)
      assert.match(cli(['log', '--limit', '6']), /py\/orphan = \[NaN,-Infinity\]/)
      // And the Python client reads what this package repaired and wrote.
      const back = await python(server, b, '', { op: 'get', keys: ['py/orphan', 'py/mixed', 'ours'] })
      assert.deepEqual(
        back.map((l) => l.valueJson),
        ['[NaN, -Infinity]', '{"a": [Infinity, -Infinity, 1.5], "n": {"deep": [[NaN]]}, "s": "NaN"}', '{"gain": 1e-05}'],
      )
      // set still refuses non-finite numbers, with nothing written.
      const before = await snapshot(server, b)
      for (const bad of [NaN, Infinity, { a: [-Infinity] }]) {
        const err = await rejection(c.set('x', bad))
        assert.equal(err.code, 'INVALID_VALUE')
        assert.equal(err.mayHaveCommitted, false)
      }
      assert.deepEqual(await snapshot(server, b), before)
    })

    // Keys of SAMPLES, written by `writer`, read back through this package:
    // plain, verified and from history, with values equal by meaning, and the
    // audit clean.
    async function readBack(b, keys) {
      const c = client(server, b)
      for (const [name, key] of keys) {
        const value = JSON.parse(SAMPLES[name])
        const e = await c.get(key)
        assert.deepEqual(e.value, value, key)
        assert.equal(c.verify(e), true, `${key} verifies`)
        const v = await c.get(key, { verify: true })
        assert.deepEqual(v.value, value, `${key} verified get`)
        const [h] = await c.history(key)
        assert.equal(h.length, 1)
        assert.deepEqual(h[0].value, value, `${key} history`)
      }
      const report = await c.verifyLog()
      assert.deepEqual(report.failures, [])
      return c
    }

    test('the earlier Python client repairs our entries: its key objects (1e-05 for 0.00001) read, verify and pass the audit', async () => {
      const b = await bucket(server)
      const ours = client(server, b)
      const keys = []
      for (const name of Object.keys(SAMPLES)) {
        const key = `js/${name}`
        await ours.set(key, JSON.parse(SAMPLES[name]))
        await orphanize(server, b, '', key) // our writer died between its two PUTs
        const [read] = await python(server, b, '', { op: 'get', keys: [key] }) // its first read repairs the head
        assert.deepEqual(JSON.parse(read.valueJson), JSON.parse(SAMPLES[name]), `${key} as Python reads it`)
        keys.push([name, key])
      }
      const floats = valueText((await getText(server, b, 'keys/js/floats.json')).text)
      assert.match(floats, /"small":1e-05/, "the key object is in Python's form")
      assert.notEqual(valueText((await getText(server, b, '_log.json', (await ours.logEntries(undefined, 5))[4].versionId)).text), floats)
      await readBack(b, keys)
    })

    test("this package repairs the earlier Python client's entries in its form, which both clients read back", async () => {
      const b = await bucket(server)
      const keys = []
      for (const name of Object.keys(SAMPLES)) {
        const key = `py/${name}`
        await pythonSet(server, b, '', [[key, SAMPLES[name]]])
        await orphanize(server, b, '', key)
        await client(server, b).get(key) // a reader's first read repairs the head
        const [head] = await client(server, b).logEntries(undefined, 1)
        const logged = (await getText(server, b, '_log.json', head.versionId)).text
        assert.equal(valueText((await getText(server, b, `keys/${key}.json`)).text), valueText(logged), `${key}: Python's number text kept`)
        keys.push([name, key])
      }
      await readBack(b, keys)
      const back = await python(server, b, '', { op: 'get', keys: keys.map(([, k]) => k) })
      for (const [i, [name]] of keys.entries()) assert.deepEqual(JSON.parse(back[i].valueJson), JSON.parse(SAMPLES[name]), name)
    })

    test("the earlier TypeScript client's repairs, of Python's entries and of ours, read, verify and pass the audit", async () => {
      const b = await bucket(server)
      const ours = client(server, b)
      const keys = []
      for (const name of Object.keys(SAMPLES)) {
        await pythonSet(server, b, '', [[`py/${name}`, SAMPLES[name]]])
        await orphanize(server, b, '', `py/${name}`)
        const body = await typescriptRepair(server, b, '')
        if (name === 'floats') assert.match(body, /"one":1,/, "JS number text for Python's 1.0")
        await ours.set(`js/${name}`, JSON.parse(SAMPLES[name]))
        await orphanize(server, b, '', `js/${name}`)
        await typescriptRepair(server, b, '')
        keys.push([name, `py/${name}`], [name, `js/${name}`])
      }
      await readBack(b, keys)
    })
  })
}
