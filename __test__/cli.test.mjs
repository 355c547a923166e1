// The command-line tool (dist/cli.js) end to end on SeaweedFS: each command,
// its human and --json output, its exit code, the progress bar on a TTY, and
// tampering found by `verify`. The tool runs as a child process configured
// only through flags and the environment, as a user or a cron job would.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DeleteObjectCommand, PutBucketLifecycleConfigurationCommand } from '@aws-sdk/client-s3'
import { ADMIN, ImmuKVClient, MOTO, READER, SEAWEED, bucket, client, config, forgeNext, putRaw, raw, sleep, snapshot, writeAged } from './support/helpers.mjs'
import { lockedBucket } from './support/object-lock.mjs'
import { S3Proxy } from './support/proxy.mjs'

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
const home = mkdtempSync(join(tmpdir(), 'immukv-cli-'))
after(() => rmSync(home, { recursive: true, force: true }))

/**
 * The child's whole environment: nothing inherited but PATH, so that no real
 * AWS profile, region or key of the machine running the tests interferes.
 */
function cliEnv(s3Bucket, extra = {}) {
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    IMMUKV_BUCKET: s3Bucket,
    AWS_ACCESS_KEY_ID: ADMIN.accessKeyId,
    AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: SEAWEED.endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  }
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k]
  return env
}

/** Checks every output for the secret key, and logs failures where scripts/test.sh scans for secrets. */
function checkOutput(args, r) {
  for (const text of [r.stdout, r.stderr]) {
    assert.ok(!text.includes(ADMIN.secretAccessKey), `the secret key appears in the output of immukv ${args.join(' ')}`)
  }
  if (r.code !== 0 && process.env.IMMUKV_ERROR_LOG) appendFileSync(process.env.IMMUKV_ERROR_LOG, `immukv ${args.join(' ')}\n${r.stderr}${r.stdout}\n---\n`)
}

/** Runs `immukv ...args`; resolves with { code, stdout, stderr }. */
function run(args, { env, input } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d) => (stdout += d))
    p.stderr.on('data', (d) => (stderr += d))
    p.on('error', reject)
    p.on('close', (code) => {
      const r = { code, stdout, stderr }
      checkOutput(args, r)
      resolve(r)
    })
    p.stdin.end(input ?? '')
  })
}

/** Runs it and parses the one JSON document it prints. */
async function runJson(args, options) {
  const r = await run([...args, '--json'], options)
  let doc
  assert.doesNotThrow(() => (doc = JSON.parse(r.stdout)), `stdout of immukv ${args.join(' ')} --json is one JSON document: ${r.stdout}`)
  return { ...r, doc }
}

/** The cursor printed as "next page: --before X" (or --after), if any. */
function nextPage(stderr, flag) {
  const m = stderr.match(new RegExp(`^next page: ${flag} (.+)$`, 'm'))
  return m ? m[1] : undefined
}

