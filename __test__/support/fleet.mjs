// Mixed fleets: the earlier clients on the same bucket and prefix as this
// package. The earlier Python client is the real one (PyPI immukv 0.1.30,
// installed by scripts/s3.sh into .s3/pyimmukv, driven by pyimmukv.py); the
// earlier TypeScript client is not published, so its repair is emulated as
// docs/PROTOCOL.md section 7 describes it (JSON.parse of the log entry, the
// key object in its canonical JSON).
import { DeleteObjectCommand, GetObjectCommand, ListObjectVersionsCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { raw } from './helpers.mjs'

export const PYTHON = fileURLToPath(new URL('../../.s3/pyimmukv/bin/python', import.meta.url))
export const PYIMMUKV = fileURLToPath(new URL('./pyimmukv.py', import.meta.url))

/** Values with small and large floats, exponents, big integers, unicode and escapes, as JSON text. */
export const SAMPLES = {
  floats: '{"small":1e-05,"smaller":1e-7,"tiny":5e-324,"third":0.1,"neg":-2.5e-8,"one":1.0,"half":2.50}',
  exponents: '{"e21":1e21,"e16":1e16,"huge":1.5e300,"e100":1E+100,"list":[1e-10,1e22,123.456]}',
  integers: '{"big":18446744073709551616,"over":9007199254740993,"long":123456789012345678901234567890,"neg":-42}',
  unicode: String.raw`{"text":"café ☃ 😀 \u6f22\u5b57","sep":"\u2028\u2029","Ａ":1,"😀":2,"é":3,"10":4,"2":5,"z":[{"ü":"ö"}]}`,
  escapes: String.raw`{"q":"say \"hi\"","bs":"a\\b","ctl":"\u0001\u001f","nl":"l1\nl2\tx","del":"a\u007fb","slash":"a\/b<>&"}`,
}

function requirePython() {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run "bash scripts/s3.sh status" once, which installs the earlier Python client`)
}

/** Starts `argv` with `args` as JSON on its stdin; the child process. */
export function startWith(argv, args) {
  const p = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] })
  p.stdin.on('error', () => {}) // a process killed before it read its arguments
  p.stdin.end(JSON.stringify(args))
  return p
}

/** Starts pyimmukv.py with `args` (see its docstring); the child process. */
export function startPython(server, Bucket, prefix, args) {
  requirePython()
  return startWith([PYTHON, PYIMMUKV], { endpoint: server.endpoint, bucket: Bucket, prefix, ...args })
}

/** Runs pyimmukv.py to the end; resolves with its JSON lines. */
export function python(server, Bucket, prefix, args) {
  return new Promise((resolve, reject) => {
    const p = startPython(server, Bucket, prefix, args)
    let out = ''
    let err = ''
    p.stdout.on('data', (d) => (out += d))
    p.stderr.on('data', (d) => (err += d))
    p.on('error', reject)
    p.on('exit', (code) => {
      if (code !== 0) reject(new Error(`pyimmukv.py exited ${code}: ${err}`))
      else resolve(lines(out))
    })
  })
}

/** The complete JSON lines of a process's output (a process killed midway may leave half a line). */
export function lines(text) {
  return text
    .split('\n')
    .slice(0, -1)
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l))
}

/** Sets through the earlier Python client; fails unless every set was acknowledged. */
export async function pythonSet(server, Bucket, prefix, sets) {
  const out = await python(server, Bucket, prefix, { op: 'set', sets })
  const failed = out.filter((l) => l.error)
  if (failed.length > 0 || out.length !== sets.length) throw new Error(`the Python client failed: ${JSON.stringify(failed)}`)
  return out
}

/**
 * Makes the head entry of `key` an orphan, as if its writer had died between
 * its two PUTs (SIGKILL): the key-object version its write made is removed,
 * so the object is as the entry found it.
 */
export async function orphanize(server, Bucket, prefix, key) {
  const s3 = raw(server.endpoint)
  const Key = `${prefix}keys/${key}.json`
  const r = await s3.send(new ListObjectVersionsCommand({ Bucket, Prefix: Key }))
  const latest = (r.Versions || []).find((v) => v.Key === Key && v.IsLatest)
  if (!latest) throw new Error(`${Key} has no version to remove`)
  await s3.send(new DeleteObjectCommand({ Bucket, Key, VersionId: latest.VersionId }))
}

export async function getText(server, Bucket, Key, VersionId) {
  const r = await raw(server.endpoint).send(new GetObjectCommand({ Bucket, Key, VersionId }))
  return { text: await r.Body.transformToString(), versionId: r.VersionId, etag: r.ETag }
}

function sortDeep(v) {
  if (Array.isArray(v)) return v.map(sortDeep)
  if (v === null || typeof v !== 'object') return v
  const o = {}
  for (const k of Object.keys(v).sort()) o[k] = sortDeep(v[k])
  return o
}

/** The earlier TypeScript client's canonical JSON: sorted keys, no spaces, every unit above U+007F escaped. */
export function jsCanonical(value) {
  return JSON.stringify(sortDeep(value)).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/**
 * The earlier TypeScript client's repair of the log head: JSON.parse of the
 * log object, its key object written in that client's canonical JSON (so a
 * Python writer's `1.0` becomes `1`), conditional on the ETag it recorded.
 */
export async function typescriptRepair(server, Bucket, prefix) {
  const head = await getText(server, Bucket, `${prefix}_log.json`)
  const d = JSON.parse(head.text)
  const body = jsCanonical({
    hash: d.hash,
    key: d.key,
    log_version_id: head.versionId,
    previous_hash: d.previous_hash,
    sequence: d.sequence,
    timestamp_ms: d.timestamp_ms,
    value: d.value ?? null,
  })
  const condition = d.previous_key_object_etag ? { IfMatch: d.previous_key_object_etag } : { IfNoneMatch: '*' }
  await raw(server.endpoint).send(
    new PutObjectCommand({ Bucket, Key: `${prefix}keys/${d.key}.json`, Body: body, ContentType: 'application/json', ...condition }),
  )
  return body
}

/** What a stored object holds from its value member on (the value sorts last in both dialects). */
export function valueText(body) {
  return body.slice(body.indexOf('"value":') + 8, -1)
}
