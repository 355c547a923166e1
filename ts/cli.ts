#!/usr/bin/env node
// immukv: the command-line tool. Reads, writes and audits an ImmuKV store on
// an S3 bucket; see docs/CLI.md. Built for people at a terminal (readable
// output, a progress bar) and for cron jobs and CI (--json, exit codes).

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { addAbortSignal } from 'node:stream'
import { parseArgs } from 'node:util'
import { Format, type Options as BarOptions, type Params as BarParams, SingleBar } from 'cli-progress'
import type { JSONValue } from './codec'
import {
  AbortedError,
  type Config,
  type Digest,
  type Entry,
  ImmuKVClient,
  ImmuKVError,
  KeyNotFoundError,
  type VerifyFailure,
  type VerifyProgress,
  type VerifyReport,
} from './index'

/** Exit codes: the contract with scripts, documented in `help` and docs/CLI.md. */
const EXIT = {
  ok: 0,
  /** verify found the log tampered with. */
  tampered: 1,
  /** Could not read or write: storage, credentials, access, a corrupt entry. */
  failed: 2,
  /** get or history of a key that is not in the store. */
  notFound: 3,
  /** The command line is wrong (EX_USAGE of sysexits.h). */
  usage: 64,
  /** Interrupted by Ctrl-C (128 + SIGINT, as shells report it). */
  interrupted: 130,
} as const

/** Library codes that mean the input was wrong, not the store: retrying cannot help. */
const INPUT_ERROR_CODES = new Set(['INVALID_CONFIG', 'INVALID_KEY', 'INVALID_VALUE', 'INVALID_ARGUMENT'])

const HELP = `immukv: an immutable, tamper-evident key-value store on an S3 bucket

Usage: immukv <command> [arguments] [options]

Commands:
  get <key> [--verify]              the latest value of a key; --verify also
                                    proves the entry is in the log
  set <key> [value] [--string]      store a JSON value (read from stdin when
                                    absent or "-"); --string stores the text
                                    as a JSON string
  history <key> [--limit N] [--before CURSOR]
                                    the key's entries, newest first
  log [--limit N] [--before VERSION_ID]
                                    log entries of every key, newest first
  keys [--prefix P] [--after KEY] [--limit N]
                                    keys in S3 order
  digest                            the log head {sequence, versionId, hash}:
                                    save it somewhere safe
  verify [--trusted FILE] [--no-key-objects] [--limit N]
                                    check the log (and key objects); FILE is a
                                    saved digest, "-" reads it from stdin; one
                                    holding null (an empty log's digest)
                                    trusts nothing yet
  help                              this text

Connection (flags first, then the environment):
  --bucket NAME       IMMUKV_BUCKET (required)
  --s3-prefix P       IMMUKV_PREFIX: the store's path prefix in the bucket (default "")
  --region R          AWS_REGION, AWS_DEFAULT_REGION, else the profile's region
  --endpoint URL      AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL (S3-compatible servers)
  --profile NAME      AWS_PROFILE; credentials come from AWS's default chain
                      (environment, profile, web identity, container, instance role)

Every command except "set" opens the store read-only: it never writes to the bucket.

Output:
  --json              one JSON document on stdout (errors too: {"error": {code, message}})
  -h, --help          this text
  -V, --version       the version

Exit codes:
  0    success; for verify, the log is intact
  1    verify found tampering
  2    could not read or write (storage, credentials, access denied, corrupt entry)
  3    key not found
  64   usage error (unknown command or option, missing bucket or key, bad value)
  130  interrupted (Ctrl-C)
`

// ---------------------------------------------------------------------------
// The command line

type OptionSpecs = Record<string, { type: 'string' | 'boolean'; short?: string }>
type Values = Record<string, string | boolean | undefined>

/** Options every command takes. */
const GLOBAL_OPTIONS: OptionSpecs = {
  bucket: { type: 'string' },
  's3-prefix': { type: 'string' },
  region: { type: 'string' },
  endpoint: { type: 'string' },
  profile: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
}

/** A failure of the command line itself: exit 64. */
class UsageError extends Error {
  readonly code: string
  constructor(message: string, code = 'USAGE') {
    super(message)
    this.code = code
  }
}

/** What a command is handed. */
interface Context {
  args: string[]
  values: Values
  json: boolean
  client: ImmuKVClient
  /** The store's prefix in the bucket, for naming its objects. */
  s3Prefix: string
  /** Fired by Ctrl-C: every command passes it to its calls. */
  signal: AbortSignal
}