const sequences = (stdout) => [...stdout.matchAll(/^#(\d+) /gm)].map((m) => Number(m[1]))

const hasScript = spawnSync('sh', ['-c', 'command -v script']).status === 0

/** Runs the tool with stdin, stdout and stderr on a pseudo-terminal (util-linux `script`), `columns` wide. */
function runOnTty(args, env, columns = 80) {
  const quote = (s) => `'${s.replace(/'/g, `'\\''`)}'`
  const command = `stty cols ${columns} rows 24; exec ${[process.execPath, CLI, ...args].map(quote).join(' ')}`
  const r = spawnSync('script', ['-qfec', command, '/dev/null'], { env, encoding: 'utf8', timeout: 60000 })
  const out = { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
  checkOutput(args, out)
  return out
}

/** What a terminal would draw: the text between cursor moves and line ends, each piece one redraw. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the escape sequences a terminal acts on are what is split on
const drawn = (text) => text.split(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]|\r|\n/).filter(Boolean)

/**
 * Runs `immukv ...args` whose stdout reader has gone before it writes (as
 * `| true` or `| head` that has had its lines); resolves with { code, stderr }.
 */
function runReaderGone(args, { env, input } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    p.stdout.destroy()
    let stderr = ''
    p.stderr.on('data', (d) => (stderr += d))
    p.on('error', reject)
    p.on('close', (code) => {
      checkOutput(args, { code, stdout: '', stderr })
      resolve({ code, stderr })
    })
    p.stdin.end(input ?? '')
  })
}

/** Characters that must never reach a terminal raw: controls (C0, DEL, C1), line separators, bidi controls. */
const UNSAFE = /[\p{Cc}\p{Bidi_Control}\u2028\u2029]/u

/** Library option names: the CLI's messages name its flags and variables instead. */
const LIBRARY_NAMES = /s3Bucket|s3Region|s3Prefix|overrides\.|endpointUrl|operationTimeoutMs|beforeVersionId|maxValueBytes|readOnly|logEntries|listKeys/

/** Rust's Option, as it would print: never in a message. */
const RUST_OPTION = /\bNone\b|\bSome\(/

describe('immukv command line on SeaweedFS', () => {
  let b
  let env
  const state = {}

  before(async () => {
    b = await bucket(SEAWEED)
    env = cliEnv(b)
  })

  test('set: a JSON argument, stdin, "-", and --string', async () => {
    let r = await run(['set', 'greeting', '{"text":"hello","n":1}'], { env })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^#0 .* greeting = \{"n":1,"text":"hello"\}|^#0 .* greeting = \{"text":"hello","n":1\}/)

    r = await run(['set', 'user/1'], { env, input: '{"name": "ada"}\n' })
    assert.equal(r.code, 0, r.stderr)
    r = await run(['set', 'user/2', '-'], { env, input: '[1, 2, 3]' })
    assert.equal(r.code, 0, r.stderr)

    r = await run(['set', 'note', 'not JSON at all', '--string'], { env })
    assert.equal(r.code, 0, r.stderr)
    r = await runJson(['set', 'note', '--string'], { env, input: 'from stdin\n' })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.doc.value, 'from stdin', 'one trailing newline of stdin is dropped')
    assert.equal(r.doc.sequence, 4)

    r = await run(['set', 'note', 'not JSON'], { env })
    assert.equal(r.code, 64, 'a value that is not JSON, without --string')
    assert.match(r.stderr, /^immukv: INVALID_VALUE: .*--string/m)

    // Five entries of "note" in all, for paging.
    for (const i of [5, 6, 7]) assert.equal((await run(['set', 'note', `"v${i}"`], { env })).code, 0)
  })

  test('get: human and --json, --verify, exit 3 for a missing key', async () => {
    let r = await run(['get', 'user/1'], { env })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^key +user\/1$/m)
    assert.match(r.stdout, /^value +\{"name":"ada"\}$/m)
    assert.match(r.stdout, /^sequence +1$/m)
    assert.match(r.stdout, /^time +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/m)
    assert.match(r.stdout, /^version +\S+$/m)

    const j = await runJson(['get', 'note', '--verify'], { env })
    assert.equal(j.code, 0, j.stderr)
    assert.equal(j.doc.value, 'v7')
    assert.equal(j.doc.sequence, 7)
    assert.equal(j.doc.verified, true)

    r = await run(['get', 'missing'], { env })
    assert.equal(r.code, 3)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /^immukv: KEY_NOT_FOUND: /m)

    const m = await runJson(['get', 'missing'], { env })
    assert.equal(m.code, 3)
    assert.equal(m.doc.error.code, 'KEY_NOT_FOUND')
    assert.match(m.stderr, /^immukv: KEY_NOT_FOUND: /m)
  })

  test('history: --limit, and paging with the printed cursor', async () => {
    const all = await run(['history', 'note'], { env })
    assert.equal(all.code, 0, all.stderr)
    assert.deepEqual(sequences(all.stdout), [7, 6, 5, 4, 3])
    assert.equal(nextPage(all.stderr, '--before'), undefined, 'no next page without --limit')

    const seen = []
    let cursor
    for (let pages = 0; pages < 10; pages++) {
      const r = await run(['history', 'note', '--limit', '2', ...(cursor ? ['--before', cursor] : [])], { env })
      assert.equal(r.code, 0, r.stderr)
      const page = sequences(r.stdout)
      assert.ok(page.length <= 2)
      seen.push(...page)
      cursor = nextPage(r.stderr, '--before')
      if (!cursor) break
    }
    assert.deepEqual(seen, [7, 6, 5, 4, 3])

    const j = await runJson(['history', 'note', '--limit', '3'], { env })
    assert.deepEqual(
      j.doc.entries.map((e) => e.sequence),
      [7, 6, 5],
    )
    assert.equal(typeof j.doc.nextCursor, 'string')
    const rest = await runJson(['history', 'note', '--before', j.doc.nextCursor], { env })
    assert.deepEqual(
      rest.doc.entries.map((e) => e.sequence),
      [4, 3],
    )

    const missing = await run(['history', 'missing'], { env })
    assert.equal(missing.code, 3)
    assert.match(missing.stderr, /KEY_NOT_FOUND/)
  })

  test('log: newest first, --limit and --before', async () => {
    const r = await run(['log', '--limit', '3'], { env })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(sequences(r.stdout), [7, 6, 5])
    const before = nextPage(r.stderr, '--before')
    assert.ok(before, r.stderr)
    const older = await runJson(['log', '--before', before], { env })
    assert.deepEqual(
      older.doc.entries.map((e) => e.sequence),
      [4, 3, 2, 1, 0],
    )
    assert.equal(older.doc.entries[4].key, 'greeting')
    assert.equal(older.doc.nextBefore, null)
  })

  test('keys: all, --prefix, --after, --limit', async () => {
    let r = await run(['keys'], { env })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(r.stdout.trim().split('\n'), ['greeting', 'note', 'user/1', 'user/2'])

    r = await run(['keys', '--prefix', 'user/'], { env })
    assert.deepEqual(r.stdout.trim().split('\n'), ['user/1', 'user/2'])

    r = await run(['keys', '--limit', '2'], { env })
    assert.deepEqual(r.stdout.trim().split('\n'), ['greeting', 'note'])
    assert.equal(nextPage(r.stderr, '--after'), 'note')

    const j = await runJson(['keys', '--after', 'note'], { env })
    assert.deepEqual(j.doc.keys, ['user/1', 'user/2'])
  })

  test('digest saved to a file, then verify --trusted FILE (and from stdin): intact, exit 0', async () => {
    const d = await run(['digest'], { env })
    assert.equal(d.code, 0, d.stderr)
    const digest = JSON.parse(d.stdout)
    assert.equal(digest.sequence, 7)
    assert.equal(typeof digest.versionId, 'string')
    assert.match(digest.hash, /^sha256:/)
    state.digest = digest
    state.digestFile = join(home, 'digest.json')
    writeFileSync(state.digestFile, d.stdout)

    let r = await run(['verify', '--trusted', state.digestFile], { env })
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.equal(r.stdout.trim(), 'intact: 8 entries checked, head sequence 7')
    assert.equal(r.stderr, '', 'no progress bar when stderr is a pipe')

    r = await run(['verify', '--trusted', '-', '--no-key-objects', '--limit', '3'], { env, input: d.stdout })
    assert.equal(r.code, 0, r.stdout + r.stderr)

    const j = await runJson(['verify', '--trusted', state.digestFile], { env })
    assert.equal(j.code, 0)
    assert.deepEqual(j.doc, { ok: true, checked: 8, failures: [], head: digest, empty: false, trusted: 'verified' })
  })

  test('the read commands write nothing to the bucket', async () => {
    const beforeRun = await snapshot(SEAWEED, b)
    const reads = [
      ['get', 'note'],
      ['get', 'note', '--verify'],
      ['get', 'missing'],
      ['history', 'note', '--limit', '2'],
      ['log'],
      ['keys'],
      ['digest'],
      ['verify'],
      ['verify', '--trusted', state.digestFile],
    ]
    for (const args of reads) assert.ok([0, 3].includes((await run(args, { env })).code), args.join(' '))
    assert.deepEqual(await snapshot(SEAWEED, b), beforeRun)
  })

  test('the progress bar of verify: on a TTY, not on a pipe nor with --json', async (t) => {
    const piped = await run(['verify'], { env })
    assert.equal(piped.code, 0)
    assert.doesNotMatch(piped.stderr, /checking|listing/)
    if (!hasScript) {
      t.skip('util-linux `script` is not installed: the TTY branch is not exercised')
      return
    }
    const tty = runOnTty(['verify'], env)
    assert.equal(tty.code, 0, tty.stdout)
    assert.match(tty.stdout, /checking log \[[=-]+\] \d+\/8 \| +\d+\/s \| ETA/, 'phase, bar, checked/total, rate, ETA')
    assert.match(tty.stdout, /checking key objects/)
    assert.match(tty.stdout, /intact: 8 entries checked, head sequence 7/)
    const json = runOnTty(['verify', '--json'], env)
    assert.equal(json.code, 0, json.stdout)
    assert.doesNotMatch(json.stdout, /checking log/)

    // On a narrow terminal every redraw fits the width, and keeps the count and the ETA.
    for (const columns of [50, 30]) {
      const narrow = runOnTty(['verify'], env, columns)
      assert.equal(narrow.code, 0, narrow.stdout)
      const bars = drawn(narrow.stdout).filter((d) => /^checking /.test(d))
      assert.ok(bars.length > 0, narrow.stdout)
      for (const d of bars) {
        assert.ok(d.length < columns, `${JSON.stringify(d)} fits ${columns} columns`)
        assert.match(d, / \d+\/\d+ .*ETA \S+$/, `the count and the ETA in ${JSON.stringify(d)}`)
      }
      if (columns === 50)
        assert.ok(
          bars.some((d) => d.startsWith('checking log [')),
          `at 50 columns the log phase still has a bar: ${bars}`,
        )
    }
  })

  test('a forged log version: verify exits 1 and names the kind and sequence', async () => {
    const head = await runJson(['log', '--limit', '1'], { env })
    const last = head.doc.entries[0]
    const forged = await forgeNext(last, 'note', 'forged')
    await putRaw(SEAWEED, b, '_log.json', forged.body.replace(forged.hash, 'sha256:' + '0'.repeat(64)))

    const r = await run(['verify', '--no-key-objects'], { env })
    assert.equal(r.code, 1, r.stdout + r.stderr)
    assert.match(r.stdout, /^TAMPERED: 1 failure, 9 entries checked$/m)
    assert.match(r.stdout, /^hash_mismatch +sequence 8 +version \S+ +path _log\.json +stored hash/m)

    const j = await runJson(['verify', '--no-key-objects'], { env })
    assert.equal(j.code, 1)
    assert.equal(j.doc.ok, false)
    assert.deepEqual(
      j.doc.failures.map((f) => [f.kind, f.sequence]),
      [['hash_mismatch', 8]],
    )

    const trusted = await runJson(['verify', '--trusted', state.digestFile], { env })
    assert.equal(trusted.code, 1)
    assert.ok(trusted.doc.failures.some((f) => f.kind === 'hash_mismatch' && f.sequence === 8))
  })

  test('a key object forged for a key never set: found by verify, get --verify exits 2', async () => {
    const real = (await runJson(['get', 'user/1'], { env })).doc
    const body = JSON.stringify({
      hash: real.hash,
      key: 'ghost',
      log_version_id: real.versionId,
      previous_hash: real.previousHash,
      sequence: real.sequence,
      timestamp_ms: real.timestampMs,
      value: 'boo',
    })
    await putRaw(SEAWEED, b, 'keys/ghost.json', body)

    const j = await runJson(['verify'], { env })
    assert.equal(j.code, 1)
    const f = j.doc.failures.find((x) => x.kind === 'key_object_forged')
    assert.ok(f, JSON.stringify(j.doc.failures))
    assert.equal(f.path, 'keys/ghost.json')

    const h = await run(['verify'], { env })
    assert.equal(h.code, 1)
    assert.match(h.stdout, /^key_object_forged .* path keys\/ghost\.json /m)

    const g = await run(['get', 'ghost', '--verify'], { env })
    assert.equal(g.code, 2)
    assert.match(g.stderr, /^immukv: CORRUPT_ENTRY: /m)
    const gj = await runJson(['get', 'ghost', '--verify'], { env })
    assert.equal(gj.doc.error.code, 'CORRUPT_ENTRY')
  })

  test('a reader gone from stdout (| true, | head): the exit status is still the verdict', async () => {
    // The store is tampered with by now (the tests above): verify's verdict is 1, whoever reads the report.
    for (const args of [['verify'], ['verify', '--json'], ['verify', '--no-key-objects']]) {
      const r = await runReaderGone(args, { env })
      assert.equal(r.code, 1, `immukv ${args.join(' ')} with stdout closed: ${r.stderr}`)
      assert.doesNotMatch(r.stderr, /EPIPE|at .*\.js:\d+/, 'no stack trace')
    }
    const missing = await runReaderGone(['get', 'missing', '--json'], { env })
    assert.equal(missing.code, 3, 'the error document is lost, the status is not')
    assert.match(missing.stderr, /^immukv: KEY_NOT_FOUND: /m)
    assert.equal((await runReaderGone(['get', 'note'], { env })).code, 0)

    // A real pipeline under pipefail, as a cron job writes it.
    const pipeline = (command) => spawnSync('bash', ['-c', `set -o pipefail; ${command}`], { env, encoding: 'utf8' })
    const quoted = `'${process.execPath}' '${CLI}'`
    let sh = pipeline(`${quoted} verify | head -n 1`)
    assert.equal(sh.status, 1, sh.stderr)
    assert.match(sh.stdout, /^TAMPERED: /)
    sh = pipeline(`${quoted} verify --json | true`)
    assert.equal(sh.status, 1, sh.stderr)
    // A listing whose reader has had enough: nothing failed, and it stops reading.
    sh = pipeline(`${quoted} log | head -n 1`)
    assert.equal(sh.status, 0, sh.stderr)
    assert.match(sh.stdout, /^#8 /)

    // Output that cannot be written for another reason (a full disk) is a failure, not a success or a verdict.
    if (existsSync('/dev/full')) {
      sh = pipeline(`${quoted} digest > /dev/full`)
      assert.equal(sh.status, 2, sh.stderr)
      assert.match(sh.stderr, /^immukv: cannot write to stdout: ENOSPC/m)
      assert.equal(pipeline(`${quoted} verify > /dev/full`).status, 1, 'the verdict stands')
    }
  })
})

describe('immukv command line: errors and configuration', () => {
  let b
  before(async () => {
    b = await bucket(SEAWEED)
    assert.equal((await run(['set', 'k', '1'], { env: cliEnv(b) })).code, 0)
  })

  test('usage errors exit 64 and say what is wrong', async () => {
    const env = cliEnv(b)
    const cases = [
      [['frobnicate'], /unknown command "frobnicate"/],
      [['get'], /get: missing <key>/],
      [['get', 'a', 'b'], /unexpected argument "b"/],
      [['get', 'k', '--bogus'], /Unknown option '--bogus'/],
      [['log', '--limit', '0'], /--limit must be a whole number/],
      [['log', '--limit', 'ten'], /--limit must be a whole number/],
      [['keys', '--limit'], /argument missing/],
      [['verify', '--trusted', join(home, 'no-such-file.json')], /cannot read/],
      [['verify', '--trusted', '-'], /does not hold a digest/],
      [['get', 'k', '--prefix', 'x'], /--s3-prefix/],
      [['set', 'k', '-5'], /goes after "--"/],
      [['log', '--timeout', '0'], /--timeout must be a whole number of milliseconds/],
      [['get', 'k', '--timeout', '5s'], /--timeout must be a whole number of milliseconds/],
      [['get', 'k', '--allow-empty'], /Unknown option '--allow-empty'/],
      [['help', 'frobnicate'], /help: unknown command "frobnicate"/],
      [[], /Usage: immukv/],
    ]
    for (const [args, message] of cases) {
      const r = await run(args, { env })
      assert.equal(r.code, 64, `immukv ${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, message, args.join(' '))
    }
    const minus = await run(['set', 'minus', '--json', '--', '-5'], { env })
    assert.equal(JSON.parse(minus.stdout).value, -5, 'a value starting with "-" goes after "--"')

    const noBucket = await run(['get', 'k'], { env: cliEnv(b, { IMMUKV_BUCKET: undefined }) })
    assert.equal(noBucket.code, 64)
    assert.match(noBucket.stderr, /^immukv: USAGE: no bucket/m)

    const j = await runJson(['get'], { env })
    assert.equal(j.code, 64)
    assert.equal(j.doc.error.code, 'USAGE')
  })

  test('help and --version exit 0 and list the exit codes', async () => {
    for (const args of [['help'], ['--help']]) {
      const r = await run(args, { env: cliEnv(b) })
      assert.equal(r.code, 0)
      assert.match(r.stdout, /Exit codes:[\s\S]*64/)
      // Every command is listed, and the way to its own help.
      for (const name of ['get', 'set', 'history', 'log', 'keys', 'digest', 'verify', 'doctor', 'policy'])
        assert.match(r.stdout, new RegExp(`^  ${name} +\\S`, 'm'))
      assert.match(r.stdout, /immukv <command> --help/)
    }
    const v = await run(['--version'], { env: cliEnv(b) })
    assert.equal(v.code, 0)
    assert.match(v.stdout.trim(), /^\d+\.\d+\.\d+/)
  })

  test('per-command help: COMMAND --help, -h and help COMMAND show that command, its options and exit codes', async () => {
    const own = {
      get: ['--verify'],
      set: ['--string'],
      history: ['--limit N', '--before CURSOR'],
      log: ['--limit N', '--before VERSION_ID', '--allow-empty'],
      keys: ['--prefix P', '--after KEY', '--limit N'],
      digest: ['--allow-empty'],
      verify: ['--trusted FILE', '--no-key-objects', '--limit N', '--allow-empty', '--check-retention', '--object-lock MODE:DAYS'],
      doctor: ['--read-only', '--object-lock MODE:DAYS', '--kms-key-id KEY'],
      policy: ['--read-only', '--object-lock MODE:DAYS', '--kms-key-id KEY'],
    }
    for (const [name, options] of Object.entries(own)) {
      for (const args of [
        [name, '--help'],
        [name, '-h'],
        ['help', name],
      ]) {
        const r = await run(args, { env: cliEnv(b, { IMMUKV_BUCKET: undefined }) })
        assert.equal(r.code, 0, `immukv ${args.join(' ')}: ${r.stderr}`)
        assert.match(r.stdout, new RegExp(`^Usage: immukv ${name} `), args.join(' '))
        for (const option of options) assert.ok(r.stdout.includes(`  ${option} `), `${args.join(' ')} describes ${option}:\n${r.stdout}`)
        assert.match(r.stdout, /--bucket NAME +IMMUKV_BUCKET/, 'the connection flags and their variables')
        assert.match(r.stdout, /--timeout MS/)
        assert.match(r.stdout, /Exit codes:\n {2}0 /)
        assert.doesNotMatch(r.stdout, /^Commands:/m, 'not the list of commands')
      }
    }
    const verify = await run(['verify', '--help'], { env: cliEnv(b) })
    assert.match(verify.stdout, /^ {2}1 +tampering found$/m)
    assert.match(verify.stdout, /^ {2}3 +no log under the prefix/m)
  })

  test('a wrong endpoint (nothing listening): exit 2, "cannot reach" names it', async () => {
    const r = await run(['get', 'k', '--endpoint', 'http://127.0.0.1:1'], { env: cliEnv(b) })
    assert.equal(r.code, 2)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /^immukv: STORAGE_ERROR: cannot reach http:\/\/127\.0\.0\.1:1: connection refused/m)
    assert.doesNotMatch(r.stderr, /dispatch failure|cause:/, 'the SDK says how, the CLI says where')
    const j = await runJson(['verify', '--endpoint', 'http://127.0.0.1:1'], { env: cliEnv(b) })
    assert.equal(j.code, 2)
    assert.equal(j.doc.error.code, 'STORAGE_ERROR')
    assert.match(j.doc.error.message, /^cannot reach http:\/\/127\.0\.0\.1:1: /)
    // From the environment, the same.
    const fromEnv = await run(['keys'], { env: cliEnv(b, { AWS_ENDPOINT_URL: undefined, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1' }) })
    assert.match(fromEnv.stderr, /cannot reach http:\/\/127\.0\.0\.1:1: /)
  })

  test('wrong keys: exit 2 with ACCESS_DENIED, the secret never shown', async () => {
    const r = await run(['get', 'k'], { env: cliEnv(b, { AWS_SECRET_ACCESS_KEY: 'not-the-right-secret-7f3a9' }) })
    assert.equal(r.code, 2)
    assert.match(r.stderr, /^immukv: ACCESS_DENIED: /m)
    assert.ok(!r.stderr.includes('not-the-right-secret-7f3a9'))
  })

  test('flags come before the environment: --bucket, --region, --s3-prefix', async () => {
    const env = cliEnv('no-such-bucket-from-env', { AWS_REGION: undefined, AWS_DEFAULT_REGION: 'us-east-1' })
    let r = await run(['get', 'k', '--bucket', b], { env })
    assert.equal(r.code, 0, r.stderr)
    r = await run(['set', 'p', '2', '--bucket', b, '--s3-prefix', 'app/', '--region', 'us-east-1'], { env })
    assert.equal(r.code, 0, r.stderr)
    r = await runJson(['keys'], { env: cliEnv(b, { IMMUKV_PREFIX: 'app/' }) })
    assert.deepEqual(r.doc.keys, ['p'])
    r = await run(['get', 'k'], { env: cliEnv(b, { AWS_REGION: undefined }) })
    assert.equal(r.code, 64, 'no region anywhere: a configuration error')
    assert.match(r.stderr, /INVALID_CONFIG: no region/)
  })

  test('credentials from a profile: AWS_PROFILE, or --profile over keys in the environment', async () => {
    const profileHome = mkdtempSync(join(tmpdir(), 'immukv-cli-profile-'))
    try {
      mkdirSync(join(profileHome, '.aws'))
      writeFileSync(
        join(profileHome, '.aws', 'credentials'),
        `[ops]\naws_access_key_id = ${ADMIN.accessKeyId}\naws_secret_access_key = ${ADMIN.secretAccessKey}\n`,
      )
      writeFileSync(join(profileHome, '.aws', 'config'), '[profile ops]\nregion = us-east-1\n')
      const noKeys = { HOME: profileHome, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_REGION: undefined }
      let r = await run(['get', 'k'], { env: cliEnv(b, { ...noKeys, AWS_PROFILE: 'ops' }) })
      assert.equal(r.code, 0, r.stderr)
      r = await run(['get', 'k', '--profile', 'ops'], { env: cliEnv(b, { HOME: profileHome, AWS_SECRET_ACCESS_KEY: 'not-the-right-secret-7f3a9' }) })
      assert.equal(r.code, 0, r.stderr)
    } finally {
      rmSync(profileHome, { recursive: true, force: true })
    }
  })

  test('Ctrl-C during any command aborts it: exit 130, the ABORTED error, with --json as a document (set: mayHaveCommitted)', async () => {
    // A server that accepts connections and never answers: the command waits on it.
    for (const args of [['set', 'k', '1'], ['get', 'k'], ['keys'], ['verify'], ['set', 'k'], ['log', '--follow'], ['get', 'k', '--at-sequence', '0']]) {
      const sockets = []
      let connected
      const reached = new Promise((resolve) => (connected = resolve))
      const silent = net.createServer((s) => {
        sockets.push(s)
        connected()
      })
      await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve))
      try {
        const endpoint = `http://127.0.0.1:${silent.address().port}`
        // `set k` reads its value from stdin, which stays open: interrupted there, before any request.
        const fromStdin = args.length === 2 && args[0] === 'set'
        const p = spawn(process.execPath, [CLI, ...args, '--json', '--endpoint', endpoint], { env: cliEnv(b), stdio: ['pipe', 'pipe', 'pipe'] })
        let stdout = ''
        let stderr = ''
        p.stdout.on('data', (d) => (stdout += d))
        p.stderr.on('data', (d) => (stderr += d))
        const exited = new Promise((resolve) => p.on('close', (code) => resolve(code)))
        await (fromStdin ? new Promise((resolve) => setTimeout(resolve, 500)) : reached)
        const t0 = Date.now()
        p.kill('SIGINT')
        assert.equal(await exited, 130, `${args.join(' ')}: ${stderr}`)
        p.stdin.destroy()
        assert.ok(Date.now() - t0 < 5000, 'it does not wait for the request to time out')
        assert.match(stderr, /^immukv: ABORTED: /m)
        const { error } = JSON.parse(stdout)
        assert.equal(error.code, 'ABORTED', args.join(' '))
        if (args[0] === 'set') assert.equal(typeof error.mayHaveCommitted, 'boolean', 'a failed set says whether it may have committed')
        else assert.equal(error.mayHaveCommitted, undefined)
        if (fromStdin) assert.equal(error.mayHaveCommitted, false)
      } finally {
        for (const s of sockets) s.destroy()
        silent.close()
      }
    }
  })
})

