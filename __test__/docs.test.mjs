// The docs say what the code does: the README's config defaults are the
// core's, its error codes and failure kinds are the ones the code has, and
// the TypeScript list of codes is the Rust core's. Its programs are the
// examples, its runtime table is what CI runs, and its commands run as
// written: the quick start in a new project whose `npm install immukv` gets
// the packed packages from a local registry.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ERROR_CODES, SEAWEED, bucket } from './support/helpers.mjs'
import { LocalRegistry } from './support/registry.mjs'

const require = createRequire(import.meta.url)
const native = require('../index.js') // the generated binding (not importable by users)
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

/** Rows of the markdown table that follows `heading`. */
function table(heading) {
  const start = readme.indexOf(heading)
  assert.ok(start >= 0, `README has ${heading}`)
  const rows = []
  for (const line of readme.slice(start).split('\n').slice(1)) {
    if (line.startsWith('|'))
      rows.push(
        line
          .split('|')
          .slice(1, -1)
          .map((c) => c.trim()),
      )
    else if (rows.length) break
  }
  return rows.slice(2) // header and separator
}

test("the README's config defaults are the core's", () => {
  const documented = Object.fromEntries(table('### Config').map(([field, dflt]) => [field.replaceAll('`', ''), dflt]))
  const defaults = native.configDefaults()
  assert.ok(Object.keys(defaults).length >= 7)
  for (const [name, value] of Object.entries(defaults)) {
    assert.equal(documented[name], String(value), `README default of ${name}`)
  }
})

test("the README's error codes are every code, and the TypeScript list is the core's", () => {
  assert.deepEqual([...ERROR_CODES], native.errorCodes())
  const documented = table('### Errors').flatMap(([codes]) => codes.split(',').map((c) => c.trim().replaceAll('`', '')))
  assert.deepEqual([...documented].sort(), [...ERROR_CODES].sort())
})

test("the README's failure kinds are the ones verifyLog reports", () => {
  const documented = table('### Verification').flatMap(([kinds]) => kinds.split(',').map((k) => k.trim().replaceAll('`', '')))
  const kinds = readFileSync(new URL('../core/src/verify.rs', import.meta.url), 'utf8')
    .match(/FailureKind::\w+ => "([a-z_]+)",/g)
    .map((m) => m.replace(/.*=> "/, '').slice(0, -2))
  assert.deepEqual([...documented].sort(), [...kinds].sort())
})

// --- The README's programs and commands, run as a new user would ---------

/** The README's fenced code blocks: { lang, code, section }. */
function codeBlocks() {
  const out = []
  let section = ''
  const lines = readme.split('\n')
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].startsWith('## ')) section = lines[i].slice(3)
    const open = lines[i].match(/^```(\w+)$/)
    if (!open) continue
    const start = i + 1
    while (!lines[++i].startsWith('```'));
    out.push({ lang: open[1], code: `${lines.slice(start, i).join('\n')}\n`, section })
  }
  return out
}
const blocksOf = (section, lang) => codeBlocks().filter((b) => b.section === section && b.lang === lang)
const example = (path) => readFileSync(new URL(`../examples/${path}`, import.meta.url), 'utf8')
/** An example without its leading comment lines. */
const program = (path) => example(path).replace(/^(\/\/.*\n)+/, '')
const IN_MEMORY_CLIENT = /^ {2}\/\/ A store in memory.*\n {2}const client = ImmuKVClient\.inMemory<string, Calibration>\(\)\n/m

test("the README's programs are the examples, verbatim", () => {
  const [memory, s3] = blocksOf('Quick start', 'ts')
  assert.equal(memory.code, program('quickstart.ts'), 'the quick start is examples/quickstart.ts')
  assert.ok(program('quickstart-s3.ts').includes(s3.code), 'the S3 client is the one in examples/quickstart-s3.ts')
  assert.match(program('quickstart.ts'), IN_MEMORY_CLIENT)
  assert.equal(
    program('quickstart-s3.ts').replace(s3.code, ''),
    program('quickstart.ts').replace(IN_MEMORY_CLIENT, ''),
    'the two quick starts differ only in the client',
  )
  assert.equal(blocksOf('Testing without S3', 'js')[0].code, program('jest/audit.test.js'))
  assert.equal(blocksOf('Testing without S3', 'ts')[0].code, program('vitest/audit.test.ts'))
})

