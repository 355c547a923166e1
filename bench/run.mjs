// ImmuKV benchmark: operations per second, p50/p99 latency and S3 requests
// per operation (counted at a loopback proxy that also adds latency), per
// scenario, against the project's local SeaweedFS.
//   npm run bench -- --latency-ms 0,20 [--quick]
// Prints a table and writes bench/results/<date>.json. Not a test.
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { S3Proxy } from '../__test__/support/proxy.mjs'
import { bucket, client, SEAWEED, ADMIN } from '../__test__/support/helpers.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const args = process.argv.slice(2)
const arg = (name, dflt) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : dflt
}
const latencies = arg('latency-ms', '0,20').split(',').map(Number)
const quick = args.includes('--quick')
// --only writers: run just the scenarios whose name contains it
const only = arg('only', '')
const want = (name) => name.includes(only)
const N = quick ? 20 : 100

execFileSync('bash', [`${root}/scripts/s3.sh`, 'start', 'weed'], { stdio: 'inherit' })

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b)
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))]
  return { p50: +q(0.5).toFixed(2), p99: +q(0.99).toFixed(2) }
}

/** Runs `op` `n` times one after another; per-op latency and requests. */
async function sequential(proxy, n, op) {
  const times = []
  proxy.requests = []
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const s = performance.now()
    await op(i)
    times.push(performance.now() - s)
  }
  const secs = (performance.now() - t0) / 1000
  return { ops: n, opsPerSec: +(n / secs).toFixed(1), ...stats(times), requestsPerOp: +(proxy.requests.length / n).toFixed(2) }
}

async function scenarios(latencyMs) {
  const proxy = await new S3Proxy(SEAWEED.endpoint, { latencyMs }).start()
  const via = { endpoint: proxy.endpoint }
  const b = await bucket(SEAWEED)
  const out = {}
  const c = client(via, b, { s3Prefix: 'main/' })

  if (want('set') || want('get') || want('cold')) {
    out['set distinct keys'] = await sequential(proxy, N, (i) => c.set(`distinct-${i}`, { i, payload: 'x'.repeat(100) }))
    out['set overwriting keys'] = await sequential(proxy, N, (i) => c.set(`hot-${i % 10}`, { i }))
    out.get = await sequential(proxy, N, (i) => c.get(`distinct-${i % N}`))
  }

  if (want('200')) {
    const h = client(via, b, { s3Prefix: 'hist/' })
    for (let i = 0; i < 200; i++) await h.set('k', { i })
    out['history 200 versions'] = await sequential(proxy, 3, async () => {
      const [e] = await h.history('k')
      if (e.length !== 200) throw new Error(`history returned ${e.length}`)
    })
    out['logEntries 200'] = await sequential(proxy, 3, async () => {
      if ((await h.logEntries()).length !== 200) throw new Error('logEntries')
    })
    out['verifyLogChain 200'] = await sequential(proxy, 3, async () => {
      if (!(await h.verifyLogChain())) throw new Error('chain')
    })
    const serial = client(via, b, { s3Prefix: 'hist/', readConcurrency: 1 })
    out['logEntries 200, one at a time'] = await sequential(proxy, 1, () => serial.logEntries())
  }

  if (want('writers')) await contention(proxy, via, out)
  if (want('cold')) {
    const starts = []
    for (let i = 0; i < (quick ? 2 : 5); i++) starts.push(await coldStart(via.endpoint, b))
    out['cold start (node -e to first get)'] = {
      ops: starts.length,
      ...stats(starts.map((s) => s.ms)),
      rssMiB: starts[0].rssMiB,
      moduleRssMiB: starts[0].moduleRssMiB,
    }
  }
  await proxy.stop()
  return out
}

/** 20 writers x 10 sets, each its own client. */
async function contention(proxy, via, out) {
  proxy.requests = []
  const cb = await bucket(SEAWEED)
  const writers = Array.from({ length: 20 }, () => client(via, cb))
  const times = []
  let failed = 0
  const t0 = performance.now()
  await Promise.all(
    writers.map(async (w, k) => {
      for (let i = 0; i < 10; i++) {
        const s = performance.now()
        try {
          await w.set(`w${k}`, { i })
        } catch {
          failed++
        }
        times.push(performance.now() - s)
      }
    }),
  )
  const secs = (performance.now() - t0) / 1000
  out['20 writers x 10 sets'] = {
    ops: 200,
    opsPerSec: +(200 / secs).toFixed(1),
    ...stats(times),
    requestsPerOp: +(proxy.requests.length / 200).toFixed(2),
    failed,
  }
}