interface Command {
  options: OptionSpecs
  /** Positional arguments: at least, at most. */
  arity: [number, number]
  /** Names of the positionals, for "missing <key>" messages. */
  argNames: string[]
  /** Only `set` writes; every other command opens the store read-only. */
  writes: boolean
  run(ctx: Context): Promise<number>
}

const COMMANDS: Record<string, Command> = {
  get: { options: { verify: { type: 'boolean' } }, arity: [1, 1], argNames: ['key'], writes: false, run: runGet },
  set: { options: { string: { type: 'boolean' } }, arity: [1, 2], argNames: ['key', 'value'], writes: true, run: runSet },
  history: { options: { limit: { type: 'string' }, before: { type: 'string' } }, arity: [1, 1], argNames: ['key'], writes: false, run: runHistory },
  log: { options: { limit: { type: 'string' }, before: { type: 'string' } }, arity: [0, 0], argNames: [], writes: false, run: runLog },
  keys: {
    options: { prefix: { type: 'string' }, after: { type: 'string' }, limit: { type: 'string' } },
    arity: [0, 0],
    argNames: [],
    writes: false,
    run: runKeys,
  },
  digest: { options: {}, arity: [0, 0], argNames: [], writes: false, run: runDigest },
  verify: {
    options: { trusted: { type: 'string' }, 'no-key-objects': { type: 'boolean' }, limit: { type: 'string' } },
    arity: [0, 0],
    argNames: [],
    writes: false,
    run: runVerify,
  },
}

/** Every option any command knows, for finding the command before its own options are known. */
function allOptions(): OptionSpecs {
  return Object.assign({}, GLOBAL_OPTIONS, ...Object.values(COMMANDS).map((c) => c.options))
}

/**
 * A first, lenient pass: which command, and whether --json was asked for
 * (errors of the strict pass must already honour it). Never throws.
 */
function peekCommand(argv: string[]): { name?: string; json: boolean } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: allOptions(), strict: false, allowPositionals: true })
    return { name: positionals[0], json: values.json === true }
  } catch {
    return { json: false }
  }
}

/** The strict pass: the command's own options and the global ones, nothing else. */
function parseCommandLine(argv: string[], name: string, command: Command): { args: string[]; values: Values } {
  try {
    const { positionals, values } = parseArgs({ args: argv, options: { ...GLOBAL_OPTIONS, ...command.options }, strict: true, allowPositionals: true })
    return { args: positionals.slice(1), values } // [0] is the command
  } catch (err) {
    throw new UsageError(explainParseError(err as Error, name))
  }
}

function checkArity(args: string[], name: string, command: Command): void {
  const [min, max] = command.arity
  if (args.length < min) throw new UsageError(`${name}: missing <${command.argNames[args.length]}>`)
  if (args.length > max) throw new UsageError(`${name}: unexpected argument ${JSON.stringify(args[max])}`)
}

function explainParseError(err: Error, command: string): string {
  // parseArgs's messages end in advice about "--" meant for its own users; keep the first sentence.
  const message = err.message.split('. ')[0].replace(/\.$/, '')
  // --prefix is the key prefix of `keys`; the store's prefix has a name of its own.
  if (/'--prefix'/.test(message) && command !== 'keys') return `${command}: ${message} (the store's prefix in the bucket is --s3-prefix)`
  // `immukv set t -5`: a negative number reads as an option.
  if (/option '-[0-9.]/.test(message)) return `${command}: ${message} (a value starting with "-" goes after "--": immukv ${command} KEY -- -5)`
  return `${command}: ${message}`
}

/** The first of `values` that is set and not empty. */
function firstSet(...values: (string | boolean | undefined)[]): string | undefined {
  for (const v of values) if (typeof v === 'string' && v !== '') return v
  return undefined
}

/** `--limit`: a positive whole number the core accepts (u32). */
function parseLimit(text: string | boolean | undefined): number | undefined {
  if (text === undefined) return undefined
  const n = typeof text === 'string' && /^[0-9]+$/.test(text) ? Number(text) : NaN
  if (!(n >= 1 && n <= 0xffffffff)) throw new UsageError(`--limit must be a whole number from 1, got ${JSON.stringify(text)}`)
  return n
}

function stringOption(values: Values, name: string): string | undefined {
  const v = values[name]
  return typeof v === 'string' ? v : undefined
}

// ---------------------------------------------------------------------------
// The connection

/** The client's config from the flags, then the environment. */
function connectionConfig(values: Values, env: NodeJS.ProcessEnv, readOnly: boolean): Config {
  const bucket = firstSet(values.bucket, env.IMMUKV_BUCKET)
  if (bucket === undefined) throw new UsageError('no bucket: pass --bucket NAME or set IMMUKV_BUCKET')
  const endpointUrl = firstSet(values.endpoint, env.AWS_ENDPOINT_URL_S3, env.AWS_ENDPOINT_URL)
  const config: Config = {
    s3Bucket: bucket,
    // Undefined lets the core look further: AWS_REGION, AWS_DEFAULT_REGION, the profile.
    s3Region: firstSet(values.region, env.AWS_REGION, env.AWS_DEFAULT_REGION),
    s3Prefix: stringOption(values, 's3-prefix') ?? env.IMMUKV_PREFIX ?? '',
    readOnly,
  }
  if (endpointUrl !== undefined) config.overrides = { endpointUrl }
  return config
}

/**
 * --profile: the core's credential chain reads AWS_PROFILE when the client is
 * made. Keys in the environment come first in that chain, so they are set
 * aside: naming a profile on the command line means that profile, as it does
 * for the AWS CLI.
 */
function selectProfile(profile: string | undefined): void {
  if (profile === undefined) return
  process.env.AWS_PROFILE = profile
  delete process.env.AWS_ACCESS_KEY_ID
  delete process.env.AWS_SECRET_ACCESS_KEY
  delete process.env.AWS_SESSION_TOKEN
}

// ---------------------------------------------------------------------------
// Output

function writeOut(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n')
}

function writeErr(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : text + '\n')
}

