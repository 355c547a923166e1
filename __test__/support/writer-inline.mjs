// N clients, each doing M sets (one after another, or all at once with
// `concurrent`); what was acknowledged and what failed. Used in-process by the
// contention tests and by writer.mjs.
import { ImmuKVClient, ADMIN } from './helpers.mjs'

// `ackLines`: also print each acknowledged set at once, as a line `ACK {...}`
// (a test that kills the process learns what was acknowledged before).
export async function writeConcurrently({
  endpoint,
  bucket,
  prefix = '',
  clients = 1,
  sets = 1,
  tag = 'w',
  keys = 0,
  concurrent = false,
  ackLines = false,
  ...extra
}) {
  const acked = []
  const failed = []
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const client = new ImmuKVClient({
        s3Bucket: bucket,
        s3Region: 'us-east-1',
        s3Prefix: prefix,
        ...extra,
        overrides: { endpointUrl: endpoint, credentials: ADMIN },
      })
      const one = async (i) => {
        const key = keys ? `k${(c * sets + i) % keys}` : `${tag}-c${c}`
        try {
          const e = await client.set(key, { tag, c, i })
          acked.push({ hash: e.hash, sequence: e.sequence, key, i })
          if (ackLines) process.stdout.write(`ACK ${JSON.stringify({ hash: e.hash, sequence: e.sequence, key, i })}\n`)
          else if (concurrent) process.stdout.write?.('')
        } catch (err) {
          failed.push({ code: err.code, message: err.message, mayHaveCommitted: err.mayHaveCommitted, i })
        }
      }
      if (concurrent) await Promise.all(Array.from({ length: sets }, (_, i) => one(i)))
      else for (let i = 0; i < sets; i++) await one(i)
    }),
  )
  return { acked, failed }
}
