// S3 event notifications: which log versions an event names. Pure parsing;
// the client reads and verifies the versions (entriesFromS3Event).

import { expect } from './errors'

/** Where a client's log lives: what an event must name to count. */
export interface LogLocation {
  bucket: string
  /** The log's object key, `<prefix>_log.json`. */
  path: string
}

type Json = Record<string, unknown>

const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x)

/** An object key as S3 event notifications carry it: URL-encoded, `+` for a space. */
function decodeKey(key: string): string | undefined {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '))
  } catch {
    return undefined // not valid URL encoding: names no key of ours
  }
}

/** Parses the JSON text an envelope carries; text that is not JSON carries no S3 event. */
function parsed(text: unknown): unknown {
  if (typeof text !== 'string') return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/**
 * The version ids of `log` that an event names as created, in the order the
 * event gives them, each once. Understood: an S3 event notification
 * (`Records[].s3`), delivered to Lambda directly, through SNS
 * (`Records[].Sns.Message`), SQS (`Records[].body`) or SNS then SQS; and an
 * EventBridge "Object Created" event. A record counts when it is an
 * `ObjectCreated:*` event of the log's bucket and exactly the log's key;
 * every other record (other buckets, other keys, deletions, test events,
 * messages that are not S3 events) is passed over. A record of the log
 * without a version id is refused: the bucket does not version.
 */
export function logVersionsInEvent(event: unknown, log: LogLocation): string[] {
  expect(isObject(event), 'INVALID_ARGUMENT', 'event must be an object (an S3 event notification, or an SQS, SNS or EventBridge event carrying one)')
  const out: string[] = []
  const seen = new Set<string>()
  const add = (versionId: unknown, key: string): void => {
    expect(
      typeof versionId === 'string' && versionId !== '' && versionId !== 'null',
      'INVALID_ARGUMENT',
      `an event record names ${key} without a version id: is versioning enabled on the bucket?`,
    )
    if (!seen.has(versionId)) {
      seen.add(versionId)
      out.push(versionId)
    }
  }
  const visit = (e: unknown, depth: number): void => {
    // SQS of SNS of S3 is three levels; nothing real nests deeper.
    if (!isObject(e) || depth > 4) return
    if (Array.isArray(e.Records)) {
      for (const r of e.Records) {
        if (!isObject(r)) continue
        if (isObject(r.s3)) s3Record(r)
        else if (isObject(r.Sns)) visit(parsed(r.Sns.Message), depth + 1)
        else if ('body' in r) visit(parsed(r.body), depth + 1)
      }
      return
    }
    // SNS (raw message delivery off), e.g. read from SQS.
    if (e.Type === 'Notification' && 'Message' in e) {
      visit(parsed(e.Message), depth + 1)
      return
    }
    if (e.source === 'aws.s3' && e['detail-type'] === 'Object Created' && isObject(e.detail)) {
      const { bucket, object } = e.detail
      // EventBridge carries the key as it is (not URL-encoded).
      if (isObject(bucket) && isObject(object) && bucket.name === log.bucket && object.key === log.path) add(object['version-id'], log.path)
    }
  }
  const s3Record = (r: Json): void => {
    const s3 = r.s3 as Json
    if (typeof r.eventName !== 'string' || !r.eventName.startsWith('ObjectCreated:')) return
    if (!isObject(s3.bucket) || s3.bucket.name !== log.bucket || !isObject(s3.object)) return
    if (typeof s3.object.key !== 'string' || decodeKey(s3.object.key) !== log.path) return
    add(s3.object.versionId, log.path)
  }
  visit(event, 0)
  return out
}