describe('immukv command line: errors in its own words', () => {
  let b
  before(async () => {
    b = await bucket(SEAWEED)
    assert.equal((await run(['set', 'k', '1'], { env: cliEnv(b) })).code, 0)
  })

  /** A message for a user of the CLI: its flags and variables, no library option, no SDK dump, no Rust Option. */
  function assertCliWords(r, what) {
    assert.doesNotMatch(r.stderr + r.stdout, LIBRARY_NAMES, `${what}: a library option named\n${r.stderr}`)
    assert.doesNotMatch(r.stderr + r.stdout, RUST_OPTION, `${what}: Rust's Option\n${r.stderr}`)
    assert.doesNotMatch(r.stderr, /Error \{|aws_request_id|dispatch failure|^ +cause:|Attempted:/m, `${what}: the SDK's debug text\n${r.stderr}`)
    const messages = r.stderr.split('\n').filter((l) => l.startsWith('immukv: '))
    assert.equal(messages.length, 1, `${what}: one message, on one line\n${r.stderr}`)
  }

  test('configuration errors name the flag and the variable', async () => {
    const cases = [
      [{ AWS_REGION: undefined }, ['get', 'k'], 64, /^immukv: INVALID_CONFIG: no region: pass --region R or set AWS_REGION/m],
      [{}, ['get', 'k', '--region', ' '], 64, /INVALID_CONFIG: --region \/ AWS_REGION must be a region name/],
      [{}, ['get', 'k', '--endpoint', 'ftp://x'], 64, /INVALID_CONFIG: --endpoint \/ AWS_ENDPOINT_URL_S3 must be an http:\/\/ or https:\/\/ URL/],
      [{ AWS_ENDPOINT_URL: 'ftp://x' }, ['get', 'k'], 64, /INVALID_CONFIG: --endpoint \/ AWS_ENDPOINT_URL must be/],
      [{}, ['get', 'k', '--bucket', 'a/b'], 64, /INVALID_CONFIG: --bucket \/ IMMUKV_BUCKET "a\/b" is not a bucket name/],
      [{ IMMUKV_PREFIX: '/x' }, ['get', 'k'], 64, /INVALID_CONFIG: --s3-prefix \/ IMMUKV_PREFIX "\/x" must not have empty/],
      [{}, ['log', '--before', 'no-such-version'], 64, /INVALID_ARGUMENT: --before "no-such-version" is not a version/],
    ]
    for (const [extra, args, code, message] of cases) {
      const r = await run(args, { env: cliEnv(b, extra) })
      const what = `immukv ${args.join(' ')} ${JSON.stringify(extra)}`
      assert.equal(r.code, code, `${what}: ${r.stderr}`)
      assert.match(r.stderr, message, what)
      assertCliWords(r, what)
    }
  })

  test('an endpoint that is not S3, a silent one: named, and the time limit is --timeout', async () => {
    const notS3 = http.createServer((_req, res) => res.writeHead(404).end('not here'))
    const silent = net.createServer(() => {})
    const sockets = []
    silent.on('connection', (s) => sockets.push(s))
    await Promise.all([notS3, silent].map((server) => new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))))
    try {
      const url = (server) => `http://127.0.0.1:${server.address().port}`
      let r = await run(['get', 'k', '--endpoint', url(notS3)], { env: cliEnv(b) })
      assert.equal(r.code, 2)
      assert.match(r.stderr, /does not look like an S3 server \(check --endpoint \/ AWS_ENDPOINT_URL_S3\)/)
      assertCliWords(r, 'not S3')
      const t0 = Date.now()
      r = await run(['get', 'k', '--endpoint', url(silent), '--timeout', '700'], { env: cliEnv(b) })
      assert.equal(r.code, 2)
      assert.ok(Date.now() - t0 < 10000, '--timeout bounds the call')
      assert.match(r.stderr, /^immukv: STORAGE_ERROR: get did not finish within 700 ms \(--timeout MS sets the limit\)$/m)
      assertCliWords(r, 'silent')
    } finally {
      for (const s of sockets) s.destroy()
      notS3.close()
      silent.close()
    }
  })

  test('credentials: none found, a profile that is nowhere (--profile and AWS_PROFILE)', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'immukv-cli-home-'))
    try {
      const noKeys = { HOME: empty, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined }
      let r = await run(['get', 'k'], { env: cliEnv(b, noKeys) })
      assert.equal(r.code, 2)
      assert.match(r.stderr, /^immukv: CREDENTIALS_ERROR: no AWS credentials found; tried, in order: .*name a profile with --profile NAME\.$/m)
      assertCliWords(r, 'no credentials')

      r = await run(['get', 'k', '--profile', 'nosuch'], { env: cliEnv(b, { HOME: empty }) })
      assert.equal(r.code, 64, r.stderr)
      const files = `${join(empty, '.aws', 'config')} nor ${join(empty, '.aws', 'credentials')}`
      assert.ok(r.stderr.includes(`immukv: INVALID_CONFIG: profile "nosuch" (--profile) not found: it is in neither ${files}`), r.stderr)
      assertCliWords(r, '--profile nosuch')

      r = await run(['get', 'k'], { env: cliEnv(b, { ...noKeys, AWS_PROFILE: 'nosuch' }) })
      assert.equal(r.code, 2, r.stderr)
      assert.match(r.stderr, /^immukv: CREDENTIALS_ERROR: profile "nosuch" \(AWS_PROFILE\) not found/m)
      assertCliWords(r, 'AWS_PROFILE=nosuch')
      r = await run(['get', 'k'], { env: cliEnv(b, { ...noKeys, AWS_PROFILE: 'nosuch', AWS_REGION: undefined }) })
      assert.equal(r.code, 64, r.stderr)
      assert.match(r.stderr, /^immukv: INVALID_CONFIG: profile "nosuch" \(AWS_PROFILE\) not found/m)
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
  })

  for (const server of [SEAWEED, MOTO]) {
    test(`no such bucket on ${server.name}: named, the SDK's debug text only with IMMUKV_LOG`, async () => {
      const env = cliEnv('no-such-bucket-' + Date.now().toString(36), { AWS_ENDPOINT_URL: server.endpoint })
      const r = await run(['get', 'k'], { env })
      assert.equal(r.code, 2, r.stderr)
      assert.match(r.stderr, /^immukv: NO_SUCH_BUCKET: .*\(check --bucket \/ IMMUKV_BUCKET/m)
      assertCliWords(r, 'no such bucket')
      const j = await runJson(['verify'], { env })
      assert.equal(j.doc.error.code, 'NO_SUCH_BUCKET')
      assert.doesNotMatch(j.doc.error.message, /Error \{|cause/)
      const debug = await run(['get', 'k'], { env: { ...env, IMMUKV_LOG: 'error' } })
      assert.equal(debug.code, 2)
      assert.match(debug.stderr, /^ +cause: /m, 'with IMMUKV_LOG the causes are shown')
    })
  }
})

