// 20 writers x 10 sets, as 20 clients in one process and as 4 processes, on
// the servers with atomic conditional writes: SeaweedFS (which holds a losing
// PUT about a second) and LocalStack (which answers it at once, as AWS does).
// Zero failed sets, every acknowledged entry in the log exactly once,
// sequences contiguous, chain valid, every key object equal to its key's
// latest log entry.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { LOCALSTACK, SEAWEED, bucket, client } from './support/helpers.mjs'

const WRITER = fileURLToPath(new URL('./support/writer.mjs', import.meta.url))

function runWriter(opts) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [WRITER, JSON.stringify(opts)])
    let out = ''
    let err = ''
    p.stdout.on('data', (d) => (out += d))
    p.stderr.on('data', (d) => (err += d))
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`writer exit ${code}: ${err}`))))
  })
}

async function assertSound(server, b, prefix, acked, total) {
  const c = client(server, b, { s3Prefix: prefix })
  const log = await c.logEntries()
  assert.equal(log.length, total)
  assert.deepEqual(
    log.map((e) => e.sequence),
    [...Array(total).keys()].reverse(),
    'sequences contiguous',
  )
  const counts = new Map()
  for (const e of log) counts.set(e.hash, (counts.get(e.hash) || 0) + 1)
  for (const a of acked) assert.equal(counts.get(a.hash), 1, `acknowledged entry ${a.hash} exactly once`)
  const report = await c.verifyLog() // hashes, links, versions, and every key object
  assert.deepEqual(report.failures, [])
  assert.equal(report.checked, total)
}

for (const server of [SEAWEED, LOCALSTACK]) {
  describe(`contention on ${server.name}`, () => {
    for (const keys of [0, 5]) {
      test(`20 clients x 10 sets in one process (${keys ? 'shared keys' : 'a key per client'})`, async () => {
        const b = await bucket(server)
        const t0 = Date.now()
        const { acked, failed } = await import('./support/writer-inline.mjs').then((m) =>
          m.writeConcurrently({ endpoint: server.endpoint, bucket: b, clients: 20, sets: 10, keys }),
        )
        const secs = (Date.now() - t0) / 1000
        console.log(
          `# contention on ${server.name} in-process keys=${keys}: 200 sets in ${secs.toFixed(1)} s, ${(200 / secs).toFixed(1)} commits/s, ${failed.length} failed`,
        )
        assert.deepEqual(failed, [])
        assert.equal(acked.length, 200)
        await assertSound(server, b, '', acked, 200)
      })
    }

    test('4 processes x 5 clients x 10 sets', async () => {
      const b = await bucket(server)
      const t0 = Date.now()
      const results = await Promise.all([0, 1, 2, 3].map((p) => runWriter({ endpoint: server.endpoint, bucket: b, clients: 5, sets: 10, tag: `p${p}` })))
      const secs = (Date.now() - t0) / 1000
      const acked = results.flatMap((r) => r.acked)
      const failed = results.flatMap((r) => r.failed)
      console.log(`# contention on ${server.name} 4 processes: 200 sets in ${secs.toFixed(1)} s, ${(200 / secs).toFixed(1)} commits/s, ${failed.length} failed`)
      assert.deepEqual(failed, [])
      assert.equal(acked.length, 200)
      await assertSound(server, b, '', acked, 200)
    })
  })
}
