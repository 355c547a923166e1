// Named in-memory stores are scoped to the JavaScript environment that opened
// them: four test files that each open ImmuKVClient.inMemory('app') and
// expect their own store pass under every runner and pool that runs them in
// one process (jest in band and with worker threads, vitest threads and
// vmThreads, ava's worker threads), while the code under test shares the
// test file's store. `scope: 'process'` shares a store across threads on
// purpose. The scenario is fixtures/workers/scenario.cjs.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { ImmuKVClient, rejection } from './support/helpers.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const modules = join(root, 'node_modules')
const FILES = ['one', 'two', 'three', 'four']

/**
 * A project that depends on immukv as npm installs it (a copy of the
 * package's files: a link would make the runners treat it as the project's
 * own source), with the scenario, for one runner.
 */
function project(type) {
  const dir = mkdtempSync(join(tmpdir(), 'immukv-workers-'))
  const pkg = join(dir, 'node_modules', 'immukv')
  mkdirSync(pkg, { recursive: true })
  const binaries = readdirSync(root).filter((f) => f.endsWith('.node'))
  for (const f of ['package.json', 'index.js', 'index.d.ts', 'dist', ...binaries]) cpSync(join(root, f), join(pkg, f), { recursive: true })
  cpSync(join(root, '__test__', 'fixtures', 'workers'), dir, { recursive: true })
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'workers', private: true, type, ava: { files: ['*.test.mjs'] } }))
  return dir
}