test("the README's runtime table is what CI runs (scripts/runtimes.sh), and engines covers it", () => {
  const pinned = execFileSync('bash', [fileURLToPath(new URL('../scripts/runtimes.sh', import.meta.url)), 'versions'], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
  const documented = table('Runtimes, as CI runs them').map(([runtime, version]) => [runtime.split(' ')[0].replace('Node.js', 'node').toLowerCase(), version])
  assert.deepEqual(documented, pinned)
  const engines = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).engines.node
  for (const [runtime, version] of pinned) {
    if (runtime === 'node')
      assert.match(engines, new RegExp(`\\^${version.split('.')[0]}\\.|>=${version.split('.')[0]}\\.`), `engines.node (${engines}) has Node ${version}`)
  }
})

/**
 * Every command of the README's shell blocks, and what runs it: a test in
 * this file (`run`), or nothing here, for the reason given. A command added
 * to the README fails this test until it is placed.
 */
const COMMANDS = {
  'npm run demo': 'run',
  'npm test': 'the whole suite, of which this test is part (CI runs it)',
  'npm install immukv': 'run',
  'mkdir immukv-quickstart && cd immukv-quickstart': 'run',
  'npm init -y': 'run',
  'npm install --save-dev typescript @types/node': 'run',
  'npx tsc --strict --isolatedModules --target ES2022 --module node16 --types node quickstart.ts': 'run',
  'node quickstart.js': 'run',
  'export IMMUKV_BUCKET=my-audit-bucket AWS_REGION=eu-west-1': 'needs an AWS bucket: cli.test.mjs runs these commands on SeaweedFS',
  'immukv digest > digest-$(date +%F).json': 'needs an AWS bucket: cli.test.mjs runs these commands on SeaweedFS',
  'immukv verify --trusted digest-2026-11-01.json': 'needs an AWS bucket: cli.test.mjs runs these commands on SeaweedFS',
  'immukv history device-42 --limit 5 --json': 'needs an AWS bucket: cli.test.mjs runs these commands on SeaweedFS',
  'immukv import readings.jsonl': 'needs an AWS bucket: import.test.mjs imports a file on SeaweedFS (interrupted, resumed)',
  'immukv import readings.jsonl --pipeline-depth 8': 'needs an AWS bucket: import.test.mjs imports a file on SeaweedFS (interrupted, resumed)',
  'npm install --os=linux --cpu=x64 --libc=glibc immukv': 'run',
  'npm install --os=linux --cpu=arm64 --libc=glibc immukv': 'run (no arm64 module is built in CI: checks that npm leaves out the x64 one)',
  'aws s3api put-bucket-versioning --bucket BUCKET --versioning-configuration Status=Enabled': 'the AWS CLI against AWS',
  'aws s3api create-bucket --bucket my-audit-bucket --object-lock-enabled-for-bucket': 'the AWS CLI against AWS: object-lock.test.mjs makes such buckets',
  'aws s3api put-object-lock-configuration --bucket my-audit-bucket --object-lock-configuration \'{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"COMPLIANCE","Years":7}}}\'':
    'the AWS CLI against AWS: object-lock.test.mjs sets default rules',
  'immukv doctor': 'needs an AWS bucket: cli.test.mjs runs doctor on SeaweedFS',
  'immukv doctor --bucket BUCKET --s3-prefix PREFIX': 'needs an AWS bucket: cli.test.mjs runs doctor on SeaweedFS',
  'immukv doctor --bucket my-audit-bucket --s3-prefix audit/': 'needs an AWS bucket: cli.test.mjs runs doctor on SeaweedFS',
}

