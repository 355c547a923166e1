// ImmuKV benchmark: each scenario beside its floor, the raw
// @aws-sdk/client-s3 doing the minimal requests for the same operation,
// interleaved round by round, medians reported, and the ratio to the floor.
// Runs against a local server through a loopback proxy that adds latency and
// counts requests: SeaweedFS, or with `--server localstack` LocalStack's S3
// (which answers a losing conditional PUT at once, as AWS does, where
// SeaweedFS holds it; the README reports its contention scenarios).
//   npm run bench -- [--latency-ms 0,20] [--rounds 3] [--only NAME] [--quick] [--server seaweedfs|localstack]
// Prints tables and writes bench/results/<date>.json. Not a test.
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { ADMIN, bucket, client, LOCALSTACK, SEAWEED } from '../__test__/support/helpers.mjs'
import { S3Proxy } from '../__test__/support/proxy.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const args = process.argv.slice(2)
const arg = (name, dflt) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : dflt
}
const latencies = arg('latency-ms', '0,20').split(',').map(Number)
const quick = args.includes('--quick')
const rounds = Number(arg('rounds', quick ? 1 : 3))
const only = arg('only', '')
const want = (name) => name.includes(only)

const SERVERS = {
  seaweedfs: { server: SEAWEED, s3sh: 'weed', label: 'SeaweedFS 4.48 (local)' },
  localstack: { server: LOCALSTACK, s3sh: 'localstack', label: 'LocalStack 2026.3.0 S3 (local)' },
}
const target = SERVERS[arg('server', 'seaweedfs')]
if (!target) throw new Error(`--server: one of ${Object.keys(SERVERS).join(', ')}`)

execFileSync('bash', [`${root}/scripts/s3.sh`, 'start', target.s3sh], { stdio: 'inherit' })

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.floor((s.length - 1) / 2)] : Number.NaN
}
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : Number.NaN
}
const r2 = (x) => +x.toFixed(2)

/** A value of about `bytes` of JSON: small objects, as service payloads are. */
function payload(bytes) {
  const items = []
  let size = 12
  while (size < bytes) {
    const item = { id: items.length, name: `item-${items.length}`, value: Math.PI * items.length, tags: ['a', 'b'], ok: true }
    size += JSON.stringify(item).length + 1
    items.push(item)
  }
  return { items }
}

function sdk(endpoint) {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: ADMIN, maxAttempts: 1 })
}

/** The floor of appends: one conditional log PUT per commit, one after another. */
async function floorAppends(s3, b, n, body) {
  const Key = `floor-${Date.now()}-${Math.random()}/_log.json`
  let etag = (await s3.send(new PutObjectCommand({ Bucket: b, Key, Body: body, IfNoneMatch: '*' }))).ETag
  const t0 = performance.now()
  for (let i = 0; i < n; i++) etag = (await s3.send(new PutObjectCommand({ Bucket: b, Key, Body: body, IfMatch: etag }))).ETag
  return n / ((performance.now() - t0) / 1000)
}

/** The floor of one set: the value to JSON, then the two conditional PUTs the protocol needs. */
async function floorSet(s3, b, prefix, value, state) {
  const body = JSON.stringify(value)
  const log = await s3.send(
    new PutObjectCommand({ Bucket: b, Key: `${prefix}_log.json`, Body: body, ...(state.log ? { IfMatch: state.log } : { IfNoneMatch: '*' }) }),
  )
  state.log = log.ETag
  const key = await s3.send(
    new PutObjectCommand({ Bucket: b, Key: `${prefix}keys/k.json`, Body: body, ...(state.key ? { IfMatch: state.key } : { IfNoneMatch: '*' }) }),
  )
  state.key = key.ETag
}

/** The floor of one get: one GET, then JSON.parse. */
async function floorGet(s3, b, key) {
  const r = await s3.send(new GetObjectCommand({ Bucket: b, Key: key }))
  return JSON.parse(await r.Body.transformToString())
}

async function timeEach(n, op) {
  const times = []
  for (let i = 0; i < n; i++) {
    const s = performance.now()
    await op(i)
    times.push(performance.now() - s)
  }
  return times
}