/** Runs a test runner in `dir`; resolves with the files whose scenario passed, in the order they finished. */
function run(dir, args) {
  const out = join(dir, 'passed.jsonl')
  writeFileSync(out, '')
  return new Promise((resolve) => {
    const env = { ...process.env, CI: 'true', NO_COLOR: '1', IMMUKV_WORKERS_OUT: out }
    delete env.NODE_TEST_CONTEXT // the runners' own output, not node:test's
    execFile(process.execPath, args, { cwd: dir, env, encoding: 'utf8', timeout: 180_000 }, (err, stdout, stderr) => {
      const passed = readFileSync(out, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
      resolve({ code: err ? (err.code ?? 1) : 0, passed, output: `${stdout}\n${stderr}` })
    })
  })
}

/** Each of the four files passed, and the runner ran them in one process (else the test would prove nothing). */
function check({ code, passed, output }, { threads }) {
  assert.deepEqual(passed.map((p) => p.file).sort(), [...FILES].sort(), `every file has its own store:\n${output}`)
  assert.equal(code, 0, output)
  assert.equal(new Set(passed.map((p) => p.pid)).size, 1, 'one process ran every file')
  if (threads) assert.ok(new Set(passed.map((p) => p.threadId)).size > 1, `several worker threads ran them: ${JSON.stringify(passed)}`)
}

function jestProject() {
  const dir = project('commonjs')
  for (const file of FILES) {
    writeFileSync(
      join(dir, `${file}.test.js`),
      `const { scenario } = require('./scenario.cjs')
       test('${file} has its own store', () => scenario('${file}'))
       test('a module registry reset keeps the test file\\'s store', async () => {
         jest.resetModules()
         const { ImmuKVClient } = require('immukv')
         expect((await ImmuKVClient.inMemory('app').get('audit/${file}')).value).toBe('started')
       })
      `,
    )
  }
  return dir
}

function vitestProject() {
  const dir = project('module')
  for (const file of FILES) {
    writeFileSync(
      join(dir, `${file}.test.mjs`),
      `import { test } from 'vitest'
       import { scenario } from './scenario.cjs'
       test('${file} has its own store', () => scenario('${file}'))
      `,
    )
  }
  return dir
}

function avaProject() {
  const dir = project('module')
  symlinkSync(join(modules, 'ava'), join(dir, 'node_modules', 'ava'))
  for (const file of FILES) {
    writeFileSync(
      join(dir, `${file}.test.mjs`),
      `import test from 'ava'
       import { scenario } from './scenario.cjs'
       test('${file} has its own store', async (t) => {
         await scenario('${file}')
         t.pass()
       })
      `,
    )
  }
  return dir
}

const jest = join(modules, 'jest', 'bin', 'jest.js')
const vitest = join(modules, 'vitest', 'vitest.mjs')
const ava = join(modules, 'ava', 'entrypoints', 'cli.mjs')

test('jest in band: four test files each have their own store "app"', async () => {
  const dir = jestProject()
  check(await run(dir, [jest, '--rootDir', dir, '--ci', '--runInBand']), { threads: false })
})

test('jest with worker threads: four test files each have their own store "app"', async () => {
  const dir = jestProject()
  // --no-cache: without timings from an earlier run jest does not fall back to running in band.
  check(await run(dir, [jest, '--rootDir', dir, '--ci', '--no-cache', '--workerThreads', '--maxWorkers=2']), { threads: true })
})

test('vitest --pool=threads: four test files each have their own store "app"', async () => {
  const dir = vitestProject()
  check(await run(dir, [vitest, 'run', '--root', dir, '--pool=threads', '--maxWorkers=2']), { threads: true })
})

test('vitest --pool=vmThreads: four test files (two vm contexts per thread) each have their own store "app"', async () => {
  // Two workers for four files: each thread runs two files, each in a vm
  // context of its own, on one native module. (With a single worker,
  // vitest 4 runs every file in one context: they then share every global,
  // and their stores too.)
  const dir = vitestProject()
  check(await run(dir, [vitest, 'run', '--root', dir, '--pool=vmThreads', '--maxWorkers=2']), { threads: true })
})

test("ava (worker threads, its default): four test files each have their own store 'app'", async () => {
  const dir = avaProject()
  check(await run(dir, [ava, '--concurrency=4']), { threads: true })
})

/** Runs `source` (ESM, `immukv` importable) in a worker thread; resolves with what it posts. */
function inWorker(source) {
  return new Promise((resolve, reject) => {
    const w = new Worker(source, { eval: true, type: 'module' })
    w.once('message', resolve)
    w.once('error', reject)
  })
}

test("worker threads of one process: the same name is a store per thread; scope 'process' shares one on purpose", async () => {
  const name = `workers-${Date.now()}`
  const mine = ImmuKVClient.inMemory(name)
  const shared = ImmuKVClient.inMemory(name, { scope: 'process' })
  await mine.set('main', 1)
  await shared.set('main', 2)
  const { ImmuKVClient: Again } = await import('immukv')
  assert.equal((await Again.inMemory(name).get('main')).value, 1, 'the same environment: the same store')
  const seen = await inWorker(`
    import { parentPort } from 'node:worker_threads'
    import { createRequire } from 'node:module'
    const { ImmuKVClient } = createRequire(${JSON.stringify(join(root, 'package.json'))})('immukv')
    const own = ImmuKVClient.inMemory(${JSON.stringify(name)})
    const shared = ImmuKVClient.inMemory(${JSON.stringify(name)}, { scope: 'process' })
    const before = { own: await own.listKeys(), shared: await shared.listKeys() }
    await shared.set('worker', 3)
    parentPort.postMessage(before)
  `)
  assert.deepEqual(seen, { own: [], shared: ['main'] })
  assert.deepEqual(await mine.listKeys(), ['main'], "the worker's writes to its own store are not here")
  assert.deepEqual(await shared.listKeys(), ['main', 'worker'])
  assert.equal(ImmuKVClient.dropInMemory(name, { scope: 'process' }), true)
  assert.equal(await ImmuKVClient.inMemory(name, { scope: 'process' }).digest(), undefined, 'dropped: the next one starts empty')
  assert.equal((await ImmuKVClient.inMemory(name).get('main')).value, 1, "dropping the process-wide store leaves the environment's")
  assert.equal(ImmuKVClient.dropInMemory(name), true)
  assert.equal(ImmuKVClient.dropInMemory(name), false)
  assert.equal(await ImmuKVClient.inMemory(name).digest(), undefined)
  assert.equal((await mine.get('main')).value, 1, 'clients already open keep their store')
})

test('a scope that is not environment or process, or process without a name: INVALID_CONFIG', async () => {
  for (const call of [
    () => ImmuKVClient.inMemory('x', { scope: 'thread' }),
    () => ImmuKVClient.inMemory(undefined, { scope: 'process' }),
    () => ImmuKVClient.dropInMemory('x', { scope: 'everywhere' }),
  ]) {
    const err = await rejection((async () => call())())
    assert.equal(err.code, 'INVALID_CONFIG', err.message)
    assert.match(err.message, /scope/)
  }
  assert.equal((await rejection((async () => ImmuKVClient.dropInMemory('x', 'process'))())).code, 'INVALID_ARGUMENT')
})