/** The one JSON document of --json. */
function writeJson(doc: unknown): void {
  writeOut(JSON.stringify(doc, null, 2))
}

function isoTime(ms: number): string {
  return new Date(ms).toISOString()
}

/** One entry on one line: sequence, time, key = value, version. */
function entryLine(e: Entry): string {
  return `#${e.sequence}  ${isoTime(e.timestampMs)}  ${e.key} = ${JSON.stringify(e.value)}  version ${e.versionId}`
}

/** An entry as a labelled block, for `get`. */
function entryBlock(e: Entry): string[] {
  return [
    `key       ${e.key}`,
    `value     ${JSON.stringify(e.value)}`,
    `sequence  ${e.sequence}`,
    `time      ${isoTime(e.timestampMs)}`,
    `version   ${e.versionId}`,
    `hash      ${e.hash}`,
  ]
}

/** A failure without a path is about a log version: its path is the log's, named so that one can look. */
function failureLine(f: VerifyFailure, logPath: string): string {
  const where = [`sequence ${f.sequence ?? '-'}`, `version ${f.versionId ?? '-'}`, `path ${f.path ?? logPath}`]
  return `${f.kind}  ${where.join('  ')}  ${f.detail}`
}

/** How an error is shown: "immukv: CODE: message" on stderr, and with --json also on stdout. */
function reportError(err: unknown, json: boolean): number {
  const { code, message, exit } = describeError(err)
  writeErr(`immukv: ${code}: ${message}`)
  // The cause chain, where the message does not already spell it out.
  for (let cause = (err as Error)?.cause; cause instanceof Error; cause = cause.cause) {
    if (!message.includes(cause.message)) writeErr(`  cause: ${cause.message}`)
  }
  // A failed set may have committed all the same (the answer was lost): say so, the retry is the caller's call.
  const mayHaveCommitted = err instanceof ImmuKVError ? err.mayHaveCommitted : undefined
  if (mayHaveCommitted === true) writeErr('  the entry may be in the log all the same: look with "immukv get" before retrying')
  if (code === 'USAGE' && !json) writeErr('(immukv help lists the commands and options)')
  if (json) writeJson({ error: mayHaveCommitted === undefined ? { code, message } : { code, message, mayHaveCommitted } })
  return exit
}

function describeError(err: unknown): { code: string; message: string; exit: number } {
  if (err instanceof UsageError) return { code: err.code, message: err.message, exit: EXIT.usage }
  if (err instanceof ImmuKVError) {
    let exit: number = EXIT.failed
    if (err.code === 'KEY_NOT_FOUND') exit = EXIT.notFound
    else if (err.code === 'ABORTED') exit = EXIT.interrupted
    else if (INPUT_ERROR_CODES.has(err.code)) exit = EXIT.usage
    return { code: err.code, message: err.message, exit }
  }
  // A bug of this tool, not a verdict on the store.
  const message = err instanceof Error ? err.message : String(err)
  return { code: 'INTERNAL_ERROR', message, exit: EXIT.failed }
}

