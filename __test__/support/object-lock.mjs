// Buckets with S3 Object Lock, and the servers that implement it, for the
// Object Lock and doctor tests.
import { CreateBucketCommand, PutObjectLockConfigurationCommand } from '@aws-sdk/client-s3'
import * as helpers from './helpers.mjs'

/** The servers with Object Lock: moto, SeaweedFS and LocalStack. */
export const LOCKING = [helpers.MOTO, helpers.SEAWEED, helpers.LOCALSTACK]

/** A bucket with Object Lock (versioning comes with it), and a default retention rule if given. */
export async function lockedBucket(server, defaultRetention) {
  const s3 = helpers.raw(server.endpoint)
  const name = helpers.uniqueName('lk')
  await s3.send(new CreateBucketCommand({ Bucket: name, ObjectLockEnabledForBucket: true }))
  if (defaultRetention) {
    // Before any write: SeaweedFS takes a lock configuration on an empty bucket only.
    await s3.send(
      new PutObjectLockConfigurationCommand({
        Bucket: name,
        ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: defaultRetention } },
      }),
    )
  }
  return name
}