describe('immukv command line: an empty or mistyped prefix', () => {
  let b
  let digestFile
  before(async () => {
    b = await bucket(SEAWEED)
    const env = cliEnv(b, { IMMUKV_PREFIX: 'app/' })
    assert.equal((await run(['set', 'k', '1'], { env })).code, 0)
    digestFile = join(home, 'app-digest.json')
    writeFileSync(digestFile, (await run(['digest'], { env })).stdout)
  })

  test('verify, digest and log on a prefix holding no log: exit 3, LOG_NOT_FOUND naming bucket and prefix', async () => {
    const env = cliEnv(b, { IMMUKV_PREFIX: 'apq/' }) // a typo of app/
    for (const args of [['verify'], ['verify', '--no-key-objects', '--limit', '5'], ['digest'], ['log'], ['log', '--limit', '2']]) {
      const r = await run(args, { env })
      const what = `immukv ${args.join(' ')}`
      assert.equal(r.code, 3, `${what}: ${r.stdout}${r.stderr}`)
      assert.equal(r.stdout, '', what)
      assert.match(r.stderr, /^immukv: LOG_NOT_FOUND: no log under s3:\/\/\S+\/apq\/ /m, what)
      assert.ok(r.stderr.includes(`bucket "${b}", prefix "apq/"`), `${what} names bucket and prefix: ${r.stderr}`)
      assert.match(r.stderr, /--allow-empty/)
      assert.doesNotMatch(r.stderr, RUST_OPTION)
      const j = await runJson(args, { env })
      assert.equal(j.code, 3, what)
      assert.equal(j.doc.error.code, 'LOG_NOT_FOUND', what)
    }
    // The store's root: prefix "".
    const root = await run(['verify'], { env: cliEnv(b) })
    assert.equal(root.code, 3)
    assert.ok(root.stderr.includes(`no log under s3://${b}/ (bucket "${b}", prefix "")`), root.stderr)
  })

  test('--allow-empty: an empty store is accepted (exit 0), and says so', async () => {
    const env = cliEnv(b, { IMMUKV_PREFIX: 'apq/' })
    let r = await run(['verify', '--allow-empty'], { env })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, `empty: no log under s3://${b}/apq/ (accepted with --allow-empty)\n`)
    const j = await runJson(['verify', '--allow-empty'], { env })
    assert.equal(j.code, 0)
    assert.deepEqual(j.doc, { ok: true, checked: 0, failures: [], head: null, empty: true })
    r = await run(['digest', '--allow-empty'], { env })
    assert.equal(r.code, 0)
    assert.equal(r.stdout, 'null\n')
    r = await run(['log', '--allow-empty'], { env })
    assert.equal(r.code, 0)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /\(nothing\)/)
    const log = await runJson(['log', '--allow-empty'], { env })
    assert.deepEqual(log.doc, { entries: [], nextBefore: null })
    // Where there is a log, the flag changes nothing.
    r = await runJson(['verify', '--allow-empty'], { env: cliEnv(b, { IMMUKV_PREFIX: 'app/' }) })
    assert.equal(r.code, 0)
    assert.equal(r.doc.empty, false)
    assert.equal(r.doc.checked, 1)
  })

  test('--trusted against a prefix holding no log fails (exit 1), --allow-empty or not, naming bucket and prefix', async () => {
    const env = cliEnv(b, { IMMUKV_PREFIX: 'apq/' })
    for (const extra of [[], ['--allow-empty']]) {
      const r = await run(['verify', '--trusted', digestFile, ...extra], { env })
      assert.equal(r.code, 1, r.stdout + r.stderr)
      assert.match(r.stdout, /^TAMPERED: 1 failure, 0 entries checked$/m)
      assert.match(r.stdout, /^truncated /m)
      assert.ok(r.stdout.includes(`no log under s3://${b}/apq/ at all`), r.stdout)
      assert.doesNotMatch(r.stdout + r.stderr, RUST_OPTION)
      const j = await runJson(['verify', '--trusted', digestFile, ...extra], { env })
      assert.equal(j.code, 1)
      assert.equal(j.doc.empty, true)
      assert.equal(j.doc.ok, false)
    }
  })

  test('the nightly audit from an empty store on: --allow-empty and a trusted null, then the saved head', async () => {
    const fresh = await bucket(SEAWEED)
    const env = cliEnv(fresh)
    const d = await run(['digest', '--allow-empty'], { env })
    assert.equal(d.code, 0, d.stderr)
    const file = join(home, 'empty-digest.json')
    writeFileSync(file, d.stdout)
    let j = await runJson(['verify', '--trusted', file, '--allow-empty'], { env })
    assert.equal(j.code, 0, j.stderr)
    assert.deepEqual(j.doc, { ok: true, checked: 0, failures: [], head: null, empty: true })
    assert.equal((await run(['verify', '--trusted', file], { env })).code, 3, 'a trusted null does not make an empty store pass')
    writeFileSync(file, JSON.stringify(j.doc.head))
    assert.equal((await run(['set', 'k', '1'], { env })).code, 0)
    j = await runJson(['verify', '--trusted', file, '--allow-empty'], { env })
    assert.equal(j.code, 0, j.stderr)
    assert.equal(j.doc.head.sequence, 0)
    const human = await run(['verify', '--trusted', '-'], { env, input: 'null\n' })
    assert.equal(human.code, 0, human.stderr)
    assert.equal(human.stdout.trim(), 'intact: 1 entry checked, head sequence 0')
  })

  test('no "None" or "Some(" in a report: a forged genesis and a missing previous version', async () => {
    const forgedBucket = await bucket(SEAWEED)
    const first = await forgeNext(undefined, 'k', 1)
    const genesis = JSON.parse(first.body)
    genesis.previous_version_id = 'not-a-version'
    const put = await putRaw(SEAWEED, forgedBucket, '_log.json', JSON.stringify(genesis))
    const next = await forgeNext({ sequence: 0, hash: first.hash, versionId: put.VersionId }, 'k', 2)
    const orphan = JSON.parse(next.body)
    delete orphan.previous_version_id
    await putRaw(SEAWEED, forgedBucket, '_log.json', JSON.stringify(orphan))
    const env = cliEnv(forgedBucket)
    const r = await run(['verify', '--no-key-objects'], { env })
    assert.equal(r.code, 1, r.stdout + r.stderr)
    assert.match(r.stdout, /^bad_genesis .*previous_version_id "not-a-version"/m)
    assert.match(r.stdout, /^wrong_previous_version .*previous_version_id none /m)
    assert.doesNotMatch(r.stdout + r.stderr, RUST_OPTION)
    const j = await runJson(['verify', '--no-key-objects'], { env })
    for (const f of j.doc.failures) assert.doesNotMatch(f.detail, RUST_OPTION, f.detail)
  })
})

