// The bucket doctor (client.checkStore()) and the IAM policy (client.policy()),
// against moto, SeaweedFS and LocalStack. What each
// implements: all three Object Lock, versioning states, default encryption and
// lifecycle configuration; SeaweedFS refuses lifecycle transitions (501), so
// those are read on moto (and in the core's unit tests); SeaweedFS enforces
// its read-only identity, moto enforces nothing (denials come from the proxy).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { DeleteObjectCommand, PutBucketEncryptionCommand, PutBucketLifecycleConfigurationCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3'
import * as helpers from './support/helpers.mjs'
import { ImmuKVClient, MOTO, READER, SEAWEED, bucket, client, raw, rejection, snapshot, uniqueName } from './support/helpers.mjs'
import { S3Proxy } from './support/proxy.mjs'
import { LOCKING, lockedBucket } from './support/object-lock.mjs'

const find = (r, check, subject) => r.findings.filter((f) => f.check === check && (subject === undefined || f.subject === subject))
const one = (r, check, subject) => {
  const found = find(r, check, subject)
  assert.equal(found.length, 1, `${check} ${subject ?? ''}: ${JSON.stringify(r.findings, null, 1)}`)
  return found[0]
}

for (const server of LOCKING) {
  describe(`checkStore on ${server.name}`, () => {
    test('a locked, versioned bucket with a default rule and a log: nothing blocks, and nothing is written', async () => {
      const b = await lockedBucket(server, { Mode: 'COMPLIANCE', Days: 1 })
      const c = client(server, b, { s3Prefix: 'audit/' })
      const e = await c.set('k', 1)
      const before = await snapshot(server, b)
      const r = await c.checkStore()
      assert.deepEqual(await snapshot(server, b), before, 'the doctor wrote nothing')
      assert.equal(r.ok, true, JSON.stringify(r.findings, null, 1))
      assert.equal(r.bucket, b)
      assert.equal(r.prefix, 'audit/')
      assert.equal(r.versioning, 'enabled')
      assert.deepEqual(r.objectLock, { state: 'enabled', defaultRetention: { mode: 'COMPLIANCE', days: 1 } })
      assert.deepEqual(r.log, { state: 'present', sequence: 0, versionId: e.versionId })
      assert.ok(find(r, 'object_lock').every((f) => f.status === 'ok'))
      assert.match(
        find(r, 'object_lock')
          .map((f) => f.summary)
          .join('\n'),
        /log head \(sequence 0\) is retained: COMPLIANCE until/,
      )
      for (const action of [
        's3:GetObject',
        's3:GetObjectVersion',
        's3:ListBucket',
        's3:ListBucketVersions',
        's3:PutObject',
        's3:GetBucketVersioning',
        's3:GetLifecycleConfiguration',
        's3:GetBucketObjectLockConfiguration',
        's3:GetEncryptionConfiguration',
        's3:GetObjectRetention',
      ]) {
        assert.equal(one(r, 'permission', action).status, 'ok', action)
      }
      assert.match(one(r, 'permission', 's3:PutObject').summary, /If-Match no object meets.*nothing written/)
      assert.equal(one(r, 'lifecycle').status, 'ok')
      // Most serious first.
      const order = ['blocking', 'warning', 'unknown', 'info', 'ok']
      const ranks = r.findings.map((f) => order.indexOf(f.status))
      assert.deepEqual(
        ranks,
        [...ranks].sort((x, y) => x - y),
      )
      await c.close()
    })

    test('versioning off or suspended blocks, with the command that enables it', async () => {
      const b = await bucket(server, { versioning: false })
      const c = client(server, b)
      let r = await c.checkStore()
      assert.equal(r.ok, false)
      assert.equal(r.versioning, 'off')
      const off = one(r, 'versioning')
      assert.equal(off.status, 'blocking')
      assert.match(off.fix, new RegExp(`put-bucket-versioning --bucket ${b} --versioning-configuration Status=Enabled`))
      await raw(server.endpoint).send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Suspended' } }))
      r = await c.checkStore()
      assert.equal(r.versioning, 'suspended')
      assert.equal(one(r, 'versioning').status, 'blocking')
      assert.equal(r.findings[0].check, 'versioning')
      await c.close()
    })

    test('Object Lock: configured on a bucket without it blocks; without it at all is a note with the fix', async () => {
      const b = await bucket(server)
      const wants = client(server, b, { objectLock: { mode: 'COMPLIANCE', days: 30 } })
      let r = await wants.checkStore()
      assert.equal(r.ok, false)
      assert.deepEqual(r.objectLock, { state: 'disabled' })
      const f = one(r, 'object_lock')
      assert.equal(f.status, 'blocking')
      assert.match(f.summary, /OBJECT_LOCK_DISABLED/)
      assert.match(f.fix, /put-object-lock-configuration --bucket/)
      r = await client(server, b).checkStore()
      assert.equal(r.ok, true)
      assert.equal(one(r, 'object_lock').status, 'info')
      // Enabled, but neither a default rule nor objectLock: versions are written unlocked.
      const locked = await lockedBucket(server)
      r = await client(server, locked).checkStore()
      assert.equal(one(r, 'object_lock').status, 'warning')
      assert.match(one(r, 'object_lock').summary, /nothing retains/)
      await wants.close()
    })

    test('lifecycle rules under the prefix, in terms of what they do to the store and its audit', async () => {
      const b = await bucket(server)
      const Rules = [
        { ID: 'tidy-keys', Status: 'Enabled', Filter: { Prefix: 'audit/keys/' }, Expiration: { Days: 30 } },
        {
          ID: 'history',
          Status: 'Enabled',
          Filter: { Prefix: 'audit/_log.json' },
          NoncurrentVersionExpiration: { NoncurrentDays: 90, NewerNoncurrentVersions: 5 },
        },
        { ID: 'elsewhere', Status: 'Enabled', Filter: { Prefix: 'other/' }, Expiration: { Days: 1 } },
      ]
      // SeaweedFS answers 501 to transitions: read on moto only.
      if (server !== SEAWEED) {
        Rules.push(
          { ID: 'archive', Status: 'Enabled', Filter: { Prefix: 'audit/' }, Transitions: [{ Days: 30, StorageClass: 'GLACIER' }] },
          {
            ID: 'cold',
            Status: 'Enabled',
            Filter: { Prefix: 'audit/keys/' },
            NoncurrentVersionTransitions: [{ NoncurrentDays: 10, StorageClass: 'STANDARD_IA' }],
          },
        )
      }
      await raw(server.endpoint).send(new PutBucketLifecycleConfigurationCommand({ Bucket: b, LifecycleConfiguration: { Rules } }))
      const r = await client(server, b, { s3Prefix: 'audit/' }).checkStore()
      assert.equal(r.ok, false)
      const keys = one(r, 'lifecycle', 'tidy-keys')
      assert.equal(keys.status, 'blocking')
      assert.match(keys.summary, /expires the current versions of the key objects under audit\/keys\/ 30 days after/)
      assert.match(keys.fix, /put-bucket-lifecycle-configuration/)
      const history = one(r, 'lifecycle', 'history')
      assert.equal(history.status, 'warning')
      assert.match(history.summary, /on audit\/_log.json: removes noncurrent versions 90 days after they become noncurrent/)
      // moto drops NewerNoncurrentVersions from the rule it stores.
      if (server !== MOTO) assert.match(history.summary, /keeping the newest 5/)
      assert.match(history.summary, /retention horizon/)
      assert.deepEqual(find(r, 'lifecycle', 'elsewhere'), [])
      if (server !== SEAWEED) {
        const archive = find(r, 'lifecycle', 'archive')
        assert.deepEqual(
          archive.map((f) => f.status),
          ['blocking', 'blocking'],
        )
        assert.match(archive.map((f) => f.summary).join('\n'), /log head \(InvalidObjectState\)/)
        assert.equal(one(r, 'lifecycle', 'cold').status, 'info')
      }
    })

    test('default encryption: SSE-S3, SSE-KMS with its key, or none', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      const put = (SSEAlgorithm, KMSMasterKeyID) =>
        raw(server.endpoint).send(
          new PutBucketEncryptionCommand({
            Bucket: b,
            ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm, KMSMasterKeyID } }] },
          }),
        )
      let r = await c.checkStore()
      // LocalStack, as AWS, encrypts with SSE-S3 by default.
      assert.ok(['none', 'SSE-S3'].includes(r.encryption.state), r.encryption.state)
      await put('AES256')
      r = await c.checkStore()
      assert.deepEqual(r.encryption, { state: 'SSE-S3' })
      assert.equal(one(r, 'encryption').status, 'ok')
      const key = 'arn:aws:kms:us-east-1:123456789012:key/immukv-doctor'
      await put('aws:kms', key)
      r = await c.checkStore()
      assert.deepEqual(r.encryption, { state: 'SSE-KMS', kmsKeyId: key })
      assert.match(one(r, 'encryption').summary, /kms:Decrypt/)
      await c.close()
    })

    test('the log: none yet, or hidden by a delete marker (blocking, with the marker to delete)', async () => {
      const b = await bucket(server)
      const c = client(server, b)
      let r = await c.checkStore()
      assert.deepEqual(r.log, { state: 'empty' })
      assert.equal(one(r, 'log').status, 'info')
      assert.equal(one(r, 'permission', 's3:GetObjectVersion').status, 'info')
      await c.set('k', 1)
      const marker = await raw(server.endpoint).send(new DeleteObjectCommand({ Bucket: b, Key: '_log.json' }))
      r = await c.checkStore()
      assert.equal(r.ok, false)
      assert.equal(r.log.state, 'deleted')
      assert.equal(r.log.versionId, marker.VersionId)
      const f = one(r, 'log')
      assert.match(f.summary, /LOG_DELETED/)
      assert.equal(f.fix, `aws s3api delete-object --bucket ${b} --key _log.json --version-id ${marker.VersionId}`)
      await c.close()
    })

    test('a bucket that does not exist is one blocking finding', async () => {
      const r = await client(server, uniqueName('none')).checkStore()
      assert.equal(r.ok, false)
      assert.equal(r.findings.length, 1)
      assert.equal(r.findings[0].check, 'bucket')
      assert.match(r.findings[0].fix, /create-bucket --bucket .* --object-lock-enabled-for-bucket/)
    })
  })
}