/** Writers on separate clients, each doing `sets` one after another. */
async function writers(via, b, clients, sets, prefix, pipelineDepth = 1) {
  const cs = Array.from({ length: clients }, () => client(via, b, { s3Prefix: prefix, operationTimeoutMs: 120000, pipelineDepth }))
  const times = []
  let failed = 0
  const t0 = performance.now()
  await Promise.all(
    cs.map(async (c, k) => {
      for (let i = 0; i < sets; i++) {
        const s = performance.now()
        try {
          await c.set(`w${k}`, { i })
        } catch {
          failed++
        }
        times.push(performance.now() - s)
      }
    }),
  )
  const secs = (performance.now() - t0) / 1000
  return { commitsPerSec: (clients * sets - failed) / secs, times, failed }
}

async function scenarios(latencyMs) {
  const proxy = await new S3Proxy(target.server.endpoint, { latencyMs }).start()
  const via = { endpoint: proxy.endpoint }
  const s3 = sdk(proxy.endpoint)
  const b = await bucket(target.server)
  const out = {}
  const counted = async (fn) => {
    proxy.requests = []
    const r = await fn()
    return { r, requests: proxy.requests.length }
  }
  let n = 0
  const prefix = () => `p${n++}/`

  // One client's overlapped sets, at the default depth (the shared
  // protocol: two round trips per commit) and pipelined (pipelineDepth 8).
  for (const depth of [1, 8]) {
    const sets = quick ? 40 : 100
    const name = `1 client x ${sets} concurrent sets, pipelineDepth ${depth}`
    if (!want('concurrent') && !want(name)) continue
    const ours = []
    const floor = []
    const perCommit = []
    for (let round = 0; round < rounds; round++) {
      const c = client(via, b, { s3Prefix: prefix(), pipelineDepth: depth })
      await c.set('warm', 0)
      const { r: secs, requests } = await counted(async () => {
        const t0 = performance.now()
        const done = await Promise.allSettled(Array.from({ length: sets }, (_, i) => c.set(`k${i}`, { i, payload: 'x'.repeat(100) })))
        if (done.some((d) => d.status === 'rejected')) throw new Error('a set failed')
        return (performance.now() - t0) / 1000
      })
      await c.close() // its key objects written too
      ours.push(sets / secs)
      perCommit.push(requests / sets)
      floor.push(await floorAppends(s3, b, sets, JSON.stringify({ i: 1, payload: 'x'.repeat(100) })))
    }
    out[name] = {
      unit: 'commits/s',
      ours: r2(median(ours)),
      floor: r2(median(floor)),
      ratio: r2(median(ours) / median(floor)),
      requestsPerCommit: r2(median(perCommit)),
    }
  }

  // A bulk load through setMany (as `immukv import` runs it), one round: the
  // time of 10 000 entries against the floor's 10 000 appends. At 0 ms only
  // (at 20 ms each row takes minutes).
  if (want('import') && latencyMs === 0) {
    const n = quick ? 2000 : 10_000
    const floor = await floorAppends(s3, b, n, JSON.stringify({ i: 1, reading: 0.5 }))
    for (const depth of [1, 8]) {
      const c = client(via, b, { s3Prefix: prefix(), pipelineDepth: depth })
      const t0 = performance.now()
      const r = await c.setMany(
        Array.from({ length: n }, (_, i) => [`device-${i % 500}`, { i, reading: i / 7 }]),
        { inFlight: 128 },
      )
      const secs = (performance.now() - t0) / 1000
      await c.close()
      if (r.count !== n) throw new Error('the import lost entries')
      out[`import of ${n} entries (setMany), pipelineDepth ${depth}`] = {
        unit: 'commits/s',
        ours: r2(n / secs),
        floor: r2(floor),
        ratio: r2(n / secs / floor),
        seconds: r2(secs),
      }
    }
  }

  // Separate writers, each with one set at a time: a pipeline has nothing
  // to overlap, and a head marked pipelined costs the next writer a check
  // of the window below it (a listing and GETs) before its append.
  for (const [clients, sets, depth] of [
    [10, quick ? 5 : 20, 1],
    [20, quick ? 5 : 10, 1],
    [10, quick ? 5 : 20, 8],
    [20, quick ? 5 : 10, 8],
  ]) {
    const name = `${clients} clients x ${sets} sets${depth > 1 ? `, pipelineDepth ${depth}` : ''}`
    if (!want('clients') && !want(name)) continue
    const ours = []
    const floor = []
    const p99 = []
    const mean = []
    const perCommit = []
    let failed = 0
    for (let round = 0; round < rounds; round++) {
      const { r, requests } = await counted(() => writers(via, b, clients, sets, prefix(), depth))
      ours.push(r.commitsPerSec)
      p99.push(pct(r.times, 0.99))
      mean.push(r.times.reduce((a, x) => a + x, 0) / r.times.length)
      perCommit.push(requests / (clients * sets))
      failed += r.failed
      floor.push(await floorAppends(s3, b, clients * sets, JSON.stringify({ i: 1 })))
    }
    const appendMs = 1000 / median(floor)
    out[name] = {
      unit: 'commits/s',
      ours: r2(median(ours)),
      floor: r2(median(floor)),
      ratio: r2(median(ours) / median(floor)),
      requestsPerCommit: r2(median(perCommit)),
      meanMs: r2(median(mean)),
      p99Ms: r2(median(p99)),
      p99OverMean: r2(median(p99) / median(mean)),
      p99InLogRoundTrips: r2(median(p99) / appendMs),
      failed,
      // The shared protocol's limit for separate writers: a turn is three
      // round trips one after another (read the head, HEAD its key object,
      // append) against the floor's one.
      strictProtocolLimit: 0.33,
    }
  }

  for (const [label, bytes] of [
    ['1 KiB', 1024],
    ['100 KiB', 100 * 1024],
    ['1 MiB', 1024 * 1024],
    ['4 MiB', 4 * 1024 * 1024 - 4096],
  ]) {
    if (!want('values') && !want(label)) continue
    const value = payload(bytes)
    const reps = bytes >= 1 << 20 ? (quick ? 3 : 8) : quick ? 10 : 30
    const set = { ours: [], floor: [] }
    const get = { ours: [], floor: [] }
    for (let round = 0; round < rounds; round++) {
      const p = prefix()
      const c = client(via, b, { s3Prefix: p })
      await c.set('k', value) // warm: the chain and the connection
      set.ours.push(...(await timeEach(reps, () => c.set('k', value))))
      const fp = prefix()
      const state = {}
      await floorSet(s3, b, fp, value, state)
      set.floor.push(...(await timeEach(reps, () => floorSet(s3, b, fp, value, state))))
      get.ours.push(...(await timeEach(reps, () => c.get('k'))))
      get.floor.push(...(await timeEach(reps, () => floorGet(s3, b, `${fp}keys/k.json`))))
    }
    for (const [op, t] of [
      ['set', set],
      ['get', get],
    ]) {
      out[`${op} ${label}`] = {
        unit: 'ms p50',
        ours: r2(median(t.ours)),
        floor: r2(median(t.floor)),
        ratio: r2(median(t.ours) / median(t.floor)),
        p99: r2(pct(t.ours, 0.99)),
      }
    }
  }

  if (want('new key')) {
    const ours = []
    const floor = []
    for (let round = 0; round < rounds; round++) {
      const c = client(via, b, { s3Prefix: prefix() })
      await c.set('warm', 0)
      ours.push(...(await timeEach(quick ? 10 : 30, (i) => c.set(`new-${round}-${i}`, { i }))))
      const fp = prefix()
      const state = {}
      floor.push(...(await timeEach(quick ? 10 : 30, () => floorSet(s3, b, fp, { i: 1 }, state))))
    }
    out['set of a new key, one at a time'] = {
      unit: 'ms p50',
      ours: r2(median(ours)),
      floor: r2(median(floor)),
      ratio: r2(median(ours) / median(floor)),
      p99: r2(pct(ours, 0.99)),
    }
  }

  // An audit's memory (verifyLog streams the log): peak RSS of a process
  // checking 300 entries of 1 MiB, against a process that reads the same 300
  // versions with the raw SDK one after another. Target: under twice the
  // floor's, plus readConcurrency (32) x 1 MiB. At 0 ms only.
  if (want('audit memory') && latencyMs === 0) {
    const p = prefix()
    const c = client(via, b, { s3Prefix: p, pipelineDepth: 8 })
    const n = quick ? 60 : 300
    await c.setMany(Array.from({ length: n }, (_, i) => [`blob-${i % 20}`, payload(1 << 20)]))
    await c.close()
    const ours = await peakRss(proxy.endpoint, b, p, 'immukv')
    const floor = await peakRss(proxy.endpoint, b, p, 'sdk')
    out[`audit of ${n} entries of 1 MiB (peak RSS)`] = {
      unit: 'MiB',
      ours: r2(ours),
      floor: r2(floor),
      ratio: r2(ours / floor),
      target: r2(2 * floor + 32),
      withinTarget: ours < 2 * floor + 32,
    }
  }

  if (want('watch') || want('feed')) Object.assign(out, await feedScenarios({ proxy, via, s3, b, prefix: prefix() }))

  if (want('cold')) {
    const ours = []
    const floor = []
    const rss = []
    const c = client(via, b, { s3Prefix: 'cold/' })
    await c.set('k', 1)
    for (let i = 0; i < (quick ? 2 : 5); i++) {
      const r = await coldStart(proxy.endpoint, b, 'immukv')
      ours.push(r.ms)
      rss.push(r.rssMiB)
      floor.push((await coldStart(proxy.endpoint, b, 'sdk')).ms)
    }
    out['cold start (new process to first get)'] = {
      unit: 'ms',
      ours: r2(median(ours)),
      floor: r2(median(floor)),
      ratio: r2(median(ours) / median(floor)),
      rssMiB: r2(median(rss)),
    }
  }
  await proxy.stop()
  return out
}