describe('immukv command line: stored names in human output', () => {
  // A forged log entry whose key would rewrite the terminal: CR LF, ESC, C1 CSI, a bidi override.
  const evilKey = 'evil\r\nintact: 0 entries checked\u001b[2K\u009b\u202e'
  const evilValue = 'x\u0085y\u202e'
  let b
  let env
  before(async () => {
    b = await bucket(SEAWEED)
    env = cliEnv(b)
    assert.equal((await run(['set', 'k', '1'], { env })).code, 0)
    // A bidi override is allowed in a key (control characters are not).
    const head = (await runJson(['set', 'rtl\u202eoverride', '1'], { env })).doc
    const forged = await forgeNext(head, evilKey, evilValue)
    await putRaw(SEAWEED, b, '_log.json', forged.body)
    // A key object whose name holds a bidi override and a C1 control (both listable in S3's XML).
    await putRaw(SEAWEED, b, 'keys/gh\u202eost\u0085.json', JSON.stringify({ ...JSON.parse(forged.body), key: 'gh\u202eost\u0085' }))
  })

  /** Every line of human output is one record, with no character a terminal would act on. */
  function assertOneRecordALine(text, record, what) {
    for (const line of text.split('\n').filter(Boolean)) {
      assert.doesNotMatch(line, UNSAFE, `${what}: a raw control character in ${JSON.stringify(line)}`)
      assert.match(line, record, `${what}: ${JSON.stringify(line)} is not one record`)
    }
  }

  test('log, history and keys escape control characters; --json keeps them exact', async () => {
    const log = await run(['log'], { env })
    assert.equal(log.code, 0, log.stderr)
    assertOneRecordALine(log.stdout, /^#\d+ {2}\S+ {2}/, 'log')
    assert.equal(log.stdout.split('\n').filter(Boolean).length, 3)
    assert.ok(log.stdout.includes('evil\\r\\nintact: 0 entries checked\\u001b[2K\\u009b\\u202e = "x\\u0085y\\u202e"'), log.stdout)
    const j = await runJson(['log'], { env })
    assert.equal(j.doc.entries[0].key, evilKey, '--json: the key exactly')
    assert.equal(j.doc.entries[0].value, evilValue)

    const keys = await run(['keys'], { env })
    assertOneRecordALine(keys.stdout, /^\S+$/, 'keys')
    assert.deepEqual(keys.stdout.split('\n'), ['k', 'rtl\\u202eoverride', ''])
    assert.deepEqual((await runJson(['keys'], { env })).doc.keys, ['k', 'rtl\u202eoverride'])
    const history = await run(['history', 'rtl\u202eoverride'], { env })
    assert.equal(history.code, 0, history.stderr)
    assertOneRecordALine(history.stdout, /^#1 {2}\S+ {2}rtl\\u202eoverride = 1 {2}version \S+$/, 'history')
  })

  test('verify: one failure a line, names and details escaped', async () => {
    const r = await run(['verify'], { env })
    assert.equal(r.code, 1, r.stdout + r.stderr)
    assertOneRecordALine(r.stdout, /^(TAMPERED: |[a-z_]+ {2}sequence )/, 'verify')
    assert.match(r.stdout, /^key_object_forged .*path keys\/gh\\u202eost\\u0085\.json /m)
    const j = await runJson(['verify'], { env })
    assert.ok(
      j.doc.failures.some((f) => f.path === 'keys/gh\u202eost\u0085.json'),
      JSON.stringify(j.doc.failures),
    )
  })
})

describe('immukv command line: long listings over a slow link', () => {
  const ENTRIES = 300
  const LATENCY_MS = 100
  // Too short to read the whole log in one call through the proxy; ample for a page.
  const TIMEOUT_MS = 800
  let b
  let proxy
  let env
  before(async () => {
    b = await bucket(SEAWEED)
    const writer = client(SEAWEED, b)
    await Promise.all(Array.from({ length: ENTRIES }, (_, i) => writer.set(i % 2 === 0 ? 'even' : 'odd', i)))
    await writer.close()
    proxy = await new S3Proxy(SEAWEED.endpoint, { latencyMs: LATENCY_MS }).start()
    env = cliEnv(b, { AWS_ENDPOINT_URL: proxy.endpoint })
  })
  after(() => proxy.stop())

  /** Runs the tool, noting when its first output came and when it ended; `onFirstOutput` is called then. */
  function runTimed(args, { onFirstOutput } = {}) {
    return new Promise((resolve, reject) => {
      const t0 = Date.now()
      const p = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      let firstMs
      p.stdout.on('data', (d) => {
        if (firstMs === undefined) {
          firstMs = Date.now() - t0
          onFirstOutput?.()
        }
        stdout += d
      })
      p.stderr.on('data', (d) => (stderr += d))
      p.on('error', reject)
      p.on('close', (code) => resolve({ code, stdout, stderr, firstMs, totalMs: Date.now() - t0 }))
    })
  }

  test('the whole log does not fit one call of the budget (the case being tested)', async () => {
    const direct = new ImmuKVClient({ ...config(SEAWEED, b), overrides: { endpointUrl: proxy.endpoint, credentials: ADMIN }, operationTimeoutMs: TIMEOUT_MS })
    try {
      await assert.rejects(direct.logEntries(), /did not finish within/)
    } finally {
      await direct.close()
    }
  })

  test('log --json without --limit: every entry, one JSON document, written as the pages arrive', async () => {
    const r = await runTimed(['log', '--json', '--timeout', String(TIMEOUT_MS)])
    assert.equal(r.code, 0, r.stderr)
    const doc = JSON.parse(r.stdout)
    assert.deepEqual(
      doc.entries.map((e) => e.sequence),
      Array.from({ length: ENTRIES }, (_, i) => ENTRIES - 1 - i),
    )
    assert.equal(doc.nextBefore, null)
    assert.equal(r.stdout, JSON.stringify(doc, null, 2) + '\n', 'the same text as one document printed at once')
    assert.ok(r.firstMs < r.totalMs / 2, `the first page shows early (${r.firstMs} of ${r.totalMs} ms)`)
  })

  test('history without --limit: every entry, printed as the pages arrive', async () => {
    const r = await runTimed(['history', 'even', '--timeout', String(TIMEOUT_MS)])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(
      sequences(r.stdout),
      Array.from({ length: ENTRIES / 2 }, (_, i) => ENTRIES - 2 - 2 * i),
    )
    assert.ok(r.firstMs < r.totalMs / 2, `the first page shows early (${r.firstMs} of ${r.totalMs} ms)`)
  })

  test('a failure after the first page: the document ends with the error and the cursor to resume from', async () => {
    // Once the first page is out, the link goes silent: the next page runs out of time.
    const r = await runTimed(['log', '--json', '--timeout', String(TIMEOUT_MS)], { onFirstOutput: () => proxy.inject({ action: 'hang', times: 1e6 }) })
    proxy.clearFaults()
    assert.equal(r.code, 2, r.stderr)
    const doc = JSON.parse(r.stdout)
    assert.ok(doc.entries.length > 0 && doc.entries.length < ENTRIES, `${doc.entries.length} entries`)
    assert.equal(doc.nextBefore, doc.entries.at(-1).versionId)
    assert.equal(doc.error.code, 'STORAGE_ERROR')
    assert.match(doc.error.message, /^reading the log did not finish within 800 ms \(--timeout MS sets the limit\)$/)
    assert.match(r.stderr, /^immukv: STORAGE_ERROR: /m)

    // For people: the lines so far, then the error and how to go on.
    const human = await runTimed(['log', '--timeout', String(TIMEOUT_MS)], { onFirstOutput: () => proxy.inject({ action: 'hang', times: 1e6 }) })
    proxy.clearFaults()
    assert.equal(human.code, 2, human.stderr)
    const lastVersion = human.stdout
      .trim()
      .split('\n')
      .at(-1)
      .match(/ version (\S+)$/)[1]
    assert.match(human.stderr, /^immukv: STORAGE_ERROR: reading the log did not finish within 800 ms/m)
    assert.ok(human.stderr.endsWith(`  resume with: --before ${lastVersion}\n`), human.stderr)

    const rest = await runTimed(['log', '--json', '--timeout', String(TIMEOUT_MS), '--before', doc.nextBefore])
    assert.equal(rest.code, 0, rest.stderr)
    const all = [...doc.entries, ...JSON.parse(rest.stdout).entries].map((e) => e.sequence)
    assert.deepEqual(
      all,
      Array.from({ length: ENTRIES }, (_, i) => ENTRIES - 1 - i),
    )
  })
})

describe('immukv command line: a retention horizon', () => {
  test('versions expired by a lifecycle rule: intact from the horizon; a trusted digest older than it exits 4', async (t) => {
    // Written today by the server's clock: the proxy's listings say 40 days earlier.
    const proxy = await new S3Proxy(SEAWEED.endpoint).start()
    t.after(() => proxy.stop())
    proxy.backdateListings(40 * 86_400_000)
    const b = await bucket(SEAWEED)
    const aged = []
    for (let i = 0; i < 4; i++) aged.push(await writeAged(SEAWEED, b, aged.at(-1), `old${i}`, i, 40))
    const env = cliEnv(b, { AWS_ENDPOINT_URL: proxy.endpoint })
    assert.equal((await run(['set', 'new', '1'], { env })).code, 0)
    const oldDigest = join(home, 'expired-digest.json')
    writeFileSync(oldDigest, JSON.stringify({ sequence: aged[0].sequence, versionId: aged[0].versionId, hash: aged[0].hash }))
    // What the rule does, 30 days after a version became noncurrent: the two oldest log versions are gone.
    const s3 = raw(SEAWEED.endpoint)
    for (const e of aged.slice(0, 2)) await s3.send(new DeleteObjectCommand({ Bucket: b, Key: '_log.json', VersionId: e.versionId }))
    const rule = { ID: 'expire-history', Filter: { Prefix: '' }, Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 30 } }
    await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: b, LifecycleConfiguration: { Rules: [rule] } }))

    let r = await run(['verify'], { env })
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const [first, horizon, ...rest] = r.stdout.split('\n')
    assert.equal(first, 'intact: 3 entries checked from sequence 2, head sequence 4')
    assert.match(horizon, /^horizon {2}sequence 2 {2}version \S+ {2}lifecycle rule "expire-history" removes noncurrent versions /)
    assert.deepEqual(rest, [''])

    r = await run(['verify', '--trusted', oldDigest], { env })
    assert.equal(r.code, 4, r.stdout + r.stderr)
    assert.match(r.stdout, /^UNPROVEN: the trusted digest is older than the retention horizon/)
    const j = await runJson(['verify', '--trusted', oldDigest], { env })
    assert.equal(j.code, 4)
    assert.equal(j.doc.trusted, 'expired')
    assert.equal(j.doc.ok, false)
    assert.deepEqual(j.doc.failures, [])
    assert.equal(j.doc.horizon.sequence, 2)
    // A digest inside the verified range is proven as ever.
    const inside = await run(['verify', '--trusted', '-'], { env, input: (await run(['digest'], { env })).stdout })
    assert.equal(inside.code, 0, inside.stdout + inside.stderr)
  })
})

