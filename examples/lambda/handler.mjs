// An AWS Lambda function that runs for each new entry of an ImmuKV log: S3
// sends an event notification for every version written to
// `<prefix>_log.json` (event type s3:ObjectCreated:*, filter prefix
// `<prefix>_log.json`), directly or through SNS, SQS or EventBridge. The
// function reads the entries the event names, verified, and ships them on.
//
// Environment: IMMUKV_BUCKET, IMMUKV_PREFIX (as the writers use it).
// Permissions: s3:GetObject, s3:GetObjectVersion, s3:ListBucketVersions.
import { ImmuKVClient } from 'immukv'

// One client per container, reused by every invocation it serves.
const client = new ImmuKVClient({
  s3Bucket: process.env.IMMUKV_BUCKET,
  s3Prefix: process.env.IMMUKV_PREFIX ?? '',
  readOnly: true,
  // Only to try it against a local S3 server; on AWS, leave it out.
  ...(process.env.IMMUKV_ENDPOINT ? { s3Region: 'us-east-1', overrides: { endpointUrl: process.env.IMMUKV_ENDPOINT } } : {}),
})

export async function handler(event) {
  // Verified (intact, and linked to the log version below it), in sequence
  // order, each once within this event. S3 delivers at least once: a later
  // invocation may name an entry again, so key what you do on `versionId`.
  // A tampered version rejects (CORRUPT_ENTRY) and the invocation fails.
  const entries = await client.entriesFromS3Event(event)
  for (const e of entries) {
    // Ship it to your SIEM, reload a configuration, ...
    console.log(JSON.stringify({ sequence: e.sequence, versionId: e.versionId, key: e.key, value: e.value, hash: e.hash, timestampMs: e.timestampMs }))
  }
  return { entries: entries.length }
}
