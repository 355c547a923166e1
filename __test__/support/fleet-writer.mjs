// A writer process of this package for the mixed-fleet test: the sets given,
// one after another, each printed as a JSON line as soon as it is
// acknowledged ({"i", "key", "sequence", "hash", "versionId", and "repairs":
// the orphan heads this client repaired so far}; a failure as {"i",
// "error", "code"}). Writes to a pipe are synchronous on Linux, so a
// process killed with SIGKILL has printed exactly the sets it saw
// acknowledged: the same contract as pyimmukv.py.
//   node fleet-writer.mjs < '{"endpoint", "bucket", "prefix", "sets": [[key, valueJson], ...]}'
// (the arguments as JSON on stdin: a long list of sets does not fit in argv)
import { text } from 'node:stream/consumers'
import { ADMIN, ImmuKVClient } from './helpers.mjs'

const { endpoint, bucket, prefix = '', sets } = JSON.parse(await text(process.stdin))
const client = new ImmuKVClient({ s3Bucket: bucket, s3Region: 'us-east-1', s3Prefix: prefix, overrides: { endpointUrl: endpoint, credentials: ADMIN } })
for (const [i, [key, valueJson]] of sets.entries()) {
  try {
    const e = await client.set(key, JSON.parse(valueJson))
    const repairs = client.stats().repairs
    process.stdout.write(`${JSON.stringify({ i, key, sequence: e.sequence, hash: e.hash, versionId: e.versionId, repairs })}\n`)
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ i, key, error: err.message, code: err.code })}\n`)
  }
}
await client.close()