describe('immukv doctor, policy and verify --check-retention', () => {
  test('doctor: exit 0 when nothing blocks use, human and --json; it writes nothing', async () => {
    const b = await lockedBucket(SEAWEED, { Mode: 'GOVERNANCE', Days: 1 })
    const env = cliEnv(b, { IMMUKV_PREFIX: 'audit/' })
    assert.equal((await run(['set', 'k', '1'], { env })).code, 0)
    const before = await snapshot(SEAWEED, b)
    const r = await run(['doctor'], { env })
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const [verdict, ...lines] = r.stdout.trim().split('\n')
    assert.match(verdict, new RegExp(`^s3://${b}/audit/: usable, nothing blocks it`))
    assert.ok(
      lines.some((l) => /^ok {8}object_lock +Object Lock is enabled, default retention GOVERNANCE for 1 day/.test(l)),
      r.stdout,
    )
    assert.ok(
      lines.some((l) => /^ok {8}permission +s3:PutObject: allowed .*refused, nothing written/.test(l)),
      r.stdout,
    )
    assert.ok(
      lines.some((l) => /^ok {8}log +the log audit\/_log.json is there: head sequence 0/.test(l)),
      r.stdout,
    )
    const j = await runJson(['doctor'], { env })
    assert.equal(j.code, 0)
    assert.equal(j.doc.ok, true)
    assert.deepEqual(j.doc.objectLock, { state: 'enabled', defaultRetention: { mode: 'GOVERNANCE', days: 1 } })
    assert.equal(j.doc.log.state, 'present')
    assert.ok(j.doc.findings.every((f) => typeof f.check === 'string' && typeof f.status === 'string' && typeof f.summary === 'string'))
    assert.deepEqual(await snapshot(SEAWEED, b), before)
  })

  test('doctor: exit 1 with a fix under each blocking line; --json says ok: false', async () => {
    const b = await bucket(SEAWEED, { versioning: false })
    const env = cliEnv(b)
    const r = await run(['doctor', '--object-lock', 'compliance:30'], { env })
    assert.equal(r.code, 1, r.stdout + r.stderr)
    const lines = r.stdout.split('\n')
    assert.match(lines[0], /: NOT USABLE: 2 blocking/)
    const at = lines.findIndex((l) => /^BLOCKING {2}versioning /.test(l))
    assert.match(lines[at + 1], new RegExp(`^ +fix: aws s3api put-bucket-versioning --bucket ${b} --versioning-configuration Status=Enabled$`))
    const lock = lines.findIndex((l) => /^BLOCKING {2}object_lock /.test(l))
    // In the command line's words: the flag, not the library's option.
    assert.match(lines[lock], /--object-lock \(COMPLIANCE for 30 days\) is configured, but the bucket has no Object Lock/)
    assert.match(lines[lock + 1], /fix: aws s3api put-object-lock-configuration --bucket .*or leave out --object-lock$/)
    const j = await runJson(['doctor'], { env })
    assert.equal(j.code, 1)
    assert.equal(j.doc.ok, false)
    assert.equal(j.doc.versioning, 'off')
    assert.equal(j.doc.findings[0].status, 'blocking')
    // A bucket that does not exist is a finding too.
    const missing = await runJson(['doctor'], { env: cliEnv(`${b}-none`) })
    assert.equal(missing.code, 1)
    assert.equal(missing.doc.findings[0].check, 'bucket')
  })

  test('doctor: exit 2 when it could not look; a reader passes with --read-only and is blocked without it', async () => {
    const b = await lockedBucket(SEAWEED)
    const nowhere = await runJson(['doctor', '--endpoint', 'http://127.0.0.1:9'], { env: cliEnv(b) })
    assert.equal(nowhere.code, 2)
    assert.equal(nowhere.doc.error.code, 'STORAGE_ERROR')
    assert.match(nowhere.doc.error.message, /^cannot reach http:\/\/127\.0\.0\.1:9/)
    // Credentials the server refuses as such (a wrong secret, an unknown
    // key) say nothing about permissions: it could not look.
    for (const creds of [
      { AWS_SECRET_ACCESS_KEY: 'not-the-right-secret-7f3a9' },
      { AWS_ACCESS_KEY_ID: 'nosuchkey', AWS_SECRET_ACCESS_KEY: 'not-the-right-secret-7f3a9' },
    ]) {
      const refused = await runJson(['doctor'], { env: cliEnv(b, creds) })
      assert.equal(refused.code, 2, JSON.stringify(refused.doc))
      assert.equal(refused.doc.error.code, 'ACCESS_DENIED')
      const text = await run(['doctor'], { env: cliEnv(b, creds) })
      assert.equal(text.code, 2, text.stdout + text.stderr)
      assert.doesNotMatch(text.stdout, /BLOCKING/)
      assert.ok(!(text.stdout + text.stderr + JSON.stringify(refused.doc)).includes('not-the-right-secret-7f3a9'))
    }
    const reader = cliEnv(b, { AWS_ACCESS_KEY_ID: READER.accessKeyId, AWS_SECRET_ACCESS_KEY: READER.secretAccessKey })
    let r = await run(['doctor', '--read-only'], { env: reader })
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.match(r.stdout, /s3:PutObject: not checked \(a read-only client sends no PUT\)/)
    r = await run(['doctor'], { env: reader })
    assert.equal(r.code, 1, r.stdout + r.stderr)
    assert.match(r.stdout, /^BLOCKING {2}permission +s3:PutObject: denied .*\n +fix: grant it \(immukv policy prints the IAM policy this client needs\)/m)
  })

  test('doctor: usage errors exit 64', async () => {
    const env = cliEnv('b')
    for (const bad of ['COMPLIANCE', 'FOREVER:3', 'COMPLIANCE:x', 'COMPLIANCE:0']) {
      const r = await run(['doctor', '--object-lock', bad], { env })
      assert.equal(r.code, 64, `${bad}: ${r.stderr}`)
      assert.match(r.stderr, /object-?[lL]ock/)
    }
  })

  test('policy: the IAM document as JSON, exit 0, with or without --json; no request made', async () => {
    const env = cliEnv('my-audit-bucket', { IMMUKV_PREFIX: 'audit/', AWS_ENDPOINT_URL: 'http://127.0.0.1:9' })
    const r = await run(['policy'], { env })
    assert.equal(r.code, 0, r.stderr)
    const doc = JSON.parse(r.stdout)
    assert.equal(doc.Version, '2012-10-17')
    const actions = (d) => d.Statement.flatMap((s) => s.Action).sort()
    assert.ok(actions(doc).includes('s3:PutObject'))
    assert.ok(!actions(doc).some((a) => /Delete/.test(a)))
    assert.deepEqual(Object.keys(doc.Statement[0]), ['Sid', 'Effect', 'Action', 'Resource'])
    assert.equal(doc.Statement[0].Resource, 'arn:aws:s3:::my-audit-bucket/audit/*')
    const j = await runJson(['policy'], { env })
    assert.deepEqual(j.doc, doc)
    const readOnly = JSON.parse((await run(['policy', '--read-only'], { env })).stdout)
    assert.ok(!actions(readOnly).includes('s3:PutObject'))
    const locked = JSON.parse((await run(['policy', '--object-lock', 'GOVERNANCE:7', '--kms-key-id', 'alias/audit'], { env })).stdout)
    assert.ok(actions(locked).includes('s3:PutObjectRetention'))
    assert.ok(actions(locked).includes('kms:GenerateDataKey'))
  })

  test('set --object-lock, then verify --check-retention: intact; unretained versions exit 1, NOT RETAINED', async () => {
    const b = await lockedBucket(SEAWEED)
    const env = cliEnv(b)
    assert.equal((await run(['set', 'k', '1', '--object-lock', 'COMPLIANCE:1'], { env })).code, 0)
    let r = await run(['verify', '--check-retention', '--object-lock', 'COMPLIANCE:1'], { env })
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.match(r.stdout, /^intact: 1 entry checked/)
    // A write without retention, into a bucket with no default rule.
    assert.equal((await run(['set', 'k', '2'], { env })).code, 0)
    r = await run(['verify', '--check-retention'], { env })
    assert.equal(r.code, 1, r.stdout + r.stderr)
    const [headline, ...failures] = r.stdout.trim().split('\n')
    assert.equal(headline, 'NOT RETAINED: 2 failures, 2 entries checked')
    assert.ok(
      failures.every((l) => /^retention {2}sequence 1 {2}/.test(l)),
      r.stdout,
    )
    const j = await runJson(['verify', '--check-retention'], { env })
    assert.equal(j.code, 1)
    assert.deepEqual(j.doc.failures.map((f) => [f.kind, f.sequence, f.path ?? '_log.json']).sort(), [
      ['retention', 1, '_log.json'],
      ['retention', 1, 'keys/k.json'],
    ])
    // Without the flag, the same log is intact.
    assert.equal((await run(['verify'], { env })).code, 0)
    // Into a bucket without Object Lock, set --object-lock writes nothing: exit 2.
    const plain = await bucket(SEAWEED)
    const refused = await run(['set', 'k', '1', '--object-lock', 'COMPLIANCE:1'], { env: cliEnv(plain) })
    assert.equal(refused.code, 2)
    assert.match(refused.stderr, /^immukv: OBJECT_LOCK_DISABLED: .*leave out --object-lock/m)
    assert.deepEqual(await snapshot(SEAWEED, plain), [])
  })
})