/** Cold start: a new node process from start to its first get resolving. */
function coldStart(endpoint, b) {
  const src = `
    const t0 = Date.now()
    const rss0 = process.memoryUsage().rss
    const { ImmuKVClient } = require(${JSON.stringify(root)})
    const rss1 = process.memoryUsage().rss
    const c = new ImmuKVClient({ s3Bucket: ${JSON.stringify(b)}, s3Region: 'us-east-1', s3Prefix: 'main/', overrides: { endpointUrl: ${JSON.stringify(endpoint)}, credentials: ${JSON.stringify(ADMIN)} } })
    c.get('distinct-0').then(() => console.log(JSON.stringify({ rss: process.memoryUsage().rss, moduleRss: rss1 - rss0 })))
  `
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const p = spawn(process.execPath, ['-e', src])
    let out = ''
    p.stdout.on('data', (d) => (out += d))
    p.on('exit', (code) => {
      if (code !== 0) return reject(new Error('cold start failed'))
      const r = JSON.parse(out)
      resolve({ ms: performance.now() - t0, rssMiB: +(r.rss / 2 ** 20).toFixed(1), moduleRssMiB: +(r.moduleRss / 2 ** 20).toFixed(1) })
    })
  })
}

/** JS <-> Rust value transfer: JSON text versus property-by-property conversion. */
function boundary() {
  const require = createRequire(import.meta.url)
  const native = require('../binding.js')
  const make = (bytes) => {
    const o = { items: [] }
    while (JSON.stringify(o).length < bytes)
      o.items.push({ id: o.items.length, name: `item-${o.items.length}`, value: Math.PI * o.items.length, tags: ['a', 'b'], ok: true })
    return o
  }
  const out = {}
  for (const [label, bytes] of [
    ['1 KB', 1024],
    ['100 KB', 100 * 1024],
  ]) {
    const v = make(bytes)
    const iters = bytes > 10000 ? 300 : 20000
    const time = (fn) => {
      for (let i = 0; i < iters / 10; i++) fn()
      const t0 = performance.now()
      for (let i = 0; i < iters; i++) fn()
      return +(((performance.now() - t0) * 1000) / iters).toFixed(2)
    }
    out[`${label} JSON text (µs round trip)`] = time(() => JSON.parse(native.benchEchoJson(JSON.stringify(v))))
    out[`${label} object conversion (µs round trip)`] = time(() => native.benchEchoObject(v))
  }
  return out
}

const results = { date: new Date().toISOString(), node: process.version, server: 'SeaweedFS 4.48 (local)', n: N, boundary: boundary(), latency: {} }
for (const l of latencies) {
  console.error(`running scenarios at ${l} ms added latency...`)
  results.latency[l] = await scenarios(l)
}

for (const [l, table] of Object.entries(results.latency)) {
  console.log(`\n## added latency ${l} ms per request\n`)
  console.log('| scenario | ops/s | p50 ms | p99 ms | S3 requests/op |')
  console.log('| --- | --- | --- | --- | --- |')
  for (const [name, r] of Object.entries(table)) {
    console.log(
      `| ${name} | ${r.opsPerSec ?? ''} | ${r.p50} | ${r.p99} | ${r.requestsPerOp ?? ''}${r.failed ? ` (${r.failed} failed)` : ''}${r.rssMiB ? ` (RSS ${r.rssMiB} MiB, module ${r.moduleRssMiB} MiB)` : ''} |`,
    )
  }
}
console.log('\n## JS <-> Rust value transfer (µs per round trip)\n')
for (const [k, v] of Object.entries(results.boundary)) console.log(`- ${k}: ${v}`)
mkdirSync(`${root}/bench/results`, { recursive: true })
const file = `${root}/bench/results/${results.date.replace(/[:.]/g, '-')}.json`
writeFileSync(file, JSON.stringify(results, null, 2))
console.log(`\nwritten ${file}`)
