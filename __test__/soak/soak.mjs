// Soak: many writers with faults injected, then the same checks as the
// contention test. Not part of `npm test`; run with
//   npm run test:soak -- [--writers 50] [--sets 40] [--fault-rate 0.05]
// Prints its figures; exits non-zero on any lost, duplicated or failed write.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { S3Proxy } from '../support/proxy.mjs'
import { SEAWEED, bucket, client } from '../support/helpers.mjs'
import { writeConcurrently } from '../support/writer-inline.mjs'

const args = process.argv.slice(2)
const arg = (n, d) => (args.includes(`--${n}`) ? Number(args[args.indexOf(`--${n}`) + 1]) : d)
const writers = arg('writers', 50)
const sets = arg('sets', 40)
const rate = arg('fault-rate', 0.05)
const root = fileURLToPath(new URL('../..', import.meta.url))
execFileSync('bash', [`${root}/scripts/s3.sh`, 'start', 'weed'], { stdio: 'inherit' })

const proxy = await new S3Proxy(SEAWEED.endpoint).start()
const forever = 1e9
proxy.inject({ op: 'PUT', target: 'log', action: 500, when: 'after', times: forever, probability: rate })
proxy.inject({ op: 'PUT', target: 'log', action: 'reset', when: 'before', times: forever, probability: rate / 2 })
proxy.inject({ op: 'PUT', target: 'key', action: 503, when: 'before', times: forever, probability: rate })
proxy.inject({ op: 'GET', action: 503, when: 'before', times: forever, probability: rate })
proxy.inject({ op: 'HEAD', action: 'reset', when: 'before', times: forever, probability: rate / 2 })

const b = await bucket(SEAWEED)
const t0 = Date.now()
const { acked, failed } = await writeConcurrently({ endpoint: proxy.endpoint, bucket: b, clients: writers, sets, operationTimeoutMs: 120000 })
const secs = (Date.now() - t0) / 1000
const faults = proxy.hits()
const requests = proxy.requests.length
await proxy.stop()

const c = client(SEAWEED, b)
const log = await c.logEntries()
const counts = new Map()
for (const e of log) counts.set(e.hash, (counts.get(e.hash) || 0) + 1)
const duplicates = [...counts.values()].filter((n) => n > 1).length
const missing = acked.filter((a) => counts.get(a.hash) !== 1).length
const contiguous = log.every((e, i) => e.sequence === log.length - 1 - i)
const report = await c.verifyLog()
const figures = {
  writers,
  setsPerWriter: sets,
  faultRate: rate,
  seconds: +secs.toFixed(1),
  commitsPerSec: +(acked.length / secs).toFixed(1),
  acknowledged: acked.length,
  failed: failed.length,
  failedCodes: [...new Set(failed.map((f) => f.code))],
  logEntries: log.length,
  unacknowledgedInLog: log.length - acked.length,
  duplicates,
  missing,
  contiguous,
  verifyOk: report.ok,
  verifyFailures: report.failures.length,
  faultsInjected: faults,
  requests,
}
console.log(JSON.stringify(figures, null, 2))
const bad = failed.length || duplicates || missing || !contiguous || !report.ok || log.length !== acked.length
process.exit(bad ? 1 : 0)
