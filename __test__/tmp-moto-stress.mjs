import { bucket, client, MOTO } from './support/helpers.mjs'
import { writeConcurrently } from './support/writer-inline.mjs'
for (let round = 0; round < 3; round++) {
  const b = await bucket(MOTO)
  const r = await writeConcurrently({ endpoint: MOTO.endpoint, bucket: b, clients: 12, sets: 25, keys: 5 })
  const c = client(MOTO, b)
  const log = await c.logEntries()
  const rep = await c.verifyLog()
  const hashes = new Set(log.map((e) => e.hash))
  const lost = r.acked.filter((a) => !hashes.has(a.hash))
  console.log(b, 'acked', r.acked.length, 'failed', r.failed.length, 'log', log.length, 'lost acks', lost.length, 'failures', rep.failures.map((f) => f.kind + ': ' + f.detail).slice(0, 3))
}