describe('checkStore and permissions', () => {
  test("SeaweedFS's read-only identity: a writer is blocked, a readOnly client is not", async () => {
    const b = await lockedBucket(SEAWEED)
    const admin = client(SEAWEED, b)
    await admin.set('k', 1)
    const writer = client(SEAWEED, b, { overrides: { credentials: READER } })
    let r = await writer.checkStore()
    assert.equal(r.ok, false)
    const put = one(r, 'permission', 's3:PutObject')
    assert.equal(put.status, 'blocking')
    assert.match(put.fix, /immukv policy/)
    for (const [action, status] of [
      ['s3:GetObject', 'ok'],
      ['s3:ListBucketVersions', 'ok'],
      ['s3:GetBucketObjectLockConfiguration', 'warning'],
      ['s3:GetObjectRetention', 'warning'],
      ['s3:GetEncryptionConfiguration', 'info'],
    ]) {
      assert.equal(one(r, 'permission', action).status, status, action)
    }
    assert.equal(r.objectLock.state, 'unknown')
    assert.match(r.objectLock.detail, /not permitted \(s3:GetBucketObjectLockConfiguration\)/)
    const reader = client(SEAWEED, b, { readOnly: true, overrides: { credentials: READER } })
    r = await reader.checkStore()
    assert.equal(r.ok, true, JSON.stringify(r.findings, null, 1))
    assert.match(one(r, 'permission', 's3:PutObject').summary, /not checked \(a read-only client sends no PUT\)/)
    await admin.close()
  })

  test('denied and not implemented are told apart (moto, through a proxy)', async () => {
    const proxy = await new S3Proxy(MOTO.endpoint).start()
    try {
      const b = await bucket(MOTO)
      const c = client({ ...MOTO, endpoint: proxy.endpoint }, b)
      proxy.inject({ action: 'access-denied', pathContains: '?lifecycle' })
      proxy.inject({ action: 'not-implemented', pathContains: '?object-lock' })
      const r = await c.checkStore()
      assert.equal(r.ok, true)
      assert.equal(one(r, 'permission', 's3:GetLifecycleConfiguration').status, 'warning')
      assert.equal(one(r, 'lifecycle').status, 'unknown')
      assert.match(one(r, 'lifecycle').summary, /not permitted.*cannot tell log versions a rule expired from deleted ones/)
      assert.deepEqual(r.objectLock, { state: 'unknown', detail: 'the server does not implement GetObjectLockConfiguration' })
      assert.equal(one(r, 'object_lock').status, 'unknown')
      assert.equal(one(r, 'permission', 's3:GetBucketObjectLockConfiguration').status, 'unknown')
      assert.equal(proxy.hits(), 2)
      await c.close()
    } finally {
      await proxy.stop()
    }
  })

  test('when it cannot look at all, checkStore rejects', async () => {
    const c = client({ name: 'nowhere', endpoint: 'http://127.0.0.1:9' }, 'b', { connectTimeoutMs: 200, operationTimeoutMs: 3000 })
    const err = await rejection(c.checkStore())
    assert.equal(err.code, 'STORAGE_ERROR')
    await c.close()
  })
})