// ---------------------------------------------------------------------------
// Input

/** The error of a command interrupted outside a library call (reading stdin). */
function interrupted(signal: AbortSignal, what: string, mayHaveCommitted?: boolean): AbortedError {
  return new AbortedError({ code: 'ABORTED', message: `interrupted while ${what}`, mayHaveCommitted }, { cause: signal.reason })
}

/** All of stdin, which must be UTF-8 (a value is JSON or text); Ctrl-C ends the wait. */
async function readStdin(signal: AbortSignal): Promise<Buffer[]> {
  if (process.stdin.isTTY) writeErr('immukv: reading from stdin; end with Ctrl-D')
  const chunks: Buffer[] = []
  // Destroys stdin on abort: the loop ends, and nothing keeps the process alive.
  addAbortSignal(signal, process.stdin)
  try {
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  } catch (err) {
    if (signal.aborted) throw interrupted(signal, 'reading stdin')
    throw err
  }
  return chunks
}

async function readStdinText(signal: AbortSignal): Promise<string> {
  const chunks = await readStdin(signal)
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks))
  } catch {
    throw new UsageError('stdin is not UTF-8 text')
  }
}

/** The value of `set`: JSON, or with --string the text itself. */
async function readValue(arg: string | undefined, asString: boolean, signal: AbortSignal): Promise<JSONValue> {
  const fromStdin = arg === undefined || arg === '-'
  let text = fromStdin ? await readStdinText(signal) : arg
  // `echo hello | immukv set k --string` means "hello": drop the one newline echo adds.
  if (fromStdin && asString) text = text.replace(/\r?\n$/, '')
  if (asString) return text
  try {
    return JSON.parse(text) as JSONValue
  } catch (err) {
    const where = fromStdin ? 'stdin' : 'the value'
    throw new UsageError(`${where} is not JSON (${(err as Error).message}); --string stores text as it is`, 'INVALID_VALUE')
  }
}

/**
 * A digest saved by `immukv digest`, from FILE or stdin ("-"); undefined
 * when it holds `null`, the digest of an empty log: nothing is trusted yet.
 */
async function readTrustedDigest(file: string, signal: AbortSignal): Promise<Digest | undefined> {
  let text: string
  try {
    text = file === '-' ? await readStdinText(signal) : readFileSync(file, 'utf8')
  } catch (err) {
    if (err instanceof UsageError || err instanceof ImmuKVError) throw err
    throw new UsageError(`--trusted: cannot read ${file}: ${(err as Error).message}`)
  }
  let d: unknown
  try {
    d = JSON.parse(text)
  } catch {
    d = undefined
  }
  if (d === null) return undefined
  if (!isDigest(d))
    throw new UsageError(`--trusted: ${file === '-' ? 'stdin' : file} does not hold a digest {sequence, versionId, hash} as printed by "immukv digest"`)
  // Only the digest's fields: verifyLog is handed nothing else from the file.
  return { sequence: d.sequence, versionId: d.versionId, hash: d.hash }
}

function isDigest(d: unknown): d is Digest {
  if (typeof d !== 'object' || d === null) return false
  const { sequence, versionId, hash } = d as Record<string, unknown>
  return Number.isInteger(sequence) && typeof versionId === 'string' && typeof hash === 'string'
}

// ---------------------------------------------------------------------------
// The commands

async function runGet({ args, values, json, client, signal }: Context): Promise<number> {
  const verify = values.verify === true
  const entry = await client.get(args[0], { verify, signal })
  if (json) writeJson(verify ? { ...entry, verified: true } : entry)
  else writeOut([...entryBlock(entry), ...(verify ? ['verified  in the log'] : [])].join('\n'))
  return EXIT.ok
}

async function runSet({ args, values, json, client, signal }: Context): Promise<number> {
  const value = await readValue(args[1], values.string === true, signal).catch((err: unknown) => {
    // Nothing was sent: say so, as a failed set does.
    throw err instanceof AbortedError ? interrupted(signal, 'reading the value', false) : err
  })
  const entry = await client.set(args[0], value, { signal })
  if (json) writeJson(entry)
  else writeOut(entryLine(entry))
  return EXIT.ok
}