/** Peak RSS (MiB) of a new process that audits the log under `p` (verifyLog, no key objects), or reads its versions with the raw SDK. */
function peakRss(endpoint, b, p, which) {
  const src =
    which === 'immukv'
      ? `const { ImmuKVClient } = require(${JSON.stringify(root)})
         const c = new ImmuKVClient({ s3Bucket: ${JSON.stringify(b)}, s3Region: 'us-east-1', s3Prefix: ${JSON.stringify(p)}, readOnly: true, overrides: { endpointUrl: ${JSON.stringify(endpoint)}, credentials: ${JSON.stringify(ADMIN)} } })
         c.verifyLog({ checkKeyObjects: false }).then((r) => { if (!r.ok) process.exit(1); console.log(process.resourceUsage().maxRSS * 1024) })`
      : `const { S3Client, GetObjectCommand, ListObjectVersionsCommand } = require(${JSON.stringify(`${root}node_modules/@aws-sdk/client-s3`)})
         const s3 = new S3Client({ endpoint: ${JSON.stringify(endpoint)}, region: 'us-east-1', forcePathStyle: true, credentials: ${JSON.stringify(ADMIN)} })
         ;(async () => {
           const Key = ${JSON.stringify(`${p}_log.json`)}
           let KeyMarker, VersionIdMarker
           for (;;) {
             const page = await s3.send(new ListObjectVersionsCommand({ Bucket: ${JSON.stringify(b)}, Prefix: Key, KeyMarker, VersionIdMarker }))
             for (const v of page.Versions ?? []) {
               const r = await s3.send(new GetObjectCommand({ Bucket: ${JSON.stringify(b)}, Key, VersionId: v.VersionId }))
               JSON.parse(await r.Body.transformToString())
             }
             if (!page.IsTruncated) break
             ;({ NextKeyMarker: KeyMarker, NextVersionIdMarker: VersionIdMarker } = page)
           }
           console.log(process.resourceUsage().maxRSS * 1024)
         })()`
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', src])
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.on('exit', (code) => (code === 0 ? resolve(Number(out) / 2 ** 20) : reject(new Error(`peak RSS (${which}) failed`))))
  })
}

