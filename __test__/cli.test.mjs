// The command-line tool (dist/cli.js) end to end on SeaweedFS: each command,
// its human and --json output, its exit code, the progress bar on a TTY, and
// tampering found by `verify`. The tool runs as a child process configured
// only through flags and the environment, as a user or a cron job would.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ADMIN, SEAWEED, bucket, forgeNext, putRaw, snapshot } from './support/helpers.mjs'

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

/** Runs the tool with stdin, stdout and stderr on a pseudo-terminal (util-linux `script`). */
function runOnTty(args, env) {
  const quote = (s) => `'${s.replace(/'/g, `'\\''`)}'`
  const command = [process.execPath, CLI, ...args].map(quote).join(' ')
  const r = spawnSync('script', ['-qfec', command, '/dev/null'], { env, encoding: 'utf8', timeout: 60000 })
  const out = { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
  checkOutput(args, out)
  return out
}

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
    assert.match(tty.stdout, /checking log \[[=-]+\] \d+\/8 \| \d+\/s \| ETA/, 'phase, bar, checked/total, rate, ETA')
    assert.match(tty.stdout, /checking key objects/)
    assert.match(tty.stdout, /intact: 8 entries checked, head sequence 7/)
    const json = runOnTty(['verify', '--json'], env)
    assert.equal(json.code, 0, json.stdout)
    assert.doesNotMatch(json.stdout, /checking log/)
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
    for (const args of [['help'], ['--help'], ['get', '--help']]) {
      const r = await run(args, { env: cliEnv(b) })
      assert.equal(r.code, 0)
      assert.match(r.stdout, /Exit codes:[\s\S]*64/)
    }
    const v = await run(['--version'], { env: cliEnv(b) })
    assert.equal(v.code, 0)
    assert.match(v.stdout.trim(), /^\d+\.\d+\.\d+/)
  })

  test('a wrong endpoint (nothing listening): exit 2, the error on stderr', async () => {
    const r = await run(['get', 'k', '--endpoint', 'http://127.0.0.1:1'], { env: cliEnv(b) })
    assert.equal(r.code, 2)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /^immukv: STORAGE_ERROR: .*127\.0\.0\.1|^immukv: STORAGE_ERROR: .*refused/m)
    const j = await runJson(['verify', '--endpoint', 'http://127.0.0.1:1'], { env: cliEnv(b) })
    assert.equal(j.code, 2)
    assert.equal(j.doc.error.code, 'STORAGE_ERROR')
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

  test('an empty log: digest prints null, verify --json has head null, and --trusted of that null trusts nothing yet', async () => {
    const empty = await bucket(SEAWEED)
    const env = cliEnv(empty)
    const d = await run(['digest'], { env })
    assert.equal(d.code, 0, d.stderr)
    assert.equal(d.stdout.trim(), 'null')
    const file = join(home, 'empty-digest.json')
    writeFileSync(file, d.stdout)
    // The nightly audit of docs/CLI.md, from an empty log on: verify --trusted, save .head on exit 0.
    let j = await runJson(['verify', '--trusted', file], { env })
    assert.equal(j.code, 0, j.stderr)
    assert.deepEqual(j.doc, { ok: true, checked: 0, failures: [], head: null, empty: true })
    writeFileSync(file, JSON.stringify(j.doc.head))
    assert.equal((await run(['set', 'k', '1'], { env })).code, 0)
    j = await runJson(['verify', '--trusted', file], { env })
    assert.equal(j.code, 0, j.stderr)
    assert.equal(j.doc.head.sequence, 0)
    const human = await run(['verify', '--trusted', '-'], { env, input: 'null\n' })
    assert.equal(human.code, 0, human.stderr)
    assert.equal(human.stdout.trim(), 'intact: 1 entry checked, head sequence 0')
  })

  test('Ctrl-C during any command aborts it: exit 130, the ABORTED error, with --json as a document (set: mayHaveCommitted)', async () => {
    // A server that accepts connections and never answers: the command waits on it.
    for (const args of [['set', 'k', '1'], ['get', 'k'], ['keys'], ['verify'], ['set', 'k']]) {
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