/** A shell block's commands, without comments. */
const commands = (code) =>
  code
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l && !l.startsWith('#'))

test('every command in the README is run here or set aside for a reason', () => {
  const found = codeBlocks()
    .filter((b) => b.lang === 'bash')
    .flatMap((b) => commands(b.code))
  assert.deepEqual([...new Set(found)].sort(), Object.keys(COMMANDS).sort())
})

describe('the README run as written, with the packed packages from a local registry', () => {
  let work
  let registry
  let env
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'immukv-readme-'))
    const tarballs = execFileSync(process.execPath, [fileURLToPath(new URL('../scripts/pack-release.mjs', import.meta.url)), work, hostPlatform()], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
    const main = JSON.parse(execFileSync('tar', ['xzf', tarballs[0], '-O', 'package/package.json'], { encoding: 'utf8' }))
    registry = await new LocalRegistry(tarballs, { ours: Object.keys(main.optionalDependencies) }).start()
    env = {
      ...process.env,
      // The node under test first, for `node` and the scripts npm runs.
      PATH: `${dirname(process.execPath)}:${process.env.PATH}`,
      npm_config_registry: registry.url,
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    }
  })
  after(async () => {
    await registry?.stop()
    rmSync(work, { recursive: true, force: true })
  })

  /**
   * Runs `script` in bash in `cwd`, failing with its output. Asynchronous:
   * the registry answers from this process.
   */
  function sh(script, cwd, extra = {}) {
    return new Promise((resolve, reject) => {
      const p = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd, env: { ...env, ...extra } })
      let out = ''
      p.stdout.on('data', (d) => (out += d))
      p.stderr.on('data', (d) => (out += d))
      p.on('error', reject)
      p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${script}\n${out}`))))
    })
  }

  test('the quick start in a new project: the in-memory program, then the same on SeaweedFS', async () => {
    const [block] = blocksOf('Quick start', 'bash')
    const [before, after] = block.code.split('# save the program above as quickstart.ts, then:\n')
    assert.ok(after, 'the quick start says where to save the program')
    await sh(before, work)
    const project = join(work, 'immukv-quickstart')
    const installed = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8'))
    assert.ok(installed.dependencies.immukv, 'npm install immukv recorded the dependency')
    assert.ok(readdirSync(join(project, 'node_modules')).includes(`immukv-${hostPlatform()}`), 'npm installed the platform package')
    writeFileSync(join(project, 'quickstart.ts'), blocksOf('Quick start', 'ts')[0].code)
    const out = await sh(after, project)
    assert.match(out, /chain verified: true \(2 entries, 0 failures\)/)
    assert.match(out, /device-0: KEY_NOT_FOUND/)
    // The S3 variant, compiled the same way, on a fresh bucket.
    writeFileSync(join(project, 'quickstart-s3.ts'), program('quickstart-s3.ts'))
    const b = await bucket(SEAWEED)
    const s3 = await sh(after.replaceAll('quickstart', 'quickstart-s3'), project, { IMMUKV_BUCKET: b, IMMUKV_ENDPOINT: SEAWEED.endpoint })
    assert.match(s3, /chain verified: true \(2 entries, 0 failures\)/)
  })

  test('Bundlers and AWS Lambda: installing for another machine picks its platform package', async () => {
    const [block] = blocksOf('Bundlers and AWS Lambda', 'bash')
    const [x64, arm64] = commands(block.code)
    const dir = async (name) => {
      const d = join(work, name)
      mkdirSync(d)
      await sh('npm init -y', d)
      return d
    }
    const a = await dir('lambda-x64')
    await sh(x64, a)
    assert.ok(readdirSync(join(a, 'node_modules')).includes('immukv-linux-x64-gnu'))
    const b = await dir('lambda-arm64')
    await sh(arm64, b)
    assert.ok(readdirSync(join(b, 'node_modules')).includes('immukv'))
    assert.ok(!readdirSync(join(b, 'node_modules')).includes('immukv-linux-x64-gnu'), 'not the x64 package on arm64')
  })

  test('npm run demo (in the clone): the quick start on a local SeaweedFS', async () => {
    const [block] = blocksOf('', 'bash')
    const [demo] = commands(block.code)
    assert.equal(demo, 'npm run demo')
    const out = await sh(demo, fileURLToPath(new URL('..', import.meta.url)))
    assert.match(out, /chain verified: true/)
  })
})

/** This machine's napi-rs platform name, e.g. linux-x64-gnu. */
function hostPlatform() {
  const abi = process.platform === 'linux' ? (process.report.getReport().header.glibcVersionRuntime ? '-gnu' : '-musl') : ''
  return `${process.platform}-${process.arch}${abi}`
}

// --- The types' documentation (TSDoc) ------------------------------------

/** The TSDoc comment right before each `name?:` / `name:` member or method of `source`. */
function docs(source) {
  const out = new Map()
  const re = /\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*\n\s*(?:static |async \*?|readonly )*(\w+)[?(<:]/g
  for (const m of source.matchAll(re)) out.set(m[2], m[1].replace(/^\s*\* ?/gm, ''))
  return out
}
const tsSource = (file) => readFileSync(new URL(`../ts/${file}`, import.meta.url), 'utf8')
/** The members of `interface name` in `source`, each with its doc comment. */
function members(source, name) {
  const body = source.slice(source.indexOf(`export interface ${name} `)).split('\n}\n')[0]
  const doc = docs(body)
  return [...body.matchAll(/^ {2}(\w+)(\??):/gm)].map((m) => ({ name: m[1], optional: m[2] === '?', text: doc.get(m[1]) }))
}

test("every config field and option documents its default (the numeric ones equal the core's) and its unit", () => {
  const config = tsSource('config.ts')
  const client = tsSource('client.ts')
  const defaults = native.configDefaults()
  const seen = new Set()
  for (const [file, source, names] of [
    ['config.ts', config, ['StoreOptions', 'Config', 'Overrides', 'Credentials']],
    ['client.ts', client, ['CallOptions', 'GetOptions', 'VerifyOptions']],
  ]) {
    for (const iface of names) {
      for (const { name, optional, text } of members(source, iface)) {
        if (!optional) continue
        assert.ok(text, `${file} ${iface}.${name} has a doc comment`)
        const dflt = text.match(/@defaultValue (.+)/)?.[1]
        assert.ok(dflt, `${file} ${iface}.${name} has a @defaultValue`)
        if (name in defaults) {
          assert.equal(dflt.trim(), String(defaults[name]), `${iface}.${name}: @defaultValue is the core's default`)
          seen.add(name)
        }
        if (name.endsWith('Ms')) assert.match(text, /milliseconds/, `${iface}.${name} says its unit`)
        if (name.endsWith('Bytes')) assert.match(text, /bytes/, `${iface}.${name} says its unit`)
      }
    }
  }
  assert.deepEqual([...seen].sort(), Object.keys(defaults).sort(), 'every default of the core is documented')
})

test('every method that can reject documents its codes with @throws, and they are real codes', () => {
  const doc = docs(tsSource('client.ts'))
  const methods = [
    'constructor',
    'inMemory',
    'dropInMemory',
    'set',
    'get',
    'getLogVersion',
    'history',
    'logEntries',
    'entries',
    'listKeys',
    'listKeysWithPrefix',
    'verifyLogChain',
    'verifyLog',
    'digest',
    'withCodec',
  ]
  for (const m of methods) {
    const text = doc.get(m)
    assert.ok(text?.includes('@throws'), `${m} has @throws`)
    const codes = [...text.matchAll(/@throws[^\n]*/g)].flatMap((t) => [...t[0].matchAll(/`([A-Z_]+)`/g)].map((c) => c[1]))
    assert.ok(codes.length > 0, `${m}'s @throws name codes`)
    for (const c of codes) assert.ok(ERROR_CODES.includes(c), `${m}: ${c} is an error code`)
  }
})
