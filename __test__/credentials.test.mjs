// Credentials: static keys, a session token, a provider function (called
// again when what it returned expires), wrong keys; and no secret in errors.
import { describe, test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import v8 from 'node:v8'
import vm from 'node:vm'
import { SEAWEED, MOTO, ADMIN, READER, ImmuKVError, bucket, client, rejection, runNode } from './support/helpers.mjs'
import { S3Proxy } from './support/proxy.mjs'

describe('credentials on SeaweedFS (signatures checked)', () => {
  test('static keys sign requests; wrong keys are refused with ACCESS_DENIED, secret not echoed', async () => {
    const b = await bucket(SEAWEED)
    const good = client(SEAWEED, b)
    assert.equal((await good.set('a', 1)).sequence, 0)
    const secret = 'not-the-right-secret-7f3a9'
    const bad = client(SEAWEED, b, { overrides: { credentials: { accessKeyId: ADMIN.accessKeyId, secretAccessKey: secret } } })
    const err = await rejection(bad.get('a'))
    assert.equal(err.code, 'ACCESS_DENIED')
    assert.equal(err.operation, 'GetObject')
    assert.ok(!JSON.stringify({ m: err.message, c: String(err.cause) }).includes(secret))
    const unknown = client(SEAWEED, b, { overrides: { credentials: { accessKeyId: 'nobody', secretAccessKey: secret } } })
    assert.equal((await rejection(unknown.set('a', 2))).code, 'ACCESS_DENIED')
  })

  test('a provider function is called, and called again when its credentials expire', async () => {
    const b = await bucket(SEAWEED)
    let calls = 0
    const lasting = client(SEAWEED, b, {
      overrides: {
        credentials: async () => {
          calls++
          return { ...ADMIN }
        },
      },
    })
    await lasting.set('a', 1)
    await lasting.get('a')
    await lasting.history('a')
    assert.equal(calls, 1, 'credentials without expiry are cached')

    let shortCalls = 0
    // Expiring within the SDK's refresh buffer: asked for again on each request.
    const short = client(SEAWEED, b, {
      overrides: {
        credentials: async () => {
          shortCalls++
          return { ...ADMIN, expiration: new Date(Date.now() + 3000) }
        },
      },
    })
    await short.get('a')
    await short.get('a')
    assert.ok(shortCalls >= 2, `provider called ${shortCalls} times`)

    const readerFn = client(SEAWEED, b, { overrides: { credentials: async () => ({ ...READER }) } })
    assert.equal((await readerFn.get('a')).value, 1)
    assert.equal((await rejection(readerFn.set('a', 2))).code, 'ACCESS_DENIED')
  })

  test('a credentials function that throws: CREDENTIALS_ERROR, called once, its error as the cause', async () => {
    const b = await bucket(SEAWEED)
    const boom = new Error('vault unavailable')
    let calls = 0
    const failing = client(SEAWEED, b, {
      overrides: {
        credentials: async () => {
          calls++
          throw boom
        },
      },
    })
    const err = await rejection(failing.get('a'))
    assert.ok(err instanceof ImmuKVError)
    assert.equal(err.code, 'CREDENTIALS_ERROR')
    assert.match(err.message, /credentials function failed: vault unavailable/)
    assert.equal(err.cause, boom, 'the cause is the error the function threw')
    assert.equal(calls, 1, 'called once for one get, not once per retry')
  })

  describe('a credentials function that never settles', () => {
    // Its promise can be garbage-collected while a request waits for it: the
    // test collects garbage all along, so that the outcome cannot depend on
    // when the collector runs.
    v8.setFlagsFromString('--expose-gc')
    const gc = vm.runInNewContext('gc')
    const never = () => new Promise(() => {})
    const calls = {
      get: (c) => c.get('a'),
      set: (c) => c.set('a', 2),
      history: (c) => c.history('a'),
      listKeys: (c) => c.listKeys(),
      digest: (c) => c.digest(),
      verifyLog: (c) => c.verifyLog(),
    }

    /** Runs `call` on a new client (a new provider: no failure remembered from another call), collecting garbage meanwhile. */
    async function timed(b, extra, call) {
      const c = client(SEAWEED, b, { ...extra, overrides: { credentials: never } })
      const collector = setInterval(gc, 200)
      const t0 = Date.now()
      try {
        const err = await rejection(call(c))
        return { err, took: Date.now() - t0 }
      } finally {
        clearInterval(collector)
      }
    }

    test('every method: CREDENTIALS_ERROR after requestTimeoutMs, saying the function has not settled (verifyLog too)', async () => {
      const b = await bucket(SEAWEED)
      await client(SEAWEED, b).set('a', 1)
      for (const [name, call] of Object.entries(calls)) {
        const { err, took } = await timed(b, { requestTimeoutMs: 1500 }, call)
        assert.ok(err instanceof ImmuKVError, name)
        assert.equal(err.code, 'CREDENTIALS_ERROR', `${name}: ${err.message}`)
        assert.match(err.message, /the credentials function has not settled within requestTimeoutMs \(1500 ms\)/, name)
        assert.ok(took >= 1400 && took < 6000, `${name} took ${took} ms`)
        if (name === 'set') assert.equal(err.mayHaveCommitted, false)
      }
    })

    test('a call whose operationTimeoutMs runs out first: CREDENTIALS_ERROR, saying it was waiting for credentials', async () => {
      const b = await bucket(SEAWEED)
      await client(SEAWEED, b).set('a', 1)
      for (const [name, call] of Object.entries(calls)) {
        const { err, took } = await timed(b, { operationTimeoutMs: 1000, requestTimeoutMs: 5000 }, call)
        assert.equal(err.code, 'CREDENTIALS_ERROR', `${name}: ${err.message}`)
        if (name === 'verifyLog') {
          // Not bounded by operationTimeoutMs: requestTimeoutMs bounds its wait for credentials.
          assert.match(err.message, /has not settled within requestTimeoutMs \(5000 ms\)/)
          assert.ok(took >= 4900 && took < 9500, `${name} took ${took} ms`)
        } else {
          assert.match(err.message, /did not finish within operationTimeoutMs \(1000 ms\): it was waiting for credentials/, name)
          assert.ok(took >= 900 && took < 4500, `${name} took ${took} ms`)
        }
      }
    })
  })

  test('junk from a credentials function: CREDENTIALS_ERROR that says what is wrong', async () => {
    const b = await bucket(SEAWEED)
    for (const [what, junk, pattern] of [
      ['no secret', { accessKeyId: 'adminkey' }, /secretAccessKey/],
      ['not an object', 'adminkey:adminsecret', /accessKeyId and secretAccessKey/],
      ['a newline in the key id', { accessKeyId: 'admin\nkey', secretAccessKey: 'adminsecret' }, /accessKeyId contains whitespace/],
    ]) {
      const c = client(SEAWEED, b, { overrides: { credentials: async () => junk } })
      const err = await rejection(c.get('a'))
      assert.equal(err.code, 'CREDENTIALS_ERROR', what)
      assert.match(err.message, pattern, what)
    }
  })

  test('a newline in static keys is refused at construction (no panic in the signer)', () => {
    for (const creds of [
      { accessKeyId: 'admin\nkey', secretAccessKey: 'x' },
      { accessKeyId: 'a', secretAccessKey: 'se cret' },
    ]) {
      let err
      try {
        client(SEAWEED, 'b', { overrides: { credentials: creds } })
      } catch (e) {
        err = e
      }
      assert.ok(err instanceof ImmuKVError)
      assert.equal(err.code, 'INVALID_CONFIG')
    }
  })
})

describe('credentials and region from the environment', () => {
  const env = (extra) => ({ PATH: process.env.PATH, HOME: mkdtempSync(join(tmpdir(), 'immukv-home-')), AWS_EC2_METADATA_DISABLED: 'true', ...extra })
  const script = (cfg) => `
    import { ImmuKVClient } from 'immukv'
    try {
      const c = new ImmuKVClient(${JSON.stringify(cfg)})
      await c.get('a')
      console.log(JSON.stringify({ ok: true }))
    } catch (e) {
      console.log(JSON.stringify({ code: e.code, message: e.message }))
    }
  `
  const base = { s3Bucket: 'b', s3Prefix: '', overrides: { endpointUrl: SEAWEED.endpoint } }

  test('no credentials anywhere: CREDENTIALS_ERROR that lists what was tried', async () => {
    const out = JSON.parse(await runNode(script({ ...base, s3Region: 'us-east-1' }), env({})))
    assert.equal(out.code, 'CREDENTIALS_ERROR')
    assert.match(out.message, /no AWS credentials found; tried/)
    assert.match(out.message, /AWS_ACCESS_KEY_ID/)
    assert.match(out.message, /instance metadata/)
  })

  test('credentials and region from AWS_* variables', async () => {
    const b = await bucket(SEAWEED)
    const cfg = { s3Bucket: b, s3Prefix: '', overrides: { endpointUrl: SEAWEED.endpoint } }
    const out = JSON.parse(
      await runNode(script(cfg), env({ AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, AWS_REGION: 'us-east-1' })),
    )
    assert.equal(out.code, 'KEY_NOT_FOUND', JSON.stringify(out))
  })

  test('region from the AWS profile', async () => {
    const home = mkdtempSync(join(tmpdir(), 'immukv-home-'))
    mkdirSync(join(home, '.aws'))
    writeFileSync(join(home, '.aws', 'config'), '[profile audit]\nregion = eu-west-1\n')
    const out = JSON.parse(
      await runNode(script({ ...base, overrides: { ...base.overrides, credentials: ADMIN } }), { ...env({}), HOME: home, AWS_PROFILE: 'audit' }),
    )
    assert.notEqual(out.code, 'INVALID_CONFIG', JSON.stringify(out))
  })

  test('no region anywhere: INVALID_CONFIG at construction', async () => {
    const out = JSON.parse(await runNode(script({ ...base, overrides: { ...base.overrides, credentials: ADMIN } }), env({})))
    assert.equal(out.code, 'INVALID_CONFIG')
    assert.match(out.message, /no region: set s3Region, or AWS_REGION/)
  })
})

describe('session token on moto (headers recorded by a proxy)', () => {
  const proxy = new S3Proxy(MOTO.endpoint)
  after(() => proxy.stop())

  test('the session token is sent with every request and never appears in errors', async () => {
    await proxy.start()
    const b = await bucket(MOTO)
    const token = 'FwoGZXIvYXdzEXAMPLESESSIONTOKEN' + 'x'.repeat(40)
    const creds = { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'session-secret-key-123', sessionToken: token }
    const c = client({ endpoint: proxy.endpoint }, b, { overrides: { credentials: creds } })
    await c.set('a', 1)
    await c.get('a')
    assert.ok(proxy.requests.length >= 3)
    for (const r of proxy.requests) assert.equal(r.headers['x-amz-security-token'], token)
    proxy.inject({ op: 'GET', target: 'key', action: 500, times: 10 })
    const err = await rejection(c.get('a'))
    assert.equal(err.code, 'STORAGE_ERROR')
    const text = JSON.stringify({ m: err.message, c: String(err.cause), s: err.stack })
    assert.ok(!text.includes(token) && !text.includes(creds.secretAccessKey))
  })
})