async function runHistory({ args, values, json, client, signal }: Context): Promise<number> {
  const limit = parseLimit(values.limit)
  const before = stringOption(values, 'before')
  const [entries, cursor] = await client.history(args[0], before, limit, { signal })
  // No entries on the first page: the key was never set.
  if (entries.length === 0 && before === undefined) throw new KeyNotFoundError({ code: 'KEY_NOT_FOUND', message: `key ${JSON.stringify(args[0])} not found` })
  // Without a limit every entry is here; with one, the cursor leads on (an empty page ends it).
  const next = limit !== undefined && entries.length > 0 ? cursor : undefined
  if (json) writeJson({ entries, nextCursor: next ?? null })
  else printPage(entries.map(entryLine), next === undefined ? undefined : `--before ${next}`)
  return EXIT.ok
}

async function runLog({ values, json, client, signal }: Context): Promise<number> {
  const limit = parseLimit(values.limit)
  const entries = await client.logEntries(stringOption(values, 'before'), limit, { signal })
  // A full page may have a next one: it starts before the oldest entry shown.
  const next = limit !== undefined && entries.length === limit ? entries[entries.length - 1].versionId : undefined
  if (json) writeJson({ entries, nextBefore: next ?? null })
  else printPage(entries.map(entryLine), next === undefined ? undefined : `--before ${next}`)
  return EXIT.ok
}

async function runKeys({ values, json, client, signal }: Context): Promise<number> {
  const limit = parseLimit(values.limit)
  const keys = await client.listKeysWithPrefix(stringOption(values, 'prefix') ?? '', stringOption(values, 'after'), limit, { signal })
  const next = limit !== undefined && keys.length === limit ? keys[keys.length - 1] : undefined
  if (json) writeJson({ keys, nextAfter: next ?? null })
  else printPage(keys, next === undefined ? undefined : `--after ${next}`)
  return EXIT.ok
}

/**
 * Lines of a listing on stdout; the way to the next page on stderr, so that
 * stdout holds only data (`immukv keys | xargs ...`).
 */
function printPage(lines: string[], nextPage: string | undefined): void {
  if (lines.length === 0) writeErr('(nothing)')
  else writeOut(lines.join('\n'))
  if (nextPage !== undefined) writeErr(`next page: ${nextPage}`)
}

async function runDigest({ json, client, signal }: Context): Promise<number> {
  const digest = await client.digest({ signal })
  // Human or not, the digest is JSON: it is meant to be saved and read back by verify --trusted.
  writeOut(JSON.stringify(digest ?? null))
  if (digest === undefined && !json) writeErr('immukv: the log is empty: there is no digest yet')
  return EXIT.ok
}

async function runVerify({ values, json, client, s3Prefix, signal }: Context): Promise<number> {
  const limit = parseLimit(values.limit)
  const trustedFile = stringOption(values, 'trusted')
  const trusted = trustedFile === undefined ? undefined : await readTrustedDigest(trustedFile, signal)
  // A bar only for a person watching: not in pipes or CI logs, not mixed with JSON.
  const bar = process.stderr.isTTY && !json ? new ProgressBar() : undefined
  let report: VerifyReport
  try {
    report = await client.verifyLog({
      limit,
      trusted,
      checkKeyObjects: values['no-key-objects'] !== true,
      onProgress: bar && ((p) => bar.update(p)),
      signal,
    })
  } finally {
    bar?.stop()
  }
  // head is always there (null for an empty log): the next run's --trusted, saved with jq .head.
  if (json) writeJson({ ...report, head: report.head ?? null })
  else writeOut(verdict(report, `${s3Prefix}_log.json`).join('\n'))
  return report.failures.length === 0 ? EXIT.ok : EXIT.tampered
}

function verdict(report: VerifyReport, logPath: string): string[] {
  const checked = `${report.checked} ${report.checked === 1 ? 'entry' : 'entries'} checked`
  if (report.failures.length === 0) {
    const head = report.head ? `head sequence ${report.head.sequence}` : 'the log is empty'
    return [`intact: ${checked}, ${head}`]
  }
  const n = report.failures.length
  return [`TAMPERED: ${n} ${n === 1 ? 'failure' : 'failures'}, ${checked}`, ...report.failures.map((f) => failureLine(f, logPath))]
}

/**
 * Ctrl-C during a command aborts it (the in-flight requests are dropped; the
 * ABORTED error is reported) and it exits 130; a second Ctrl-C does not wait
 * for that.
 */
function abortOnInterrupt(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController()
  const onInterrupt = (): void => {
    if (controller.signal.aborted) process.exit(EXIT.interrupted)
    controller.abort()
  }
  process.on('SIGINT', onInterrupt)
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onInterrupt) }
}