describe('immukv log --follow and get --at-sequence / --at', () => {
  let b
  before(async () => {
    b = await bucket(SEAWEED)
  })
  let n = 0
  /** A store of its own under the shared bucket: the environment that points at it. */
  const store = () => cliEnv(b, { IMMUKV_PREFIX: `follow${n++}/` })
  const writer = (env) => client(SEAWEED, b, { s3Prefix: env.IMMUKV_PREFIX })

  /** `immukv log --follow ...` running: its lines as they come, and Ctrl-C. */
  function follow(args, env) {
    const p = spawn(process.execPath, [CLI, 'log', '--follow', '--poll-interval', '50', ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    const state = { stdout: '', stderr: '' }
    const waiters = []
    const check = () => {
      for (const w of [...waiters]) if (w.done()) waiters.splice(waiters.indexOf(w), 1) && w.resolve()
    }
    p.stdout.on('data', (d) => {
      state.stdout += d
      check()
    })
    p.stderr.on('data', (d) => (state.stderr += d))
    const exited = new Promise((resolve) => p.on('close', (code) => resolve(code)))
    const lines = () => state.stdout.split('\n').filter(Boolean)
    return {
      state,
      lines,
      exited,
      /** Resolves once `count` lines are out (fails after 20 s). */
      until(count) {
        const w = { done: () => lines().length >= count }
        const timeout = new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`${lines().length} of ${count} lines: ${state.stdout}${state.stderr}`)), 20000).unref(),
        )
        const reached = new Promise((resolve) => Object.assign(w, { resolve }))
        waiters.push(w)
        check()
        return Promise.race([reached, timeout])
      },
      interrupt: () => p.kill('SIGINT'),
    }
  }

  test('log --follow --json: each new entry as it arrives, one document a line, in order; Ctrl-C exits 130', async () => {
    const env = store()
    const w = writer(env)
    await w.set('before', 0)
    const f = follow(['--json'], env)
    // Two writers on separate clients, after the follow started (it reads the head first).
    await sleep(1000)
    const other = writer(env)
    const written = await Promise.all([w, other].map(async (c, k) => [await c.set(`w${k}`, 1), await c.set(`w${k}`, 2)]))
    await f.until(4)
    const docs = f.lines().map((l) => JSON.parse(l))
    assert.deepEqual(
      docs.map((d) => d.sequence),
      [1, 2, 3, 4],
    )
    assert.deepEqual(new Set(docs.map((d) => d.hash)), new Set(written.flat().map((e) => e.hash)))
    const t0 = Date.now()
    f.interrupt()
    assert.equal(await f.exited, 130, f.state.stderr)
    assert.ok(Date.now() - t0 < 5000)
    assert.match(f.state.stderr, /^immukv: ABORTED: /m)
    assert.deepEqual(JSON.parse(f.lines().at(-1)).error.code, 'ABORTED')
    await Promise.all([w.close(), other.close()])
  })

  test('log --follow on a terminal: Ctrl-C typed on it (ETX through a pty, the line discipline sends SIGINT) exits 130', {
    skip: spawnSync('sh', ['-c', 'command -v script']).status !== 0 && 'no script(1) to make a terminal',
  }, async () => {
    const env = store()
    const w = writer(env)
    await w.set('before', 0)
    const quote = (s) => `'${s.replace(/'/g, `'\\''`)}'`
    const command = `stty cols 80 rows 24; exec ${[process.execPath, CLI, 'log', '--follow', '--from-sequence', '1', '--poll-interval', '50'].map(quote).join(' ')}`
    const p = spawn('script', ['-qfec', command, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', (d) => (out += d))
    const exited = new Promise((resolve) => p.on('close', (code) => resolve(code)))
    await sleep(1000) // from sequence 1 however long it takes to start
    await w.set('during', 1)
    const deadline = Date.now() + 20000
    while (!/during = 1/.test(out) && Date.now() < deadline) await sleep(50)
    assert.match(out, /#1 .* during = 1 /, 'the new entry, printed as it arrived')
    const t0 = Date.now()
    p.stdin.write('\x03') // what Ctrl-C types
    assert.equal(await exited, 130, out)
    assert.ok(Date.now() - t0 < 5000)
    assert.match(out, /immukv: ABORTED: /)
    await w.close()
  })

  test('log --follow --from-sequence N resumes at entry N (human lines); an empty prefix is LOG_NOT_FOUND unless --allow-empty', async () => {
    const env = store()
    // Nothing there yet: a typo until --allow-empty says otherwise.
    const none = await run(['log', '--follow'], { env })
    assert.equal(none.code, 3, none.stderr)
    assert.match(none.stderr, /LOG_NOT_FOUND/)
    const waiting = follow(['--allow-empty'], env)
    await sleep(1000)
    const w = writer(env)
    for (let i = 0; i < 5; i++) await w.set('k', i)
    await waiting.until(5)
    assert.deepEqual(sequences(waiting.state.stdout), [0, 1, 2, 3, 4])
    waiting.interrupt()
    assert.equal(await waiting.exited, 130)
    const resumed = follow(['--from-sequence', '3'], env)
    await resumed.until(2)
    assert.deepEqual(sequences(resumed.state.stdout), [3, 4])
    assert.match(resumed.lines()[0], /^#3 {2}\S+Z {2}k = 3 {2}version /)
    resumed.interrupt()
    assert.equal(await resumed.exited, 130)
    await w.close()
  })

  test('log --follow on a broken chain: the verified entries, then CORRUPT_ENTRY, exit 1', async () => {
    const env = store()
    const w = writer(env)
    for (let i = 0; i < 3; i++) await w.set('k', i)
    const f = follow(['--json'], env)
    await sleep(1000)
    const next = await w.set('k', 3)
    await f.until(1)
    // A genuine older entry PUT again over the log: its hash and link hold, but
    // the version below it is not the one it names.
    const [e1] = (await w.logEntries()).filter((e) => e.sequence === 1)
    const replay = await forgeNext({ sequence: 0, hash: e1.previousHash, versionId: e1.previousVersionId }, 'k', 1, e1.previousKeyObjectEtag, e1.timestampMs)
    await putRaw(SEAWEED, b, `${env.IMMUKV_PREFIX}_log.json`, replay.body)
    assert.equal(await f.exited, 1, f.state.stderr)
    const docs = f.lines().map((l) => JSON.parse(l))
    assert.equal(docs[0].hash, next.hash)
    assert.equal(docs.at(-1).error.code, 'CORRUPT_ENTRY')
    assert.match(f.state.stderr, /^immukv: CORRUPT_ENTRY: the log .* is broken at version /m)
    await w.close()
  })

  test('log --follow: wrong flags are usage errors (64)', async () => {
    const env = store()
    for (const args of [
      ['log', '--follow', '--limit', '3'],
      ['log', '--follow', '--before', 'v'],
      ['log', '--from-sequence', '2'],
      ['log', '--follow', '--from-sequence', '-1'],
      ['log', '--follow', '--poll-interval', '0'],
    ]) {
      const r = await run(args, { env })
      assert.equal(r.code, 64, `${args.join(' ')}: ${r.stderr}`)
    }
  })

  test('get --at-sequence N and --at TIME: the value the key had then, checked against the history', async () => {
    const env = store()
    const w = writer(env)
    const written = []
    for (let i = 0; i < 12; i++) written.push(await w.set(['a', 'b', 'c'][i % 3 === 2 ? 2 : i % 2], i))
    const expect = (key, s) => written.findLast((e) => e.key === key && e.sequence <= s)
    for (const [key, s] of [
      ['a', 0],
      ['a', 7],
      ['b', 4],
      ['c', 11],
      ['c', 1],
    ]) {
      const want = expect(key, s)
      const r = await runJson(['get', key, '--at-sequence', String(s)], { env })
      if (want) {
        assert.equal(r.code, 0, r.stderr)
        assert.equal(r.doc.hash, want.hash, `${key} at ${s}`)
      } else {
        assert.equal(r.code, 3, `${key} at ${s}: ${r.stderr}`)
        assert.equal(r.doc.error.code, 'KEY_NOT_FOUND')
      }
    }
    const human = await run(['get', 'a', '--at-sequence', '7', '--verify'], { env })
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /^sequence {2}6$/m)
    assert.match(human.stdout, /^as of {5}sequence 7$/m)
    assert.match(human.stdout, /^verified {2}in the log$/m)
    // By time: the newest entry stamped at or before it.
    const e = written[5]
    const at = await runJson(['get', e.key, '--at', new Date(e.timestampMs).toISOString()], { env })
    assert.equal(at.doc.hash, written.findLast((x) => x.key === e.key && x.timestampMs <= e.timestampMs).hash)
    assert.equal((await run(['get', 'a', '--at', '1970-01-01'], { env })).code, 3)
    // Beyond the head, not a time, both at once: usage errors.
    for (const args of [
      ['--at-sequence', '12'],
      ['--at', 'yesterday'],
      ['--at-sequence', '1', '--at', '2025-01-01T00:00:00Z'],
      ['--at-sequence', 'x'],
    ]) {
      const r = await run(['get', 'a', ...args], { env })
      assert.equal(r.code, 64, `${args.join(' ')}: ${r.stderr}`)
    }
    assert.match((await run(['get', 'a', '--at-sequence', '12'], { env })).stderr, /--at-sequence 12 is beyond the log's head/)
    await w.close()
  })
})