/**
 * Following the log (watch) and point-in-time reads:
 * - delivery: from a set resolving to the watcher handing the entry over,
 *   sets spaced at random within a poll interval; the floor is a raw
 *   poller (a GET with If-None-Match every interval, its body parsed, no
 *   verification);
 * - requests per idle minute at the default poll interval (1 s);
 * - get at a sequence deep in a key's history (200 versions): time and
 *   requests, beside the floor of one GET.
 */
async function feedScenarios({ proxy, via, s3, b, prefix }) {
  const out = {}
  const pause = (ms) => new Promise((r) => setTimeout(r, ms))
  const pollMs = 250
  const samples = quick ? 10 : 30
  // One request's round trip through the proxy: the budget's unit.
  const warm = client(via, b, { s3Prefix: `${prefix}rtt/` })
  await warm.set('k', 0)
  const rtt = median(await timeEach(20, () => floorGet(s3, b, `${prefix}rtt/keys/k.json`)))
  const ours = []
  const floor = []
  for (let round = 0; round < rounds; round++) {
    const p = `${prefix}r${round}/`
    const w = client(via, b, { s3Prefix: p })
    await w.set('k', -1)
    // immukv's watcher.
    const watcher = client(via, b, { s3Prefix: p })
    const feed = watcher.watch({ pollIntervalMs: pollMs })
    const arrived = new Map()
    const waiting = new Map()
    const arrive = (hash) => {
      arrived.set(hash, performance.now())
      waiting.get(hash)?.()
    }
    const consumer = (async () => {
      for await (const e of feed) arrive(e.hash)
    })()
    // The raw poller.
    let etag
    let polling = true
    const poller = (async () => {
      while (polling) {
        try {
          const r = await s3.send(new GetObjectCommand({ Bucket: b, Key: `${p}_log.json`, IfNoneMatch: etag }))
          etag = r.ETag
          const hash = JSON.parse(await r.Body.transformToString()).hash
          if (!arrived.has(`floor:${hash}`)) {
            arrived.set(`floor:${hash}`, performance.now())
            waiting.get(`floor:${hash}`)?.()
          }
        } catch (err) {
          if (err.$metadata?.httpStatusCode !== 304) throw err
        }
        await pause(pollMs)
      }
    })()
    await pause(2 * pollMs) // both started
    const until = (hash) => new Promise((r) => (arrived.has(hash) ? r() : waiting.set(hash, r)))
    for (let i = 0; i < samples; i++) {
      await pause(Math.random() * pollMs)
      const e = await w.set('k', i)
      const t = performance.now()
      await Promise.all([until(e.hash), until(`floor:${e.hash}`)])
      ours.push(arrived.get(e.hash) - t)
      floor.push(arrived.get(`floor:${e.hash}`) - t)
    }
    await feed.return()
    await consumer
    polling = false
    await poller
    await Promise.all([w.close(), watcher.close()])
  }
  out[`watch delivery, poll ${pollMs} ms (set resolved to entry handed over)`] = {
    unit: 'ms p50',
    ours: r2(median(ours)),
    floor: r2(median(floor)),
    ratio: r2(median(ours) / median(floor)),
    p99: r2(pct(ours, 0.99)),
    floorP99: r2(pct(floor, 0.99)),
    rttMs: r2(rtt),
    budgetPollPlus2Rtt: r2(pollMs + 2 * rtt),
  }
  // Idle: what a watcher costs while nothing is written, default interval.
  {
    const p = `${prefix}idle/`
    const w = client(via, b, { s3Prefix: p })
    await w.set('k', 0)
    const watcher = client(via, b, { s3Prefix: p })
    const feed = watcher.watch()
    const pending = feed.next()
    await pause(1500)
    proxy.requests = []
    const secs = quick ? 10 : 30
    await pause(secs * 1000)
    const perMinute = (proxy.requests.length * 60) / secs
    await feed.return()
    await pending
    await Promise.all([w.close(), watcher.close()])
    out['watch idle, default poll 1000 ms'] = { unit: 'requests/min', ours: r2(perMinute), floor: 60, ratio: r2(perMinute / 60) }
  }
  // Point in time, deep in a key's history.
  {
    const p = `${prefix}pit/`
    const w = client(via, b, { s3Prefix: p })
    const written = []
    for (let i = 0; i < 200; i++) written.push(await w.set('k', { i }))
    const r = client(via, b, { s3Prefix: p, readOnly: true })
    const reps = quick ? 10 : 30
    const requests = []
    const times = await timeEach(reps, async (i) => {
      const at = written[(i * 37) % 200].sequence
      const before = r.stats().requests.total
      await r.get('k', { atSequence: at })
      requests.push(r.stats().requests.total - before)
    })
    const floorTimes = await timeEach(reps, () => floorGet(s3, b, `${p}keys/k.json`))
    out['get at a sequence, key with 200 versions'] = {
      unit: 'ms p50',
      ours: r2(median(times)),
      floor: r2(median(floorTimes)),
      ratio: r2(median(times) / median(floorTimes)),
      requests: r2(median(requests)),
    }
    await Promise.all([w.close(), r.close()])
  }
  return out
}