// ---------------------------------------------------------------------------
// The progress bar of verify

/** verify's progress on stderr, one bar per phase (each has its own total, rate and ETA). */
class ProgressBar {
  readonly #bar = new SingleBar({
    stream: process.stderr,
    format: formatProgress,
    clearOnComplete: true,
    hideCursor: true,
    // Ctrl-C is handled by abortOnInterrupt: the aborted verify stops the bar in its finally.
    gracefulExit: false,
    etaBuffer: 50,
  })
  #phase: string | undefined
  #phaseStart = 0

  update(p: VerifyProgress): void {
    const payload = { phase: p.phase, knownTotal: p.total !== undefined, rate: this.#rate(p) }
    if (p.phase !== this.#phase) {
      if (this.#phase !== undefined) this.#bar.stop()
      this.#phase = p.phase
      this.#phaseStart = Date.now()
      this.#bar.start(p.total ?? 0, p.done, { ...payload, rate: 0 })
      return
    }
    if (p.total !== undefined && p.total !== this.#bar.getTotal()) this.#bar.setTotal(p.total)
    this.#bar.update(p.done, payload)
  }

  stop(): void {
    if (this.#phase !== undefined) this.#bar.stop()
    this.#phase = undefined
  }

  #rate(p: VerifyProgress): number {
    const seconds = (Date.now() - this.#phaseStart) / 1000
    return seconds > 0 ? p.done / seconds : 0
  }
}

interface ProgressPayload {
  phase: string
  knownTotal: boolean
  rate: number
}

/** "checking log [=====-----] 640/1000 | 212/s | ETA 2s"; a listing has no total yet. */
function formatProgress(options: BarOptions, params: BarParams, payload: ProgressPayload): string {
  if (!payload.knownTotal) return `${payload.phase}... ${params.value > 0 ? `${params.value} so far` : ''}`
  const eta = typeof params.eta === 'number' && params.value > 0 ? Format.TimeFormat(params.eta, options, 5) : '?'
  return `${payload.phase} [${Format.BarFormat(params.progress, options)}] ${params.value}/${params.total} | ${Math.round(payload.rate)}/s | ETA ${eta}`
}

// ---------------------------------------------------------------------------
// Main

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version
}

async function main(argv: string[]): Promise<number> {
  const peek = peekCommand(argv)
  try {
    return await dispatch(argv, peek.name)
  } catch (err) {
    return reportError(err, peek.json)
  }
}

async function dispatch(argv: string[], name: string | undefined): Promise<number> {
  if (name === undefined || name === 'help') return showHelpOrVersion(argv, name)
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined
  if (command === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)}`)
  const { args, values } = parseCommandLine(argv, name, command)
  if (values.help === true) return showHelpOrVersion(['--help'], name)
  if (values.version === true) return showHelpOrVersion(['--version'], name)
  checkArity(args, name, command)
  const config = connectionConfig(values, process.env, !command.writes)
  selectProfile(stringOption(values, 'profile'))
  const client = new ImmuKVClient(config)
  const json = values.json === true
  const interrupt = abortOnInterrupt()
  try {
    return await command.run({ args, values, json, client, s3Prefix: config.s3Prefix, signal: interrupt.signal })
  } catch (err) {
    return reportError(err, json)
  } finally {
    // Ctrl-C during close() ends the process as usual. After a Ctrl-C,
    // close() would wait for work the core still has in flight (up to
    // operationTimeoutMs): the process exits instead (main).
    interrupt.dispose()
    if (!interrupt.signal.aborted) await client.close()
  }
}

/** `immukv`, `immukv help`, `--help`, `--version`. */
function showHelpOrVersion(argv: string[], name: string | undefined): number {
  const { values } = parseArgs({ args: argv, options: allOptions(), strict: false, allowPositionals: true })
  if (values.version === true && values.help !== true) {
    writeOut(packageVersion())
    return EXIT.ok
  }
  if (name === undefined && values.help !== true) {
    // Bare `immukv`: the help, but as the usage error it is.
    writeErr(HELP)
    return EXIT.usage
  }
  writeOut(HELP)
  return EXIT.ok
}

// `immukv log | head`: a closed pipe ends the output, not in a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT.ok)
  throw err
})

main(process.argv.slice(2)).then((code) => {
  // exitCode, not exit(): stdout is flushed first. Interrupted, the process
  // exits once stdout is flushed, not when the core's work in flight ends.
  if (code === EXIT.interrupted) process.stdout.write('', () => process.exit(code))
  else process.exitCode = code
})