/** The IAM actions an S3 request needs (path-style URLs: /bucket/key?query). */
function actionsOf({ method, url, headers }) {
  const u = new URL(url, 'http://x')
  const q = u.searchParams
  const key = u.pathname.split('/').slice(2).join('/')
  if (!key) {
    for (const [param, action] of [
      ['versions', 's3:ListBucketVersions'],
      ['list-type', 's3:ListBucket'],
      ['versioning', 's3:GetBucketVersioning'],
      ['lifecycle', 's3:GetLifecycleConfiguration'],
      ['object-lock', 's3:GetBucketObjectLockConfiguration'],
      ['encryption', 's3:GetEncryptionConfiguration'],
    ]) {
      if (q.has(param) && method === 'GET') return [action]
    }
  } else if (q.has('retention') && method === 'GET') {
    return ['s3:GetObjectRetention']
  } else if (method === 'PUT') {
    return headers['x-amz-object-lock-mode'] ? ['s3:PutObject', 's3:PutObjectRetention'] : ['s3:PutObject']
  } else if (method === 'GET' || method === 'HEAD') {
    return [q.has('versionId') ? 's3:GetObjectVersion' : 's3:GetObject']
  }
  throw new Error(`no IAM action known for ${method} ${url}`)
}

const policyActions = (doc) => [...new Set(doc.Statement.flatMap((s) => s.Action))].sort()