/** A new node process, from start to its first get resolving. */
function coldStart(endpoint, b, which) {
  const src =
    which === 'immukv'
      ? `const { ImmuKVClient } = require(${JSON.stringify(root)})
         const c = new ImmuKVClient({ s3Bucket: ${JSON.stringify(b)}, s3Region: 'us-east-1', s3Prefix: 'cold/', overrides: { endpointUrl: ${JSON.stringify(endpoint)}, credentials: ${JSON.stringify(ADMIN)} } })
         c.get('k').then(() => console.log(process.memoryUsage().rss))`
      : `const { S3Client, GetObjectCommand } = require(${JSON.stringify(`${root}node_modules/@aws-sdk/client-s3`)})
         const s3 = new S3Client({ endpoint: ${JSON.stringify(endpoint)}, region: 'us-east-1', forcePathStyle: true, credentials: ${JSON.stringify(ADMIN)} })
         s3.send(new GetObjectCommand({ Bucket: ${JSON.stringify(b)}, Key: 'cold/keys/k.json' })).then(async (r) => { JSON.parse(await r.Body.transformToString()); console.log(process.memoryUsage().rss) })`
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const p = spawn(process.execPath, ['-e', src])
    let out = ''
    p.stdout.on('data', (d) => (out += d))
    p.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`cold start (${which}) failed`))
      resolve({ ms: performance.now() - t0, rssMiB: Number(out) / 2 ** 20 })
    })
  })
}

