// Credentials: static keys, a session token, a provider function (called
// again when what it returned expires), wrong keys; and no secret in errors.
import { describe, test, after } from 'node:test'
import assert from 'node:assert/strict'
import { SEAWEED, MOTO, ADMIN, READER, bucket, client, rejection } from './support/helpers.mjs'
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
    const lasting = client(SEAWEED, b, { overrides: { credentials: async () => (calls++, { ...ADMIN }) } })
    await lasting.set('a', 1)
    await lasting.get('a')
    await lasting.history('a')
    assert.equal(calls, 1, 'credentials without expiry are cached')

    let shortCalls = 0
    // Expiring within the SDK's refresh buffer: asked for again on each request.
    const short = client(SEAWEED, b, {
      overrides: { credentials: async () => (shortCalls++, { ...ADMIN, expiration: new Date(Date.now() + 3000) }) },
    })
    await short.get('a')
    await short.get('a')
    assert.ok(shortCalls >= 2, `provider called ${shortCalls} times`)

    const readerFn = client(SEAWEED, b, { overrides: { credentials: async () => ({ ...READER }) } })
    assert.equal((await readerFn.get('a')).value, 1)
    assert.equal((await rejection(readerFn.set('a', 2))).code, 'ACCESS_DENIED')

    const failing = client(SEAWEED, b, {
      overrides: {
        credentials: async () => {
          throw new Error('vault unavailable')
        },
      },
    })
    const err = await rejection(failing.get('a'))
    assert.equal(err.code, 'STORAGE_ERROR')
    assert.match(err.message, /vault unavailable/)
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