describe('policy()', () => {
  test('the policies hold exactly the actions the client sends (SeaweedFS, through a proxy)', async () => {
    const proxy = await new S3Proxy(SEAWEED.endpoint).start()
    try {
      const b = await lockedBucket(SEAWEED)
      const via = { ...SEAWEED, endpoint: proxy.endpoint }
      const writer = client(via, b, { s3Prefix: 'audit/', objectLock: { mode: 'GOVERNANCE', days: 1 } })
      const a = await writer.set('a', 1)
      await writer.set('b', 2)
      await writer.set('a', 3)
      await writer.get('a', { verify: true })
      await writer.get('a', { trusted: await writer.digest() })
      await writer.history('a')
      await writer.logEntries()
      await writer.listKeys()
      await writer.getLogVersion(a.versionId)
      await writer.verifyLog({ checkRetention: true })
      await writer.checkStore()
      const sent = [...new Set(proxy.requests.flatMap(actionsOf))].sort()
      assert.deepEqual(policyActions(writer.policy()), sent)

      proxy.reset()
      const reader = client(via, b, { s3Prefix: 'audit/', readOnly: true })
      await reader.get('a', { verify: true })
      await reader.history('b')
      await reader.logEntries()
      await reader.listKeys()
      await reader.digest()
      await reader.verifyLog({ checkRetention: true })
      await reader.checkStore()
      const read = [...new Set(proxy.requests.flatMap(actionsOf))].sort()
      assert.deepEqual(policyActions(reader.policy({ readOnly: true })), read)
      await writer.close()
      await reader.close()
    } finally {
      await proxy.stop()
    }
  })

  test('no Delete action; the prefix and bucket as resources; KMS with kmsKeyId; JSON as IAM takes it', () => {
    const c = new ImmuKVClient(helpers.config(MOTO, 'my-audit-bucket', { s3Prefix: 'audit/', s3Region: 'eu-west-1', kmsKeyId: 'alias/audit' }))
    for (const readOnly of [false, true]) {
      const doc = JSON.parse(JSON.stringify(c.policy({ readOnly })))
      assert.equal(doc.Version, '2012-10-17')
      const actions = policyActions(doc)
      assert.ok(!actions.some((x) => /Delete|Bypass/.test(x)), actions.join())
      assert.equal(actions.includes('s3:PutObject'), !readOnly)
      assert.equal(actions.includes('s3:PutObjectRetention'), false, 'no objectLock: no PutObjectRetention')
      assert.equal(actions.includes('kms:GenerateDataKey'), !readOnly)
      assert.ok(actions.includes('kms:Decrypt'))
      const by = Object.fromEntries(doc.Statement.map((s) => [s.Sid, s]))
      assert.equal(by.ImmuKVObjects.Resource, 'arn:aws:s3:::my-audit-bucket/audit/*')
      assert.equal(by.ImmuKVList.Resource, 'arn:aws:s3:::my-audit-bucket')
      assert.deepEqual(by.ImmuKVList.Condition, { StringLike: { 's3:prefix': 'audit/*' } })
      assert.equal(by.ImmuKVBucketSettings.Condition, undefined)
      assert.equal(by.ImmuKVKms.Resource, 'arn:aws:kms:eu-west-1:*:key/*')
      assert.deepEqual(by.ImmuKVKms.Condition, { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': 'alias/audit' } })
      for (const s of doc.Statement) assert.equal(s.Effect, 'Allow')
    }
    assert.equal(rejectionSync(() => c.policy({ readOnly: 'yes' })).code, 'INVALID_ARGUMENT')
    assert.equal(rejectionSync(() => ImmuKVClient.inMemory().policy()).code, 'INVALID_ARGUMENT')
  })

  test("the README's policy is the one policy() gives for its bucket and prefix", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
    const section = readme.slice(readme.indexOf('## S3 setup'))
    const blocks = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]))
    const c = new ImmuKVClient(helpers.config(MOTO, 'my-audit-bucket', { s3Prefix: 'audit/' }))
    assert.deepEqual(blocks[0], c.policy())
  })
})

function rejectionSync(f) {
  try {
    f()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}