function nativeSize() {
  const f = readdirSync(root).find((x) => x.endsWith('.node'))
  return f ? { file: f, mib: r2(statSync(`${root}${f}`).size / 2 ** 20) } : undefined
}

const results = {
  date: new Date().toISOString(),
  machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}`,
  node: process.version,
  server: `${target.label}, through a latency-adding proxy`,
  rounds,
  native: nativeSize(),
  latency: {},
}
for (const l of latencies) {
  console.error(`running scenarios at ${l} ms added latency...`)
  results.latency[l] = await scenarios(l)
}

console.log(`\n${results.machine}; Node ${results.node}; ${results.server}; medians of ${rounds} rounds`)
if (results.native) console.log(`native module ${results.native.file}: ${results.native.mib} MiB`)
for (const [l, table] of Object.entries(results.latency)) {
  console.log(`\n## added latency ${l} ms per request\n`)
  console.log('| scenario | immukv | floor | ratio | details |')
  console.log('| --- | --- | --- | --- | --- |')
  for (const [name, r] of Object.entries(table)) {
    const { unit, ours, floor, ratio, ...rest } = r
    const details = Object.entries(rest)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')
    console.log(`| ${name} (${unit}) | ${ours} | ${floor} | ${ratio}x | ${details} |`)
  }
}
mkdirSync(`${root}/bench/results`, { recursive: true })
const file = `${root}/bench/results/${results.date.replace(/[:.]/g, '-')}.json`
writeFileSync(file, JSON.stringify(results, null, 2))
console.log(`\nwritten ${file}`)
